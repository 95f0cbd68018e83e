//! The `Principal`/`NotPrincipal` element: validation and matching.

use crate::context::{Principal, PrincipalKind};
use crate::error::PolicyError;

/// How a policy principal matched the caller. This matters for same-account
/// resource-based policies: a grant to the account delegates to identity
/// policies; a grant to a role ARN is still capped by the role session's
/// permissions boundary and session policy; a grant naming the caller itself
/// (user ARN, session ARN, service, `*`) stands on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalMatch {
    /// The caller itself (or `*`, or a service/federated principal).
    Direct,
    /// The role of the calling role session.
    RoleArn,
    /// The caller's account (`123456789012` or `arn:aws:iam::123456789012:root`).
    Account,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    Account(Box<str>),
    Arn(Box<str>),
    Service(Box<str>),
    Federated(Box<str>),
    CanonicalUser(Box<str>),
}

fn invalid(kind: &str, value: &str) -> PolicyError {
    PolicyError::malformed(format!(
        "Invalid principal in policy: \"{kind}\":\"{value}\""
    ))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl PrincipalPattern {
    pub(crate) fn compile(kind: &str, value: &str) -> Result<PrincipalPattern, PolicyError> {
        let no_wild = |v: &str| !v.is_empty() && !v.contains(['*', '?']) && !v.contains("${");
        match kind {
            "AWS" => {
                if value == "*" {
                    return Ok(PrincipalPattern::Everyone);
                }
                if is_account(value) {
                    return Ok(PrincipalPattern::Account(value.into()));
                }
                let Some(parts) = crate::arn::split_arn(value) else {
                    return Err(invalid(kind, value));
                };
                let [_, partition, service, region, account, resource] = parts;
                let ok = crate::arn::PARTITIONS.contains(&partition)
                    && (service == "iam" || service == "sts")
                    && region.is_empty()
                    && is_account(account)
                    && no_wild(resource)
                    && !resource.contains(char::is_whitespace);
                if !ok {
                    return Err(invalid(kind, value));
                }
                if service == "iam" && resource == "root" {
                    Ok(PrincipalPattern::Account(account.into()))
                } else {
                    Ok(PrincipalPattern::Arn(value.into()))
                }
            }
            "Service" if no_wild(value) && !value.contains(char::is_whitespace) => {
                Ok(PrincipalPattern::Service(value.into()))
            }
            "Federated" if no_wild(value) && !value.contains(char::is_whitespace) => {
                Ok(PrincipalPattern::Federated(value.into()))
            }
            "CanonicalUser" if no_wild(value) => Ok(PrincipalPattern::CanonicalUser(value.into())),
            _ => Err(invalid(kind, value)),
        }
    }

    #[inline]
    pub(crate) fn matches(&self, p: &Principal) -> Option<PrincipalMatch> {
        match self {
            PrincipalPattern::Everyone => Some(PrincipalMatch::Direct),
            PrincipalPattern::Account(a) => (p.account.as_deref() == Some(&**a)
                && !matches!(p.kind, PrincipalKind::Service | PrincipalKind::WebIdentity))
            .then_some(PrincipalMatch::Account),
            PrincipalPattern::Arn(arn) => {
                if p.arn == **arn && p.kind != PrincipalKind::Service {
                    Some(PrincipalMatch::Direct)
                } else if p.role_arn.as_deref() == Some(&**arn) {
                    Some(PrincipalMatch::RoleArn)
                } else {
                    None
                }
            }
            PrincipalPattern::Service(s) => (p.kind == PrincipalKind::Service
                && p.arn.eq_ignore_ascii_case(s))
            .then_some(PrincipalMatch::Direct),
            PrincipalPattern::Federated(f) => (p.kind == PrincipalKind::WebIdentity
                && p.arn == **f)
                .then_some(PrincipalMatch::Direct),
            PrincipalPattern::CanonicalUser(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(PrincipalPattern::compile("AWS", "*").is_ok());
        assert!(PrincipalPattern::compile("AWS", "123456789012").is_ok());
        assert!(PrincipalPattern::compile("AWS", "arn:aws:iam::123456789012:root").is_ok());
        assert!(PrincipalPattern::compile("AWS", "arn:aws:iam::123456789012:user/a").is_ok());
        assert!(
            PrincipalPattern::compile("AWS", "arn:aws:sts::123456789012:assumed-role/r/s").is_ok()
        );
        assert!(PrincipalPattern::compile("AWS", "arn:aws:iam::123456789012:user/*").is_err());
        assert!(PrincipalPattern::compile("AWS", "arn:aws:iam::*:root").is_err());
        assert!(PrincipalPattern::compile("AWS", "alice").is_err());
        assert!(PrincipalPattern::compile("AWS", "arn:aws:s3:::b").is_err());
        assert!(PrincipalPattern::compile("Service", "ec2.amazonaws.com").is_ok());
        assert!(PrincipalPattern::compile("Service", "*").is_err());
        assert!(PrincipalPattern::compile("Nope", "x").is_err());
        let e = PrincipalPattern::compile("AWS", "bob").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid principal in policy: \"AWS\":\"bob\""
        );
    }

    #[test]
    fn matching() {
        let session = Principal::assumed_role(
            "arn:aws:sts::123456789012:assumed-role/R/s",
            "arn:aws:iam::123456789012:role/R",
        );
        let c = |k, v| PrincipalPattern::compile(k, v).unwrap();
        assert_eq!(
            c("AWS", "arn:aws:iam::123456789012:role/R").matches(&session),
            Some(PrincipalMatch::RoleArn)
        );
        assert_eq!(
            c("AWS", "arn:aws:sts::123456789012:assumed-role/R/s").matches(&session),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(
            c("AWS", "123456789012").matches(&session),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(c("AWS", "111111111111").matches(&session), None);
        let ec2 = Principal::service("ec2.amazonaws.com");
        assert_eq!(
            c("Service", "ec2.amazonaws.com").matches(&ec2),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(c("Service", "ec2.amazonaws.com").matches(&session), None);
        assert_eq!(c("AWS", "*").matches(&ec2), Some(PrincipalMatch::Direct));
    }
}
