//! The pieces authorization checks are made of, after the Service Authorization Reference:
//! ARNs (with the entity's path when it exists), condition keys of requests and instances,
//! `iam:PassRole` to EC2. Operation units (`crate::units`) compose them from their typed input
//! and resolved entities; the operations that are not units (STS, the agent API) are
//! authorized on `*` here.

use crate::context::Api;
use crate::generated::Operation;
use rolecall_core::model::{Association, Instance, InstanceProfile};

/// One (action, resource) pair to authorize, with the condition keys specific to it; an
/// operation may need several (RunInstances: each resource, plus iam:PassRole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub action: String,
    pub resource: String,
    pub keys: Vec<(String, Vec<String>)>,
}

/// Never authorized: answered for any authenticated caller, as AWS does.
/// (GetSessionToken: "No permissions are required for users to perform this operation".)
pub fn is_unauthorized_call(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetCallerIdentity | Operation::GetSessionToken
    )
}

pub(crate) fn iam_arn(api: &Api, kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{}:{kind}/{name}", api.iam.account_id())
}

pub(crate) fn with_path(api: &Api, kind: &str, path: Option<&str>, name: &str) -> String {
    format!(
        "arn:aws:iam::{}:{kind}{}{name}",
        api.iam.account_id(),
        path.unwrap_or("/")
    )
}

pub(crate) fn ec2_arn(api: &Api, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{}:{kind}/{id}",
        api.config.region,
        api.iam.account_id()
    )
}

pub(crate) type Keys = Vec<(String, Vec<String>)>;

pub(crate) fn key(k: &str, v: impl Into<String>) -> (String, Vec<String>) {
    (k.to_string(), vec![v.into()])
}

/// `aws:RequestTag/*` and `aws:TagKeys` for tags a request creates.
pub(crate) fn request_tag_keys(tags: &[(String, String)]) -> Keys {
    let mut keys: Keys = tags
        .iter()
        .map(|(k, v)| key(&format!("aws:RequestTag/{k}"), v.clone()))
        .collect();
    if !tags.is_empty() {
        keys.push((
            "aws:TagKeys".into(),
            tags.iter().map(|(k, _)| k.clone()).collect(),
        ));
    }
    keys
}

/// An instance's condition keys (`ec2:ResourceTag/*`, metadata options, its current profile...).
pub(crate) fn instance_keys(api: &Api, i: &Instance, active: Option<&Association>) -> Keys {
    let mut keys = vec![
        key("ec2:InstanceType", i.instance_type.clone()),
        key("ec2:InstanceID", i.id.clone()),
        key(
            "ec2:MetadataHttpTokens",
            i.metadata_options.http_tokens.clone(),
        ),
        key(
            "ec2:MetadataHttpEndpoint",
            i.metadata_options.http_endpoint.clone(),
        ),
        key(
            "ec2:MetadataHttpPutResponseHopLimit",
            i.metadata_options.http_put_response_hop_limit.to_string(),
        ),
        key("ec2:Region", api.config.region.clone()),
    ];
    if let Some(a) = active {
        keys.push(key("ec2:InstanceProfile", a.profile_arn.clone()));
    }
    for t in &i.tags {
        keys.push(key(&format!("ec2:ResourceTag/{}", t.key), t.value.clone()));
        keys.push(key(&format!("aws:ResourceTag/{}", t.key), t.value.clone()));
    }
    keys
}

/// An instance as authorization sees it: the instance and its active association, if it exists.
pub(crate) async fn find_instance(api: &Api, id: &str) -> Option<(Instance, Option<Association>)> {
    let i = api.ec2.find_instance(id).await.ok().flatten()?;
    let active = api.ec2.active_association(&i.id).await.ok().flatten();
    Some((i, active))
}

/// The check of an EC2 call on one instance (`instance_id`, or `instance/*` when the request
/// names none), as it is (`instance`); with `new_profile`, the profile being attached is the
/// `ec2:InstanceProfile` / `ec2:NewInstanceProfile`, and its role needs `iam:PassRole` for this
/// instance.
pub(crate) fn instance_checks(
    api: &Api,
    op: Operation,
    instance_id: Option<&str>,
    instance: Option<&(Instance, Option<Association>)>,
    new_profile: Option<&InstanceProfile>,
) -> Vec<Check> {
    let (arn, mut keys) = match instance_id {
        Some(id) => (
            ec2_arn(api, "instance", id),
            instance
                .map(|(i, a)| instance_keys(api, i, a.as_ref()))
                .unwrap_or_default(),
        ),
        None => (ec2_arn(api, "instance", "*"), vec![]),
    };
    let mut out = Vec::new();
    if let Some(profile) = new_profile {
        // The key names the profile being attached, not the current one.
        keys.retain(|(k, _)| k != "ec2:InstanceProfile");
        keys.push(key("ec2:NewInstanceProfile", profile.arn.clone()));
        keys.push(key("ec2:InstanceProfile", profile.arn.clone()));
        out.extend(pass_role(profile, &arn));
    }
    out.insert(0, check(op.name(), arn, keys));
    out
}

/// `iam:PassRole` for handing a profile's role to EC2 for `instance_arn`.
pub(crate) fn pass_role(profile: &InstanceProfile, instance_arn: &str) -> Option<Check> {
    let role = profile.roles.first()?;
    Some(Check {
        action: "iam:PassRole".into(),
        resource: role.arn.clone(),
        keys: vec![
            key("iam:PassedToService", "ec2.amazonaws.com"),
            key("iam:AssociatedResourceArn", instance_arn),
        ],
    })
}

/// `iam:PassRole` for putting a role into an instance profile: whatever instance the profile
/// is (or will be) associated with serves that role's credentials, so adding a role passes it
/// to EC2 (AWS lists PassRole as a dependent action of AddRoleToInstanceProfile). The instance
/// is not known here; AWS documents `arn:aws:ec2:*:ACCOUNT:instance/*` as the associated
/// resource for this case.
pub(crate) fn profile_pass_role(api: &Api, role_arn: String) -> Check {
    Check {
        action: "iam:PassRole".into(),
        resource: role_arn,
        keys: vec![
            key("iam:PassedToService", "ec2.amazonaws.com"),
            key(
                "iam:AssociatedResourceArn",
                format!("arn:aws:ec2:*:{}:instance/*", api.iam.account_id()),
            ),
        ],
    }
}

pub(crate) fn check(action: &str, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("ec2:{action}"),
        resource,
        keys,
    }
}

/// The checks of an operation not written as a unit: STS (on `*`; AssumeRole is authorized by
/// the role's trust policy instead, `session.rs`) and rolecall's agent API. Every IAM and EC2
/// operation is a unit (`crate::units`) and computes its own checks from its typed input.
pub fn checks(op: Operation) -> Vec<Check> {
    vec![Check {
        action: format!("{}:{}", op.service().name(), op.name()),
        resource: "*".into(),
        keys: vec![],
    }]
}
