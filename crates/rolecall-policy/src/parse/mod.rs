//! Parsing and validating policy documents (`Policy::parse`).
//!
//! The checks run in the order IAM runs them, so that a document with
//! several problems gets the message IAM would give:
//!
//! 1. characters and size (quota per [`PolicyKind`], white space not counted);
//! 2. structure: JSON (duplicate keys rejected), known elements, value types,
//!    `Effect` in any case, mutually exclusive elements, known condition
//!    operators → "Syntax errors in policy." (a `Principal` in an identity
//!    policy → "Policy document should not specify a principal.");
//! 3. managed policies (and boundaries) must be Version 2012-10-17;
//! 4. the legacy parser: `Effect` case, condition values (dates, numbers, IPs),
//!    truncated ARNs → "The policy failed legacy parsing";
//! 5. Sids (alphanumeric, unique), actions and resources present (a statement
//!    without resources reports a step 6 problem first, if there is one), principals;
//! 6. resource ARNs (partition, vendor, region, IAM paths) and action vendors.

mod statement;

use crate::arn::{ResourceProblem, legacy_resource_ok, validate_resource};
use crate::error::{LEGACY, PolicyError, SYNTAX};
use crate::json::{self, Json};
use crate::policy::{Policy, PolicyKind, Version};

/// Size of a policy document as IAM counts it: characters, white space excluded.
pub fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_ascii_whitespace()).count()
}

