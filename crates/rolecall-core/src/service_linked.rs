//! Service-linked roles: roles a service creates and alone may change, under the path
//! `/aws-service-role/<service principal>/`, named as AWS names them.

use crate::iam::{CreateRole, Iam};
use crate::model::Role;
use crate::{Error, Existing, Missing, Named, OwnerKind, Principals, Result};

/// The path prefix of every service-linked role.
pub const PATH_PREFIX: &str = "/aws-service-role/";

/// AWS's names for the service-linked roles of common services.
const NAMES: &[(&str, &str)] = &[
    ("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"),
    ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
    ("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS"),
    ("elasticache.amazonaws.com", "AWSServiceRoleForElastiCache"),
    (
        "elasticloadbalancing.amazonaws.com",
        "AWSServiceRoleForElasticLoadBalancing",
    ),
    (
        "es.amazonaws.com",
        "AWSServiceRoleForAmazonElasticsearchService",
    ),
    (
        "organizations.amazonaws.com",
        "AWSServiceRoleForOrganizations",
    ),
    ("rds.amazonaws.com", "AWSServiceRoleForRDS"),
    ("spot.amazonaws.com", "AWSServiceRoleForEC2Spot"),
    ("ssm.amazonaws.com", "AWSServiceRoleForAmazonSSM"),
    ("support.amazonaws.com", "AWSServiceRoleForSupport"),
    (
        "trustedadvisor.amazonaws.com",
        "AWSServiceRoleForTrustedAdvisor",
    ),
];

/// Services whose roles take a custom suffix (AWS allows it for a few only).
const SUFFIXED: &[&str] = &[
    "autoscaling.amazonaws.com",
    "elasticbeanstalk.amazonaws.com",
];

/// The role's name for `service` (AWS's name where known, else `AWSServiceRoleFor` + the
/// service's first label, capitalized), with `_suffix` when given.
fn role_name(service: &str, suffix: Option<&str>) -> Result<String> {
    let base = match NAMES.iter().find(|(s, _)| *s == service) {
        Some((_, name)) => (*name).to_string(),
        None => {
            let label = service
                .strip_suffix(".amazonaws.com")
                .filter(|l| !l.is_empty() && !l.contains('.'))
                .ok_or_else(|| {
                    Error::InvalidInput(format!("Invalid service principal name: {service}."))
                })?;
            let mut chars = label.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            format!(
                "AWSServiceRoleFor{}{}",
                first.unwrap_or_default(),
                chars.as_str()
            )
        }
    };
    match suffix {
        None => Ok(base),
        Some(s) if SUFFIXED.contains(&service) => Ok(format!("{base}_{s}")),
        Some(_) => Err(Error::InvalidInput(format!(
            "Custom suffix is not allowed for {service}"
        ))),
    }
}

/// Refuses a change to a service-linked role by anyone but its service.
pub fn refuse_change(role: &Role) -> Result<()> {
    if role.path.starts_with(PATH_PREFIX) {
        return Err(Error::UnmodifiableEntity(role.name.clone()));
    }
    Ok(())
}

/// The service of a service-linked role (from its path), None for other roles.
pub fn service_of(role: &Role) -> Option<&str> {
    role.path
        .strip_prefix(PATH_PREFIX)?
        .strip_suffix('/')
        .filter(|s| !s.is_empty())
}

/// The deletion task id AWS's format gives: `task/aws-service-role/<service>/<role>/<uuid>`.
pub fn deletion_task_id(service: &str, role: &str) -> String {
    format!(
        "task/aws-service-role/{service}/{role}/{}",
        rolecall_crypto::request_id()
    )
}

/// The role a deletion task id names, None when it is not of that form.
pub fn task_role(task_id: &str) -> Option<(&str, &str)> {
    let rest = task_id.strip_prefix("task/aws-service-role/")?;
    let mut parts = rest.split('/');
    let (service, role, id) = (parts.next()?, parts.next()?, parts.next()?);
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    let is_uuid =
        groups == [8, 4, 4, 4, 12] && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    let valid = parts.next().is_none() && is_uuid;
    valid.then_some((service, role))
}

