//! The policies that apply to a principal, compiled for evaluation.

use crate::Owner;
use crate::iam::Iam;
use crate::model::{Group, Role, User};
use crate::{EntityKind, PageRequest, Result};
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
    /// The change-feed entities they were read from (policy owners as the feed names them,
    /// managed policies by id, or [`ANY`] for one that was missing), so a cache of them can be
    /// dropped by exactly the changes that touch them.
    pub depends_on: Vec<(EntityKind, String)>,
}

/// The id of a dependency on every entity of its kind (something looked up and not found).
pub const ANY: &str = "*";

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

/// How the change feed names a change to an owner's policies (see `rolecall_store_sql`).
fn owner_entity(owner: Owner<'_>) -> EntityKind {
    match owner {
        Owner::Role(_) => EntityKind::RolePolicy,
        Owner::User(_) => EntityKind::User,
        Owner::Group(_) => EntityKind::Group,
    }
}

impl Iam {
    /// The managed policy's default version, compiled.
    async fn managed_doc(
        &self,
        arn: &str,
        depends_on: &mut Vec<(EntityKind, String)>,
    ) -> Result<Option<PolicyDoc>> {
        let Some(policy) = self.store().get_policy(arn).await? else {
            depends_on.push((EntityKind::Policy, ANY.to_string()));
            return Ok(None);
        };
        depends_on.push((EntityKind::Policy, policy.id.clone()));
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
        out.depends_on.push((EntityKind::Role, role.id.clone()));
        out.boundary = self
            .boundary_doc(role.permissions_boundary.as_deref(), &mut out.depends_on)
            .await?;
        Ok(out)
    }

    async fn boundary_doc(
        &self,
        arn: Option<&str>,
        depends_on: &mut Vec<(EntityKind, String)>,
    ) -> Result<Option<PolicyDoc>> {
        match arn {
            Some(arn) => self.managed_doc(arn, depends_on).await,
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
        out.depends_on
            .push((owner_entity(owner), owner.id().to_string()));
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
            let doc = self.managed_doc(&attached.arn, &mut out.depends_on).await?;
            out.identity.extend(doc);
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
        out.depends_on.push((EntityKind::User, user.id.clone()));
        out.boundary = self
            .boundary_doc(user.permissions_boundary.as_deref(), &mut out.depends_on)
            .await?;
        Ok(out)
    }
}
