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
        let owners = [(Owner::Role(&role.id), role.name.as_str())];
        let boundary = role.permissions_boundary.as_deref();
        self.identity_policies(&owners, boundary).await
    }

    /// The inline and attached policies of `owners` (each with its name), and the boundary's.
    async fn identity_policies(
        &self,
        owners: &[(Owner<'_>, &str)],
        boundary: Option<&str>,
    ) -> Result<IdentityPolicies> {
        let mut out = IdentityPolicies::default();
        for (owner, name) in owners {
            self.owner_docs(*owner, name, &mut out).await?;
        }
        if let Some(arn) = boundary {
            out.boundary = self.managed_doc(arn, &mut out.depends_on).await?;
        }
        Ok(out)
    }

    /// The inline and attached policies of `owner` (named `name`), labelled `<kind>/<name>/...`.
    async fn owner_docs(
        &self,
        owner: Owner<'_>,
        name: &str,
        out: &mut IdentityPolicies,
    ) -> Result<()> {
        let label = format!("{}/{name}", owner.kind().name());
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
        let owners = [(Owner::Group(&group.id), group.name.as_str())];
        self.identity_policies(&owners, None).await
    }

    /// A user's inline and attached policies, those of its groups, and its boundary.
    pub async fn user_identity_policies(&self, user: &User) -> Result<IdentityPolicies> {
        let groups = self.store().list_groups_for_user(&user.id, &ALL).await?;
        let mut owners = vec![(Owner::User(&user.id), user.name.as_str())];
        owners.extend(
            groups
                .iter()
                .map(|g| (Owner::Group(&g.id), g.name.as_str())),
        );
        let boundary = user.permissions_boundary.as_deref();
        self.identity_policies(&owners, boundary).await
    }
}
