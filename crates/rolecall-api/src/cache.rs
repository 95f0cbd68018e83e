//! What a node keeps in memory between requests: compiled policies, opened access keys, the IAM
//! entities requests name. Every entry remembers the change-feed entities it was read from
//! (its [`Dep`]s); a change drops only the entries that depend on what it touched (`changes`
//! applies the feed here). The loaders live with their users (`authz`, `auth`); this module only
//! holds the data and the rule that keeps it current.
//!
//! A read racing a write is never kept: a loader notes the [`epoch`](PolicyCache::epoch) before
//! it reads the store, and [`put`](PolicyCache::put_principal) refuses the entry if, since then,
//! anything it depends on was touched (or everything was cleared). Every dependency a read could
//! have missed is covered by one it cannot miss: the store records the user or role itself (or
//! its policies' owner) for every change of what applies to it.

use crate::keys::Credentials;
use rolecall_core::EntityKind;
use rolecall_core::authz::IdentityPolicies;
use rolecall_core::model::{Role, Tag};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// A feed entity an entry was read from: (kind, id as the feed records it, or [`ANY`]).
pub(crate) type Dep = (EntityKind, String);

/// The id of a [`Dep`] on every entity of its kind: for an entry that found something missing,
/// which any later change of that kind may create.
pub(crate) use rolecall_core::authz::ANY;

/// Entries past which the cache starts over (a flood of lookups of names that do not exist must
/// not grow it forever).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct PolicyCache {
    state: Mutex<State>,
    /// When each key's use was last recorded (kept across clears; rate-limits those writes).
    key_use: Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// The change-feed sequence applied so far (None: not yet, the first refresh clears all).
    /// Held while applying, so changes are applied once and in order.
    pub(crate) seq: tokio::sync::Mutex<Option<i64>>,
}

/// How many entries were dropped, by what (for tests and metrics; never reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Principals whose compiled policies were loaded from the store.
    pub principal_loads: u64,
    /// Principals' entries dropped by a change that touched them.
    pub principal_drops: u64,
    /// Loads not kept because a change raced them.
    pub refused_puts: u64,
    /// Full clears (start, pruned feed, overflow).
    pub full_clears: u64,
}

pub(crate) struct CachedPrincipal {
    /// The user's or role's unique id (AIDA…/AROA…).
    pub(crate) id: String,
    /// `aws:PrincipalArn`: the user's ARN, or the role's (not the session's).
    pub(crate) arn: String,
    pub(crate) tags: Vec<Tag>,
    pub(crate) policies: IdentityPolicies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Role,
    User,
    Group,
    InstanceProfile,
}

/// An entity as requests are authorized on it: a role whole, with its trust policy compiled (so
/// GetRole and AssumeRole need no database read and no parse per request), or the ARN and tags
/// of another kind.
// Each lives in an `Arc` in the cache, so the smaller variant's unused room costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Entity {
    Role(CachedRole),
    Other { arn: String, tags: Vec<Tag> },
}

impl Entity {
    pub fn arn(&self) -> &str {
        match self {
            Entity::Role(r) => &r.role.arn,
            Entity::Other { arn, .. } => arn,
        }
    }

    pub fn tags(&self) -> &[Tag] {
        match self {
            Entity::Role(r) => &r.role.tags,
            Entity::Other { tags, .. } => tags,
        }
    }

    /// The role, when the entity is one.
    pub fn role(&self) -> Option<&CachedRole> {
        match self {
            Entity::Role(r) => Some(r),
            Entity::Other { .. } => None,
        }
    }
}

pub struct CachedRole {
    pub role: Role,
    /// None if the stored trust policy no longer parses (then it trusts no one).
    pub trust: Option<rolecall_policy::Policy>,
}

/// One cached entry, as the dependency index names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Principal(String),
    Key(String),
    Entity(Kind, String),
}

#[derive(Default)]
struct State {
    principals: HashMap<String, Arc<CachedPrincipal>>,
    keys: HashMap<String, Credentials>,
    /// By (kind, lower-cased name); `None` remembers that an entity does not exist.
    entities: HashMap<(Kind, String), Option<Arc<Entity>>>,
    /// Which entries each dependency holds.
    by_dep: HashMap<Dep, HashSet<Slot>>,
    /// Bumped by every invalidation.
    epoch: u64,
    /// The epoch at which each dependency (and each kind, for [`ANY`]) was last touched.
    touched: HashMap<Dep, u64>,
    touched_kind: HashMap<EntityKind, u64>,
    /// The epoch of the last full clear.
    cleared_at: u64,
    counters: CacheCounters,
}

