//! Parsing and validating policy documents (`Policy::parse`).
//!
//! Order of checks: characters, size, JSON syntax (duplicate keys rejected),
//! top-level elements, then each statement.

mod statement;

use crate::error::{PolicyError, SYNTAX};
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

impl Policy {
    /// Parse, validate and compile a policy document for the given use.
    ///
    /// Errors carry the AWS error code ([`PolicyError::code`]):
    /// `MalformedPolicyDocument` or `LimitExceeded`.
    pub fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        check_charset(doc)?;
        let size = policy_size(doc);
        if size > kind.size_limit() {
            return Err(limit_error(kind, size));
        }
        if size == 0 {
            return Err(PolicyError::malformed(SYNTAX));
        }
        let value = json::parse(doc).map_err(|_| PolicyError::malformed(SYNTAX))?;
        let Json::Obj(top) = value else {
            return Err(PolicyError::malformed(SYNTAX));
        };
        check_duplicates(&top)?;

        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (k, v) in &top {
            match k.as_str() {
                "Version" => {
                    version = Some(match v {
                        Json::Str(s) if s == "2012-10-17" => Version::V2012_10_17,
                        Json::Str(s) if s == "2008-10-17" => Version::V2008_10_17,
                        _ => {
                            return Err(PolicyError::malformed(
                                "The policy must contain a valid version string",
                            ));
                        }
                    })
                }
                "Id" => match v {
                    Json::Str(s) => id = Some(s.clone()),
                    _ => return Err(PolicyError::malformed(SYNTAX)),
                },
                "Statement" => statement = Some(v),
                other => {
                    return Err(PolicyError::malformed(format!(
                        "{SYNTAX} Unknown field {other}."
                    )));
                }
            }
        }
        let Some(statement) = statement else {
            return Err(PolicyError::malformed(format!(
                "{SYNTAX} Missing required field Statement."
            )));
        };
        let variables = version == Some(Version::V2012_10_17);
        let items: Vec<&Json> = match statement {
            Json::Obj(_) => vec![statement],
            Json::Arr(items) => items.iter().collect(),
            _ => return Err(PolicyError::malformed(SYNTAX)),
        };
        let mut statements = Vec::with_capacity(items.len());
        for item in items {
            statements.push(statement::compile(item, kind, variables)?);
        }
        for (i, s) in statements.iter().enumerate() {
            if let Some(sid) = s.sid()
                && statements[..i].iter().any(|o| o.sid() == Some(sid))
            {
                return Err(PolicyError::malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
        }
        Ok(Policy {
            kind,
            version,
            id,
            statements: statements.into(),
            size,
        })
    }
}

/// Reject an object with the same key twice.
pub(crate) fn check_duplicates(members: &[(String, Json)]) -> Result<(), PolicyError> {
    for (i, (k, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(o, _)| o == k) {
            return Err(PolicyError::malformed(format!(
                "{SYNTAX} Duplicate field {k}."
            )));
        }
    }
    Ok(())
}
