//! ARNs: validation of `Resource` values and segment-wise matching
//! (partition, service, region, account, resource), case-sensitive, where `*`
//! and `?` never cross the `:` between the first five segments.

use crate::variables::{self, Resolve};
use crate::wildcard::{Pattern, Syntax};

/// Partitions AWS knows.
pub(crate) const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Split an ARN into its six segments (the last keeps any further colons).
#[inline]
pub fn split_arn(s: &str) -> Option<[&str; 6]> {
    let rest = s.strip_prefix("arn:")?;
    let mut parts = ["arn", "", "", "", "", ""];
    let mut start = 0;
    let mut k = 1;
    for (i, b) in rest.bytes().enumerate() {
        if b == b':' {
            parts[k] = &rest[start..i];
            start = i + 1;
            k += 1;
            if k == 5 {
                parts[5] = &rest[start..];
                return Some(parts);
            }
        }
    }
    None
}

/// The account ID of an ARN, if it has one.
pub fn arn_account(s: &str) -> Option<&str> {
    split_arn(s).map(|p| p[4]).filter(|a| !a.is_empty())
}

/// Split pattern text on `:` outside `${...}` variables, into at most `n` parts.
fn split_pattern(s: &str, n: usize, vars: bool) -> Vec<&str> {
    let mut out = Vec::with_capacity(n.min(8));
    let mut start = 0;
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() && out.len() + 1 < n {
        if vars
            && b[i] == b'$'
            && b.get(i + 1) == Some(&b'{')
            && let Some((_, len)) = variables::parse_at(&s[i..], 0)
        {
            i += len;
            continue;
        }
        if b[i] == b':' {
            out.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// A compiled ARN pattern (for `Resource` and the `Arn*` condition operators).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArnPattern {
    /// `*`: matches anything.
    Any,
    /// Segment-wise: partition, service, region, account, resource.
    Segments(Box<[Pattern; 5]>),
    /// Not an ARN (only possible in conditions): matches nothing.
    Invalid,
}

impl ArnPattern {
    /// Compile a `Resource`/`NotResource` value (already validated). IAM
    /// expands a short ARN such as `arn:aws:s3` with `*` segments.
    pub(crate) fn resource(text: &str, variables: bool) -> ArnPattern {
        Self::compile(text, variables, true)
    }

    /// Compile an `Arn*` condition value: anything but a six-segment ARN (or
    /// `*`) matches nothing.
    pub(crate) fn condition(text: &str, variables: bool) -> ArnPattern {
        Self::compile(text, variables, false)
    }

    fn compile(text: &str, variables: bool, expand: bool) -> ArnPattern {
        let syntax = Syntax {
            wildcards: true,
            variables,
            lowercase: false,
        };
        if text == "*" {
            return ArnPattern::Any;
        }
        let mut parts = split_pattern(text, 6, variables);
        if expand {
            while parts.len() < 6 {
                parts.push("*");
            }
        }
        if parts.len() == 6 && (expand || parts[0] == "arn") {
            let segs = [
                Pattern::compile(parts[1], syntax),
                Pattern::compile(parts[2], syntax),
                Pattern::compile(parts[3], syntax),
                Pattern::compile(parts[4], syntax),
                Pattern::compile(parts[5], syntax),
            ];
            ArnPattern::Segments(Box::new(segs))
        } else {
            ArnPattern::Invalid
        }
    }

    /// Does `s` match? (`false` if a policy variable cannot be resolved.)
    #[inline]
    pub(crate) fn matches<R: Resolve + ?Sized>(&self, s: &str, r: &R) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Invalid => false,
            ArnPattern::Segments(segs) => match split_arn(s) {
                Some(parts) => segs
                    .iter()
                    .zip(&parts[1..])
                    .all(|(p, part)| p.matches(part, false, r)),
                None => false,
            },
        }
    }

    /// `Some(matches)`, or `None` if the comparison is meaningless: a policy
    /// variable cannot be resolved, or either side is not an ARN.
    pub(crate) fn test<R: Resolve + ?Sized>(&self, s: &str, r: &R) -> Option<bool> {
        match self {
            ArnPattern::Any => Some(true),
            ArnPattern::Invalid => None,
            ArnPattern::Segments(segs) => {
                let parts = split_arn(s)?;
                let mut result = true;
                for (p, part) in segs.iter().zip(&parts[1..]) {
                    if !p.test(part, false, r)? {
                        result = false;
                    }
                }
                Some(result)
            }
        }
    }

    pub(crate) fn variables(&self) -> Vec<&crate::variables::Var> {
        match self {
            ArnPattern::Any | ArnPattern::Invalid => Vec::new(),
            ArnPattern::Segments(segs) => segs.iter().flat_map(|p| p.variables()).collect(),
        }
    }
}

