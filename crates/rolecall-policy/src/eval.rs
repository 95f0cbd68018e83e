//! Policy evaluation: combining identity policies, the permissions boundary,
//! session policies and the resource-based (trust) policy into a decision.
//!
//! The logic follows AWS's evaluation flow for a single account (no SCPs/RCPs):
//!
//! 1. An explicit `Deny` in any applicable policy wins.
//! 2. If a resource-based policy is required (role trust policies; any
//!    cross-account request) and it does not allow, the request is implicitly denied.
//! 3. Same account, resource-based policy allows naming the caller itself
//!    (user/session ARN, service, `*`): allowed, whatever the boundary and
//!    session policies say.
//! 4. Otherwise an identity-based policy must allow (or, same account, the
//!    resource-based policy must allow the caller's role ARN), and then the
//!    permissions boundary (if any) and the session policies (if any) must allow too.
//!    A grant to the account (`123456789012`, `...:root`) only delegates to
//!    identity-based policies.

use crate::context::RequestContext;
use crate::decision::{
    Decision, Evaluation, Explanation, MatchedStatement, PolicyType, Reason, StatementRef,
};
use crate::policy::{Actions, Effect, Policy, PolicyKind, Principals, Resources, Statement};
use crate::principal::PrincipalMatch;

/// A policy with the caller's identifier for it (e.g. its ARN or name).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    pub id: &'a str,
    pub policy: &'a Policy,
}

impl<'a> PolicyRef<'a> {
    pub fn new(id: &'a str, policy: &'a Policy) -> Self {
        PolicyRef { id, policy }
    }
}

/// The policies that apply to one request, grouped by role.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// Identity-based policies: inline and managed, of the principal and its groups.
    pub identity: &'a [PolicyRef<'a>],
    /// The permissions boundary, if one is set.
    pub boundary: Option<PolicyRef<'a>>,
    /// Session policies (inline and managed) of a role session; empty if none were passed.
    pub session: &'a [PolicyRef<'a>],
    /// The resource-based policy; for `sts:AssumeRole*`, the role trust policy.
    pub resource: Option<PolicyRef<'a>>,
}

/// The request as the matchers see it: the action lowercased once (on the
/// stack) so that action patterns, lowercased when compiled, compare exactly.
struct Req<'a> {
    ctx: &'a RequestContext,
    action: &'a str,
    /// Compare actions case-insensitively (the action did not fit the buffer).
    fold: bool,
    has_boundary: bool,
}

impl<'a> Req<'a> {
    fn new(ctx: &'a RequestContext, buf: &'a mut [u8; ACTION_BUF], has_boundary: bool) -> Self {
        let (action, fold) = lowercase_into(&ctx.action, buf);
        Req {
            ctx,
            action,
            fold,
            has_boundary,
        }
    }
}

/// Longest action lowercased on the stack; longer ones are folded while matching.
const ACTION_BUF: usize = 128;

fn lowercase_into<'b>(action: &'b str, buf: &'b mut [u8; ACTION_BUF]) -> (&'b str, bool) {
    let bytes = action.as_bytes();
    if bytes.len() > ACTION_BUF {
        return (action, true);
    }
    let out = &mut buf[..bytes.len()];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b.to_ascii_lowercase();
    }
    // Lowercasing ASCII bytes keeps UTF-8 valid.
    match std::str::from_utf8(out) {
        Ok(s) => (s, false),
        Err(_) => (action, true),
    }
}

#[inline]
fn action_matches(a: &Actions, action: &str, fold: bool) -> bool {
    let any = a
        .pats
        .iter()
        .any(|p| p.matches(action, fold, &crate::variables::NoVars));
    any != a.negated
}

#[inline]
fn resource_matches(r: &Resources, req: &RequestContext) -> bool {
    if r.negated {
        // NotResource: every pattern must resolve and none may match. If a
        // policy variable cannot be resolved the statement does not apply,
        // as with `Resource` and the condition operators.
        r.pats
            .iter()
            .all(|p| p.test(&req.resource, &req.keys) == Some(false))
    } else {
        r.pats.iter().any(|p| p.matches(&req.resource, &req.keys))
    }
}

