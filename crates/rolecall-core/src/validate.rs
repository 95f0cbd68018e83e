//! Input constraints from the IAM API model (patterns and lengths), with AWS's wording:
//! "1 validation error detected: Value 'x' at 'roleName' failed to satisfy constraint: ...".

use crate::model::Tag;
use crate::{Error, Result};

/// A constraint violation of `field` (the member name, first letter lower-cased).
pub fn violation(field: &str, value: &str, constraint: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

/// Length in characters within `min..=max`.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min {
        return Err(violation(
            field,
            value,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(violation(
            field,
            value,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A value that does not match the model's regular expression `pattern`.
fn pattern_violation(field: &str, value: &str, pattern: &str) -> Error {
    let constraint = format!("Member must satisfy regular expression pattern: {pattern}");
    violation(field, value, &constraint)
}

/// `value`'s length within `min..=max` ([`check_len`]), and each of its characters `allowed`
/// (the model's character-class `pattern`).
fn check_chars(
    field: &str,
    value: &str,
    (min, max): (usize, usize),
    allowed: impl Fn(char) -> bool,
    pattern: &str,
) -> Result<()> {
    check_len(field, value, min, max)?;
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(pattern_violation(field, value, pattern))
    }
}

/// `[\w+=,.@-]+`: the alphabet of role, profile, policy and user names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// An IAM entity name: `[\w+=,.@-]+` of 1..=max characters.
pub fn name(field: &str, value: &str, max: usize) -> Result<()> {
    check_chars(field, value, (1, max), is_name_char, "[\\w+=,.@-]+")
}

pub fn role_name(v: &str) -> Result<()> {
    name("roleName", v, 64)
}

pub fn instance_profile_name(v: &str) -> Result<()> {
    name("instanceProfileName", v, 128)
}

pub fn policy_name(v: &str) -> Result<()> {
    name("policyName", v, 128)
}

/// `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, 1..=512.
/// A new entity's path: `/` when none is given, else checked as [`path`].
pub fn path_or_root(v: Option<&str>) -> Result<&str> {
    let path = v.unwrap_or("/");
    self::path(path)?;
    Ok(path)
}

pub fn path(v: &str) -> Result<()> {
    check_len("path", v, 1, 512)?;
    let ok = v == "/"
        || (v.len() >= 3
            && v.starts_with('/')
            && v.ends_with('/')
            && v.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)));
    if !ok {
        let pattern = "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)";
        return Err(pattern_violation("path", v, pattern));
    }
    Ok(())
}

/// `\u002F[\u0021-\u007F]*`, 1..=512.
pub fn path_prefix(v: &str) -> Result<()> {
    check_len("pathPrefix", v, 1, 512)?;
    if !v.starts_with('/') || !v.chars().all(|c| ('\u{21}'..='\u{7f}').contains(&c)) {
        let pattern = "\\u002F[\\u0021-\\u007F]*";
        return Err(pattern_violation("pathPrefix", v, pattern));
    }
    Ok(())
}

/// A description, when one is given.
pub fn description(v: Option<&str>) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    let allowed = |c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}');
    let pattern = "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*";
    check_chars("description", v, (0, 1000), allowed, pattern)
}

pub fn max_session_duration(v: i64) -> Result<u32> {
    if !(3600..=43200).contains(&v) {
        let s = v.to_string();
        let c = if v < 3600 {
            "Member must have value greater than or equal to 3600"
        } else {
            "Member must have value less than or equal to 43200"
        };
        return Err(violation("maxSessionDuration", &s, c));
    }
    Ok(v as u32)
}

/// The shape limit on policy documents (the per-kind size quotas are the policy engine's).
pub fn policy_document(field: &str, v: &str) -> Result<()> {
    let allowed = |c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}') || c > '\u{ff}';
    let pattern = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+";
    check_chars(field, v, (1, 131072), allowed, pattern)
}

/// Tag keys `[\p{L}\p{Z}\p{N}_.:/=+\-@]+` (1..=128), values of the same set (0..=256), at most 50
/// per resource; keys must be distinct.
/// At most this many tags in one request (the models' `tagListType`), and on one entity.
pub const MAX_TAGS: usize = 50;

/// Validates the tags of one request: their number first (so a request with thousands of tags
/// costs no more than one with 51), then each tag, then duplicate keys (case-insensitively) in
/// linear time.
pub fn tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS}",
            tag_list_summary(tags)
        )));
    }
    // \p{Z} is the separators (space, no-break space, ...), not control characters like tab.
    let tag_char = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    };
    for (i, t) in tags.iter().enumerate() {
        // AWS names list items by their 1-based position.
        let key_field = format!("tags.{}.member.key", i + 1);
        let value_field = format!("tags.{}.member.value", i + 1);
        let pattern = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]";
        check_chars(
            &key_field,
            &t.key,
            (1, 128),
            tag_char,
            &format!("{pattern}+"),
        )?;
        check_chars(
            &value_field,
            &t.value,
            (0, 256),
            tag_char,
            &format!("{pattern}*"),
        )?;
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::InvalidInput("User-defined tag keys can't start with 'aws:'. This prefix is reserved for AWS tags.".into()));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(tags.len());
    if !tags.iter().all(|t| seen.insert(t.key.to_ascii_lowercase())) {
        return Err(Error::InvalidInput(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
        ));
    }
    Ok(())
}

