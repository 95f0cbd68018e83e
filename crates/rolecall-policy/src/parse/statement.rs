//! One statement: the structural ("syntax") checks, then compilation.

use super::check_duplicates;
use crate::arn::ArnPattern;
use crate::condition::Condition;
use crate::condition::compile::{compile_conditions, parse_operator};
use crate::error::{PolicyError, SYNTAX};
use crate::json::Json;
use crate::policy::{Actions, Effect, PolicyKind, Principals, Resources, Statement};
use crate::principal::PrincipalPattern;
use crate::wildcard::{Pattern, Syntax};

fn syntax() -> PolicyError {
    PolicyError::malformed(SYNTAX)
}

/// A statement that passed the structural checks, not yet compiled.
pub(super) struct Raw<'a> {
    pub sid: Option<&'a str>,
    pub effect: &'a str,
    /// `(value, is NotPrincipal)`.
    pub principal: Option<(&'a Json, bool)>,
    /// `(values, is NotAction)`.
    pub action: Option<(Vec<&'a str>, bool)>,
    /// `(values, is NotResource)`.
    pub resource: Option<(Vec<&'a str>, bool)>,
    pub condition: Option<&'a Json>,
}

/// A string or an array of strings.
fn string_list(v: &Json) -> Result<Vec<&str>, PolicyError> {
    match v {
        Json::Str(s) => Ok(vec![s.as_str()]),
        Json::Arr(items) => items
            .iter()
            .map(|i| match i {
                Json::Str(s) => Ok(s.as_str()),
                _ => Err(syntax()),
            })
            .collect(),
        _ => Err(syntax()),
    }
}

fn is_scalar(v: &Json) -> bool {
    matches!(v, Json::Str(_) | Json::Num(_) | Json::Bool(_))
}

/// Pick one of two mutually exclusive elements.
fn one_of<'a>(
    members: &'a [(String, Json)],
    a: &str,
    b: &str,
) -> Result<Option<(&'a Json, bool)>, PolicyError> {
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    match (get(a), get(b)) {
        (Some(_), Some(_)) => Err(syntax()),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

/// The structural checks IAM reports as "Syntax errors in policy."
pub(super) fn syntax_check(item: &Json, kind: PolicyKind) -> Result<Raw<'_>, PolicyError> {
    let Json::Obj(members) = item else {
        return Err(syntax());
    };
    check_duplicates(members)?;
    for (k, _) in members {
        match k.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" if kind.requires_principal() => {}
            "Principal" | "NotPrincipal" => {
                return Err(PolicyError::malformed(
                    "Policy document should not specify a principal.",
                ));
            }
            _ => return Err(syntax()),
        }
    }
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let sid = match get("Sid") {
        None => None,
        Some(Json::Str(s)) => Some(s.as_str()),
        Some(_) => return Err(syntax()),
    };
    let effect = match get("Effect") {
        Some(Json::Str(s)) if s.eq_ignore_ascii_case("Allow") || s.eq_ignore_ascii_case("Deny") => {
            s.as_str()
        }
        _ => return Err(syntax()),
    };
    let principal = one_of(members, "Principal", "NotPrincipal")?;
    if let Some((p, _)) = principal
        && !matches!(p, Json::Str(_) | Json::Obj(_))
    {
        return Err(syntax());
    }
    let action = match one_of(members, "Action", "NotAction")? {
        Some((v, not)) => Some((string_list(v)?, not)),
        None => None,
    };
    let resource = match one_of(members, "Resource", "NotResource")? {
        Some((v, not)) => Some((string_list(v)?, not)),
        None => None,
    };
    let condition = get("Condition");
    if let Some(c) = condition {
        let Json::Obj(ops) = c else {
            return Err(syntax());
        };
        for (op, keys) in ops {
            let Json::Obj(keys) = keys else {
                return Err(syntax());
            };
            for (_, v) in keys {
                let ok = match v {
                    Json::Arr(items) => items.iter().all(is_scalar),
                    other => is_scalar(other),
                };
                if !ok {
                    return Err(syntax());
                }
            }
            if parse_operator(op).is_none() && !keys.is_empty() {
                return Err(syntax());
            }
        }
    }
    Ok(Raw {
        sid,
        effect,
        principal,
        action,
        resource,
        condition,
    })
}

/// Validate an action's vendor prefix (IAM does not check the action name).
pub(super) fn check_action(a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let Some((vendor, name)) = a.split_once(':') else {
        return Err(PolicyError::malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ));
    };
    if name.contains(':') {
        return Err(PolicyError::malformed(
            "Actions/Condition can contain only one colon.",
        ));
    }
    if vendor.contains(['*', '?']) {
        return Err(PolicyError::malformed(
            "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards.",
        ));
    }
    if !vendor
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(PolicyError::malformed(format!(
            "Vendor {vendor} is not valid"
        )));
    }
    Ok(())
}

fn compile_principals(v: &Json, negated: bool) -> Result<Principals, PolicyError> {
    let mut pats = Vec::new();
    match v {
        Json::Str(s) if s == "*" => pats.push(PrincipalPattern::Everyone),
        Json::Obj(members) => {
            check_duplicates(members)?;
            if members.is_empty() {
                return Err(syntax());
            }
            for (kind, values) in members {
                for value in string_list(values)? {
                    pats.push(PrincipalPattern::compile(kind, value)?);
                }
            }
        }
        Json::Str(s) => {
            return Err(PolicyError::malformed(format!(
                "Invalid principal in policy: \"{s}\""
            )));
        }
        _ => return Err(syntax()),
    }
    Ok(Principals {
        negated,
        pats: pats.into(),
    })
}

/// Compile a validated statement (`conditions` were compiled by the legacy pass).
pub(super) fn compile(
    raw: &Raw<'_>,
    conditions: Vec<Condition>,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let effect = if raw.effect == "Allow" {
        Effect::Allow
    } else {
        Effect::Deny
    };
    let principal = match raw.principal {
        Some((v, negated)) => Some(compile_principals(v, negated)?),
        None => None,
    };
    let action = match &raw.action {
        Some((list, negated)) => Actions {
            negated: *negated,
            pats: list
                .iter()
                .map(|a| {
                    Pattern::compile(
                        a,
                        Syntax {
                            wildcards: true,
                            variables: false,
                            lowercase: true,
                        },
                    )
                })
                .collect(),
        },
        None => {
            return Err(PolicyError::malformed(
                "Policy statement must contain actions.",
            ));
        }
    };
    let resource = raw.resource.as_ref().map(|(list, negated)| Resources {
        negated: *negated,
        pats: list
            .iter()
            .map(|r| ArnPattern::resource(r, variables))
            .collect(),
    });
    Ok(Statement {
        sid: raw.sid.filter(|s| !s.is_empty()).map(Into::into),
        effect,
        principal,
        action,
        resource,
        conditions: conditions.into(),
    })
}

/// Compile the `Condition` element (typed values are checked here).
pub(super) fn conditions(raw: &Raw<'_>, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    match raw.condition {
        Some(c) => compile_conditions(c, variables),
        None => Ok(Vec::new()),
    }
}
