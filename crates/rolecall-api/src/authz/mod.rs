//! Authorization of every request by IAM policy evaluation.
//!
//! The root is all-powerful. A user is evaluated against its own and its groups' inline and
//! attached policies and its permissions boundary; a role session against its role's (compiled
//! once and cached until the next change to IAM state), for every (action, resource) pair the
//! operation needs, with AWS's global condition keys.

mod entities;
mod message;
mod ops;
mod session;

use crate::cache::CachedPrincipal;
use crate::context::Api;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::principal::{Principal, PrincipalKind};
use crate::service::Service;
use rolecall_core::Principals;
use rolecall_core::model::{Role, Tag, User};
use rolecall_policy::{ContextKeys, Decision, PolicyRef, PolicySet, RequestContext};
use rolecall_wire::Params;
use std::net::IpAddr;
use std::sync::Arc;

pub(crate) use entities::{entity, role};
pub use message::decode as decode_message;
pub use ops::{Check, checks, is_unauthorized_call};
pub(crate) use ops::{
    Keys, ec2_arn, find_instance, iam_arn, instance_checks, instance_keys, key, pass_role,
    profile_pass_role, request_tag_keys, with_path,
};
pub use session::role_by_arn;

/// The principal's policies, or None if its user or role no longer exists — or exists under
/// another id: credentials of a deleted role or user do not pass to one re-created with the
/// same name.
pub(crate) async fn load_principal(
    api: &Api,
    kind: &PrincipalKind,
) -> Result<Option<Arc<CachedPrincipal>>, ApiError> {
    let (key, expected_id) = match kind {
        PrincipalKind::Root => return Ok(None),
        PrincipalKind::FederatedUser { user_name, .. } if user_name.is_empty() => {
            return Ok(Some(Arc::new(root_federation(api))));
        }
        PrincipalKind::User { name, id, .. }
        | PrincipalKind::FederatedUser {
            user_name: name,
            user_id: id,
            ..
        } => (format!("user:{name}"), id),
        PrincipalKind::AssumedRole {
            role_name, role_id, ..
        } => (format!("role:{role_name}"), role_id),
    };
    if let Some(c) = api.policy_cache.principal(&key) {
        return Ok((&c.id == expected_id).then_some(c));
    }
    let epoch = api.policy_cache.epoch();
    let store = api.iam.store();
    let (id, arn, tags, policies) = match kind {
        PrincipalKind::Root => return Ok(None),
        PrincipalKind::User { name, .. }
        | PrincipalKind::FederatedUser {
            user_name: name, ..
        } => {
            let Some(user) = store.get_principal::<User>(name).await? else {
                return Ok(None);
            };
            let policies = api.iam.user_identity_policies(&user).await?;
            (user.entity.id, user.entity.arn, user.tags, policies)
        }
        PrincipalKind::AssumedRole { role_name, .. } => {
            let Some(role) = store.get_principal::<Role>(role_name).await? else {
                return Ok(None);
            };
            let policies = api.iam.role_identity_policies(&role).await?;
            (role.entity.id, role.entity.arn, role.tags, policies)
        }
    };
    let cached = CachedPrincipal {
        id,
        arn,
        tags,
        policies,
    };
    // Dropped by a change to the principal, its groups, or any policy it holds (see `cache`).
    let deps = cached.policies.depends_on.clone();
    let cached = api.policy_cache.put_principal(key, cached, &deps, epoch);
    Ok((&cached.id == expected_id).then_some(cached))
}

/// What a federated user of the root starts from: everything (its session policies limit it).
fn root_federation(api: &Api) -> CachedPrincipal {
    const ALLOW_ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let account = api.iam.account_id();
    let identity = rolecall_policy::Policy::parse(ALLOW_ALL, rolecall_policy::PolicyKind::Identity)
        .map(|policy| rolecall_core::authz::PolicyDoc {
            id: "root".into(),
            policy,
            document: ALLOW_ALL.into(),
        })
        .into_iter()
        .collect();
    CachedPrincipal {
        id: account.to_string(),
        arn: format!("arn:aws:iam::{account}:root"),
        tags: Vec::new(),
        policies: rolecall_core::authz::IdentityPolicies {
            identity,
            ..Default::default()
        },
    }
}