/// A bounded rendering of a tag list for an error message.
fn tag_list_summary(tags: &[Tag]) -> String {
    let shown: Vec<String> = tags
        .iter()
        .take(3)
        .map(|t| format!("Tag(key={}, value={})", t.key, t.value))
        .collect();
    let more = if tags.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!("[{}{more}]", shown.join(", "))
}

/// Merges already validated `new` tags into `existing` (same key, any case, is replaced) and
/// enforces the 50-tag quota on the result.
pub fn merge_tags(existing: &mut Vec<Tag>, new: Vec<Tag>) -> Result<()> {
    for t in new {
        match existing
            .iter_mut()
            .find(|e| e.key.eq_ignore_ascii_case(&t.key))
        {
            Some(e) => *e = t,
            None => existing.push(t),
        }
    }
    if existing.len() > MAX_TAGS {
        return Err(Error::LimitExceeded(crate::Limit::TagsPerEntity));
    }
    Ok(())
}

/// Pagination markers: 1..=320 characters. (AWS's pattern `[\u0020-\u00FF]+` is not checked:
/// the markers of tag lists here are tag keys, which may be any letters.)
pub fn marker(v: &str) -> Result<()> {
    check_len("marker", v, 1, 320)
}

pub fn max_items(v: Option<&str>) -> Result<usize> {
    let Some(v) = v else { return Ok(100) };
    let n: i64 = v
        .parse()
        .map_err(|_| violation("maxItems", v, "Member must be a number"))?;
    if !(1..=1000).contains(&n) {
        let c = if n < 1 {
            "Member must have value greater than or equal to 1"
        } else {
            "Member must have value less than or equal to 1000"
        };
        return Err(violation("maxItems", v, c));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(role_name("s3access").is_ok());
        assert!(role_name("a+b=c,d.e@f_g-h").is_ok());
        assert!(
            matches!(role_name("bad name"), Err(Error::Validation(m)) if m.contains("at 'roleName'"))
        );
        assert!(role_name(&"a".repeat(65)).is_err());
        assert!(role_name("").is_err());
        assert!(path("/").is_ok());
        assert!(path("/a/b/").is_ok());
        assert!(path("/a").is_err());
        assert!(path("//").is_err());
        assert!(path_prefix("/a").is_ok());
        assert!(path_prefix("a").is_err());
        assert_eq!(max_items(None).ok(), Some(100));
        assert!(max_items(Some("0")).is_err());
        assert!(max_items(Some("x")).is_err());
        assert!(max_session_duration(3599).is_err());
    }

    #[test]
    fn tag_rules() {
        let t = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(tags(&[t("Env", "prod")]).is_ok());
        assert!(tags(&[t("aws:x", "")]).is_err());
        assert!(tags(&[t("a", "1"), t("A", "2")]).is_err());
        assert!(tags(&[t("bad#", "1")]).is_err());
        assert!(tags(&[t("a b\u{a0}c", "x y")]).is_ok());
        assert!(tags(&[t("k", "tab\there")]).is_err());
        assert!(tags(&[t("k\u{b}", "v")]).is_err());
        let mut existing = vec![t("a", "1")];
        merge_tags(&mut existing, vec![t("A", "2"), t("b", "3")]).ok();
        assert_eq!(existing, vec![t("A", "2"), t("b", "3")]);
        let mut full: Vec<Tag> = (0..50).map(|i| t(&format!("k{i}"), "")).collect();
        assert!(merge_tags(&mut full, vec![t("one-more", "")]).is_err());
    }

    #[test]
    fn tag_count_is_checked_before_anything_else() {
        let t = |k: String| Tag {
            key: k,
            value: String::new(),
        };
        // 10,000 duplicate, invalid keys: the count decides, and the message stays short.
        let many: Vec<Tag> = (0..10_000).map(|_| t("aws:dup#".into())).collect();
        let Err(Error::Validation(m)) = tags(&many) else {
            panic!("expected a validation error");
        };
        assert!(
            m.ends_with("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"),
            "{m}"
        );
        assert!(m.len() < 300, "{m}");
        // 50 distinct keys pass; a duplicate among them (any case) is found.
        let mut fifty: Vec<Tag> = (0..50).map(|i| t(format!("key{i}"))).collect();
        assert!(tags(&fifty).is_ok());
        fifty[49] = t("KEY0".into());
        assert!(matches!(tags(&fifty), Err(Error::InvalidInput(_))));
    }
}
