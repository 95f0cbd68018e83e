//! IAM operations: roles, inline and managed policies, instance profiles.

use crate::model::*;
use crate::validate;
use crate::{
    DynClock, DynStore, Error, Missing, OwnerKind, Page, PageRequest, Principals, Result,
    SystemClock,
};
use rolecall_crypto::{IdPrefix, aws_unique_id};
use std::sync::Arc;

/// Which policy-size quota and grammar apply to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Trust,
    Inline,
    Managed,
}

/// Validates a policy document with the policy engine, as AWS does when a policy is written.
pub fn check_policy(document: &str, kind: DocumentKind) -> Result<rolecall_policy::Policy> {
    use rolecall_policy::{Policy, PolicyKind};
    let kind = match kind {
        DocumentKind::Trust => PolicyKind::Trust,
        DocumentKind::Inline => PolicyKind::Identity,
        DocumentKind::Managed => PolicyKind::Managed,
    };
    Policy::parse(document, kind).map_err(|e| {
        if e.is_limit_exceeded() {
            Error::LimitExceeded(crate::Limit::PolicySize(e))
        } else {
            Error::MalformedPolicyDocument(e.message().to_string())
        }
    })
}

/// Whether a role's trust policy lets EC2 assume it (what IMDS needs to hand out credentials).
pub fn trusts_ec2(trust_policy: &str) -> bool {
    use rolecall_policy::{
        Decision, Policy, PolicyKind, PolicyRef, PolicySet, Principal, RequestContext,
    };
    let Ok(policy) = Policy::parse(trust_policy, PolicyKind::Trust) else {
        return false;
    };
    let req = RequestContext::new(
        Principal::service("ec2.amazonaws.com"),
        "sts:AssumeRole",
        "*",
    );
    let set = PolicySet {
        resource: Some(PolicyRef::new("trust", &policy)),
        ..Default::default()
    };
    set.evaluate(&req).decision == Decision::Allow
}

pub struct CreateRole<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub trust_policy: &'a str,
    pub description: Option<&'a str>,
    pub max_session_duration: Option<i64>,
    pub tags: Vec<Tag>,
    pub permissions_boundary: Option<&'a str>,
}

impl<'a> CreateRole<'a> {
    /// A role with this name and trust policy, and nothing else set.
    pub fn new(name: &'a str, trust_policy: &'a str) -> Self {
        CreateRole {
            name,
            path: None,
            trust_policy,
            description: None,
            max_session_duration: None,
            tags: vec![],
            permissions_boundary: None,
        }
    }
}

pub struct CreatePolicy<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub document: &'a str,
    pub description: Option<&'a str>,
    pub tags: Vec<Tag>,
}

/// The IAM service of one account.
#[derive(Clone)]
pub struct Iam {
    store: DynStore,
    account_id: String,
    /// What creation dates and other timestamps are read from.
    clock: DynClock,
}

pub(crate) fn no_such_policy(arn: &str) -> Error {
    Error::NoSuchEntity(Missing::AttachablePolicy(arn.into()))
}

/// The page a `Marker` / `MaxItems` pair asks for; a marker this server did not issue is
/// IAM's `ValidationError` "Invalid Marker.".
pub fn page(marker: Option<&str>, max_items: Option<&str>) -> Result<PageRequest> {
    let from = match marker {
        Some(m) => {
            validate::marker(m)?;
            Some(
                crate::paging::decode_token(m)
                    .ok_or_else(|| Error::Validation("Invalid Marker.".into()))?,
            )
        }
        None => None,
    };
    Ok(PageRequest {
        from,
        limit: validate::max_items(max_items)?,
    })
}

