//! Authorization rules of temporary credentials: AssumeRole's trust evaluation, session
//! policies, and what GetSessionToken credentials may not do.

use super::entities::{CachedRole, Entity};
use super::{RequestFacts, global_keys};
use crate::context::Api;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::principal::{Principal, PrincipalKind};
use crate::service::Service;
use rolecall_core::authz::PolicyDoc;
use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet, RequestContext};
use rolecall_wire::Params;
use std::sync::Arc;

/// GetSessionToken credentials may call no IAM action (IAM requires MFA for them) and, of STS,
/// only AssumeRole and GetCallerIdentity.
pub fn restrict_session_credentials(principal: &Principal, op: Operation) -> Result<(), ApiError> {
    if op == Operation::GetFederationToken && principal.temporary {
        return Err(ApiError::new(
            403,
            "AccessDenied",
            "Cannot call GetFederationToken with session credentials",
        ));
    }
    if matches!(principal.kind, PrincipalKind::FederatedUser { .. }) {
        return restrict_federated(principal, op);
    }
    let session_token = matches!(principal.kind, PrincipalKind::User { session: true, .. })
        || (principal.kind == PrincipalKind::Root && principal.temporary);
    if !session_token {
        return Ok(());
    }
    match op.service() {
        Service::Iam => Err(ApiError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: iam:{}. You cannot call any IAM API operations unless MFA authentication information is included in the request.",
                principal.arn,
                op.name()
            ),
        )),
        Service::Sts if op == Operation::GetSessionToken => Err(ApiError::new(
            403,
            "AccessDenied",
            "Cannot call GetSessionToken with session credentials",
        )),
        _ => Ok(()),
    }
}

/// GetFederationToken credentials may call no IAM action and, of STS, only GetCallerIdentity.
fn restrict_federated(principal: &Principal, op: Operation) -> Result<(), ApiError> {
    let allowed = match op.service() {
        Service::Iam => false,
        Service::Sts => op == Operation::GetCallerIdentity,
        _ => true,
    };
    if allowed {
        return Ok(());
    }
    let prefix = if op.service() == Service::Iam {
        "iam"
    } else {
        "sts"
    };
    Err(ApiError::new(
        403,
        "AccessDenied",
        format!(
            "User: {} is not authorized to perform: {prefix}:{} with federated user credentials",
            principal.arn,
            op.name()
        ),
    ))
}

/// The session policies a role or federated user session carries (AssumeRole's Policy and PolicyArns), compiled.
/// None when the session has none (then they do not limit anything).
pub async fn session_policies(
    api: &Api,
    principal: &Principal,
) -> Result<Option<Vec<PolicyDoc>>, ApiError> {
    let session = match &principal.kind {
        PrincipalKind::AssumedRole { session, .. }
        | PrincipalKind::FederatedUser { session, .. } => session,
        _ => return Ok(None),
    };
    if session.session_policy.is_none() && session.policy_arns.is_empty() {
        return Ok(None);
    }
    // A policy that no longer parses is dropped, which only narrows what the session may do.
    let mut docs = Vec::new();
    if let Some(doc) = &session.session_policy
        && let Ok(policy) = Policy::parse(doc, PolicyKind::Session)
    {
        docs.push(PolicyDoc {
            id: "session-policy".into(),
            policy,
            document: doc.clone(),
        });
    }
    let store = api.iam.store();
    for arn in &session.policy_arns {
        if let Some(p) = store.get_policy(arn).await?
            && let Some(v) = store.get_policy_version(arn, &p.default_version_id).await?
            && let Ok(policy) = Policy::parse(&v.document, PolicyKind::Managed)
        {
            docs.push(PolicyDoc {
                id: arn.clone(),
                policy,
                document: v.document,
            });
        }
    }
    Ok(Some(docs))
}

