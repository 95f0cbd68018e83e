//! Condition operators: names, compiled values, evaluation.
//!
//! Semantics (from the IAM documentation):
//! * Several operators in a `Condition` block, several keys under an operator:
//!   all must be true (AND). Several values for one key: any may match (OR).
//! * Negated operators (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...)
//!   are true when the request value matches *none* of the policy values, and
//!   are true when the key is missing.
//! * `...IfExists`: true when the key is missing.
//! * `ForAllValues:`: true when the key is missing or its set is empty;
//!   otherwise every request value must satisfy the operator.
//! * `ForAnyValue:`: false when the key is missing or its set is empty;
//!   otherwise at least one request value must satisfy the operator.
//! * Without a set qualifier, an operator applied to a multi-valued key never
//!   matches (a set operator is required for multi-valued keys; this is what
//!   AWS does, and what IAM Access Analyzer warns about).
//! * A policy value whose policy variable cannot be resolved (key missing or
//!   multi-valued, no default) never satisfies the operator, negated or not.
//! * `Null` tests only whether the key is present (an empty set is present).

pub(crate) mod compile;
pub(crate) mod values;

use crate::arn::ArnPattern;
use crate::context::{ContextKeys, ContextValue};
use crate::wildcard::Pattern;
use ipnet::IpNet;

/// Declares [`Operator`] from one table: each operator's name, the values it compares
/// ([`Compared`]) and, for a negated one, `negated`.
macro_rules! operators {
    ($($op:ident => $compared:expr $(, $negated:ident)?;)*) => {
        /// A condition operator (without `ForAllValues:`/`ForAnyValue:`/`IfExists`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operator {
            $($op,)*
        }

        impl Operator {
            pub const ALL: [Operator; [$(stringify!($op)),*].len()] = [$(Operator::$op),*];

            /// The operator's name as written in policies.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operator::$op => stringify!($op),)*
                }
            }

            /// What the operator's values are and how a request value is compared with them.
            pub(crate) fn compared(self) -> Compared {
                use Cmp::*;
                use Compared::*;
                match self {
                    $(Operator::$op => $compared,)*
                }
            }

            /// Negated operators are true when no policy value matches (and when the key is
            /// missing).
            pub fn is_negated(self) -> bool {
                match self {
                    $(Operator::$op => operators!(@negated $($negated)?),)*
                }
            }
        }
    };
    (@negated negated) => { true };
    (@negated) => { false };
}

operators! {
    StringEquals => Str { wildcards: false, fold: false };
    StringNotEquals => Str { wildcards: false, fold: false }, negated;
    StringEqualsIgnoreCase => Str { wildcards: false, fold: true };
    StringNotEqualsIgnoreCase => Str { wildcards: false, fold: true }, negated;
    StringLike => Str { wildcards: true, fold: false };
    StringNotLike => Str { wildcards: true, fold: false }, negated;
    NumericEquals => Num(Eq);
    NumericNotEquals => Num(Eq), negated;
    NumericLessThan => Num(Lt);
    NumericLessThanEquals => Num(Le);
    NumericGreaterThan => Num(Gt);
    NumericGreaterThanEquals => Num(Ge);
    DateEquals => Date(Eq);
    DateNotEquals => Date(Eq), negated;
    DateLessThan => Date(Lt);
    DateLessThanEquals => Date(Le);
    DateGreaterThan => Date(Gt);
    DateGreaterThanEquals => Date(Ge);
    Bool => Bool;
    BinaryEquals => Binary;
    IpAddress => Ip;
    NotIpAddress => Ip, negated;
    ArnEquals => Arn;
    ArnLike => Arn;
    ArnNotEquals => Arn, negated;
    ArnNotLike => Arn, negated;
    Null => Null;
}

/// The kind of values an operator compares (a negated operator compares like its positive one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compared {
    /// `wildcards`: `*` and `?` match (`...Like`); `fold`: case-insensitive.
    Str {
        wildcards: bool,
        fold: bool,
    },
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    /// `ArnEquals` and `ArnLike` are the same operator.
    Arn,
    Null,
}

impl Operator {
    /// Look an operator up by name (case-sensitive, as IAM is).
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.iter().copied().find(|o| o.name() == name)
    }

    /// Do values of this operator accept policy variables?
    pub fn allows_variables(self) -> bool {
        matches!(self.compared(), Compared::Str { .. } | Compared::Arn)
    }
}

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// A numeric/date comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    #[inline]
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// Compiled policy values of one condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// String operators; `fold` = case-insensitive.
    Str {
        pats: Box<[Pattern]>,
        fold: bool,
    },
    Num {
        vals: Box<[f64]>,
        cmp: Cmp,
    },
    Date {
        vals: Box<[i64]>,
        cmp: Cmp,
    },
    /// `Bool`: compared case-insensitively.
    Bool(Box<[Box<str>]>),
    Binary(Box<[Box<str>]>),
    Ip(Box<[IpNet]>),
    Arn(Box<[ArnPattern]>),
    /// `Null`: each value is `true` (key must be absent) or `false` (present).
    Null(Box<[bool]>),
}

