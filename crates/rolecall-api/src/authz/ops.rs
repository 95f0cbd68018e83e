//! Each operation's IAM action and the resources it is authorized against, after the Service
//! Authorization Reference. Operations without a resource type are authorized on `*`.

use crate::auth::Service;
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

async fn iam_resource(api: &Api, action: &str, p: &Params) -> String {
    let role = p.get("RoleName");
    let profile = p.get("InstanceProfileName");
    let policy = p.get("PolicyArn");
    match action {
        "CreateRole" => with_path(api, "role", p.get("Path"), role.unwrap_or_default()),
        "CreateInstanceProfile" => with_path(
            api,
            "instance-profile",
            p.get("Path"),
            profile.unwrap_or_default(),
        ),
        "CreatePolicy" => with_path(
            api,
            "policy",
            p.get("Path"),
            p.get("PolicyName").unwrap_or_default(),
        ),
        "ListRoles" | "ListPolicies" | "ListInstanceProfiles" => "*".into(),
        // Instance-profile operations are authorized on the profile, even when they name a role.
        _ if profile.is_some() => profile_arn(api, profile.unwrap_or_default()).await,
        _ if role.is_some() => role_arn(api, role.unwrap_or_default()).await,
        _ if policy.is_some() => policy.unwrap_or_default().to_string(),
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
pub async fn checks(api: &Api, service: Service, action: &str, p: &Params) -> Vec<Check> {
    let (prefix, resources) = match service {
        Service::Iam => ("iam", vec![iam_resource(api, action, p).await]),
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
