//! The IAM policy simulator: `SimulatePrincipalPolicy` and `SimulateCustomPolicy`.
//!
//! A simulation evaluates with the engine that authorizes real requests ([`PolicySet::explain`],
//! which runs [`PolicySet::evaluate`]) and, for a principal, with the same policies (its own,
//! its groups', its permissions boundary: `rolecall_core::authz`) and the same global condition
//! keys ([`crate::authz::global_keys`]) that `authz` uses, so `allowed` means the real call is
//! authorized. Request-specific keys the simulator cannot know (`aws:SourceIp`, resource tags,
//! a role session's `aws:userid`) are absent unless the caller passes them as `ContextEntries`,
//! and policies that need them report them in `MissingContextValues`.
//!
//! Statement positions (`StartPosition` / `EndPosition`) are located in the policy's text by
//! [`rolecall_policy::statement_span`].

use crate::authz::{RequestFacts, global_keys};
use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::iam_xml::{paged, respond, truncation};
use crate::params::Args;
use crate::principal::Principal;
use base64::Engine;
use rolecall_core::authz::{IdentityPolicies, PolicyDoc};
use rolecall_core::model::Tag;
use rolecall_policy::{
    ContextKeys, Decision, Effect, Explanation, Policy, PolicyKind, PolicyRef, PolicySet,
    PolicyType, RequestContext, split_arn,
};
use rolecall_policy::{end_of, statement_span};
use rolecall_wire::Xml;

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Iam,
    };
    let input = Input::parse(&a)?;
    let subject = match call.op {
        Operation::SimulatePrincipalPolicy => principal_subject(call, &a, &input).await?,
        _ => {
            if a.params.list("PolicyInputList.member").is_empty() {
                return Err(ApiError::missing_parameter(
                    Protocol::Iam,
                    "PolicyInputList",
                ));
            }
            custom_subject(call, &input).await?
        }
    };
    let results = simulate(&input, &subject);
    let page = paged(results, a.opt("Marker"), a.opt("MaxItems"), |r| {
        r.index.to_string()
    })?;
    Ok(respond(call, |x| {
        x.list("EvaluationResults", "member", &page.items, result_xml);
        truncation(x, &page);
    }))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidInput", message)
}

/// A policy taking part in a simulation, with how the simulator names it.
struct Source {
    id: String,
    /// `user` | `group` | `role` | `aws-managed` | `user-managed` | `resource` | `none`.
    kind: &'static str,
    document: String,
    policy: Policy,
}

