//! Authorization of every request by IAM policy evaluation.
//!
//! The root is all-powerful. A role session is evaluated against the role's inline and attached
//! policies (compiled once and cached until the next change to IAM state), for every
//! (action, resource) pair the operation needs, with AWS's global condition keys.

mod ops;

use crate::auth::Service;
use crate::error::ApiError;
use crate::principal::{Principal, PrincipalKind};
use crate::server::Api;
use rolecall_core::authz::IdentityPolicies;
use rolecall_policy::{ContextKeys, PolicyRef, PolicySet, RequestContext};
use rolecall_wire::Params;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use ops::{Check, checks, is_unauthorized_call};

/// Compiled policies per role, dropped whenever IAM or EC2 state changes.
#[derive(Default)]
pub struct PolicyCache {
    roles: Mutex<HashMap<String, Arc<CachedRole>>>,
}

struct CachedRole {
    arn: String,
    policies: IdentityPolicies,
}

impl PolicyCache {
    pub fn clear(&self) {
        if let Ok(mut m) = self.roles.lock() {
            m.clear();
        }
    }

    async fn role(&self, api: &Api, name: &str) -> Result<Option<Arc<CachedRole>>, ApiError> {
        if let Some(r) = self.roles.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(Some(r));
        }
        let Some(role) = api.iam.store().get_role(name).await? else {
            return Ok(None);
        };
        let policies = api.iam.role_identity_policies(&role).await?;
        let cached = Arc::new(CachedRole {
            arn: role.arn,
            policies,
        });
        if let Ok(mut m) = self.roles.lock() {
            m.insert(name.to_string(), cached.clone());
        }
        Ok(Some(cached))
    }
}

/// What the request carries besides its parameters.
pub struct RequestFacts {
    pub source_ip: Option<IpAddr>,
}

fn denied(service: Service, principal: &Principal, check: &Check, phrase: &str) -> ApiError {
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
    match service {
        Service::Ec2 => ApiError::new(
            403,
            "UnauthorizedOperation",
            format!("You are not authorized to perform this operation. {core}"),
        ),
        _ => ApiError::new(403, "AccessDenied", core),
    }
}

fn global_keys(
    api: &Api,
    principal: &Principal,
    role_arn: &str,
    facts: &RequestFacts,
) -> ContextKeys {
    let now = api.clock.now();
    let mut k = ContextKeys::new();
    k.insert("aws:PrincipalArn", role_arn);
    k.insert("aws:PrincipalAccount", principal.account_id.as_str());
    k.insert("aws:userid", principal.user_id.as_str());
    k.insert(
        "aws:CurrentTime",
        now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    k.insert("aws:EpochTime", now.timestamp().to_string());
    k.insert("aws:SecureTransport", "false");
    k.insert("aws:RequestedRegion", api.config.region.as_str());
    if let Some(ip) = facts.source_ip {
        k.insert("aws:SourceIp", ip.to_string());
    }
    if let PrincipalKind::AssumedRole {
        source_instance_arn,
        ..
    } = &principal.kind
    {
        k.insert("aws:PrincipalType", "AssumedRole");
        if !source_instance_arn.is_empty() {
            k.insert("ec2:SourceInstanceARN", source_instance_arn.as_str());
        }
    }
    k
}

/// Allows or refuses one request.
pub async fn authorize(
    api: &Api,
    principal: &Principal,
    service: Service,
    action: &str,
    params: &Params,
    facts: &RequestFacts,
) -> Result<(), ApiError> {
    if is_unauthorized_call(service, action) {
        return Ok(());
    }
    let role_name = match &principal.kind {
        PrincipalKind::Root => return Ok(()),
        PrincipalKind::AssumedRole { role_name, .. } => role_name,
    };
    let checks = checks(api, service, action, params).await;
    let Some(role) = api.policy_cache.role(api, role_name).await? else {
        // The role was deleted: its sessions can do nothing.
        let check = checks.first().cloned().unwrap_or(Check {
            action: action.into(),
            resource: "*".into(),
        });
        let phrase = format!(
            "because no identity-based policy allows the {} action",
            check.action
        );
        return Err(denied(service, principal, &check, &phrase));
    };
    let identity: Vec<PolicyRef<'_>> = role
        .policies
        .identity
        .iter()
        .map(|d| PolicyRef::new(&d.id, &d.policy))
        .collect();
    let set = PolicySet {
        identity: &identity,
        boundary: role
            .policies
            .boundary
            .as_ref()
            .map(|d| PolicyRef::new(&d.id, &d.policy)),
        ..Default::default()
    };
    let policy_principal =
        rolecall_policy::Principal::assumed_role(principal.arn.as_str(), role.arn.as_str());
    let keys = global_keys(api, principal, &role.arn, facts);
    for check in &checks {
        let mut req = RequestContext::new(
            policy_principal.clone(),
            check.action.as_str(),
            check.resource.as_str(),
        );
        req.keys = keys.clone();
        let eval = set.evaluate(&req);
        if !eval.is_allowed() {
            return Err(denied(
                service,
                principal,
                check,
                &eval.reason.access_denied_phrase(&check.action),
            ));
        }
    }
    Ok(())
}