/// One compiled `operator: { key: values }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) op: Operator,
    pub(crate) qualifier: Option<SetQualifier>,
    pub(crate) if_exists: bool,
    /// The key, lowercased.
    pub(crate) key: Box<str>,
    /// The key as written.
    pub(crate) key_name: Box<str>,
    pub(crate) values: Values,
}

impl Condition {
    pub fn operator(&self) -> Operator {
        self.op
    }
    pub fn qualifier(&self) -> Option<SetQualifier> {
        self.qualifier
    }
    pub fn if_exists(&self) -> bool {
        self.if_exists
    }
    /// The condition key as written in the policy.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// A `Date*` condition's values, as epoch milliseconds (None for other operators).
    pub fn dates(&self) -> Option<&[i64]> {
        match &self.values {
            Values::Date { vals, .. } => Some(vals),
            _ => None,
        }
    }

    /// Context keys this condition reads (its key and any variables), lowercased.
    pub(crate) fn referenced_keys(&self) -> Vec<&str> {
        let mut out = vec![&*self.key_name];
        match &self.values {
            Values::Str { pats, .. } => {
                for p in pats.iter() {
                    out.extend(p.variables().map(|v| &*v.key));
                }
            }
            Values::Arn(pats) => {
                for p in pats.iter() {
                    out.extend(p.variables().into_iter().map(|v| &*v.key));
                }
            }
            _ => {}
        }
        out
    }

    /// Evaluate against the request's keys.
    #[inline]
    pub(crate) fn eval(&self, ctx: &ContextKeys) -> bool {
        let entry = ctx.entry(&self.key);
        if let Values::Null(expect) = &self.values {
            return expect.contains(&entry.is_none());
        }
        match (self.qualifier, entry) {
            (_, None) if self.if_exists => true,
            (None, None) => self.op.is_negated(),
            (None, Some((vs, multi))) => match vs {
                [v] if !multi => self.satisfies(v, ctx),
                _ => false,
            },
            (Some(SetQualifier::ForAllValues), None) => true,
            (Some(SetQualifier::ForAllValues), Some((vs, _))) => {
                vs.iter().all(|v| self.satisfies(v, ctx))
            }
            (Some(SetQualifier::ForAnyValue), None) => false,
            (Some(SetQualifier::ForAnyValue), Some((vs, _))) => {
                vs.iter().any(|v| self.satisfies(v, ctx))
            }
        }
    }

    /// Does one request value satisfy the operator? Positive operators: some
    /// policy value matches. Negated operators: every policy value resolves and
    /// none matches.
    #[inline]
    fn satisfies(&self, v: &ContextValue, ctx: &ContextKeys) -> bool {
        if self.op.is_negated() {
            match &self.values {
                Values::Str { pats, fold } => pats
                    .iter()
                    .all(|p| p.test(v.as_str(), *fold, ctx) == Some(false)),
                Values::Arn(pats) => pats.iter().all(|p| p.test(v.as_str(), ctx) == Some(false)),
                _ => !self.matches_value(v, ctx),
            }
        } else {
            self.matches_value(v, ctx)
        }
    }

    /// Does one request value match any policy value (the un-negated comparison)?
    #[inline]
    fn matches_value(&self, v: &ContextValue, ctx: &ContextKeys) -> bool {
        match &self.values {
            Values::Str { pats, fold } => pats.iter().any(|p| p.matches(v.as_str(), *fold, ctx)),
            Values::Num { vals, cmp } => {
                v.num.is_some_and(|x| vals.iter().any(|&p| cmp.test(x, p)))
            }
            Values::Date { vals, cmp } => {
                v.date.is_some_and(|x| vals.iter().any(|&p| cmp.test(x, p)))
            }
            Values::Bool(vals) => vals.iter().any(|p| p.eq_ignore_ascii_case(v.as_str())),
            Values::Binary(vals) => vals.iter().any(|p| **p == *v.as_str()),
            Values::Ip(nets) => v.ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            Values::Arn(pats) => pats.iter().any(|p| p.matches(v.as_str(), ctx)),
            Values::Null(_) => false,
        }
    }
}
