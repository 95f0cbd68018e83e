//! The result of an evaluation and why.

use crate::policy::Effect;
use crate::principal::PrincipalMatch;
use std::fmt;

/// The final decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    /// No applicable statement allows the request (the default).
    ImplicitDeny,
    /// A statement explicitly denies the request.
    ExplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
    /// The IAM policy simulator's spelling: `allowed`, `implicitDeny`, `explicitDeny`.
    pub fn as_simulator_str(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::ImplicitDeny => "implicitDeny",
            Decision::ExplicitDeny => "explicitDeny",
        }
    }
}

/// The role a policy plays in an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// Inline and managed policies of the principal (and its groups).
    Identity,
    /// The principal's permissions boundary.
    PermissionsBoundary,
    /// Session policies of a role session.
    Session,
    /// The resource-based policy (for `sts:AssumeRole`: the role trust policy).
    Resource,
}

impl PolicyType {
    /// How AWS names it in AccessDenied messages.
    pub fn description(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
            PolicyType::Resource => "resource-based policy",
        }
    }
}

/// A statement of a policy in a [`PolicySet`](crate::PolicySet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementRef {
    pub policy_type: PolicyType,
    /// Index of the policy within its group of the `PolicySet` (0 for boundary/resource).
    pub policy: usize,
    /// Index of the statement within the policy.
    pub statement: usize,
}

/// Why the decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An identity-based policy allows (within any boundary and session policy).
    AllowedByIdentity,
    /// The resource-based policy allows on its own.
    AllowedByResource,
    /// An explicit deny in a policy of this type.
    ExplicitDeny(PolicyType),
    /// The resource-based policy (e.g. role trust policy) does not allow the
    /// principal, and it is required (trust policies, cross-account access).
    NoResourceAllow,
    /// No identity-based policy allows.
    NoIdentityAllow,
    /// The permissions boundary does not allow.
    NoBoundaryAllow,
    /// No session policy allows.
    NoSessionAllow,
}

impl Reason {
    /// The tail of an AWS AccessDenied message, e.g.
    /// "because no identity-based policy allows the s3:GetObject action".
    pub fn access_denied_phrase(self, action: &str) -> String {
        match self {
            Reason::AllowedByIdentity | Reason::AllowedByResource => String::new(),
            Reason::ExplicitDeny(t) => {
                let d = t.description();
                let article = if d.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                format!("with an explicit deny in {article} {d}")
            }
            Reason::NoResourceAllow => {
                format!("because no resource-based policy allows the {action} action")
            }
            Reason::NoIdentityAllow => {
                format!("because no identity-based policy allows the {action} action")
            }
            Reason::NoBoundaryAllow => {
                format!("because no permissions boundary allows the {action} action")
            }
            Reason::NoSessionAllow => {
                format!("because no session policy allows the {action} action")
            }
        }
    }
}

/// The outcome of [`PolicySet::evaluate`](crate::PolicySet::evaluate): `Copy`, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Evaluation {
    pub decision: Decision,
    pub reason: Reason,
    /// The deciding statement: the explicit deny, or the allow that granted access.
    pub statement: Option<StatementRef>,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allowed()
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.decision, self.reason)
    }
}

/// A statement that applied to the request (action, resource, principal and
/// conditions all matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    pub at: StatementRef,
    /// The caller-supplied id of the policy.
    pub policy_id: String,
    pub sid: Option<String>,
    pub effect: Effect,
    /// For resource-based policies: how the principal matched.
    pub principal_match: Option<PrincipalMatch>,
}

/// The full explanation of an evaluation (for simulation and messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub evaluation: Evaluation,
    /// Every statement that applied, in policy order (identity, boundary, session, resource).
    pub matched: Vec<MatchedStatement>,
    /// Context keys referenced by otherwise-applicable statements but absent
    /// from the request (the simulator's `MissingContextValues`), as written in the policies.
    pub missing_context_keys: Vec<String>,
}
