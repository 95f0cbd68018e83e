//! The IAM policy simulator's API side: `SimulatePrincipalPolicy` and `SimulateCustomPolicy`.
//!
//! The evaluation is core's ([`rolecall_core::simulation`]: the engine that authorizes real
//! requests, statement positions from `rolecall_policy`). This module reads the request, builds
//! the subject — for a principal, the same policies (its own, its groups', its permissions
//! boundary: `rolecall_core::authz`) and the same global condition keys
//! ([`crate::authz::global_keys`]) that `authz` uses, so `allowed` means the real call is
//! authorized — and writes the results. Request-specific keys the simulator cannot know
//! (`aws:SourceIp`, resource tags, a role session's `aws:userid`) are absent unless the caller
//! passes them as `ContextEntries`, and policies that need them report them in
//! `MissingContextValues`.

use crate::authz::{RequestFacts, global_keys};
use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::generated::iam_outputs::{
    EvaluationResult, PermissionsBoundaryDecisionDetail, Position, SimulatePrincipalPolicyOutput,
    Statement,
};
use crate::iam_xml::{paged, truncated};
use crate::input::violation;
use crate::params::Args;
use crate::principal::Principal;
use base64::Engine;
use rolecall_core::Principals;
use rolecall_core::authz::IdentityPolicies;
use rolecall_core::model::{Group, Role, Tag, User};
use rolecall_core::simulation::{Request, SimResult, Source, Subject, simulate};
use rolecall_policy::{ContextKeys, Policy, PolicyKind, split_arn};

impl Input {
    /// The resource a simulation is authorized on: the simulated user, group or role for
    /// SimulatePrincipalPolicy.
    pub(crate) fn policy_source_arn(&self) -> &str {
        self.policy_source_arn.as_deref().unwrap_or_default()
    }
}

/// Runs a simulation whose input was read and authorized.
pub(crate) async fn run(
    call: &Call<'_>,
    input: Input,
) -> Result<SimulatePrincipalPolicyOutput, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Iam,
    };
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
    let results = simulate(
        &Request {
            actions: &input.actions,
            resources: &input.resources,
            resource_policy: input.resource_policy.as_ref(),
            resource_owner: input.resource_owner.as_deref(),
            context: &input.context,
        },
        &subject,
    );
    // A result's marker is its position in the request's (action, resource) pairs.
    let numbered: Vec<(usize, SimResult<'_>)> = results.into_iter().enumerate().collect();
    let page = paged(numbered, a.opt("Marker"), a.opt("MaxItems"), |(i, _)| {
        i.to_string()
    })?;
    let (is_truncated, marker) = truncated(&page);
    // SimulateCustomPolicy's output is the same structure (SimulatePolicyResponse).
    let out = SimulatePrincipalPolicyOutput {
        evaluation_results: Some(
            page.items
                .iter()
                .map(|(_, r)| evaluation_result(r))
                .collect(),
        ),
        is_truncated,
        marker,
    };
    Ok(out)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidInput", message)
}

/// A policy the request passes (`PolicyInputList`, ...), parsed as `pk`.
fn input_source(
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

/// What both operations take besides the policies' owner.
pub(crate) struct Input {
    /// `PolicySourceArn` (SimulatePrincipalPolicy), as sent: required by the handler, after
    /// authorization on it.
    policy_source_arn: Option<String>,
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
    pub(crate) fn parse(a: &Args<'_>) -> Result<Input, ApiError> {
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
                let constraint = "Member must have length between 3 and 128";
                return Err(violation("actionNames", action, constraint));
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
                input_source(
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
                input_source(
                    "PermissionsBoundaryPolicyInputList.1".into(),
                    "none",
                    d,
                    PolicyKind::Boundary,
                )
            })
            .transpose()?;
        let resource_policy = a
            .opt("ResourcePolicy")
            .map(|d| input_source("ResourcePolicy".into(), "resource", d, PolicyKind::Resource))
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
                let constraint = "Member must have length between 5 and 256";
                return Err(violation("contextKeyName", name, constraint));
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
            policy_source_arn: p.get("PolicySourceArn").map(str::to_string),
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
/// The global keys a real request by this principal carries, minus `remove` (keys that depend
/// on the actual request or session, which a simulation cannot know).
fn keys_for(
    call: &Call<'_>,
    principal: &Principal,
    principal_arn: &str,
    tags: &[Tag],
    remove: &[&str],
) -> ContextKeys {
    let facts = RequestFacts {
        source_ip: None,
        secure_transport: false,
    };
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
    let stored = call.api.iam.store().get_principal::<User>(name).await?;
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
        entity: rolecall_core::model::IamEntity {
            id: id.to_string(),
            name: name.to_string(),
            path: "/".into(),
            arn: arn.to_string(),
            create_date: chrono::DateTime::UNIX_EPOCH,
        },
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

/// The stored role, user or group `name`, if its ARN is `arn` (in any case); else NoSuchEntity.
async fn stored<E>(store: &rolecall_core::DynStore, name: &str, arn: &str) -> Result<E, ApiError>
where
    E: rolecall_core::PrincipalEntity + std::ops::Deref<Target = rolecall_core::model::IamEntity>,
{
    store
        .get_principal::<E>(name)
        .await?
        .filter(|e| e.arn.eq_ignore_ascii_case(arn))
        .ok_or_else(|| no_such_entity(arn))
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
    let (policies, principal, keys): (IdentityPolicies, _, _) = match kind {
        "user" => {
            let u: User = stored(store, name, arn).await?;
            let policies = iam.user_identity_policies(&u).await?;
            let keys = keys_for(call, &Principal::user(&u), &u.arn, &u.tags, &[]);
            (
                policies,
                rolecall_policy::Principal::user(u.arn.as_str()),
                keys,
            )
        }
        "role" => {
            let r: Role = stored(store, name, arn).await?;
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
            let g: Group = stored(store, name, arn).await?;
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
        // No caller, so no caller account: a resource of any account is judged by the given
        // policies alone (AWS's documentation examples name other accounts' resources).
        None => (
            rolecall_policy::Principal {
                account: None,
                ..rolecall_policy::Principal::root(account.as_str())
            },
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

/// A line and column as the simulator's positions are answered.
fn position((line, column): (usize, usize)) -> Option<Position> {
    let n = |v: usize| Some(i64::try_from(v).unwrap_or(i64::MAX));
    Some(Position {
        line: n(line),
        column: n(column),
    })
}

fn evaluation_result(r: &SimResult<'_>) -> EvaluationResult {
    let statement = |m: &rolecall_core::simulation::Matched| Statement {
        source_policy_id: Some(m.id.clone()),
        source_policy_type: Some(m.kind.to_string()),
        start_position: position(m.start),
        end_position: position(m.end),
    };
    EvaluationResult {
        eval_action_name: r.action.to_string(),
        eval_resource_name: Some(r.resource.to_string()),
        eval_decision: r.decision.as_simulator_str().to_string(),
        matched_statements: Some(r.matched.iter().map(statement).collect()),
        missing_context_values: Some(r.missing.clone()),
        permissions_boundary_decision_detail: r.boundary_allowed.map(|allowed| {
            PermissionsBoundaryDecisionDetail {
                allowed_by_permissions_boundary: Some(allowed),
            }
        }),
        eval_decision_details: r.details.as_ref().map(|details| {
            let decisions = details.iter().map(|(k, d)| (k, d.as_simulator_str()));
            decisions
                .map(|(k, d)| (k.to_string(), d.to_string()))
                .collect()
        }),
        ..EvaluationResult::default()
    }
}
