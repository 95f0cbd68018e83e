//! Precompiled glob patterns (`*` = any run of characters, `?` = exactly one
//! character) with optional policy variables, matched without allocation.

use crate::variables::{self, NoVars, Resolve, Var};

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Literal text (already unescaped).
    Lit(Box<str>),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, possibly empty.
    Many,
    /// A policy variable `${key}` or `${key, 'default'}`.
    Var(Var),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    toks: Box<[Tok]>,
    vars: usize,
}

/// How a pattern's text is interpreted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards.
    pub wildcards: bool,
    /// `${...}` are policy variables (Version 2012-10-17 only).
    pub variables: bool,
    /// Lowercase literal text (for case-insensitive matching of actions).
    pub lowercase: bool,
}

/// A view of one token with variables resolved.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Lit(&'a [u8]),
    One,
    Many,
}

/// How many variables are resolved on the stack before falling back to the heap.
const STACK_VARS: usize = 8;

impl Pattern {
    pub(crate) fn compile(text: &str, syntax: Syntax) -> Pattern {
        let mut toks: Vec<Tok> = Vec::new();
        let mut lit = String::new();
        let push_lit = |lit: &mut String, toks: &mut Vec<Tok>| {
            if !lit.is_empty() {
                let s = std::mem::take(lit);
                toks.push(Tok::Lit(if syntax.lowercase {
                    s.to_ascii_lowercase().into()
                } else {
                    s.into()
                }));
            }
        };
        let mut vars = 0;
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some((piece, len)) = variables::parse_at(rest, vars)
            {
                match piece {
                    variables::Piece::Literal(ch) => lit.push(ch),
                    variables::Piece::Var(v) => {
                        push_lit(&mut lit, &mut toks);
                        toks.push(Tok::Var(v));
                        vars += 1;
                    }
                }
                rest = &rest[len..];
                continue;
            }
            if syntax.wildcards && (c == '*' || c == '?') {
                push_lit(&mut lit, &mut toks);
                if c == '*' {
                    // Collapse runs of `*`.
                    if toks.last() != Some(&Tok::Many) {
                        toks.push(Tok::Many);
                    }
                } else {
                    toks.push(Tok::One);
                }
            } else {
                lit.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        push_lit(&mut lit, &mut toks);
        Pattern {
            toks: toks.into(),
            vars,
        }
    }

    /// The policy variables used by this pattern.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &Var> {
        self.toks.iter().filter_map(|t| match t {
            Tok::Var(v) => Some(v),
            _ => None,
        })
    }

    /// Match `s` against the pattern. `fold`: ASCII case-insensitive.
    /// Returns `false` if a variable cannot be resolved and has no default.
    #[inline]
    pub(crate) fn matches<R: Resolve + ?Sized>(&self, s: &str, fold: bool, r: &R) -> bool {
        self.test(s, fold, r) == Some(true)
    }

    /// Like [`Pattern::matches`], but `None` if a variable cannot be resolved
    /// (such a value neither matches nor "does not match").
    #[inline]
    pub(crate) fn test<R: Resolve + ?Sized>(&self, s: &str, fold: bool, r: &R) -> Option<bool> {
        let s = s.as_bytes();
        // Cheap rejection on the leading literal (most action patterns).
        if let Some(Tok::Lit(l)) = self.toks.first()
            && !starts_with(s, l.as_bytes(), fold)
        {
            return if self.vars == 0 {
                Some(false)
            } else {
                // Still report unresolvable variables as such.
                self.variables()
                    .all(|v| v.resolve(r).is_some())
                    .then_some(false)
            };
        }
        if self.vars == 0 {
            return Some(glob(self.toks.len(), |i| self.seg(i, &[]), s, fold));
        }
        if self.vars <= STACK_VARS {
            let mut buf: [&[u8]; STACK_VARS] = [&[]; STACK_VARS];
            for (slot, v) in buf.iter_mut().zip(self.variables()) {
                *slot = v.resolve(r)?.as_bytes();
            }
            Some(glob(self.toks.len(), |i| self.seg(i, &buf), s, fold))
        } else {
            let mut buf: Vec<&[u8]> = Vec::with_capacity(self.vars);
            for v in self.variables() {
                buf.push(v.resolve(r)?.as_bytes());
            }
            Some(glob(self.toks.len(), |i| self.seg(i, &buf), s, fold))
        }
    }