impl Source {
    /// A stored policy: inline `user/U/policy/P` (also group/role) or a managed policy ARN.
    fn stored(doc: PolicyDoc) -> Source {
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

    fn input(
        id: String,
        kind: &'static str,
        document: &str,
        pk: PolicyKind,
    ) -> Result<Source, ApiError> {
        let policy =
            Policy::parse(document, pk).map_err(|e| invalid(format!("{id}: {}", e.message())))?;
        Ok(Source {
            id,
            kind,
            document: document.to_string(),
            policy,
        })
    }
}

/// What both operations take besides the policies' owner.
struct Input {
    actions: Vec<String>,
    resources: Vec<String>,
    /// `PolicyInputList`: extra identity policies.
    policies: Vec<Source>,
    /// `PermissionsBoundaryPolicyInputList` (at most one): replaces the entity's boundary.
    boundary: Option<Source>,
    resource_policy: Option<Source>,
    /// `ResourceOwner`'s account.
    resource_owner: Option<String>,
    /// `CallerArn` (an IAM user ARN).
    caller_arn: Option<String>,
    /// `ContextEntries`, applied over the global keys.
    context: Vec<(String, Vec<String>, bool)>,
}

impl Input {
    fn parse(a: &Args<'_>) -> Result<Input, ApiError> {
        let p = a.params;
        let actions: Vec<String> = p
            .list("ActionNames.member")
            .into_iter()
            .map(str::to_string)
            .collect();
        if actions.is_empty() {
            return Err(ApiError::missing_parameter(Protocol::Iam, "ActionNames"));
        }
        for action in &actions {
            if !(3..=128).contains(&action.chars().count()) {
                return Err(ApiError::new(
                    400,
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{action}' at 'actionNames' failed to satisfy constraint: Member must have length between 3 and 128"
                    ),
                ));
            }
        }
        let mut resources: Vec<String> = p
            .list("ResourceArns.member")
            .into_iter()
            .map(str::to_string)
            .collect();
        if resources.is_empty() {
            resources.push("*".into());
        }
        let policies = p
            .list("PolicyInputList.member")
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                Source::input(
                    format!("PolicyInputList.{}", i + 1),
                    "none",
                    d,
                    PolicyKind::Identity,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let boundaries = p.list("PermissionsBoundaryPolicyInputList.member");
        if boundaries.len() > 1 {
            return Err(invalid(
                "You can specify only one permissions boundary policy in PermissionsBoundaryPolicyInputList.",
            ));
        }
        let boundary = boundaries
            .first()
            .map(|d| {
                Source::input(
                    "PermissionsBoundaryPolicyInputList.1".into(),
                    "none",
                    d,
                    PolicyKind::Boundary,
                )
            })
            .transpose()?;
        let resource_policy = a
            .opt("ResourcePolicy")
            .map(|d| Source::input("ResourcePolicy".into(), "resource", d, PolicyKind::Resource))
            .transpose()?;
        let resource_owner = a
            .opt("ResourceOwner")
            .map(|o| match split_arn(o) {
                Some(["arn", _, "iam", "", account, "root"])
                    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Ok(account.to_string())
                }
                _ => Err(invalid(format!(
                    "ResourceOwner {o} must be an account ARN of the form arn:aws:iam::ACCOUNT-ID:root."
                ))),
            })
            .transpose()?;
        let caller_arn = a
            .opt("CallerArn")
            .map(|c| match split_arn(c) {
                Some(["arn", _, "iam", "", _, res]) if res.starts_with("user/") => {
                    Ok(c.to_string())
                }
                _ => Err(invalid(format!(
                    "CallerArn {c} is not valid: it must be the ARN of an IAM user."
                ))),
            })
            .transpose()?;
        let mut context = Vec::new();
        for e in p.structs("ContextEntries.member") {
            let name = e
                .get("ContextKeyName")
                .ok_or_else(|| ApiError::missing_parameter(Protocol::Iam, "ContextKeyName"))?;
            if !(5..=256).contains(&name.chars().count()) {
                return Err(ApiError::new(
                    400,
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{name}' at 'contextKeyName' failed to satisfy constraint: Member must have length between 5 and 256"
                    ),
                ));
            }
            let values: Vec<String> = e
                .list("ContextKeyValues.member")
                .into_iter()
                .map(str::to_string)
                .collect();
            let ty = e.get("ContextKeyType").unwrap_or("string");
            let (base, list) = match ty.strip_suffix("List") {
                Some(b) => (b, true),
                None => (ty, false),
            };
            if !matches!(
                base,
                "string" | "numeric" | "boolean" | "ip" | "binary" | "date"
            ) {
                return Err(invalid(format!(
                    "Invalid ContextKeyType {ty} for context key {name}."
                )));
            }
            if !list && values.len() > 1 {
                return Err(invalid(format!(
                    "Context key {name} of type {ty} takes one value; use {ty}List for several."
                )));
            }
            for v in &values {
                if !value_has_type(v, base) {
                    return Err(invalid(format!(
                        "The value {v} of context key {name} is not a valid {base}."
                    )));
                }
            }
            context.push((name.to_string(), values, list));
        }
        Ok(Input {
            actions,
            resources,
            policies,
            boundary,
            resource_policy,
            resource_owner,
            caller_arn,
            context,
        })
    }
}

fn value_has_type(v: &str, ty: &str) -> bool {
    match ty {
        "numeric" => v.trim().parse::<f64>().is_ok(),
        "boolean" => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        "ip" => {
            let (addr, bits) = v.split_once('/').unwrap_or((v, ""));
            addr.parse::<std::net::IpAddr>().is_ok()
                && (bits.is_empty() || bits.parse::<u8>().is_ok())
        }
        "date" => {
            v.parse::<i64>().is_ok()
                || chrono::DateTime::parse_from_rfc3339(v).is_ok()
                || chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
                || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").is_ok()
        }
        "binary" => base64::engine::general_purpose::STANDARD.decode(v).is_ok(),
        _ => true,
    }
}

/// Who is simulated: the policies, the principal the engine sees, and its condition keys.
struct Subject {
    identity: Vec<Source>,
    boundary: Option<Source>,
    principal: rolecall_policy::Principal,
    keys: ContextKeys,
}