/// The role `RoleArn` names (cached, its trust policy compiled), if it exists in this account
/// under exactly that ARN.
pub async fn role_by_arn(api: &Api, arn: &str) -> Option<Arc<Entity>> {
    let name = arn
        .strip_prefix(&format!("arn:aws:iam::{}:role/", api.iam.account_id()))?
        .rsplit('/')
        .next()?;
    super::entities::role(api, name)
        .await
        .ok()
        .flatten()
        .filter(|e| e.arn() == arn && e.role().is_some())
}

/// sts:AssumeRole: the caller's identity policies (and boundary, and session policies when
/// chaining) with the role's trust policy as the resource policy, under AWS's same-account rules.
pub async fn authorize_assume_role(
    api: &Api,
    principal: &Principal,
    params: &Params,
    facts: &RequestFacts,
) -> Result<(), ApiError> {
    let role_arn = params.get("RoleArn").unwrap_or_default();
    let refuse = || {
        ApiError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                principal.arn
            ),
        )
    };
    if principal.kind == PrincipalKind::Root {
        return Err(ApiError::new(
            403,
            "AccessDenied",
            "Roles may not be assumed by root accounts.",
        ));
    }
    let entity = role_by_arn(api, role_arn).await.ok_or_else(refuse)?;
    let (role, trust) = match entity.role() {
        Some(CachedRole {
            role,
            trust: Some(trust),
        }) => (role, trust),
        _ => return Err(refuse()),
    };
    let Some(cached) = super::load_principal(api, &principal.kind).await? else {
        return Err(refuse());
    };
    let identity: Vec<PolicyRef<'_>> = cached
        .policies
        .identity
        .iter()
        .map(|d| PolicyRef::new(&d.id, &d.policy))
        .collect();
    let session_docs = session_policies(api, principal).await?;
    let session: Vec<PolicyRef<'_>> = session_docs
        .iter()
        .flatten()
        .map(|d| PolicyRef::new(&d.id, &d.policy))
        .collect();
    let set = PolicySet {
        identity: &identity,
        boundary: cached
            .policies
            .boundary
            .as_ref()
            .map(|d| PolicyRef::new(&d.id, &d.policy)),
        session: &session,
        resource: Some(PolicyRef::new("trust", trust)),
    };
    let policy_principal = match &principal.kind {
        PrincipalKind::User { .. } => rolecall_policy::Principal::user(principal.arn.as_str()),
        PrincipalKind::FederatedUser { .. } => {
            rolecall_policy::Principal::federated_user(principal.arn.as_str())
        }
        _ => rolecall_policy::Principal::assumed_role(principal.arn.as_str(), cached.arn.as_str()),
    };
    let mut req = RequestContext::new(policy_principal, "sts:AssumeRole", role.arn.as_str());
    req.keys = global_keys(api, principal, &cached.arn, &cached.tags, facts);
    if let Some(v) = params.get("ExternalId") {
        req.keys.insert("sts:ExternalId", v);
    }
    if let Some(v) = params.get("RoleSessionName") {
        req.keys.insert("sts:RoleSessionName", v);
    }
    if let Some(v) = params.get("SourceIdentity") {
        req.keys.insert("sts:SourceIdentity", v);
    }
    let tags = params.structs("Tags.member");
    for t in &tags {
        req.keys.insert(
            &format!("aws:RequestTag/{}", t.get("Key").unwrap_or_default()),
            t.get("Value").unwrap_or_default(),
        );
    }
    if !tags.is_empty() {
        req.keys.insert_values(
            "aws:TagKeys",
            tags.iter()
                .map(|t| t.get("Key").unwrap_or_default().to_string()),
        );
    }
    if !set.evaluate(&req).is_allowed() {
        return Err(refuse());
    }
    // Passing session tags also needs sts:TagSession, from the same policies.
    if !tags.is_empty() {
        req.action = "sts:TagSession".into();
        if !set.evaluate(&req).is_allowed() {
            return Err(ApiError::new(
                403,
                "AccessDenied",
                format!(
                    "User: {} is not authorized to perform: sts:TagSession on resource: {role_arn}",
                    principal.arn
                ),
            ));
        }
    }
    Ok(())
}