#[inline]
fn principal_matches(
    p: &Principals,
    req: &RequestContext,
    has_boundary: bool,
) -> Option<PrincipalMatch> {
    // "The NotPrincipal element with a Deny effect will always deny any IAM
    // principal that has a permissions boundary policy attached, regardless
    // of the values specified in the NotPrincipal element." (NotPrincipal may
    // only be used with Deny, which parsing enforces.)
    if p.negated && has_boundary {
        return Some(PrincipalMatch::Direct);
    }
    let mut best: Option<PrincipalMatch> = None;
    for pat in p.pats.iter() {
        if let Some(m) = pat.matches(&req.principal) {
            best = Some(match (best, m) {
                (_, PrincipalMatch::Direct) | (Some(PrincipalMatch::Direct), _) => {
                    PrincipalMatch::Direct
                }
                (_, PrincipalMatch::RoleArn) | (Some(PrincipalMatch::RoleArn), _) => {
                    PrincipalMatch::RoleArn
                }
                _ => PrincipalMatch::Account,
            });
        }
    }
    if p.negated {
        best.is_none().then_some(PrincipalMatch::Direct)
    } else {
        best
    }
}

/// Action, resource and principal match (conditions not checked).
#[inline]
fn statement_targets(st: &Statement, r: &Req<'_>) -> Option<PrincipalMatch> {
    if !action_matches(&st.action, r.action, r.fold) {
        return None;
    }
    if let Some(res) = &st.resource
        && !resource_matches(res, r.ctx)
    {
        return None;
    }
    match &st.principal {
        None => Some(PrincipalMatch::Direct),
        Some(p) => principal_matches(p, r.ctx, r.has_boundary),
    }
}

/// Does the statement apply to the request? Returns how the principal matched.
#[inline]
fn statement_applies(st: &Statement, r: &Req<'_>) -> Option<PrincipalMatch> {
    let via = statement_targets(st, r)?;
    st.conditions
        .iter()
        .all(|c| c.eval(&r.ctx.keys))
        .then_some(via)
}

fn rank(m: PrincipalMatch) -> u8 {
    match m {
        PrincipalMatch::Direct => 2,
        PrincipalMatch::RoleArn => 1,
        PrincipalMatch::Account => 0,
    }
}

#[derive(Default, Clone, Copy)]
struct Scan {
    deny: Option<StatementRef>,
    allow: Option<(StatementRef, PrincipalMatch)>,
}

