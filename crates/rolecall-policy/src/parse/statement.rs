//! Compiling one statement.

use super::check_duplicates;
use crate::arn::{ArnPattern, validate_resource};
use crate::condition::compile::compile_conditions;
use crate::error::{PolicyError, SYNTAX};
use crate::json::Json;
use crate::policy::{Actions, Effect, PolicyKind, Principals, Resources, Statement};
use crate::principal::PrincipalPattern;
use crate::wildcard::{Pattern, Syntax};

fn syntax() -> PolicyError {
    PolicyError::malformed(SYNTAX)
}

/// A string or a non-empty array of strings.
fn string_list<'a>(v: &'a Json, element: &str) -> Result<Vec<&'a str>, PolicyError> {
    match v {
        Json::Str(s) => Ok(vec![s.as_str()]),
        Json::Arr(items) => {
            let out: Vec<&str> = items
                .iter()
                .map(|i| match i {
                    Json::Str(s) => Ok(s.as_str()),
                    _ => Err(syntax()),
                })
                .collect::<Result<_, _>>()?;
            if out.is_empty() {
                return Err(PolicyError::malformed(format!(
                    "{SYNTAX} {element} must not be empty."
                )));
            }
            Ok(out)
        }
        other => Err(PolicyError::malformed(format!(
            "{SYNTAX} {element} must be a string or an array of strings, not {}.",
            other.type_name()
        ))),
    }
}

fn check_action(a: &str) -> Result<(), PolicyError> {
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
    if vendor.is_empty()
        || !vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(PolicyError::malformed(format!(
            "Vendor {vendor} is not valid"
        )));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '_' | '-' | '.'))
    {
        return Err(PolicyError::malformed(format!("Action {a} is not valid.")));
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
                for value in string_list(values, kind)? {
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

/// Pick one of two mutually exclusive elements.
fn one_of<'a>(
    members: &'a [(String, Json)],
    a: &str,
    b: &str,
) -> Result<Option<(&'a Json, bool)>, PolicyError> {
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    match (get(a), get(b)) {
        (Some(_), Some(_)) => Err(PolicyError::malformed(format!(
            "{SYNTAX} A statement cannot contain both {a} and {b}."
        ))),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

pub(super) fn compile(
    item: &Json,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let Json::Obj(members) = item else {
        return Err(syntax());
    };
    check_duplicates(members)?;
    for (k, _) in members {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::malformed(format!(
                "{SYNTAX} Unknown field {k}."
            )));
        }
    }
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);

    let sid = match get("Sid") {
        None => None,
        Some(Json::Str(s)) => {
            if kind != PolicyKind::Resource && !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(PolicyError::malformed(
                    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                ));
            }
            Some(s.as_str().into())
        }
        Some(_) => return Err(syntax()),
    };

    let effect = match get("Effect") {
        Some(Json::Str(s)) if s == "Allow" => Effect::Allow,
        Some(Json::Str(s)) if s == "Deny" => Effect::Deny,
        Some(Json::Str(s)) => return Err(PolicyError::malformed(format!("Invalid effect: {s}"))),
        Some(_) => return Err(syntax()),
        None => return Err(PolicyError::malformed("Missing required field Effect")),
    };

    let principal = match one_of(members, "Principal", "NotPrincipal")? {
        Some(_) if !kind.requires_principal() => {
            return Err(PolicyError::malformed(
                "Policy document should not specify a principal.",
            ));
        }
        // "You cannot use the NotPrincipal element in an IAM identity-based
        // policy nor in an IAM role trust policy", and it "must be used with
        // Effect: Deny" (IAM User Guide, NotPrincipal).
        Some((_, true)) if kind == PolicyKind::Trust => {
            return Err(PolicyError::malformed("Has prohibited field NotPrincipal"));
        }
        Some((_, true)) if effect == Effect::Allow => {
            return Err(PolicyError::malformed(format!(
                "{SYNTAX} NotPrincipal must be used with \"Effect\": \"Deny\"."
            )));
        }
        Some((v, negated)) => Some(compile_principals(v, negated)?),
        None if kind.requires_principal() => {
            return Err(PolicyError::malformed("Missing required field Principal"));
        }
        None => None,
    };

    let action = match one_of(members, "Action", "NotAction")? {
        Some((v, negated)) => {
            let list = string_list(v, if negated { "NotAction" } else { "Action" })?;
            let mut pats = Vec::with_capacity(list.len());
            for a in list {
                check_action(a)?;
                pats.push(Pattern::compile(
                    a,
                    Syntax {
                        wildcards: true,
                        variables: false,
                        lowercase: true,
                    },
                ));
            }
            Actions {
                negated,
                pats: pats.into(),
            }
        }
        None => {
            return Err(PolicyError::malformed(
                "Policy statement must contain actions.",
            ));
        }
    };

    let resource = match one_of(members, "Resource", "NotResource")? {
        Some((_, negated)) if kind.forbids_resource() => {
            let field = if negated { "NotResource" } else { "Resource" };
            return Err(PolicyError::malformed(format!(
                "Has prohibited field {field}"
            )));
        }
        Some((v, negated)) => {
            let list = string_list(v, if negated { "NotResource" } else { "Resource" })?;
            let mut pats = Vec::with_capacity(list.len());
            for r in list {
                validate_resource(r, variables).map_err(PolicyError::malformed)?;
                pats.push(ArnPattern::compile(r, variables));
            }
            Some(Resources {
                negated,
                pats: pats.into(),
            })
        }
        None if kind.forbids_resource() => None,
        None => {
            return Err(PolicyError::malformed(
                "Policy statement must contain resources.",
            ));
        }
    };

    let conditions = match get("Condition") {
        Some(c) => compile_conditions(c, variables)?,
        None => Vec::new(),
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions: conditions.into(),
    })
}
