//! The IAM entities requests act on (ARNs and tags; a role whole, with its trust policy
//! compiled), cached in `cache::PolicyCache` until a change touches them, so authorizing an IAM
//! request, GetRole and AssumeRole need no database read.

use crate::cache::{ANY, Dep};
pub use crate::cache::{CachedRole, Entity, Kind};
use crate::context::Api;
use rolecall_core::EntityKind;
use rolecall_core::Principals;
use rolecall_core::model::{Group, Role, Tag, User};
use rolecall_policy::{Policy, PolicyKind};
use std::sync::Arc;

/// The entity named `name` (any case), or None if it does not exist (or the store failed).
pub async fn entity(api: &Api, kind: Kind, name: &str) -> Option<Arc<Entity>> {
    lookup(api, kind, name).await.ok().flatten()
}

/// The role named `name` (any case) with its trust policy compiled, or None if it does not exist.
pub async fn role(api: &Api, name: &str) -> rolecall_core::Result<Option<Arc<Entity>>> {
    lookup(api, Kind::Role, name).await
}

fn role_entity(role: Role) -> Entity {
    // A stored trust policy that no longer parses trusts no one (AssumeRole refuses).
    let trust = Policy::parse(&role.assume_role_policy_document, PolicyKind::Trust).ok();
    Entity::Role(CachedRole { role, trust })
}

/// An entity other than a role: its ARN and tags.
fn plain(arn: String, tags: Vec<Tag>) -> Entity {
    Entity::Other { arn, tags }
}

async fn lookup(api: &Api, kind: Kind, name: &str) -> rolecall_core::Result<Option<Arc<Entity>>> {
    let key = name.to_ascii_lowercase();
    if let Some(hit) = api.policy_cache.entity(kind, &key) {
        return Ok(hit);
    }
    let epoch = api.policy_cache.epoch();
    let store = api.iam.store();
    let (feed_kind, found): (EntityKind, Option<(String, Entity)>) = match kind {
        Kind::Role => (
            EntityKind::Role,
            store
                .get_principal::<Role>(name)
                .await?
                .map(|r| (r.id.clone(), role_entity(r))),
        ),
        Kind::User => (
            EntityKind::User,
            store
                .get_principal::<User>(name)
                .await?
                .map(|u| (u.entity.id, plain(u.entity.arn, u.tags))),
        ),
        Kind::Group => (
            EntityKind::Group,
            store
                .get_principal::<Group>(name)
                .await?
                .map(|g| (g.entity.id, plain(g.entity.arn, vec![]))),
        ),
        // Instance profiles are named in the change feed by their ARN.
        Kind::InstanceProfile => (
            EntityKind::InstanceProfile,
            store
                .get_instance_profile(name)
                .await?
                .map(|p| (p.arn.clone(), plain(p.entity.arn, p.tags))),
        ),
    };
    // Dropped by a change to the entity; a missing one by any change of its kind (a creation).
    let (dep, found): (Dep, _) = match found {
        Some((id, entity)) => ((feed_kind, id), Some(Arc::new(entity))),
        None => ((feed_kind, ANY.to_string()), None),
    };
    api.policy_cache
        .put_entity(kind, key, found.clone(), &[dep], epoch);
    Ok(found)
}
