//! The compiled policy: what [`Policy::parse`] produces and evaluation reads.

use crate::arn::ArnPattern;
use crate::condition::Condition;
use crate::principal::PrincipalPattern;
use crate::wildcard::Pattern;

/// Where a policy document is used; decides which elements are required or
/// forbidden and the size quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// An inline policy of a role, user or group (10,240 characters, the role quota;
    /// the API checks the per-entity aggregate with [`policy_size`](crate::policy_size)).
    Identity,
    /// A customer managed policy version (6,144 characters).
    Managed,
    /// A role trust policy (2,048 characters): `Principal` required, `Resource` forbidden.
    Trust,
    /// A permissions boundary (a managed policy: 6,144 characters).
    Boundary,
    /// An inline session policy passed to `AssumeRole*` (2,048 characters).
    Session,
    /// A generic resource-based policy: `Principal` and `Resource` required (20,480).
    Resource,
}

impl PolicyKind {
    /// Every kind (for callers that try a document as each).
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::Identity,
        PolicyKind::Managed,
        PolicyKind::Trust,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::Resource,
    ];

    /// Maximum size in characters, white space not counted.
    pub fn size_limit(self) -> usize {
        match self {
            PolicyKind::Identity => 10_240,
            PolicyKind::Managed | PolicyKind::Boundary => 6_144,
            PolicyKind::Trust | PolicyKind::Session => 2_048,
            PolicyKind::Resource => 20_480,
        }
    }

    /// Must every statement name a principal?
    pub fn requires_principal(self) -> bool {
        matches!(self, PolicyKind::Trust | PolicyKind::Resource)
    }

    /// Is `Resource`/`NotResource` forbidden (trust policies)?
    pub fn forbids_resource(self) -> bool {
        self == PolicyKind::Trust
    }

    /// Is this a resource-based policy (trust or resource)?
    pub fn is_resource_based(self) -> bool {
        self.requires_principal()
    }
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2008-10-17` (or no `Version`): policy variables are literal text.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// A compiled, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Option<Version>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Box<[Statement]>,
    pub(crate) size: usize,
}

impl Policy {
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }
    /// The `Version` element; `None` if absent (treated as 2008-10-17).
    pub fn version(&self) -> Option<Version> {
        self.version
    }
    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
    /// Size in characters, white space not counted.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Actions {
    pub negated: bool,
    /// Lowercased patterns, matched ASCII case-insensitively.
    pub pats: Box<[Pattern]>,
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resources {
    pub negated: bool,
    pub pats: Box<[ArnPattern]>,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Principals {
    pub negated: bool,
    pub pats: Box<[PrincipalPattern]>,
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<Box<str>>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Principals>,
    pub(crate) action: Actions,
    /// `None` only in trust policies (no `Resource` element).
    pub(crate) resource: Option<Resources>,
    pub(crate) conditions: Box<[Condition]>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    /// Does the statement use `NotAction`?
    pub fn has_not_action(&self) -> bool {
        self.action.negated
    }
    /// Does the statement use `NotResource`?
    pub fn has_not_resource(&self) -> bool {
        self.resource.as_ref().is_some_and(|r| r.negated)
    }
    /// Does the statement use `NotPrincipal`?
    pub fn has_not_principal(&self) -> bool {
        self.principal.as_ref().is_some_and(|p| p.negated)
    }
}
