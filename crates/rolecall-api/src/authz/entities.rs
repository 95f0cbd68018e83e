//! ARNs and tags of the IAM entities requests act on, cached (in `cache::EntityCache`) until the
//! next change, so authorizing an IAM request needs no database read.

pub use crate::cache::{Entity, Kind};
use crate::context::Api;
use std::sync::Arc;

/// The entity named `name` (any case), or None if it does not exist.
pub async fn entity(api: &Api, kind: Kind, name: &str) -> Option<Arc<Entity>> {
    let key = (kind, name.to_ascii_lowercase());
    if let Some(hit) = api
        .policy_cache
        .entities
        .map
        .lock()
        .ok()
        .and_then(|m| m.get(&key).cloned())
    {
        return hit;
    }
    let epoch = api.policy_cache.epoch();
    let store = api.iam.store();
    let found = match kind {
        Kind::Role => store.get_role(name).await.ok().flatten().map(|r| Entity {
            arn: r.arn,
            tags: r.tags,
        }),
        Kind::User => store.get_user(name).await.ok().flatten().map(|u| Entity {
            arn: u.arn,
            tags: u.tags,
        }),
        Kind::Group => store.get_group(name).await.ok().flatten().map(|g| Entity {
            arn: g.arn,
            tags: vec![],
        }),
        Kind::InstanceProfile => store
            .get_instance_profile(name)
            .await
            .ok()
            .flatten()
            .map(|p| Entity {
                arn: p.arn,
                tags: p.tags,
            }),
    }
    .map(Arc::new);
    // Not cached if a change came in while we read (see PolicyCache::epoch).
    if let Ok(mut m) = api.policy_cache.entities.map.lock()
        && api.policy_cache.epoch() == epoch
    {
        // Bounded: a flood of lookups of names that do not exist must not grow it forever.
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(key, found.clone());
    }
    found
}
