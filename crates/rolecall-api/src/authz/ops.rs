//! Each operation's IAM action and the resources it is authorized against, after the Service
//! Authorization Reference. Operations without a resource type are authorized on `*`.

use crate::auth::Service;
use crate::principal::Principal;
use crate::server::Api;
use rolecall_wire::Params;

/// One (action, resource) pair to authorize; an operation may need several (RunInstances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub action: String,
    pub resource: String,
}

/// Never authorized: answered for any authenticated caller, as AWS does.
pub fn is_unauthorized_call(service: Service, action: &str) -> bool {
    service == Service::Sts && action == "GetCallerIdentity"
}

fn iam_arn(api: &Api, kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{}:{kind}/{name}", api.iam.account_id())
}

/// The role's real ARN (with its path) when it exists, else the path-less form.
async fn role_arn(api: &Api, name: &str) -> String {
    match api.iam.store().get_role(name).await {
        Ok(Some(r)) => r.arn,
        _ => iam_arn(api, "role", name),
    }
}

async fn profile_arn(api: &Api, name: &str) -> String {
    match api.iam.store().get_instance_profile(name).await {
        Ok(Some(p)) => p.arn,
        _ => iam_arn(api, "instance-profile", name),
    }
}

fn with_path(api: &Api, kind: &str, path: Option<&str>, name: &str) -> String {
    format!(
        "arn:aws:iam::{}:{kind}{}{name}",
        api.iam.account_id(),
        path.unwrap_or("/")
    )
}

async fn user_arn(api: &Api, name: &str) -> String {
    match api.iam.store().get_user(name).await {
        Ok(Some(u)) => u.arn,
        _ => iam_arn(api, "user", name),
    }
}

async fn group_arn(api: &Api, name: &str) -> String {
    match api.iam.store().get_group(name).await {
        Ok(Some(g)) => g.arn,
        _ => iam_arn(api, "group", name),
    }
}

async fn iam_resource(api: &Api, caller: &Principal, action: &str, p: &Params) -> String {
    let named = |k: &str| p.get(k).unwrap_or_default();
    match action {
        "CreateRole" => with_path(api, "role", p.get("Path"), named("RoleName")),
        "CreateInstanceProfile" => with_path(
            api,
            "instance-profile",
            p.get("Path"),
            named("InstanceProfileName"),
        ),
        "CreatePolicy" => with_path(api, "policy", p.get("Path"), named("PolicyName")),
        "CreateUser" => with_path(api, "user", p.get("Path"), named("UserName")),
        "CreateGroup" => with_path(api, "group", p.get("Path"), named("GroupName")),
        // List operations are authorized on the path they list, e.g. `arn:aws:iam::ACCOUNT:role/`.
        "ListRoles" => with_path(api, "role", p.get("PathPrefix"), ""),
        "ListUsers" => with_path(api, "user", p.get("PathPrefix"), ""),
        "ListGroups" => with_path(api, "group", p.get("PathPrefix"), ""),
        "ListPolicies" => with_path(api, "policy", p.get("PathPrefix"), ""),
        "ListInstanceProfiles" => with_path(api, "instance-profile", p.get("PathPrefix"), ""),
        "GetAccessKeyLastUsed" => {
            match api.iam.store().get_access_key(named("AccessKeyId")).await {
                Ok(Some(k)) => user_arn(api, &k.user_name).await,
                _ => "*".into(),
            }
        }
        // Instance-profile operations are authorized on the profile, group ones on the group,
        // even when they also name a role or user.
        _ if p.contains("InstanceProfileName") => {
            profile_arn(api, named("InstanceProfileName")).await
        }
        _ if p.contains("GroupName") => group_arn(api, named("GroupName")).await,
        _ if p.contains("RoleName") => role_arn(api, named("RoleName")).await,
        _ if p.contains("UserName") => user_arn(api, named("UserName")).await,
        // User operations without a UserName act on the calling user.
        "GetUser" | "CreateAccessKey" | "ListAccessKeys" | "UpdateAccessKey"
        | "DeleteAccessKey" => caller.arn.clone(),
        _ if p.contains("PolicyArn") => named("PolicyArn").to_string(),
        _ => "*".into(),
    }
}

fn ec2_arn(api: &Api, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{}:{kind}/{id}",
        api.config.region,
        api.iam.account_id()
    )
}

async fn association_instance(api: &Api, association_id: &str) -> Option<String> {
    api.iam
        .store()
        .get_association(association_id)
        .await
        .ok()
        .flatten()
        .map(|a| a.instance_id)
}

async fn ec2_checks(api: &Api, action: &str, p: &Params) -> Vec<String> {
    match action {
        "RunInstances" => {
            let mut r = vec![
                ec2_arn(api, "instance", "*"),
                ec2_arn(api, "network-interface", "*"),
                ec2_arn(api, "volume", "*"),
            ];
            if let Some(image) = p.get("ImageId") {
                r.push(format!("arn:aws:ec2:{}::image/{image}", api.config.region));
            }
            if let Some(subnet) = p.get("SubnetId") {
                r.push(ec2_arn(api, "subnet", subnet));
            }
            for sg in p.list("SecurityGroupId") {
                r.push(ec2_arn(api, "security-group", sg));
            }
            if let Some(key) = p.get("KeyName") {
                r.push(ec2_arn(api, "key-pair", key));
            }
            r
        }
        "StartInstances" | "StopInstances" | "TerminateInstances" => p
            .list("InstanceId")
            .into_iter()
            .map(|id| ec2_arn(api, "instance", id))
            .collect(),
        "ModifyInstanceMetadataOptions" | "AssociateIamInstanceProfile" => {
            vec![ec2_arn(api, "instance", p.get("InstanceId").unwrap_or("*"))]
        }
        "ReplaceIamInstanceProfileAssociation" | "DisassociateIamInstanceProfile" => {
            let id = match p.get("AssociationId") {
                Some(a) => association_instance(api, a)
                    .await
                    .unwrap_or_else(|| "*".into()),
                None => "*".into(),
            };
            vec![ec2_arn(api, "instance", &id)]
        }
        _ => vec!["*".into()],
    }
}

/// The checks for one request.
pub async fn checks(
    api: &Api,
    caller: &Principal,
    service: Service,
    action: &str,
    p: &Params,
) -> Vec<Check> {
    let (prefix, resources) = match service {
        Service::Iam => ("iam", vec![iam_resource(api, caller, action, p).await]),
        Service::Sts => ("sts", vec!["*".to_string()]),
        Service::Ec2 => ("ec2", ec2_checks(api, action, p).await),
    };
    resources
        .into_iter()
        .map(|resource| Check {
            action: format!("{prefix}:{action}"),
            resource,
        })
        .collect()
}