impl Iam {
    pub fn new(store: DynStore, account_id: impl Into<String>) -> Self {
        Iam {
            store,
            account_id: account_id.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, reading time from `clock` (the server's, or a test's).
    pub fn with_clock(self, clock: DynClock) -> Self {
        Iam { clock, ..self }
    }

    /// The current time, as the clock says.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    fn arn(&self, kind: &str, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{}:{kind}{path}{name}", self.account_id)
    }

    /// A new entity's own fields: a fresh id, its ARN (`kind` as the ARN names it), created now.
    pub(crate) fn new_entity(
        &self,
        id_prefix: IdPrefix,
        kind: &str,
        path: &str,
        name: &str,
    ) -> IamEntity {
        IamEntity {
            id: aws_unique_id(id_prefix),
            name: name.to_string(),
            path: path.to_string(),
            arn: self.arn(kind, path, name),
            create_date: self.now(),
        }
    }

    /// Checks that a permissions boundary names an existing managed policy; returns its ARN.
    pub async fn boundary_policy(&self, arn: &str) -> Result<String> {
        let missing = || {
            Error::InvalidInput(format!(
                "Scope ARN: {arn} does not exist or is not attachable."
            ))
        };
        if !arn.starts_with("arn:") {
            return Err(Error::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        self.store.get_policy(arn).await?.ok_or_else(missing)?;
        Ok(arn.to_string())
    }

    /// Applies an edit to a role atomically.
    pub(crate) async fn modify_role(
        &self,
        name: &str,
        edit: impl FnOnce(&mut Role) -> Result<()> + Send + 'static,
    ) -> Result<Role> {
        validate::role_name(name)?;
        Ok(self.store.modify_principal(name, Box::new(edit)).await?)
    }

    // ----- roles -----

    pub async fn create_role(&self, input: CreateRole<'_>) -> Result<Role> {
        validate::role_name(input.name)?;
        let path = validate::path_or_root(input.path)?;
        validate::policy_document("assumeRolePolicyDocument", input.trust_policy)?;
        validate::description(input.description)?;
        let max_session_duration = input
            .max_session_duration
            .map(validate::max_session_duration)
            .transpose()?
            .unwrap_or(3600);
        validate::tags(&input.tags)?;
        check_policy(input.trust_policy, DocumentKind::Trust)?;
        let role = Role {
            entity: self.new_entity(IdPrefix::Role, "role", path, input.name),
            assume_role_policy_document: input.trust_policy.to_string(),
            description: input.description.map(str::to_string),
            max_session_duration,
            tags: input.tags,
            permissions_boundary: match input.permissions_boundary {
                Some(arn) => Some(self.boundary_policy(arn).await?),
                None => None,
            },
        };
        self.store.insert_principal(&role).await?;
        Ok(role)
    }

    /// Returns the role as updated (UpdateRoleDescription answers with it: no second read).
    pub async fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<Role> {
        validate::description(description)?;
        let max = max_session_duration
            .map(validate::max_session_duration)
            .transpose()?;
        let description = description.map(str::to_string);
        self.modify_role(name, move |role| {
            if let Some(d) = description {
                role.description = Some(d);
            }
            if let Some(m) = max {
                role.max_session_duration = m;
            }
            Ok(())
        })
        .await
    }

    pub async fn update_assume_role_policy(&self, name: &str, document: &str) -> Result<()> {
        validate::policy_document("policyDocument", document)?;
        crate::service_linked::refuse_change(&self.get_role(name).await?)?;
        check_policy(document, DocumentKind::Trust)?;
        let document = document.to_string();
        self.modify_role(name, move |role| {
            role.assume_role_policy_document = document;
            Ok(())
        })
        .await
        .map(drop)
    }

    pub async fn delete_role(&self, name: &str) -> Result<()> {
        validate::role_name(name)?;
        if let Some(role) = self.store.get_principal::<Role>(name).await? {
            crate::service_linked::refuse_change(&role)?;
        }
        Ok(self.store.delete_principal(OwnerKind::Role, name).await?)
    }

    // ----- inline role policies (kept by owner, see `iam_principals`) -----

    pub async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<()> {
        self.put_owner_policy(OwnerKind::Role, role, policy, document)
            .await
    }

    /// Returns (role name, policy name, document).
    pub async fn get_role_policy(
        &self,
        role: &str,
        policy: &str,
    ) -> Result<(String, String, String)> {
        self.get_owner_policy(OwnerKind::Role, role, policy).await
    }

    pub async fn list_role_policies(&self, role: &str, page: &PageRequest) -> Result<Page<String>> {
        self.list_owner_policies(OwnerKind::Role, role, page).await
    }

    pub async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<()> {
        self.delete_owner_policy(OwnerKind::Role, role, policy)
            .await
    }

    // ----- managed policies -----

    pub async fn create_policy(&self, input: CreatePolicy<'_>) -> Result<ManagedPolicy> {
        validate::policy_name(input.name)?;
        let path = validate::path_or_root(input.path)?;
        validate::policy_document("policyDocument", input.document)?;
        validate::description(input.description)?;
        validate::tags(&input.tags)?;
        check_policy(input.document, DocumentKind::Managed)?;
        let entity = self.new_entity(IdPrefix::ManagedPolicy, "policy", path, input.name);
        let now = entity.create_date;
        let policy = ManagedPolicy {
            entity,
            default_version_id: "v1".into(),
            attachment_count: 0,
            description: input.description.map(str::to_string),
            update_date: now,
            tags: input.tags,
        };
        let v1 = PolicyVersion {
            version_id: "v1".into(),
            document: input.document.to_string(),
            is_default: true,
            create_date: now,
        };
        self.store.insert_policy(&policy, &v1).await?;
        Ok(policy)
    }

    pub(crate) fn check_policy_arn(arn: &str) -> Result<()> {
        if arn.len() < 20 || arn.len() > 2048 || !arn.starts_with("arn:") {
            return Err(Error::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        Ok(())
    }

    pub async fn get_policy(&self, arn: &str) -> Result<ManagedPolicy> {
        Self::check_policy_arn(arn)?;
        self.store
            .get_policy(arn)
            .await?
            .ok_or_else(|| Error::NoSuchEntity(Missing::Policy(arn.into())))
    }

    pub async fn list_policies(
        &self,
        scope: Option<&str>,
        only_attached: bool,
        path_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ManagedPolicy>> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        // There are no AWS managed policies here, so the AWS scope is always empty.
        if scope == Some("AWS") {
            return Ok(Page {
                items: vec![],
                next: None,
            });
        }
        if let Some(s) = scope
            && !matches!(s, "All" | "Local")
        {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{s}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
            )));
        }
        let items = self
            .store
            .list_policies(prefix, only_attached, page)
            .await?;
        Ok(Page::by_name(items, page))
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<()> {
        Self::check_policy_arn(arn)?;
        Ok(self.store.delete_policy(arn).await?)
    }

    pub async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<PolicyVersion> {
        Self::check_policy_arn(arn)?;
        validate::policy_document("policyDocument", document)?;
        self.get_policy(arn).await?;
        check_policy(document, DocumentKind::Managed)?;
        Ok(self
            .store
            .insert_policy_version(
                arn,
                NewPolicyVersion {
                    document,
                    set_default,
                    create_date: self.now(),
                },
            )
            .await?)
    }

    fn check_version_id(v: &str) -> Result<()> {
        let ok = v.len() >= 2 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
            || v.contains('.') && v.starts_with('v');
        if !ok {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{v}' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"
            )));
        }
        Ok(())
    }