/// What the request carries besides its parameters.
pub struct RequestFacts {
    pub source_ip: Option<IpAddr>,
    /// The request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// The refusal as AWS words it. EC2 appends an encoded message for all but Describe* calls.
fn denied(
    service: Service,
    principal: &Principal,
    check: &Check,
    phrase: &str,
    encoded: Option<String>,
) -> ApiError {
    let core = if check.resource == "*" {
        format!(
            "User: {} is not authorized to perform: {} {phrase}",
            principal.arn, check.action
        )
    } else {
        format!(
            "User: {} is not authorized to perform: {} on resource: {} {phrase}",
            principal.arn, check.action, check.resource
        )
    };
    match (service, encoded) {
        (Service::Ec2, Some(m)) => ApiError::new(
            403,
            "UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. {core}. Encoded authorization failure message: {m}"
            ),
        ),
        (Service::Ec2, None) => ApiError::new(
            403,
            "UnauthorizedOperation",
            format!("You are not authorized to perform this operation. {core}"),
        ),
        _ => ApiError::new(403, "AccessDenied", core),
    }
}

/// AWS's global condition keys of a request by `principal`, whose `aws:PrincipalArn` is
/// `principal_arn` (the user's, or the role's for a session) and whose tags are `tags`.
/// Also used by the policy simulator, so simulations see what real requests see.
pub(crate) fn global_keys(
    api: &Api,
    principal: &Principal,
    principal_arn: &str,
    tags: &[Tag],
    facts: &RequestFacts,
) -> ContextKeys {
    let now = api.clock.now();
    let mut k = ContextKeys::new();
    k.insert("aws:PrincipalArn", principal_arn);
    k.insert("aws:PrincipalAccount", principal.account_id.as_str());
    k.insert("aws:userid", principal.user_id.as_str());
    k.insert(
        "aws:CurrentTime",
        now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    k.insert("aws:EpochTime", now.timestamp().to_string());
    k.insert(
        "aws:SecureTransport",
        if facts.secure_transport {
            "true"
        } else {
            "false"
        },
    );
    k.insert("aws:RequestedRegion", api.config.region.as_str());
    if let Some(ip) = facts.source_ip {
        k.insert("aws:SourceIp", ip.to_string());
    }
    for t in tags {
        k.insert(&format!("aws:PrincipalTag/{}", t.key), t.value.as_str());
    }
    match &principal.kind {
        PrincipalKind::Root => {}
        PrincipalKind::User { name, .. } => {
            k.insert("aws:PrincipalType", "User");
            k.insert("aws:username", name.as_str());
        }
        PrincipalKind::AssumedRole {
            source_instance_arn,
            session,
            ..
        } => {
            k.insert("aws:PrincipalType", "AssumedRole");
            if !source_instance_arn.is_empty() {
                k.insert("ec2:SourceInstanceARN", source_instance_arn.as_str());
            }
            // What instance credentials carry against exfiltration (absent for other sessions).
            let instance_keys = [
                ("ec2:RoleDelivery", &session.role_delivery),
                (
                    "aws:EC2InstanceSourcePrivateIPv4",
                    &session.source_private_ip,
                ),
                ("aws:EC2InstanceSourceVPC", &session.source_vpc),
            ];
            for (key, value) in instance_keys {
                if !value.is_empty() {
                    k.insert(key, value.as_str());
                }
            }
            // Session tags take precedence over the role's tags.
            for (tag, value) in &session.tags {
                k.insert(&format!("aws:PrincipalTag/{tag}"), value.as_str());
            }
            k.insert("aws:TokenIssueTime", token_issue_time(session));
        }
        PrincipalKind::FederatedUser { session, .. } => {
            k.insert("aws:PrincipalType", "FederatedUser");
            k.insert("aws:TokenIssueTime", token_issue_time(session));
        }
    }
    k
}

/// `aws:TokenIssueTime`, with milliseconds when the session has them.
fn token_issue_time(session: &rolecall_crypto::SessionClaims) -> String {
    let issued = chrono::DateTime::from_timestamp(
        session.issued_at,
        session.issued_millis.min(999) * 1_000_000,
    )
    .unwrap_or_default();
    let format = if session.issued_millis == 0 {
        "%Y-%m-%dT%H:%M:%SZ"
    } else {
        "%Y-%m-%dT%H:%M:%S%.3fZ"
    };
    issued.format(format).to_string()
}

/// Allows or refuses one request.
pub async fn authorize(
    api: &Api,
    principal: &Principal,
    op: Operation,
    params: &Params,
    facts: &RequestFacts,
    given: Option<Vec<Check>>,
) -> Result<(), ApiError> {
    let service = op.service();
    if is_unauthorized_call(op) {
        return Ok(());
    }
    session::restrict_session_credentials(principal, op)?;
    if op == Operation::AssumeRole {
        return session::authorize_assume_role(api, principal, params, facts).await;
    }
    if principal.kind == PrincipalKind::Root {
        return Ok(());
    }
    // An operation unit (`crate::units`) computes its checks from its typed input and the
    // entities it resolved; the rest are computed here from the parameters.
    let checks = match given {
        Some(c) => c,
        None => checks(op),
    };
    let Some(cached) = load_principal(api, &principal.kind).await? else {
        // The user or role was deleted: its credentials can do nothing.
        let check = checks.first().cloned().unwrap_or(Check {
            action: op.name().into(),
            resource: "*".into(),
            keys: vec![],
        });
        let phrase = format!(
            "because no identity-based policy allows the {} action",
            check.action
        );
        return Err(denied(service, principal, &check, &phrase, None));
    };
    let policies = &cached.policies;
    let identity: Vec<PolicyRef<'_>> = policies
        .identity
        .iter()
        .map(|d| PolicyRef::new(&d.id, &d.policy))
        .collect();
    let session_docs = session::session_policies(api, principal).await?;
    let session: Vec<PolicyRef<'_>> = session_docs
        .iter()
        .flatten()
        .map(|d| PolicyRef::new(&d.id, &d.policy))
        .collect();
    // A federated user without session policies has no permissions (as in AWS).
    if matches!(principal.kind, PrincipalKind::FederatedUser { .. })
        && session.is_empty()
        && let Some(check) = checks.first()
    {
        let phrase = format!(
            "because no session policy allows the {} action",
            check.action
        );
        return Err(denied(service, principal, check, &phrase, None));
    }
    let set = PolicySet {
        identity: &identity,
        boundary: policies
            .boundary
            .as_ref()
            .map(|d| PolicyRef::new(&d.id, &d.policy)),
        session: &session,
        ..Default::default()
    };
    let policy_principal = match &principal.kind {
        PrincipalKind::User { .. } => rolecall_policy::Principal::user(principal.arn.as_str()),
        PrincipalKind::FederatedUser { .. } => {
            rolecall_policy::Principal::federated_user(principal.arn.as_str())
        }
        _ => rolecall_policy::Principal::assumed_role(principal.arn.as_str(), cached.arn.as_str()),
    };
    let keys = global_keys(api, principal, &cached.arn, &cached.tags, facts);
    for check in &checks {
        let mut req = RequestContext::new(
            policy_principal.clone(),
            check.action.as_str(),
            check.resource.as_str(),
        );
        req.keys = keys.clone();
        for (k, values) in &check.keys {
            match values.as_slice() {
                // Single-valued keys must stay single-valued: plain operators don't match
                // multivalued keys. aws:TagKeys is multivalued even with one tag.
                [v] if !k.eq_ignore_ascii_case("aws:TagKeys") => req.keys.insert(k, v.as_str()),
                _ => req.keys.insert_values(k, values.iter().cloned()),
            };
        }
        let eval = set.evaluate(&req);
        if !eval.is_allowed() {
            // EC2 encodes the refusal of every call that changes state (not Describe*).
            let encoded = (service == Service::Ec2 && !op.is_read_only()).then(|| {
                message::encode(
                    &api.keyring,
                    principal,
                    check,
                    eval.decision == Decision::ExplicitDeny,
                    &req.keys,
                )
            });
            return Err(denied(
                service,
                principal,
                check,
                &eval.reason.access_denied_phrase(&check.action),
                encoded,
            ));
        }
    }
    Ok(())
}