impl State {
    /// Whether an entry read at `epoch` from `deps` may be kept: nothing it depends on changed
    /// since.
    fn fresh(&self, deps: &[Dep], epoch: u64) -> bool {
        if self.cleared_at > epoch {
            return false;
        }
        deps.iter().all(|(kind, id)| {
            let touched = if id == ANY {
                self.touched_kind.get(kind)
            } else {
                self.touched.get(&(*kind, id.clone()))
            };
            touched.is_none_or(|&t| t <= epoch)
        })
    }

    fn size(&self) -> usize {
        self.principals.len() + self.keys.len() + self.entities.len()
    }

    /// Indexes `slot` under `deps` if it may be kept; false if not (the caller then drops it).
    fn admit(&mut self, slot: Slot, deps: &[Dep], epoch: u64) -> bool {
        if !self.fresh(deps, epoch) {
            self.counters.refused_puts += 1;
            return false;
        }
        if self.size() >= MAX_ENTRIES {
            self.clear();
        }
        for dep in deps {
            self.by_dep
                .entry(dep.clone())
                .or_default()
                .insert(slot.clone());
        }
        true
    }

    fn clear(&mut self) {
        self.epoch += 1;
        self.cleared_at = self.epoch;
        self.principals.clear();
        self.keys.clear();
        self.entities.clear();
        self.by_dep.clear();
        self.touched.clear();
        self.touched_kind.clear();
        self.counters.full_clears += 1;
    }

    fn drop_slot(&mut self, slot: &Slot) {
        match slot {
            Slot::Principal(k) => {
                if self.principals.remove(k).is_some() {
                    self.counters.principal_drops += 1;
                }
            }
            Slot::Key(k) => {
                self.keys.remove(k);
            }
            Slot::Entity(kind, name) => {
                self.entities.remove(&(*kind, name.clone()));
            }
        }
    }

    /// Drops every entry that depends on one of `touched` (or on any entity of its kind).
    fn invalidate(&mut self, touched: &[Dep]) {
        self.epoch += 1;
        if self.touched.len() + touched.len() > MAX_ENTRIES {
            self.clear();
            return;
        }
        for (kind, id) in touched {
            self.touched.insert((*kind, id.clone()), self.epoch);
            self.touched_kind.insert(*kind, self.epoch);
            for dep in [(*kind, id.clone()), (*kind, ANY.to_string())] {
                if let Some(slots) = self.by_dep.remove(&dep) {
                    for slot in &slots {
                        self.drop_slot(slot);
                    }
                }
            }
        }
    }
}

