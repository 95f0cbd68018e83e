//! Helpers the policy crate's integration tests share.

use rolecall_policy::{Policy, PolicyKind};

/// Parses a document that must be valid.
#[allow(
    clippy::panic,
    reason = "test helper: an invalid document fails the test"
)]
pub fn parse_ok(doc: &str, kind: PolicyKind) -> Policy {
    Policy::parse(doc, kind).unwrap_or_else(|e| panic!("expected {doc} to be valid, got {e}"))
}

/// A 2012-10-17 document around a `Statement` value (an object or an array).
pub fn identity_doc(statement: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#)
}
