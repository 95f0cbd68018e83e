//! Errors raised when a policy document is written.

use std::fmt;

/// Which AWS error code a [`PolicyError`] maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The document is not a valid policy (`MalformedPolicyDocument`, HTTP 400).
    MalformedPolicyDocument,
    /// The document is larger than the quota for its kind (`LimitExceeded`, HTTP 409).
    LimitExceeded,
}

impl ErrorCode {
    /// The AWS error code string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            ErrorCode::LimitExceeded => "LimitExceeded",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy document was rejected. `Display` is the AWS-style message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    kind: ErrorCode,
    message: String,
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        PolicyError {
            kind: ErrorCode::MalformedPolicyDocument,
            message: message.into(),
        }
    }

    pub(crate) fn limit(message: impl Into<String>) -> Self {
        PolicyError {
            kind: ErrorCode::LimitExceeded,
            message: message.into(),
        }
    }

    /// `"MalformedPolicyDocument"` or `"LimitExceeded"`.
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The error code as an enum.
    pub fn kind(&self) -> ErrorCode {
        self.kind
    }

    /// The AWS-style message (same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Is this a `LimitExceeded` (size) error?
    pub fn is_limit_exceeded(&self) -> bool {
        self.kind == ErrorCode::LimitExceeded
    }
}

/// The generic message IAM gives for structural errors.
pub(crate) const SYNTAX: &str = "Syntax errors in policy.";

/// IAM's message for values its older parser rejects (wrong-case `Effect`,
/// malformed dates, truncated ARNs, ...).
pub(crate) const LEGACY: &str = "The policy failed legacy parsing";