impl PolicyCache {
    fn state(&self) -> Option<MutexGuard<'_, State>> {
        self.state.lock().ok()
    }

    /// Drops everything (and refuses every load that started before).
    pub fn clear(&self) {
        if let Some(mut s) = self.state() {
            s.clear();
        }
    }

    /// Drops the entries that depend on what the changes touched; the rest stay.
    pub fn invalidate(&self, changes: &[rolecall_core::Change]) {
        let touched: Vec<Dep> = changes.iter().map(|c| (c.kind, c.id.clone())).collect();
        if let Some(mut s) = self.state() {
            s.invalidate(&touched);
        }
    }

    /// The current epoch: note it before reading the store, pass it to the `put_*` after.
    pub(crate) fn epoch(&self) -> u64 {
        self.state().map_or(0, |s| s.epoch)
    }

    pub fn counters(&self) -> CacheCounters {
        self.state().map(|s| s.counters).unwrap_or_default()
    }

    pub(crate) fn key(&self, access_key_id: &str) -> Option<Credentials> {
        self.state()?.keys.get(access_key_id).cloned()
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

    /// Caches opened credentials read at `epoch` from `deps`, unless one of them changed since.
    pub(crate) fn put_key(&self, creds: Credentials, deps: &[Dep], epoch: u64) {
        let Some(mut s) = self.state() else { return };
        let id = creds.access_key_id.clone();
        if s.admit(Slot::Key(id.clone()), deps, epoch) {
            s.keys.insert(id, creds);
        }
    }

    pub(crate) fn principal(&self, key: &str) -> Option<Arc<CachedPrincipal>> {
        self.state()?.principals.get(key).cloned()
    }

    /// Caches a principal's compiled policies read at `epoch` from `deps` (unless one of them
    /// changed since); returns them either way.
    pub(crate) fn put_principal(
        &self,
        key: String,
        value: CachedPrincipal,
        deps: &[Dep],
        epoch: u64,
    ) -> Arc<CachedPrincipal> {
        let value = Arc::new(value);
        if let Some(mut s) = self.state() {
            s.counters.principal_loads += 1;
            if s.admit(Slot::Principal(key.clone()), deps, epoch) {
                s.principals.insert(key, value.clone());
            }
        }
        value
    }

    /// The cached lookup of (kind, lower-cased name): `Some(None)` if known not to exist.
    pub(crate) fn entity(&self, kind: Kind, key: &str) -> Option<Option<Arc<Entity>>> {
        self.state()?
            .entities
            .get(&(kind, key.to_string()))
            .cloned()
    }

    pub(crate) fn put_entity(
        &self,
        kind: Kind,
        key: String,
        found: Option<Arc<Entity>>,
        deps: &[Dep],
        epoch: u64,
    ) {
        let Some(mut s) = self.state() else { return };
        if s.admit(Slot::Entity(kind, key.clone()), deps, epoch) {
            s.entities.insert((kind, key), found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_core::Change;

    fn principal(id: &str) -> CachedPrincipal {
        CachedPrincipal {
            id: id.into(),
            arn: format!("arn:aws:iam::123456789012:user/{id}"),
            tags: vec![],
            policies: IdentityPolicies::default(),
        }
    }

    fn change(kind: EntityKind, id: &str) -> Change {
        Change {
            seq: 1,
            kind,
            id: id.into(),
        }
    }

    /// An empty cache, and the epoch a load starting now reads at.
    fn empty_cache() -> (PolicyCache, u64) {
        let cache = PolicyCache::default();
        let epoch = cache.epoch();
        (cache, epoch)
    }

    /// Caches user `id` (key `user:<id in lower case>`), a member of group G, as loaded at `epoch`.
    fn put_user(cache: &PolicyCache, id: &str, epoch: u64) {
        let deps = [
            (EntityKind::User, id.into()),
            (EntityKind::Group, "G".into()),
        ];
        let key = format!("user:{}", id.to_ascii_lowercase());
        cache.put_principal(key, principal(id), &deps, epoch);
    }

    #[test]
    fn a_change_drops_only_what_depends_on_it() {
        let (cache, e) = empty_cache();
        put_user(&cache, "A", e);
        put_user(&cache, "B", e);
        cache.invalidate(&[change(EntityKind::User, "A")]);
        assert!(cache.principal("user:a").is_none());
        assert!(cache.principal("user:b").is_some());
        // Their shared group touches both.
        cache.invalidate(&[change(EntityKind::Group, "G")]);
        assert!(cache.principal("user:b").is_none());
        assert_eq!(cache.counters().principal_drops, 2);
    }

    #[test]
    fn a_load_raced_by_a_change_to_what_it_read_is_not_kept() {
        let (cache, before) = empty_cache();
        cache.invalidate(&[change(EntityKind::User, "A")]);
        put_user(&cache, "A", before);
        assert!(cache.principal("user:a").is_none());
        // A change to something else does not stop it.
        put_user(&cache, "B", before);
        assert!(cache.principal("user:b").is_some());
        assert_eq!(cache.counters().refused_puts, 1);
    }

    #[test]
    fn any_dependency_is_dropped_by_every_change_of_its_kind() {
        let (cache, e) = empty_cache();
        let missing = [(EntityKind::Role, ANY.to_string())];
        cache.put_entity(Kind::Role, "r".into(), None, &missing, e);
        assert!(cache.entity(Kind::Role, "r").is_some());
        cache.invalidate(&[change(EntityKind::User, "A")]);
        assert!(cache.entity(Kind::Role, "r").is_some());
        cache.invalidate(&[change(EntityKind::Role, "AROANEW")]);
        assert!(cache.entity(Kind::Role, "r").is_none());
        // A lookup that started before a change of its kind is not kept either.
        cache.put_entity(Kind::Role, "r".into(), None, &missing, e);
        assert!(cache.entity(Kind::Role, "r").is_none());
    }

    #[test]
    fn a_clear_refuses_every_earlier_load() {
        let (cache, before) = empty_cache();
        cache.clear();
        put_user(&cache, "A", before);
        assert!(cache.principal("user:a").is_none());
    }
}
