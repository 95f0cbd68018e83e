//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, defaults
//! `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
//!
//! Variables are only recognised in documents with `"Version": "2012-10-17"`,
//! and only in `Resource`/`NotResource` and in the values of `String*` and
//! `Arn*` conditions; everywhere else `${...}` is literal text.

/// Looks up the single value of a (lowercased) context key for substitution.
pub(crate) trait Resolve {
    fn resolve_key(&self, key_lower: &str) -> Option<&str>;
}

/// A resolver with no keys at all.
pub(crate) struct NoVars;

impl Resolve for NoVars {
    fn resolve_key(&self, _: &str) -> Option<&str> {
        None
    }
}

/// A compiled variable reference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    /// The context key, lowercased (keys are case-insensitive).
    pub key: Box<str>,
    /// The default value, if given as `${key, 'default'}`.
    pub default: Option<Box<str>>,
    /// Index of this variable within its pattern.
    pub ordinal: usize,
}

impl Var {
    /// The substituted value: the context value, else the default.
    pub(crate) fn resolve<'a, R: Resolve + ?Sized>(&'a self, r: &'a R) -> Option<&'a str> {
        r.resolve_key(&self.key).or(self.default.as_deref())
    }
}

/// What a `${...}` at the start of a string stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// An escape: `${*}`, `${?}` or `${$}`.
    Literal(char),
    Var(Var),
}

/// Parse a `${...}` at the start of `s` (which must start with `${`).
/// Returns the piece and the number of bytes consumed, or `None` if this is
/// not a well-formed variable (it is then literal text).
pub(crate) fn parse_at(s: &str, ordinal: usize) -> Option<(Piece, usize)> {
    let body_start = 2;
    let close = s[body_start..].find('}')? + body_start;
    let body = &s[body_start..close];
    let len = close + 1;
    match body {
        "*" => return Some((Piece::Literal('*'), len)),
        "?" => return Some((Piece::Literal('?'), len)),
        "$" => return Some((Piece::Literal('$'), len)),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (k.trim(), Some(d))
        }
    };
    if key.is_empty() || !key.chars().all(valid_key_char) {
        return None;
    }
    Some((
        Piece::Var(Var {
            key: key.to_ascii_lowercase().into(),
            default: default.map(Into::into),
            ordinal,
        }),
        len,
    ))
}

fn valid_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_' | '.' | '@' | '+' | '=')
}

/// Does `s` contain something that would be a variable under 2012-10-17?
pub(crate) fn contains_variable(s: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if parse_at(&rest[i..], 0).is_some() {
            return true;
        }
        rest = &rest[i + 2..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(parse_at("${*}x", 0), Some((Piece::Literal('*'), 4)));
        assert_eq!(parse_at("${?}", 0), Some((Piece::Literal('?'), 4)));
        assert_eq!(parse_at("${$}", 0), Some((Piece::Literal('$'), 4)));
    }

    #[test]
    fn keys_and_defaults() {
        let (Piece::Var(v), n) = parse_at("${aws:PrincipalTag/Team, 'none'}/x", 3).unwrap() else {
            panic!()
        };
        assert_eq!(&*v.key, "aws:principaltag/team");
        assert_eq!(v.default.as_deref(), Some("none"));
        assert_eq!(v.ordinal, 3);
        assert_eq!(n, 32);
        assert!(parse_at("${aws:username", 0).is_none());
        assert!(parse_at("${}", 0).is_none());
        assert!(parse_at("${a b}", 0).is_none());
        assert!(parse_at("${k, nodefaultquotes}", 0).is_none());
        assert!(contains_variable("home/${aws:username}/"));
        assert!(!contains_variable("home/${/x"));
    }
}