    /// Checks the form of a policy ARN and a version id, then that the policy exists (an unknown
    /// policy is reported before an unknown version).
    async fn check_version_of_policy(&self, arn: &str, version_id: &str) -> Result<()> {
        Self::check_policy_arn(arn)?;
        Self::check_version_id(version_id)?;
        self.get_policy(arn).await.map(drop)
    }

    pub async fn get_policy_version(&self, arn: &str, version_id: &str) -> Result<PolicyVersion> {
        self.check_version_of_policy(arn, version_id).await?;
        self.store
            .get_policy_version(arn, version_id)
            .await?
            .ok_or_else(|| {
                Error::NoSuchEntity(Missing::PolicyVersion {
                    arn: arn.into(),
                    version_id: version_id.into(),
                })
            })
    }

    pub async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        self.get_policy(arn).await?;
        Ok(self.store.list_policy_versions(arn).await?)
    }

    pub async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.check_version_of_policy(arn, version_id).await?;
        Ok(self.store.delete_policy_version(arn, version_id).await?)
    }

    pub async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.check_version_of_policy(arn, version_id).await?;
        Ok(self
            .store
            .set_default_policy_version(arn, version_id, self.now())
            .await?)
    }

    pub async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<()> {
        self.attach_owner_policy(OwnerKind::Role, role, arn).await
    }

    pub async fn detach_role_policy(&self, role: &str, arn: &str) -> Result<()> {
        self.detach_owner_policy(OwnerKind::Role, role, arn).await
    }

    pub async fn list_attached_role_policies(
        &self,
        role: &str,
        path_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<AttachedPolicy>> {
        self.list_attached_owner_policies(OwnerKind::Role, role, path_prefix, page)
            .await
    }

    // ----- instance profiles -----

    pub async fn create_instance_profile(
        &self,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<InstanceProfile> {
        validate::instance_profile_name(name)?;
        let path = validate::path_or_root(path)?;
        validate::tags(&tags)?;
        let profile = InstanceProfile {
            entity: self.new_entity(IdPrefix::InstanceProfile, "instance-profile", path, name),
            tags,
            roles: vec![],
        };
        self.store.insert_instance_profile(&profile).await?;
        Ok(profile)
    }

    /// Resolves a profile named by EC2's `IamInstanceProfile` structure (Arn or Name, not both).
    pub async fn resolve_instance_profile(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<InstanceProfile> {
        let invalid = |m: String| Error::InvalidParameterValue(m);
        match (name, arn) {
            (Some(_), Some(_)) => Err(Error::InvalidParameterCombination("The parameter 'iamInstanceProfile.name' may not be used in combination with 'iamInstanceProfile.arn'".into())),
            (None, None) => Err(invalid("Value () for parameter iamInstanceProfile is invalid. Either name or arn must be specified".into())),
            (Some(n), None) => {
                let found = if validate::instance_profile_name(n).is_ok() { self.store.get_instance_profile(n).await? } else { None };
                found.ok_or_else(|| invalid(format!("Value ({n}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")))
            }
            (None, Some(a)) => {
                let prefix = format!("arn:aws:iam::{}:instance-profile/", self.account_id);
                let name = a.strip_prefix(&prefix).and_then(|rest| rest.rsplit('/').next());
                let found = match name {
                    Some(n) if validate::instance_profile_name(n).is_ok() => self.store.get_instance_profile(n).await?.filter(|p| p.arn == a),
                    _ => None,
                };
                found.ok_or_else(|| invalid(format!("Value ({a}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN")))
            }
        }
    }

    pub async fn delete_instance_profile(&self, name: &str) -> Result<()> {
        validate::instance_profile_name(name)?;
        Ok(self.store.delete_instance_profile(name).await?)
    }

    pub async fn add_role_to_instance_profile(
        &self,
        profile_name: &str,
        role_name: &str,
    ) -> Result<()> {
        let profile = self.get_instance_profile(profile_name).await?;
        let role = self.get_role(role_name).await;
        self.add_resolved_role_to_instance_profile(Ok(profile), role)
            .await
    }

    /// Adds `role` to `profile`, both resolved by the caller (who authorized on exactly these
    /// entities): the store acts on their ids, so a role re-created under the same name meanwhile
    /// is not the one added.
    pub async fn add_resolved_role_to_instance_profile(
        &self,
        profile: Result<InstanceProfile>,
        role: Result<Role>,
    ) -> Result<()> {
        let profile = profile?;
        let role = role?;
        Ok(self
            .store
            .add_role_to_instance_profile(&profile.id, &role.id)
            .await?)
    }

    pub async fn remove_role_from_instance_profile(
        &self,
        profile_name: &str,
        role_name: &str,
    ) -> Result<()> {
        let profile = self.get_instance_profile(profile_name).await?;
        let role = self.get_role(role_name).await?;
        Ok(self
            .store
            .remove_role_from_instance_profile(&profile.id, &role.id)
            .await?)
    }
}