/// The global keys a real request by this principal carries, minus `remove` (keys that depend
/// on the actual request or session, which a simulation cannot know).
fn keys_for(
    call: &Call<'_>,
    principal: &Principal,
    principal_arn: &str,
    tags: &[Tag],
    remove: &[&str],
) -> ContextKeys {
    let facts = RequestFacts { source_ip: None };
    let mut k = global_keys(call.api, principal, principal_arn, tags, &facts);
    for r in remove {
        k.remove(r);
    }
    k
}

/// The simulated caller when `CallerArn` names a user: its keys (from the stored user if it
/// exists) and the engine's principal.
async fn caller_subject(
    call: &Call<'_>,
    arn: &str,
) -> Result<(rolecall_policy::Principal, ContextKeys), ApiError> {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    let stored = call.api.iam.store().get_user(name).await?;
    let keys = match stored {
        Some(u) if u.arn == arn => keys_for(call, &Principal::user(&u), &u.arn, &u.tags, &[]),
        _ => {
            let p = Principal::user(&synthetic_user(name, "", arn));
            keys_for(call, &p, arn, &[], &["aws:userid"])
        }
    };
    Ok((rolecall_policy::Principal::user(arn), keys))
}

/// A user record standing for a principal that is not a stored user (a role, an unknown
/// caller), to derive its global keys with [`Principal::user`].
fn synthetic_user(name: &str, id: &str, arn: &str) -> rolecall_core::model::User {
    rolecall_core::model::User {
        id: id.to_string(),
        name: name.to_string(),
        path: "/".into(),
        arn: arn.to_string(),
        create_date: chrono::DateTime::UNIX_EPOCH,
        tags: Vec::new(),
        permissions_boundary: None,
    }
}

fn no_such_entity(arn: &str) -> ApiError {
    ApiError::new(
        404,
        "NoSuchEntity",
        format!("The entity with ARN {arn} cannot be found."),
    )
}

async fn principal_subject(
    call: &Call<'_>,
    a: &Args<'_>,
    input: &Input,
) -> Result<Subject, ApiError> {
    let arn = a.req("PolicySourceArn")?;
    let iam = &call.api.iam;
    let store = iam.store();
    let account = iam.account_id().to_string();
    let Some(["arn", _, "iam", "", acct, res]) = split_arn(arn) else {
        return Err(invalid(format!(
            "PolicySourceArn {arn} is not the ARN of an IAM user, group or role."
        )));
    };
    let (kind, name) = match res.split_once('/') {
        Some((k @ ("user" | "group" | "role"), rest)) => {
            (k, rest.rsplit('/').next().unwrap_or(rest))
        }
        _ => {
            return Err(invalid(format!(
                "PolicySourceArn {arn} is not the ARN of an IAM user, group or role."
            )));
        }
    };
    if acct != account || name.is_empty() {
        return Err(no_such_entity(arn));
    }
    let same = |stored: &str| stored.eq_ignore_ascii_case(arn);
    let (policies, principal, keys): (IdentityPolicies, _, _) = match kind {
        "user" => {
            let Some(u) = store.get_user(name).await?.filter(|u| same(&u.arn)) else {
                return Err(no_such_entity(arn));
            };
            let policies = iam.user_identity_policies(&u).await?;
            let keys = keys_for(call, &Principal::user(&u), &u.arn, &u.tags, &[]);
            (
                policies,
                rolecall_policy::Principal::user(u.arn.as_str()),
                keys,
            )
        }
        "role" => {
            let Some(r) = store.get_role(name).await?.filter(|r| same(&r.arn)) else {
                return Err(no_such_entity(arn));
            };
            let policies = iam.role_identity_policies(&r).await?;
            // A role acts through sessions: the keys of one, but its session's id and instance
            // are not known here.
            let p = Principal::user(&synthetic_user(&r.name, &r.id, &r.arn));
            let mut keys = keys_for(call, &p, &r.arn, &r.tags, &["aws:userid", "aws:username"]);
            keys.insert("aws:PrincipalType", "AssumedRole");
            (
                policies,
                rolecall_policy::Principal::assumed_role(r.arn.as_str(), r.arn.as_str()),
                keys,
            )
        }
        _ => {
            let Some(g) = store.get_group(name).await?.filter(|g| same(&g.arn)) else {
                return Err(no_such_entity(arn));
            };
            let policies = iam.group_identity_policies(&g).await?;
            // A group is no principal: only the request's own keys.
            let keys = keys_for(
                call,
                &Principal::root(&account),
                &g.arn,
                &[],
                &["aws:PrincipalArn", "aws:userid"],
            );
            (
                policies,
                rolecall_policy::Principal::user(g.arn.as_str()),
                keys,
            )
        }
    };
    let (principal, keys) = match (&input.caller_arn, kind) {
        (Some(c), _) => caller_subject(call, c).await?,
        (None, "user") => (principal, keys),
        (None, _) if input.resource_policy.is_some() => {
            return Err(invalid(
                "CallerArn is required when a ResourcePolicy is simulated and PolicySourceArn is not the ARN of an IAM user.",
            ));
        }
        (None, _) => (principal, keys),
    };
    let mut identity: Vec<Source> = policies.identity.into_iter().map(Source::stored).collect();
    identity.extend(input.policies.iter().map(clone_source));
    let boundary = match &input.boundary {
        Some(b) => Some(clone_source(b)),
        None => policies.boundary.map(Source::stored),
    };
    Ok(Subject {
        identity,
        boundary,
        principal,
        keys,
    })
}

