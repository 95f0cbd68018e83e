//! ARNs and tags of the IAM entities requests act on, cached until the next change, so
//! authorizing an IAM request needs no database read.

use crate::server::Api;
use rolecall_core::model::Tag;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Role,
    User,
    Group,
    InstanceProfile,
}

pub struct Entity {
    pub arn: String,
    pub tags: Vec<Tag>,
}

/// Lookups by (kind, lower-cased name); `None` remembers that an entity does not exist.
type Lookups = HashMap<(Kind, String), Option<Arc<Entity>>>;

#[derive(Default)]
pub struct EntityCache {
    map: Mutex<Lookups>,
}

impl EntityCache {
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }

    /// The entity named `name` (any case), or None if it does not exist.
    pub async fn get(&self, api: &Api, kind: Kind, name: &str) -> Option<Arc<Entity>> {
        let key = (kind, name.to_ascii_lowercase());
        if let Some(hit) = self.map.lock().ok().and_then(|m| m.get(&key).cloned()) {
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
            Kind::InstanceProfile => {
                store
                    .get_instance_profile(name)
                    .await
                    .ok()
                    .flatten()
                    .map(|p| Entity {
                        arn: p.arn,
                        tags: p.tags,
                    })
            }
        }
        .map(Arc::new);
        // Not cached if a change came in while we read (see PolicyCache::epoch).
        if let Ok(mut m) = self.map.lock()
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
}