/// Where a service-linked role of `service` named `name` lives (for its ARN before it exists).
pub fn path_of(service: &str) -> String {
    format!("{PATH_PREFIX}{service}/")
}

/// The role CreateServiceLinkedRole makes for a service: AWS's name for it (with the custom
/// suffix) and its path. Authorization reads its ARN before it exists; creation makes this role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLinkedRole {
    pub service: String,
    pub name: String,
    pub path: String,
}

impl ServiceLinkedRole {
    /// InvalidInput for a malformed service principal, or a suffix the service does not take.
    pub fn new(service: &str, suffix: Option<&str>) -> Result<Self> {
        Ok(ServiceLinkedRole {
            name: role_name(service, suffix)?,
            path: path_of(service),
            service: service.to_string(),
        })
    }

    /// The trust policy: only the service may assume the role.
    fn trust_policy(&self) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": [self.service]},
                "Action": ["sts:AssumeRole"],
            }]
        })
        .to_string()
    }
}

impl Iam {
    pub async fn create_service_linked_role(
        &self,
        linked: &ServiceLinkedRole,
        description: Option<&str>,
    ) -> Result<Role> {
        let (name, trust) = (&linked.name, linked.trust_policy());
        let input = CreateRole {
            path: Some(&linked.path),
            description,
            ..CreateRole::new(name, &trust)
        };
        match self.create_role(input).await {
            Err(Error::EntityAlreadyExists(Existing {
                kind: Named::Role, ..
            })) => Err(Error::InvalidInput(format!(
                "Service role name {name} has been taken in this account, please try a different suffix."
            ))),
            other => other,
        }
    }

    /// Deletes a service-linked role (as its service may) and returns the deletion task id.
    pub async fn delete_service_linked_role(&self, name: &str) -> Result<String> {
        let role = self.get_role(name).await?;
        let Some(service) = service_of(&role) else {
            return Err(Error::InvalidInput(format!(
                "Role {name} is not a service-linked role."
            )));
        };
        let task = deletion_task_id(service, &role.name);
        self.store()
            .delete_principal(OwnerKind::Role, &role.name)
            .await?;
        Ok(task)
    }

    /// SUCCEEDED once the task's role is gone (deletion here is immediate); a task id that
    /// names no deleted role is NoSuchEntity.
    pub async fn service_linked_role_deletion_status(&self, task_id: &str) -> Result<&'static str> {
        let missing = || Error::NoSuchEntity(Missing::DeletionTask(task_id.into()));
        let (_, role) = task_role(task_id).ok_or_else(missing)?;
        match self.store().get_principal::<Role>(role).await? {
            None => Ok("SUCCEEDED"),
            Some(_) => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_task_ids_are_awss() {
        assert_eq!(
            role_name("elasticloadbalancing.amazonaws.com", None)
                .ok()
                .as_deref(),
            Some("AWSServiceRoleForElasticLoadBalancing")
        );
        assert_eq!(
            role_name("autoscaling.amazonaws.com", Some("app"))
                .ok()
                .as_deref(),
            Some("AWSServiceRoleForAutoScaling_app")
        );
        assert_eq!(
            role_name("lex.amazonaws.com", None).ok().as_deref(),
            Some("AWSServiceRoleForLex")
        );
        assert!(role_name("ecs.amazonaws.com", Some("x")).is_err());
        assert!(role_name("not-a-service", None).is_err());
        let task = deletion_task_id("ecs.amazonaws.com", "AWSServiceRoleForECS");
        assert_eq!(
            task_role(&task),
            Some(("ecs.amazonaws.com", "AWSServiceRoleForECS"))
        );
        assert_eq!(task_role("task/aws-service-role/x/y/not-a-uuid"), None);
    }
}