    #[inline]
    fn seg<'a>(&'a self, i: usize, vars: &[&'a [u8]]) -> Seg<'a> {
        match &self.toks[i] {
            Tok::Lit(l) => Seg::Lit(l.as_bytes()),
            Tok::One => Seg::One,
            Tok::Many => Seg::Many,
            Tok::Var(v) => Seg::Lit(vars.get(v.ordinal).copied().unwrap_or(&[])),
        }
    }
}

/// Plain globs: `*` and `?` are wildcards, nothing else is special.
const GLOB: Syntax = Syntax {
    wildcards: true,
    variables: false,
    lowercase: false,
};

/// Whether `value` matches `pattern`, where `*` is any run of characters and `?` exactly one,
/// case-sensitively (e.g. EC2's filter values).
pub fn glob_match(pattern: &str, value: &str) -> bool {
    Pattern::compile(pattern, GLOB).matches(value, false, &NoVars)
}

/// Length of the UTF-8 character starting with byte `b`.
#[inline]
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Does `s` start with `lit`? (A plain loop: these strings are short, and a
/// call to `memcmp` costs more than the comparison.)
#[inline]
fn starts_with(s: &[u8], lit: &[u8], fold: bool) -> bool {
    if s.len() < lit.len() {
        return false;
    }
    let s = &s[..lit.len()];
    if fold {
        s.iter().zip(lit).all(|(a, b)| a.eq_ignore_ascii_case(b))
    } else {
        s.iter().zip(lit).all(|(a, b)| a == b)
    }
}

/// Iterative glob matching with single-star backtracking (linear in practice,
/// O(n*m) worst case, never exponential). Literal runs are compared whole.
#[inline]
fn glob<'a>(n: usize, seg: impl Fn(usize) -> Seg<'a>, s: &[u8], fold: bool) -> bool {
    // Fast path: a single literal.
    if n == 1
        && let Seg::Lit(l) = seg(0)
    {
        return l.len() == s.len() && starts_with(s, l, fold);
    }
    let (mut pi, mut si) = (0usize, 0usize);
    // Backtrack point: (token after the star, string position to retry from).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < n {
            match seg(pi) {
                Seg::Many => {
                    pi += 1;
                    star = Some((pi, si));
                    continue;
                }
                Seg::One if si < s.len() => {
                    si += char_len(s[si]).min(s.len() - si);
                    pi += 1;
                    continue;
                }
                Seg::Lit(l) if starts_with(&s[si..], l, fold) => {
                    si += l.len();
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        } else if si == s.len() {
            return true;
        }
        // Mismatch: let the last star absorb one more character.
        match star {
            Some((spi, ssi)) if ssi < s.len() => {
                let next = ssi + char_len(s[ssi]).min(s.len() - ssi);
                star = Some((spi, next));
                pi = spi;
                si = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p, s)
    }

    #[test]
    fn basics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(m("a*b*c", "abcbc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("**a", "xxa"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "Abc"));
        assert!(m("?", "é"));
        assert!(!m("??", "é"));
        assert!(m("*?", "a"));
        assert!(!m("*?", ""));
    }

    #[test]
    fn fold() {
        let p = Pattern::compile(
            "S3:Get*",
            Syntax {
                lowercase: true,
                ..GLOB
            },
        );
        assert!(p.matches("s3:GETOBJECT", true, &NoVars));
        assert!(p.matches("S3:getobject", true, &NoVars));
        assert!(!p.matches("s3:PutObject", true, &NoVars));
    }

    #[test]
    fn literal_syntax() {
        let p = Pattern::compile(
            "a*",
            Syntax {
                wildcards: false,
                variables: false,
                lowercase: false,
            },
        );
        assert!(p.matches("a*", false, &NoVars));
        assert!(!p.matches("ab", false, &NoVars));
    }

    #[test]
    fn pathological_is_fast() {
        let p = "*a".repeat(30) + "b";
        let s = "a".repeat(5000);
        assert!(!m(&p, &s));
    }
}
