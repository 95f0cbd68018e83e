//! The policies that apply to a principal, compiled for evaluation.

use crate::Owner;
use crate::iam::Iam;
use crate::model::{Group, Role, User};
use crate::{PageRequest, Result};
use rolecall_policy::{Policy, PolicyKind};

/// One compiled policy and how to name it (inline `role/NAME/policy/P` or a managed policy ARN).
pub struct PolicyDoc {
    pub id: String,
    pub policy: Policy,
    /// The document as stored (the policy simulator locates statements in it).
    pub document: String,
}

/// A principal's identity-based policies and permissions boundary.
#[derive(Default)]
pub struct IdentityPolicies {
    pub identity: Vec<PolicyDoc>,
    pub boundary: Option<PolicyDoc>,
}

const ALL: PageRequest = PageRequest {
    from: None,
    limit: usize::MAX - 1,
};

fn compile(id: String, document: &str, kind: PolicyKind) -> Option<PolicyDoc> {
    match Policy::parse(document, kind) {
        Ok(policy) => Some(PolicyDoc {
            id,
            policy,
            document: document.to_string(),
        }),
        Err(e) => {
            // Stored documents were validated when written; one that no longer parses grants nothing.
            tracing::warn!(policy = %id, error = %e, "stored policy no longer parses and is ignored");
            None
        }
    }
}

impl Iam {
    /// The managed policy's default version, compiled.
    async fn managed_doc(&self, arn: &str) -> Result<Option<PolicyDoc>> {
        let Some(policy) = self.store().get_policy(arn).await? else {
            return Ok(None);
        };
        let Some(version) = self
            .store()
            .get_policy_version(arn, &policy.default_version_id)
            .await?
        else {
            return Ok(None);
        };
        Ok(compile(
            arn.to_string(),
            &version.document,
            PolicyKind::Managed,
        ))
    }

    /// A role's inline and attached policies.
    pub async fn role_identity_policies(&self, role: &Role) -> Result<IdentityPolicies> {
        let mut out = IdentityPolicies::default();
        self.owner_docs(
            Owner::Role(&role.id),
            &format!("role/{}", role.name),
            &mut out,
        )
        .await?;
        out.boundary = self
            .boundary_doc(role.permissions_boundary.as_deref())
            .await?;
        Ok(out)
    }

    async fn boundary_doc(&self, arn: Option<&str>) -> Result<Option<PolicyDoc>> {
        match arn {
            Some(arn) => self.managed_doc(arn).await,
            None => Ok(None),
        }
    }

    async fn owner_docs(
        &self,
        owner: Owner<'_>,
        label: &str,
        out: &mut IdentityPolicies,
    ) -> Result<()> {
        let store = self.store();
        for name in store.list_owner_policies(owner, &ALL).await? {
            if let Some((name, doc)) = store.get_owner_policy(owner, &name).await? {
                out.identity.extend(compile(
                    format!("{label}/policy/{name}"),
                    &doc,
                    PolicyKind::Identity,
                ));
            }
        }
        for attached in store.list_attached_owner_policies(owner, "/", &ALL).await? {
            out.identity.extend(self.managed_doc(&attached.arn).await?);
        }
        Ok(())
    }

    /// A group's inline and attached policies (groups have no boundary).
    pub async fn group_identity_policies(&self, group: &Group) -> Result<IdentityPolicies> {
        let mut out = IdentityPolicies::default();
        self.owner_docs(
            Owner::Group(&group.id),
            &format!("group/{}", group.name),
            &mut out,
        )
        .await?;
        Ok(out)
    }

    /// A user's inline and attached policies, those of its groups, and its boundary.
    pub async fn user_identity_policies(&self, user: &User) -> Result<IdentityPolicies> {
        let mut out = IdentityPolicies::default();
        self.owner_docs(
            Owner::User(&user.id),
            &format!("user/{}", user.name),
            &mut out,
        )
        .await?;
        for group in self.store().list_groups_for_user(&user.id, &ALL).await? {
            self.owner_docs(
                Owner::Group(&group.id),
                &format!("group/{}", group.name),
                &mut out,
            )
            .await?;
        }
        out.boundary = self
            .boundary_doc(user.permissions_boundary.as_deref())
            .await?;
        Ok(out)
    }
}