/// Why IAM rejects a `Resource`/`NotResource` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResourceProblem {
    /// A specific message (reported after the statement-level checks).
    Message(String),
}

/// IAM resource paths (the part after the account) must start with one of these.
const IAM_RESOURCE_PREFIXES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// Validate a `Resource`/`NotResource` value the way IAM does.
pub(crate) fn validate_resource(text: &str, variables: bool) -> Result<(), ResourceProblem> {
    if text == "*" {
        return Ok(());
    }
    let msg = |m: String| Err(ResourceProblem::Message(m));
    // Colons inside `${...}` do not separate segments.
    let parts = split_pattern(text, usize::MAX, variables);
    let Some(&partition) = parts.get(1) else {
        return msg(format!("Resource {text} must be in ARN format or \"*\"."));
    };
    if !PARTITIONS.contains(&partition) {
        let rest = &parts[2..];
        let seg = |i: usize| {
            rest.get(i)
                .copied()
                .filter(|s| !s.is_empty() || i + 1 < rest.len())
        };
        let tail = if rest.len() > 3 {
            rest[3..].join(":")
        } else {
            "*".to_string()
        };
        return msg(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{}:{}:{}:{tail}\".",
            seg(0).unwrap_or("*"),
            rest.get(1).copied().unwrap_or("*"),
            rest.get(2).copied().unwrap_or("*"),
        ));
    }
    let vendor_error =
        || msg("Resource vendor must be fully qualified and cannot contain regexes.".into());
    let Some(&service) = parts.get(2) else {
        return vendor_error();
    };
    if service.contains(['*', '?']) || service.contains("${") {
        return vendor_error();
    }
    let region = parts.get(3).copied().unwrap_or("");
    if !region.is_empty() {
        match service {
            "iam" => {
                return msg(format!(
                    "IAM resource {text} cannot contain region information."
                ));
            }
            // Access points (and Object Lambda / Multi-Region access points) are regional;
            // buckets and objects are not.
            "s3" if !parts
                .get(5)
                .is_some_and(|r| r.starts_with("accesspoint/") || *r == "accesspoint") =>
            {
                return msg(format!(
                    "Resource {text} can not contain region information."
                ));
            }
            _ => {}
        }
    }
    if service == "iam" {
        let path = if parts.len() > 5 {
            parts[5..].join(":")
        } else {
            String::new()
        };
        if !path.starts_with('*') && !IAM_RESOURCE_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return msg(format!(
                "IAM resource path must either be \"*\" or start with {}.",
                IAM_RESOURCE_PREFIXES.join(", ")
            ));
        }
    }
    Ok(())
}