#[inline]
fn scan(policies: &[PolicyRef<'_>], ty: PolicyType, r: &Req<'_>) -> Scan {
    let mut out = Scan::default();
    for (pi, p) in policies.iter().enumerate() {
        for (si, st) in p.policy.statements.iter().enumerate() {
            // Once an allow is found only denies can change the outcome.
            if st.effect == Effect::Allow
                && out.allow.is_some_and(|(_, m)| m == PrincipalMatch::Direct)
            {
                continue;
            }
            if let Some(via) = statement_applies(st, r) {
                let at = StatementRef {
                    policy_type: ty,
                    policy: pi,
                    statement: si,
                };
                match st.effect {
                    Effect::Deny => {
                        out.deny = Some(at);
                        return out;
                    }
                    Effect::Allow => {
                        if out.allow.is_none_or(|(_, m)| rank(via) > rank(m)) {
                            out.allow = Some((at, via));
                        }
                    }
                }
            }
        }
    }
    out
}

impl<'a> PolicySet<'a> {
    /// Evaluate the request. Does not allocate.
    pub fn evaluate(&self, req: &RequestContext) -> Evaluation {
        let deny = |at: StatementRef| Evaluation {
            decision: Decision::ExplicitDeny,
            reason: Reason::ExplicitDeny(at.policy_type),
            statement: Some(at),
        };
        let implicit = |reason| Evaluation {
            decision: Decision::ImplicitDeny,
            reason,
            statement: None,
        };

        let mut buf = [0u8; ACTION_BUF];
        let r = Req::new(req, &mut buf, self.boundary.is_some());
        let id = scan(self.identity, PolicyType::Identity, &r);
        if let Some(at) = id.deny {
            return deny(at);
        }
        let res = scan(self.resource.as_slice(), PolicyType::Resource, &r);
        if let Some(at) = res.deny {
            return deny(at);
        }
        let bd = scan(
            self.boundary.as_slice(),
            PolicyType::PermissionsBoundary,
            &r,
        );
        if let Some(at) = bd.deny {
            return deny(at);
        }
        let ss = scan(self.session, PolicyType::Session, &r);
        if let Some(at) = ss.deny {
            return deny(at);
        }

        let cross = req.is_cross_account();
        let resource_required = cross
            || self
                .resource
                .is_some_and(|r| r.policy.kind == PolicyKind::Trust);
        if resource_required && res.allow.is_none() {
            return implicit(Reason::NoResourceAllow);
        }
        let identity_needed = !matches!(
            req.principal.kind,
            crate::PrincipalKind::Service
                | crate::PrincipalKind::WebIdentity
                | crate::PrincipalKind::Anonymous
        );
        if let Some((at, via)) = res.allow
            && (!identity_needed || (!cross && via == PrincipalMatch::Direct))
        {
            return Evaluation {
                decision: Decision::Allow,
                reason: Reason::AllowedByResource,
                statement: Some(at),
            };
        }
        let (grant, reason) = match (id.allow, res.allow) {
            (Some((at, _)), _) => (at, Reason::AllowedByIdentity),
            (None, Some((at, PrincipalMatch::RoleArn))) if !cross => {
                (at, Reason::AllowedByResource)
            }
            _ => return implicit(Reason::NoIdentityAllow),
        };
        if self.boundary.is_some() && bd.allow.is_none() {
            return implicit(Reason::NoBoundaryAllow);
        }
        if !self.session.is_empty() && ss.allow.is_none() {
            return implicit(Reason::NoSessionAllow);
        }
        Evaluation {
            decision: Decision::Allow,
            reason,
            statement: Some(grant),
        }
    }

    /// Evaluate and explain: every applicable statement and the context keys
    /// that were referenced but missing. Allocates; for simulation and messages.
    pub fn explain(&self, req: &RequestContext) -> Explanation {
        let evaluation = self.evaluate(req);
        let mut buf = [0u8; ACTION_BUF];
        let r = Req::new(req, &mut buf, self.boundary.is_some());
        let mut matched = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        let groups: [(&[PolicyRef<'_>], PolicyType); 4] = [
            (self.identity, PolicyType::Identity),
            (self.boundary.as_slice(), PolicyType::PermissionsBoundary),
            (self.session, PolicyType::Session),
            (self.resource.as_slice(), PolicyType::Resource),
        ];
        for (policies, ty) in groups {
            for (pi, p) in policies.iter().enumerate() {
                for (si, st) in p.policy.statements.iter().enumerate() {
                    let mut note_missing = |key: &str| {
                        if !req.keys.contains(key)
                            && !missing.iter().any(|m| m.eq_ignore_ascii_case(key))
                        {
                            missing.push(key.to_owned());
                        }
                    };
                    if !action_matches(&st.action, r.action, r.fold) {
                        continue;
                    }
                    // Variables in Resource/NotResource without a default.
                    if let Some(r) = &st.resource {
                        for v in r.pats.iter().flat_map(|p| p.variables()) {
                            if v.default.is_none() {
                                note_missing(&v.key);
                            }
                        }
                    }
                    if statement_targets(st, &r).is_none() {
                        continue;
                    }
                    for c in st.conditions.iter() {
                        for key in c.referenced_keys() {
                            note_missing(key);
                        }
                    }
                    if let Some(via) = statement_applies(st, &r) {
                        matched.push(MatchedStatement {
                            at: StatementRef {
                                policy_type: ty,
                                policy: pi,
                                statement: si,
                            },
                            policy_id: p.id.to_owned(),
                            sid: st.sid.as_deref().map(str::to_owned),
                            effect: st.effect,
                            principal_match: st.principal.as_ref().map(|_| via),
                        });
                    }
                }
            }
        }
        Explanation {
            evaluation,
            matched,
            missing_context_keys: missing,
        }
    }

    /// The policy a [`StatementRef`] points into.
    pub fn policy(&self, at: StatementRef) -> Option<PolicyRef<'a>> {
        match at.policy_type {
            PolicyType::Identity => self.identity.get(at.policy).copied(),
            PolicyType::Session => self.session.get(at.policy).copied(),
            PolicyType::PermissionsBoundary => self.boundary.filter(|_| at.policy == 0),
            PolicyType::Resource => self.resource.filter(|_| at.policy == 0),
        }
    }

    /// The statement a [`StatementRef`] points to.
    pub fn statement(&self, at: StatementRef) -> Option<&'a Statement> {
        self.policy(at)
            .and_then(|p| p.policy.statements.get(at.statement))
    }
}

/// Evaluate `req` against identity policies only (no boundary, session or resource policy).
pub fn evaluate_identity(policies: &[PolicyRef<'_>], req: &RequestContext) -> Evaluation {
    PolicySet {
        identity: policies,
        ..PolicySet::default()
    }
    .evaluate(req)
}
