//! The IAM policy simulator's evaluation (`SimulatePrincipalPolicy`, `SimulateCustomPolicy`):
//! every (action, resource) pair evaluated by the engine that authorizes real requests
//! ([`PolicySet::explain`]), with the statements behind each decision located in the policies'
//! text ([`rolecall_policy::statement_span`]). Who the subject is and which keys its requests
//! carry is the caller's (the API's) to decide.

use crate::authz::PolicyDoc;
use rolecall_policy::{
    ContextKeys, Decision, Effect, Explanation, Policy, PolicyRef, PolicySet, PolicyType,
    RequestContext, end_of, split_arn, statement_span,
};

/// A policy taking part in a simulation, with how the simulator names it.
pub struct Source {
    pub id: String,
    /// `user` | `group` | `role` | `aws-managed` | `user-managed` | `resource` | `none`.
    pub kind: &'static str,
    pub document: String,
    pub policy: Policy,
}

impl Source {
    /// A stored policy: inline `user/U/policy/P` (also group/role) or a managed policy ARN.
    pub fn stored(doc: PolicyDoc) -> Source {
        let (id, kind) = if doc.id.starts_with("arn:") {
            let name = doc.id.rsplit('/').next().unwrap_or(&doc.id).to_string();
            let aws = split_arn(&doc.id).is_some_and(|p| p[4] == "aws");
            (name, if aws { "aws-managed" } else { "user-managed" })
        } else {
            let mut parts = doc.id.splitn(4, '/');
            let kind = match parts.next() {
                Some("user") => "user",
                Some("group") => "group",
                Some("role") => "role",
                _ => "none",
            };
            let name = parts.nth(2).unwrap_or(&doc.id).to_string();
            (name, kind)
        };
        Source {
            id,
            kind,
            document: doc.document,
            policy: doc.policy,
        }
    }
}

/// Whose policies a simulation evaluates, and the keys its requests carry.
pub struct Subject {
    pub identity: Vec<Source>,
    pub boundary: Option<Source>,
    pub principal: rolecall_policy::Principal,
    pub keys: ContextKeys,
}

/// What a simulation asks besides its subject.
pub struct Request<'a> {
    pub actions: &'a [String],
    pub resources: &'a [String],
    /// `ResourcePolicy`, evaluated as the resource's policy.
    pub resource_policy: Option<&'a Source>,
    /// `ResourceOwner`'s account.
    pub resource_owner: Option<&'a str>,
    /// `ContextEntries` (key, values, whether a list type), applied over the subject's keys.
    pub context: &'a [(String, Vec<String>, bool)],
}

/// A statement in a simulation result.
pub struct Matched {
    pub id: String,
    pub kind: &'static str,
    pub start: (usize, usize),
    pub end: (usize, usize),
}

/// The result of one (action, resource) pair of the request, in the request's order.
pub struct SimResult<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub decision: Decision,
    pub matched: Vec<Matched>,
    pub missing: Vec<String>,
    /// `AllowedByPermissionsBoundary`, when a boundary takes part.
    pub boundary_allowed: Option<bool>,
    /// `EvalDecisionDetails`, when a resource policy takes part and a resource is named.
    pub details: Option<Vec<(&'static str, Decision)>>,
}

/// Evaluates every (action, resource) pair of `input` for `subject`.
pub fn simulate<'a>(input: &Request<'a>, subject: &Subject) -> Vec<SimResult<'a>> {
    let identity: Vec<PolicyRef<'_>> = subject
        .identity
        .iter()
        .map(|s| PolicyRef::new(&s.id, &s.policy))
        .collect();
    let boundary = subject
        .boundary
        .as_ref()
        .map(|s| PolicyRef::new(&s.id, &s.policy));
    let resource = input
        .resource_policy
        .as_ref()
        .map(|s| PolicyRef::new(&s.id, &s.policy));
    let set = PolicySet {
        identity: &identity,
        boundary,
        resource,
        ..Default::default()
    };
    let mut out = Vec::new();
    for action in input.actions {
        for res in input.resources {
            let mut req =
                RequestContext::new(subject.principal.clone(), action.as_str(), res.as_str());
            if req.resource_account.is_none() {
                req.resource_account = input.resource_owner.map(str::to_string);
            }
            req.keys = subject.keys.clone();
            for (k, values, list) in input.context {
                match (list, values.as_slice()) {
                    (false, [v]) => req.keys.insert(k, v.as_str()),
                    _ => req.keys.insert_values(k, values.iter().cloned()),
                };
            }
            let ex = set.explain(&req);
            let details = input.resource_policy.as_ref().and_then(|_| {
                if req.is_cross_account() {
                    let without_resource = PolicySet {
                        resource: None,
                        ..set
                    };
                    Some(vec![
                        ("IAM Policy", without_resource.evaluate(&req).decision),
                        ("Resource Policy", type_decision(&ex, PolicyType::Resource)),
                    ])
                } else {
                    (res != "*").then(Vec::new)
                }
            });
            out.push(SimResult {
                action,
                resource: res,
                decision: ex.evaluation.decision,
                matched: matched_statements(&ex, subject, input),
                boundary_allowed: subject.boundary.as_ref().map(|_| {
                    type_decision(&ex, PolicyType::PermissionsBoundary) == Decision::Allow
                }),
                missing: ex.missing_context_keys,
                details,
            });
        }
    }
    out
}

/// The decision the matched statements of one policy type make on their own.
fn type_decision(ex: &Explanation, ty: PolicyType) -> Decision {
    let mut decision = Decision::ImplicitDeny;
    for m in ex.matched.iter().filter(|m| m.at.policy_type == ty) {
        match m.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => decision = Decision::Allow,
        }
    }
    decision
}

/// The statements behind the decision: the denying ones for `explicitDeny`, the allowing ones
/// (boundary excepted: see `PermissionsBoundaryDecisionDetail`) for `allowed`, none for
/// `implicitDeny`.
fn matched_statements(ex: &Explanation, subject: &Subject, input: &Request<'_>) -> Vec<Matched> {
    let wanted = match ex.evaluation.decision {
        Decision::ExplicitDeny => Effect::Deny,
        Decision::Allow => Effect::Allow,
        Decision::ImplicitDeny => return Vec::new(),
    };
    ex.matched
        .iter()
        .filter(|m| m.effect == wanted)
        .filter(|m| wanted == Effect::Deny || m.at.policy_type != PolicyType::PermissionsBoundary)
        .filter_map(|m| {
            let source = match m.at.policy_type {
                PolicyType::Identity => subject.identity.get(m.at.policy),
                PolicyType::PermissionsBoundary => subject.boundary.as_ref(),
                PolicyType::Resource => input.resource_policy,
                PolicyType::Session => None,
            }?;
            let (start, end) = statement_span(&source.document, m.at.statement)
                .unwrap_or(((1, 1), end_of(&source.document)));
            Some(Matched {
                id: source.id.clone(),
                kind: source.kind,
                start,
                end,
            })
        })
        .collect()
}
