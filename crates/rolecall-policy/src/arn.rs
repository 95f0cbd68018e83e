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
pub fn split_arn(s: &str) -> Option<[&str; 6]> {
    let rest = s.strip_prefix("arn:")?;
    let mut it = rest.splitn(5, ':');
    let partition = it.next()?;
    let service = it.next()?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next()?;
    Some(["arn", partition, service, region, account, resource])
}

/// The account ID of an ARN, if it has one.
pub fn arn_account(s: &str) -> Option<&str> {
    split_arn(s).map(|p| p[4]).filter(|a| !a.is_empty())
}

/// Split pattern text on `:` outside `${...}` variables, into at most `n` parts.
fn split_pattern(s: &str, n: usize, vars: bool) -> Vec<&str> {
    let mut out = Vec::with_capacity(n);
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
    /// Not an ARN (only possible in conditions): whole-string glob.
    Glob(Pattern),
}

impl ArnPattern {
    pub(crate) fn compile(text: &str, variables: bool) -> ArnPattern {
        let syntax = Syntax {
            wildcards: true,
            variables,
            lowercase: false,
        };
        if text == "*" {
            return ArnPattern::Any;
        }
        let parts = split_pattern(text, 6, variables);
        if parts.len() == 6 && parts[0] == "arn" {
            let segs = [
                Pattern::compile(parts[1], syntax),
                Pattern::compile(parts[2], syntax),
                Pattern::compile(parts[3], syntax),
                Pattern::compile(parts[4], syntax),
                Pattern::compile(parts[5], syntax),
            ];
            ArnPattern::Segments(Box::new(segs))
        } else {
            ArnPattern::Glob(Pattern::compile(text, syntax))
        }
    }

    /// Does `s` match? (`false` if a policy variable cannot be resolved.)
    #[inline]
    pub(crate) fn matches<R: Resolve + ?Sized>(&self, s: &str, r: &R) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Glob(p) => p.matches(s, false, r),
            ArnPattern::Segments(segs) => match split_arn(s) {
                Some(parts) => segs
                    .iter()
                    .zip(&parts[1..])
                    .all(|(p, part)| p.matches(part, false, r)),
                None => false,
            },
        }
    }

    /// `None` if a policy variable cannot be resolved.
    pub(crate) fn test<R: Resolve + ?Sized>(&self, s: &str, r: &R) -> Option<bool> {
        match self {
            ArnPattern::Any => Some(true),
            ArnPattern::Glob(p) => p.test(s, false, r),
            ArnPattern::Segments(segs) => {
                let parts = split_arn(s);
                let mut result = true;
                for (i, p) in segs.iter().enumerate() {
                    let part = parts.map_or("", |ps| ps[i + 1]);
                    if !p.test(part, false, r)? {
                        result = false;
                    }
                }
                Some(result && parts.is_some())
            }
        }
    }

    pub(crate) fn variables(&self) -> Vec<&crate::variables::Var> {
        match self {
            ArnPattern::Any => Vec::new(),
            ArnPattern::Glob(p) => p.variables().collect(),
            ArnPattern::Segments(segs) => segs.iter().flat_map(|p| p.variables()).collect(),
        }
    }
}

/// Validate a `Resource`/`NotResource` value the way IAM does; `Err` is the message.
pub(crate) fn validate_resource(text: &str, variables: bool) -> Result<(), String> {
    if text == "*" {
        return Ok(());
    }
    let parts = split_pattern(text, 6, variables);
    if parts.len() < 6 || parts[0] != "arn" {
        return Err(format!("Resource {text} must be in ARN format or \"*\"."));
    }
    let partition = parts[1];
    let wild = |s: &str| s.contains('*') || s.contains('?');
    if !wild(partition) && !PARTITIONS.contains(&partition) {
        return Err(format!(
            "Partition \"{partition}\" is not valid for resource \"{text}\"."
        ));
    }
    let service = parts[2];
    if service.is_empty()
        || wild(service)
        || service.contains("${")
        || !service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err("Resource vendor must be fully qualified and cannot contain regexes.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::NoVars;

    fn m(p: &str, s: &str) -> bool {
        ArnPattern::compile(p, true).matches(s, &NoVars)
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

    #[test]
    fn validation() {
        assert!(validate_resource("*", true).is_ok());
        assert!(validate_resource("arn:aws:s3:::b/${aws:username}/*", true).is_ok());
        assert!(validate_resource("arn:aws:s3:::b", true).is_ok());
        assert!(validate_resource("bucket", true).is_err());
        assert!(validate_resource("arn:aws:s3", true).is_err());
        assert!(validate_resource("arn:foo:s3:::b", true).is_err());
        assert!(validate_resource("arn:aws:s*:::b", true).is_err());
        assert!(validate_resource("arn:aws::::b", true).is_err());
        assert!(validate_resource("arn:*:s3:::b", true).is_ok());
    }
}