/// IAM's legacy parser: a value with fewer than six segments may not contain
/// `::`, and the service segment may not be empty.
pub(crate) fn legacy_resource_ok(text: &str, variables: bool) -> bool {
    if text == "*" {
        return true;
    }
    let parts = split_pattern(text, usize::MAX, variables);
    (parts.len() >= 6 || !text.contains("::")) && parts.get(2).is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::NoVars;

    fn m(p: &str, s: &str) -> bool {
        ArnPattern::resource(p, true).matches(s, &NoVars)
    }

    #[test]
    fn split() {
        assert_eq!(
            split_arn("arn:aws:ec2:us-east-1:123456789012:instance/i-1:x"),
            Some([
                "arn",
                "aws",
                "ec2",
                "us-east-1",
                "123456789012",
                "instance/i-1:x"
            ])
        );
        assert_eq!(split_arn("arn:aws:s3"), None);
        assert_eq!(arn_account("arn:aws:s3:::b"), None);
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/x"),
            Some("123456789012")
        );
    }

    #[test]
    fn segment_matching() {
        assert!(m("*", "anything"));
        assert!(m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b"));
        assert!(!m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        // `*` does not cross a segment boundary.
        assert!(!m(
            "arn:aws:ec2:*:instance/*:*",
            "arn:aws:ec2:us-east-1:123:instance/i-1"
        ));
        assert!(m(
            "arn:aws:ec2:*:*:instance/*",
            "arn:aws:ec2:us-east-1:123:instance/i-1"
        ));
        // The resource segment may contain colons.
        assert!(m(
            "arn:aws:logs:*:*:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"
        ));
        // Case-sensitive in every segment.
        assert!(!m("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"));
        assert!(!m("arn:AWS:s3:::bucket", "arn:aws:s3:::bucket"));
        assert!(!m("arn:aws:s3:::bucket", "*"));
    }

    fn problem(r: &str) -> String {
        match validate_resource(r, true) {
            Ok(()) => String::new(),
            Err(ResourceProblem::Message(m)) => m,
        }
    }

    #[test]
    fn validation_messages() {
        for ok in [
            "*",
            "arn:aws:s3:::b/${aws:username}/*",
            "arn:aws:s3:::b",
            "arn:aws:s3",
            "arn:aws:fdsasf",
            "arn:aws:s33:::example_bucket",
            "arn:aws:iam:::user/example_bucket",
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012:*",
            "arn:aws:ec2:us-east-1::example_bucket",
            "arn:aws:invalid-service:us-east-1::example_bucket",
        ] {
            assert_eq!(problem(ok), "", "{ok}");
        }
        assert_eq!(
            problem("bucket"),
            "Resource bucket must be in ARN format or \"*\"."
        );
        assert_eq!(problem(""), "Resource  must be in ARN format or \"*\".");
        assert_eq!(
            problem("a:bsdfdsafsad"),
            "Partition \"bsdfdsafsad\" is not valid for resource \"arn:bsdfdsafsad:*:*:*:*\"."
        );
        assert_eq!(
            problem("a:b:cadfsdf"),
            "Partition \"b\" is not valid for resource \"arn:b:cadfsdf:*:*:*\"."
        );
        assert_eq!(
            problem("a:b:c:d:e:f:g:h"),
            "Partition \"b\" is not valid for resource \"arn:b:c:d:e:f:g:h\"."
        );
        assert_eq!(
            problem("aws:s3:::example_bucket"),
            "Partition \"s3\" is not valid for resource \"arn:s3:::example_bucket:*\"."
        );
        assert_eq!(
            problem("arn:aws"),
            "Resource vendor must be fully qualified and cannot contain regexes."
        );
        assert_eq!(
            problem("arn:aws:s*:::b"),
            "Resource vendor must be fully qualified and cannot contain regexes."
        );
        assert_eq!(
            problem("arn:aws:iam:us-east-1::example_bucket"),
            "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."
        );
        assert_eq!(
            problem("arn:aws:s3:us-east-1::example_bucket"),
            "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."
        );
        assert!(
            validate_resource("arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap", true).is_ok()
        );
        assert!(
            validate_resource(
                "arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/object/k",
                true
            )
            .is_ok()
        );
        assert_eq!(
            problem("arn:aws:s3:us-west-2:123456789012:bucket/b"),
            "Resource arn:aws:s3:us-west-2:123456789012:bucket/b can not contain region information."
        );
        assert!(problem("arn:aws:iam:::example_bucket").starts_with("IAM resource path must"));
        assert!(legacy_resource_ok("arn:aws:s3:::b", true));
        assert!(legacy_resource_ok("arn:aws:fdsasf", true));
        assert!(!legacy_resource_ok("arn:aws:s3::example_bucket", true));
        assert!(!legacy_resource_ok("arn:aws::fdsasf", true));
        assert!(!legacy_resource_ok("arn:aws::::example_bucket", true));
    }

    #[test]
    fn short_arns_expand() {
        assert!(m("arn:aws:s3", "arn:aws:s3:::b/k"));
        assert!(!m("arn:aws:s3", "arn:aws:ec2:us-east-1:1:instance/i"));
        let c = ArnPattern::condition("arn:aws:sns:*", true);
        assert_eq!(c.test("arn:aws:sns:us-east-1:1:t", &NoVars), None);
        let c = ArnPattern::condition("arn:aws:sns:*:*:*", true);
        assert_eq!(c.test("not an arn", &NoVars), None);
        assert_eq!(c.test("arn:aws:sns:us-east-1:1:t", &NoVars), Some(true));
    }
}