/// Characters IAM accepts in a policy document: `[\u0009\u000A\u000D\u0020-\u00FF]`.
fn check_charset(doc: &str) -> Result<(), PolicyError> {
    match doc
        .chars()
        .find(|&c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
    {
        None => Ok(()),
        Some(c) => Err(PolicyError::malformed(format!(
            "Policy document contains an invalid character U+{:04X}; only [\\u0009\\u000A\\u000D\\u0020-\\u00FF] is allowed.",
            c as u32
        ))),
    }
}

fn limit_error(kind: PolicyKind, size: usize) -> PolicyError {
    let limit = kind.size_limit();
    match kind {
        PolicyKind::Identity => PolicyError::limit(format!(
            "Maximum policy size of {limit} bytes exceeded (policy size {size})."
        )),
        PolicyKind::Trust => {
            PolicyError::limit(format!("Cannot exceed quota for ACLSizePerRole: {limit}"))
        }
        _ => PolicyError::limit(format!("Cannot exceed quota for PolicySize: {limit}")),
    }
}

fn syntax() -> PolicyError {
    PolicyError::malformed(SYNTAX)
}

impl Policy {
    /// Parse, validate and compile a policy document for the given use.
    ///
    /// Errors carry the AWS error code ([`PolicyError::code`]):
    /// `MalformedPolicyDocument` or `LimitExceeded`, and IAM's message.
    pub fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        check_charset(doc)?;
        let size = policy_size(doc);
        if size > kind.size_limit() {
            return Err(limit_error(kind, size));
        }
        let value = json::parse(doc).map_err(|_| match kind {
            // IAM words a trust policy that is not JSON differently from other policies.
            PolicyKind::Trust => PolicyError::malformed("This policy contains invalid Json"),
            _ => syntax(),
        })?;
        let Json::Obj(top) = &value else {
            return Err(syntax());
        };
        check_duplicates(top)?;

        // 2. Structure.
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (k, v) in top {
            match (k.as_str(), v) {
                ("Version", Json::Str(s)) if s == "2012-10-17" => {
                    version = Some(Version::V2012_10_17)
                }
                ("Version", Json::Str(s)) if s == "2008-10-17" => {
                    version = Some(Version::V2008_10_17)
                }
                ("Id", Json::Str(s)) => id = Some(s.clone()),
                ("Statement", v) => statement = Some(v),
                _ => return Err(syntax()),
            }
        }
        let items: Vec<&Json> = match statement {
            Some(s @ Json::Obj(_)) => vec![s],
            Some(Json::Arr(items)) if !items.is_empty() => items.iter().collect(),
            _ => return Err(syntax()),
        };
        let raws = items
            .iter()
            .map(|i| statement::syntax_check(i, kind))
            .collect::<Result<Vec<_>, _>>()?;

        // 3. Managed policies need the current language version.
        if matches!(kind, PolicyKind::Managed | PolicyKind::Boundary)
            && version != Some(Version::V2012_10_17)
        {
            return Err(PolicyError::malformed(
                "Policy document must be version 2012-10-17 or greater.",
            ));
        }
        let variables = version == Some(Version::V2012_10_17);

        // 4. Legacy parsing: Effect case and condition values, then resources.
        let mut conditions = Vec::with_capacity(raws.len());
        for raw in &raws {
            if raw.effect != "Allow" && raw.effect != "Deny" {
                return Err(PolicyError::malformed(LEGACY));
            }
            conditions.push(statement::conditions(raw, variables)?);
        }
        let mut resource_problem: Option<String> = None;
        for raw in &raws {
            if let Some((list, _)) = &raw.resource {
                for r in list {
                    if let Err(ResourceProblem::Message(m)) = validate_resource(r, variables) {
                        resource_problem.get_or_insert(m);
                    }
                }
                if resource_problem.is_none()
                    && !list.iter().all(|r| legacy_resource_ok(r, variables))
                {
                    return Err(PolicyError::malformed(LEGACY));
                }
            }
        }

        // 5. Statement-level rules.
        for (i, raw) in raws.iter().enumerate() {
            if let Some(sid) = raw.sid
                && !sid.is_empty()
            {
                if kind != PolicyKind::Resource && !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(PolicyError::malformed(
                        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    ));
                }
                if raws[..i].iter().any(|o| o.sid == Some(sid)) {
                    return Err(PolicyError::malformed(
                        "Statement IDs (SID) in a single policy must be unique.",
                    ));
                }
            }
        }
        for raw in &raws {
            if raw.action.as_ref().is_none_or(|(l, _)| l.is_empty()) {
                return Err(PolicyError::malformed(
                    "Policy statement must contain actions.",
                ));
            }
        }
        // A statement without resources is reported only after resource formats and action
        // vendors (IAM's order: `{"Action":"invalid"}` is a vendor error).
        let missing_resources = || -> PolicyError {
            if let Some(m) = &resource_problem {
                return PolicyError::malformed(m.clone());
            }
            match check_actions(&raws) {
                Err(e) => e,
                Ok(()) => PolicyError::malformed("Policy statement must contain resources."),
            }
        };
        for raw in &raws {
            match (&raw.resource, kind.forbids_resource()) {
                (Some((_, negated)), true) => {
                    let field = if *negated { "NotResource" } else { "Resource" };
                    return Err(PolicyError::malformed(format!(
                        "Has prohibited field {field}"
                    )));
                }
                (None, false) => return Err(missing_resources()),
                (Some((l, _)), false) if l.is_empty() => return Err(missing_resources()),
                _ => {}
            }
            match raw.principal {
                None if kind.requires_principal() => {
                    return Err(PolicyError::malformed("Missing required field Principal"));
                }
                // "You cannot use the NotPrincipal element in an IAM
                // identity-based policy nor in an IAM role trust policy", and
                // it "must be used with Effect: Deny" (IAM User Guide).
                Some((_, true)) if kind == PolicyKind::Trust => {
                    return Err(PolicyError::malformed("Has prohibited field NotPrincipal"));
                }
                Some((_, true)) if raw.effect == "Allow" => return Err(syntax()),
                _ => {}
            }
        }

        // 6. Resource formats and action vendors.
        if let Some(m) = resource_problem {
            return Err(PolicyError::malformed(m));
        }
        check_actions(&raws)?;

        let statements = raws
            .iter()
            .zip(conditions)
            .map(|(raw, conds)| statement::compile(raw, conds, variables))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            kind,
            version,
            id,
            statements: statements.into(),
            size,
        })
    }
}

/// Every action's vendor and form (`Actions/Conditions must be prefaced by a vendor...`).
fn check_actions(raws: &[statement::Raw<'_>]) -> Result<(), PolicyError> {
    for raw in raws {
        if let Some((list, _)) = &raw.action {
            for a in list {
                statement::check_action(a)?;
            }
        }
    }
    Ok(())
}

/// Reject an object with the same key twice.
pub(crate) fn check_duplicates(members: &[(String, Json)]) -> Result<(), PolicyError> {
    for (i, (k, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(o, _)| o == k) {
            return Err(syntax());
        }
    }
    Ok(())
}
