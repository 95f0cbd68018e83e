//! What a node keeps in memory between requests: compiled policies, opened access keys, entity
//! ARNs and tags. Every change clears it (see `changes`). The loaders live with their users
//! (`authz`, `auth`); this module only holds the data.

use crate::keys::Credentials;
use rolecall_core::authz::IdentityPolicies;
use rolecall_core::model::Tag;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Compiled policies per principal (`role:NAME` / `user:NAME`), dropped whenever IAM or EC2
/// state changes.
#[derive(Default)]
pub struct PolicyCache {
    entries: Mutex<HashMap<String, Arc<CachedPrincipal>>>,
    /// Users' active access keys with their secrets opened, so SigV4 needs no database read.
    keys: Mutex<HashMap<String, Credentials>>,
    /// ARNs and tags of entities requests name.
    pub(crate) entities: EntityCache,
    /// When each key's use was last recorded (kept across clears; rate-limits those writes).
    key_use: Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// Bumped by every `clear`. A loader notes it before reading the store and caches what it
    /// read only if it has not moved, so a read that raced a change is never cached.
    epoch: std::sync::atomic::AtomicU64,
}

pub(crate) struct CachedPrincipal {
    /// The user's or role's unique id (AIDA…/AROA…).
    pub(crate) id: String,
    /// `aws:PrincipalArn`: the user's ARN, or the role's (not the session's).
    pub(crate) arn: String,
    pub(crate) tags: Vec<Tag>,
    pub(crate) policies: IdentityPolicies,
}

impl PolicyCache {
    pub fn clear(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut m) = self.entries.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.keys.lock() {
            m.clear();
        }
        self.entities.clear();
    }

    /// The current epoch (see the field).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn key(&self, access_key_id: &str) -> Option<Credentials> {
        self.keys.lock().ok()?.get(access_key_id).cloned()
    }

    /// Whether a key's use should be recorded now (at most every five minutes per key), and if so
    /// marks it recorded.
    pub(crate) fn should_record_use(
        &self,
        access_key_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let Ok(mut m) = self.key_use.lock() else {
            return false;
        };
        match m.get(access_key_id) {
            Some(t) if now - *t < chrono::Duration::minutes(5) => false,
            _ => {
                m.insert(access_key_id.to_string(), now);
                true
            }
        }
    }

    /// Caches opened credentials read at `epoch`, unless a change came in since.
    pub(crate) fn put_key(&self, creds: Credentials, epoch: u64) {
        if let Ok(mut m) = self.keys.lock()
            && self.epoch() == epoch
        {
            m.insert(creds.access_key_id.clone(), creds);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<CachedPrincipal>> {
        self.entries.lock().ok().and_then(|m| m.get(key).cloned())
    }

    pub(crate) fn put(
        &self,
        key: String,
        value: CachedPrincipal,
        epoch: u64,
    ) -> Arc<CachedPrincipal> {
        let value = Arc::new(value);
        if let Ok(mut m) = self.entries.lock()
            && self.epoch() == epoch
        {
            m.insert(key, value.clone());
        }
        value
    }
}

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
pub(crate) type Lookups = HashMap<(Kind, String), Option<Arc<Entity>>>;

#[derive(Default)]
pub struct EntityCache {
    pub(crate) map: Mutex<Lookups>,
}

impl EntityCache {
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}