fn clone_source(s: &Source) -> Source {
    Source {
        id: s.id.clone(),
        kind: s.kind,
        document: s.document.clone(),
        policy: s.policy.clone(),
    }
}

async fn custom_subject(call: &Call<'_>, input: &Input) -> Result<Subject, ApiError> {
    let account = call.api.iam.account_id().to_string();
    let (principal, keys) = match &input.caller_arn {
        Some(c) => caller_subject(call, c).await?,
        None if input.resource_policy.is_some() => {
            return Err(invalid(
                "CallerArn is required when a ResourcePolicy is simulated.",
            ));
        }
        None => (
            rolecall_policy::Principal::root(account.as_str()),
            keys_for(
                call,
                &Principal::root(&account),
                "",
                &[],
                &["aws:PrincipalArn", "aws:userid"],
            ),
        ),
    };
    Ok(Subject {
        identity: input.policies.iter().map(clone_source).collect(),
        boundary: input.boundary.as_ref().map(clone_source),
        principal,
        keys,
    })
}

/// A statement in a simulation result.
struct Matched {
    id: String,
    kind: &'static str,
    start: (usize, usize),
    end: (usize, usize),
}

struct SimResult {
    index: usize,
    action: String,
    resource: String,
    decision: Decision,
    matched: Vec<Matched>,
    missing: Vec<String>,
    /// `AllowedByPermissionsBoundary`, when a boundary takes part.
    boundary_allowed: Option<bool>,
    /// `EvalDecisionDetails`, when a resource policy takes part and a resource is named.
    details: Option<Vec<(&'static str, Decision)>>,
}

fn simulate(input: &Input, subject: &Subject) -> Vec<SimResult> {
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
    for action in &input.actions {
        for res in &input.resources {
            let mut req =
                RequestContext::new(subject.principal.clone(), action.as_str(), res.as_str());
            if req.resource_account.is_none() {
                req.resource_account = input.resource_owner.clone();
            }
            req.keys = subject.keys.clone();
            for (k, values, list) in &input.context {
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
                index: out.len(),
                action: action.clone(),
                resource: res.clone(),
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
fn matched_statements(ex: &Explanation, subject: &Subject, input: &Input) -> Vec<Matched> {
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
                PolicyType::Resource => input.resource_policy.as_ref(),
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

fn result_xml(x: &mut Xml, r: &SimResult) {
    x.leaf("EvalActionName", &r.action);
    x.leaf("EvalResourceName", &r.resource);
    x.leaf("EvalDecision", r.decision.as_simulator_str());
    x.list("MatchedStatements", "member", &r.matched, |x, m| {
        x.leaf("SourcePolicyId", &m.id);
        x.leaf("SourcePolicyType", m.kind);
        x.elem("StartPosition", |x| {
            x.leaf("Line", m.start.0.to_string());
            x.leaf("Column", m.start.1.to_string());
        });
        x.elem("EndPosition", |x| {
            x.leaf("Line", m.end.0.to_string());
            x.leaf("Column", m.end.1.to_string());
        });
    });
    x.list("MissingContextValues", "member", &r.missing, |x, k| {
        x.leaf_text(k);
    });
    if let Some(allowed) = r.boundary_allowed {
        x.elem("PermissionsBoundaryDecisionDetail", |x| {
            x.leaf("AllowedByPermissionsBoundary", allowed.to_string());
        });
    }
    if let Some(details) = &r.details {
        x.list("EvalDecisionDetails", "entry", details, |x, (k, d)| {
            x.leaf("key", k);
            x.leaf("value", d.as_simulator_str());
        });
    }
}
