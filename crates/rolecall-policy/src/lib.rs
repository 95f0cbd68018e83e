//! # rolecall-policy: the IAM policy language
//!
//! A pure crate (no I/O, no async) that **parses and validates** IAM policy
//! documents the way IAM does when they are written, **compiles** them into a
//! form that evaluates without reparsing, and **evaluates** requests against
//! identity policies, permissions boundaries, session policies and
//! resource-based (role trust) policies.
//!
//! ## Design
//!
//! * [`Policy::parse`] checks the character set and the size quota of the
//!   [`PolicyKind`] (white space not counted), parses JSON keeping duplicate
//!   keys so they can be rejected, validates the grammar (Version, Statement
//!   object/array, Sid, Effect, Action/NotAction, Resource/NotResource,
//!   Principal/NotPrincipal, Condition) and every value (actions, ARNs,
//!   principals, operators, numbers, dates, IPs, variables) and compiles it:
//!   actions to lowercase glob patterns, resources to per-segment ARN patterns,
//!   condition values to typed values, policy variables (`${aws:username}`,
//!   `${k, 'default'}`, `${*}`...) to pattern tokens (only under 2012-10-17).
//!   Errors are [`PolicyError`]s with an AWS error code and message.
//! * A request is a [`RequestContext`]: the [`Principal`], the action, the
//!   resource and the condition keys ([`ContextKeys`], case-insensitive,
//!   multi-valued, values pre-parsed as number/date/IP when they are one).
//! * [`PolicySet::evaluate`] combines the policies into an [`Evaluation`]
//!   (decision, [`Reason`] naming the kind of policy responsible, deciding
//!   statement) without allocating; [`PolicySet::explain`] also lists every
//!   applicable statement and the missing context keys (for simulation).
//!
//! ## Evaluation rules worth knowing
//!
//! * Explicit `Deny` anywhere wins. A role trust policy (and any cross-account
//!   resource-based policy) must allow. In the same account a resource-based
//!   policy naming the caller (user/session ARN, `*`, service) allows on its
//!   own, bypassing boundary and session policies; one naming the caller's
//!   role ARN is capped by them; one naming the account only delegates to
//!   identity policies. Otherwise identity policies must allow, within the
//!   permissions boundary and the session policies (see [`Reason`]).
//! * Actions match ASCII case-insensitively; resources segment by segment,
//!   case-sensitively; `*`/`?` never cross the colons of the first five
//!   segments.
//! * An operator without `ForAllValues:`/`ForAnyValue:` never matches a
//!   multi-valued key ([`ContextKeys::insert_values`]); negated operators and
//!   `...IfExists` are true when the key is missing; `ForAllValues` is true for
//!   a missing key or an empty set, `ForAnyValue` false.
//! * A policy variable that cannot be resolved (key missing or multi-valued,
//!   no default) never satisfies anything: `Resource` does not match, a
//!   `NotResource` statement does not apply, and conditions, negated ones
//!   included, are false.
//! * `NotPrincipal` with `Deny` always applies to a principal that has a
//!   permissions boundary (as AWS documents).
//!
//! Differences from the independent oracle used in the differential tests are
//! listed in `tests/corpus/README.md`.
//!
//! Module map: `json` (duplicate-preserving JSON), `parse` (document and
//! statement validation), `wildcard` (glob patterns), `variables`, `arn`,
//! `principal`, `condition` (operators, typed values), `context`, `eval`,
//! `decision`.
//!
//! ```
//! use rolecall_policy::*;
//! let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
//!     "Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/${aws:username}/*"}}"#,
//!     PolicyKind::Identity).unwrap();
//! let req = RequestContext::new(Principal::user("arn:aws:iam::123456789012:user/alice"),
//!     "s3:GetObject", "arn:aws:s3:::bkt/alice/x").with_key("aws:username", "alice");
//! let set = PolicySet { identity: &[PolicyRef::new("p", &p)], ..Default::default() };
//! assert_eq!(set.evaluate(&req).decision, Decision::Allow);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod arn;
mod condition;
mod context;
mod decision;
mod error;
mod eval;
mod json;
mod parse;
mod policy;
mod positions;
mod principal;
mod variables;
mod wildcard;

pub use arn::{arn_account, split_arn};
pub use condition::{Condition, Operator, SetQualifier};
pub use context::{ContextKeys, ContextValue, Principal, PrincipalKind, RequestContext};
pub use decision::{
    Decision, Evaluation, Explanation, MatchedStatement, PolicyType, Reason, StatementRef,
};
pub use error::{ErrorCode, PolicyError};
pub use eval::{PolicyRef, PolicySet, evaluate_identity};
pub use parse::policy_size;
pub use policy::{Effect, Policy, PolicyKind, Statement, Version};
pub use positions::{end_of, statement_span};
pub use principal::PrincipalMatch;
pub use wildcard::glob_match;

#[cfg(test)]
mod tests {
    /// Compiled policies are shared across request-handling threads.
    #[test]
    fn types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Policy>();
        check::<crate::RequestContext>();
        check::<crate::PolicySet<'static>>();
        check::<crate::PolicyError>();
        check::<crate::Explanation>();
    }
}
