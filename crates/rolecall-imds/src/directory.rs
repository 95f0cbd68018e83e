//! The in-memory view IMDS answers from, and the credential cache.

use crate::credentials::{CredentialPolicy, Delivery, Issued, IssuedFor, MintRequest, mint};
use crate::entry::{Ec2Id, InstanceEntry, Interner};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolecall_core::ec2::Filter;
use rolecall_core::iam::{Iam, trusts_ec2};
use rolecall_core::model::{Association, Instance, InstanceState};
use rolecall_core::{
    Change, ChangeListener, ChangesSince, DynClock, EntityKind, Page, PageRequest,
};
use rolecall_crypto::KeyRing;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    pub name: String,
    pub id: String,
    /// Whether the trust policy lets ec2.amazonaws.com assume the role.
    pub trusts_ec2: bool,
}

/// A profile as IMDS sees it; the directory shares one per profile among its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileView {
    pub arn: String,
    pub id: String,
    pub role: Option<RoleView>,
}

/// A whole instance with its profile, as the control plane hands it to agents (the directory
/// keeps a compact [`InstanceEntry`] of it).
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub instance: Instance,
    pub arn: String,
    pub profile: Option<ProfileView>,
    /// The active association's id (empty without one): credentials name it.
    pub association_id: String,
    /// Credentials issued before this (unix milliseconds) belong to an earlier run of the
    /// instance under the same association, and are not served (verifiers refuse them).
    pub credentials_since: i64,
}

/// When (unix milliseconds) the instance was started again after its association was made
/// (credentials of earlier runs are cut off then); None when it has run since the association
/// began.
pub fn credentials_since(instance: &Instance, association: &Association) -> Option<i64> {
    (instance.launch_time > association.timestamp).then(|| instance.launch_time.timestamp_millis())
}

/// Whether `issued` may still be served to the instance `entry` describes: the same role, the
/// same association, and the instance's current run.
fn serves(entry: &InstanceEntry, issued: &Issued) -> bool {
    role_of(entry.profile()).is_some_and(|r| r.id == issued.role_id)
        && *entry.association_id() == *issued.association_id
        && issued.last_updated.timestamp_millis() >= entry.credentials_since()
}

/// A credential IMDS issued (minted) for an instance: what the audit trail records of it.
#[derive(Debug, Clone)]
pub struct IssuedNotice {
    pub account_id: String,
    pub role_name: String,
    pub role_id: String,
    pub instance_id: String,
    pub instance_arn: String,
    pub access_key_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl IssuedNotice {
    /// The notice of `issued`, minted at `now` for `view`'s role (None if it has none).
    pub fn of(
        account_id: &str,
        view: &InstanceView,
        issued: &Issued,
        now: DateTime<Utc>,
    ) -> Option<IssuedNotice> {
        let role = role_of(view.profile.as_ref())?;
        Some(IssuedNotice::new(
            account_id,
            role,
            &view.instance.id,
            &view.arn,
            issued,
            now,
        ))
    }

    fn new(
        account_id: &str,
        role: &RoleView,
        instance_id: &str,
        instance_arn: &str,
        issued: &Issued,
        now: DateTime<Utc>,
    ) -> IssuedNotice {
        IssuedNotice {
            account_id: account_id.to_string(),
            role_name: role.name.clone(),
            role_id: role.id.clone(),
            instance_id: instance_id.to_string(),
            instance_arn: instance_arn.to_string(),
            access_key_id: issued.access_key_id.clone(),
            issued_at: now,
            expires_at: issued.expires_at,
        }
    }
}

/// When an instance's current credential was minted and when it expires (no secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialTimes {
    pub minted: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// Told of every credential this directory mints (the audit trail).
pub type IssueHook = Arc<dyn Fn(IssuedNotice) + Send + Sync>;

/// The instances associated with one profile, and the profile's view they share.
struct ProfileGroup {
    view: Arc<ProfileView>,
    ids: HashSet<Ec2Id>,
}

/// The instances IMDS knows, indexed for answers (id, IP) and for applying changes (profile).
#[derive(Default)]
struct Snapshot {
    by_id: HashMap<Ec2Id, Arc<InstanceEntry>>,
    by_ip: HashMap<IpAddr, Arc<InstanceEntry>>,
    /// By the ARN of the profile they are associated with.
    by_profile: HashMap<String, ProfileGroup>,
    strings: Interner,
}

impl Snapshot {
    /// Builds and inserts the entry of `instance`.
    fn add(
        &mut self,
        instance: &Instance,
        profile: Option<Arc<ProfileView>>,
        association_id: &str,
        credentials_since: i64,
    ) {
        let entry = InstanceEntry::new(
            instance,
            profile,
            association_id,
            credentials_since,
            &mut self.strings,
        );
        self.insert(entry);
    }

    /// Adds a whole view (installed from the control plane).
    fn add_view(&mut self, v: &InstanceView) {
        let profile = v.profile.clone().map(Arc::new);
        self.add(&v.instance, profile, &v.association_id, v.credentials_since);
    }

    fn insert(&mut self, mut entry: InstanceEntry) {
        self.remove(&entry.id);
        if let Some(p) = entry.profile.take() {
            let group = self
                .by_profile
                .entry(p.arn.clone())
                .or_insert_with(|| ProfileGroup {
                    view: p.clone(),
                    ids: HashSet::new(),
                });
            // Instances of one profile share its view.
            if *group.view != *p {
                group.view = p;
            }
            entry.profile = Some(group.view.clone());
            group.ids.insert(entry.id.clone());
        }
        let entry = Arc::new(entry);
        if let Some(ip) = entry.private_ip().ip() {
            self.by_ip.insert(ip, entry.clone());
        }
        self.by_id.insert(entry.id.clone(), entry);
    }

    fn remove(&mut self, id: &Ec2Id) -> Option<Arc<InstanceEntry>> {
        let old = self.by_id.remove(id)?;
        if let Some(ip) = old.private_ip().ip()
            && self.by_ip.get(&ip).is_some_and(|v| v.id == *id)
        {
            self.by_ip.remove(&ip);
        }
        if let Some(p) = old.profile()
            && let Some(group) = self.by_profile.get_mut(&p.arn)
        {
            group.ids.remove(id);
            if group.ids.is_empty() {
                self.by_profile.remove(&p.arn);
            }
        }
        Some(old)
    }
}

/// Where instance views and credentials come from.
enum Source {
    /// This node's store; credentials are minted here (the server).
    Store { iam: Iam, policy: CredentialPolicy },
    /// Installed from elsewhere (the agent, from the control plane); credentials are served as
    /// installed until they expire, never minted here.
    Remote,
}

/// A cached credential and when its instance last asked for it.
struct Cached {
    issued: Arc<Issued>,
    /// None for installed (remote) credentials.
    asked: Option<DateTime<Utc>>,
}

/// An instance id and the IMDS version its credential is delivered over.
pub type CredentialKey = (String, Delivery);

/// Remote: an instance that asked within this long is still fetched credentials for after its
/// role changed.
const ASKED_WINDOW: chrono::Duration = chrono::Duration::hours(12);

/// How many changes are read from the feed at a time.
const FEED_BATCH: usize = 1000;

pub struct Directory {
    source: Source,
    /// Known from the start with a store source; from the first install with a remote one.
    account_id: OnceLock<String>,
    region: String,
    /// Seals IMDSv2 tokens and dev path MACs (and, with a store source, mints credentials).
    keyring: KeyRing,
    clock: DynClock,
    snapshot: RwLock<Snapshot>,
    /// Current credential per instance and delivery version (`ec2:RoleDelivery` is sealed in
    /// it, so each version's is fetched or minted on its own).
    credentials: Mutex<HashMap<CredentialKey, Cached>>,
    /// Serializes catching up with the feed, so changes are applied in order.
    reload_lock: tokio::sync::Mutex<()>,
    /// The change feed sequence the snapshot reflects (None: not loaded yet).
    seq: Mutex<Option<i64>>,
    /// Entries rebuilt (or dropped) by applying changes, and full reloads, since start.
    rebuilt: AtomicU64,
    full_reloads: AtomicU64,
    /// Remote: when each instance last asked for its credential, per delivery version.
    asked: Mutex<HashMap<CredentialKey, DateTime<Utc>>>,
    /// Remote: instances (and delivery versions) that asked for a credential the directory does
    /// not hold.
    pending: Mutex<HashSet<CredentialKey>>,
    /// Remote: wakes whoever fetches credentials (the agent) when one is pending.
    wake: tokio::sync::Notify,
    /// Remote: bumped on every install, for requests waiting on a pending credential.
    installs: tokio::sync::watch::Sender<u64>,
    /// Told of every credential minted here (the audit trail).
    issue_hook: OnceLock<IssueHook>,
}

impl Directory {
    pub fn new(
        iam: Iam,
        region: String,
        keyring: KeyRing,
        clock: DynClock,
        policy: CredentialPolicy,
    ) -> Arc<Directory> {
        let account_id = OnceLock::from(iam.account_id().to_string());
        Directory::with_source(
            Source::Store { iam, policy },
            account_id,
            region,
            keyring,
            clock,
        )
    }

    /// A directory whose instances and credentials are [installed](Directory::install) from
    /// elsewhere (the `rolecall agent`'s copy of the control plane's view). `keyring` only seals
    /// IMDSv2 tokens, so a random one per process is fine.
    pub fn remote(region: String, keyring: KeyRing, clock: DynClock) -> Arc<Directory> {
        Directory::with_source(Source::Remote, OnceLock::new(), region, keyring, clock)
    }

    fn with_source(
        source: Source,
        account_id: OnceLock<String>,
        region: String,
        keyring: KeyRing,
        clock: DynClock,
    ) -> Arc<Directory> {
        Arc::new(Directory {
            source,
            account_id,
            region,
            keyring,
            clock,
            snapshot: RwLock::new(Snapshot::default()),
            credentials: Mutex::new(HashMap::new()),
            reload_lock: tokio::sync::Mutex::new(()),
            seq: Mutex::new(None),
            rebuilt: AtomicU64::new(0),
            full_reloads: AtomicU64::new(0),
            asked: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
            installs: tokio::sync::watch::Sender::new(0),
            issue_hook: OnceLock::new(),
        })
    }

    pub fn keyring(&self) -> &KeyRing {
        &self.keyring
    }

    pub fn clock(&self) -> &DynClock {
        &self.clock
    }

    pub fn account_id(&self) -> &str {
        self.account_id
            .get()
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.snapshot.write().unwrap_or_else(|e| e.into_inner())
    }

    fn creds(&self) -> std::sync::MutexGuard<'_, HashMap<CredentialKey, Cached>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<InstanceEntry>> {
        self.read().by_id.get(&Ec2Id::new(id)).cloned()
    }

    pub fn by_ip(&self, ip: IpAddr) -> Option<Arc<InstanceEntry>> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.read().by_ip.get(&ip).cloned()
    }

    /// Instances held.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries rebuilt or dropped by applying changes since start (full reloads not counted).
    pub fn entries_rebuilt(&self) -> u64 {
        self.rebuilt.load(Ordering::Relaxed)
    }

    /// Full reloads since start (the first load included).
    pub fn full_reloads(&self) -> u64 {
        self.full_reloads.load(Ordering::Relaxed)
    }

    /// The change feed sequence the directory reflects (None before the first load).
    pub fn seq(&self) -> Option<i64> {
        *self.seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Instances holding a cached credential (minted on request, kept while asked for).
    pub fn cached_credentials(&self) -> usize {
        self.creds().len()
    }

    /// When the credential this directory would serve `instance_id` now was minted and when it
    /// expires (the newest over both delivery versions), without any secret of it; None when it
    /// holds none (the instance never asked, was forgotten, or changed role or association).
    /// Two map lookups: for the console's instance page.
    pub fn credential_times(&self, instance_id: &str) -> Option<CredentialTimes> {
        let view = self.by_id(instance_id)?;
        let creds = self.creds();
        [Delivery::V1, Delivery::V2]
            .into_iter()
            .filter_map(|d| creds.get(&(instance_id.to_string(), d)))
            .map(|c| &c.issued)
            .filter(|issued| serves(&view, issued))
            .max_by_key(|issued| issued.last_updated)
            .map(|issued| CredentialTimes {
                minted: issued.last_updated,
                expires: issued.expires_at,
            })
    }

    /// Brings the directory up to date with the store (a no-op for a remote directory): loads
    /// everything the first time, then applies only the changes the store's feed recorded
    /// since; loads everything again if the feed was pruned past this directory's sequence.
    pub async fn reload(&self) -> rolecall_core::Result<()> {
        let Source::Store { iam, .. } = &self.source else {
            return Ok(());
        };
        let _serial = self.reload_lock.lock().await;
        loop {
            let Some(at) = self.seq() else {
                tracing::info!("IMDS directory: loading every instance");
                return self.full_reload(iam).await;
            };
            match iam.store().changes_since(at, FEED_BATCH).await? {
                ChangesSince::Pruned { latest } => {
                    tracing::warn!(
                        at,
                        latest,
                        "IMDS directory fell behind the pruned change feed: reloading every instance"
                    );
                    return self.full_reload(iam).await;
                }
                ChangesSince::Changes { changes, latest } => {
                    if latest <= at {
                        return Ok(());
                    }
                    self.apply(iam, &changes).await?;
                    *self.seq.lock().unwrap_or_else(|e| e.into_inner()) = Some(latest);
                }
            }
        }
    }

    /// Loads every running instance. The feed's sequence is read first, so a change committed
    /// while loading is applied again afterwards (applying is idempotent), never missed.
    async fn full_reload(&self, iam: &Iam) -> rolecall_core::Result<()> {
        let seq = iam.store().latest_change().await?;
        let snap = load_snapshot(iam).await?;
        self.replace(snap, None);
        *self.seq.lock().unwrap_or_else(|e| e.into_inner()) = Some(seq);
        self.full_reloads.fetch_add(1, Ordering::Relaxed);
        rolecall_core::metrics::metrics()
            .directory_full_reloads
            .inc();
        Ok(())
    }

    /// Applies changes: an instance (or its association) rebuilds that instance's entry from
    /// the store; a profile re-reads the profile and updates the instances associated with it;
    /// a role re-reads the profiles holding it (its trust policy) for their instances. Role
    /// policies, managed policies, users, groups and keys change nothing IMDS serves.
    async fn apply(&self, iam: &Iam, changes: &[Change]) -> rolecall_core::Result<()> {
        let mut instances: HashSet<String> = HashSet::new();
        let mut profiles: HashSet<String> = HashSet::new();
        let mut roles: HashSet<&str> = HashSet::new();
        let mut role_policies: HashSet<&str> = HashSet::new();
        for c in changes {
            match c.kind {
                EntityKind::Instance => {
                    instances.insert(c.id.clone());
                }
                EntityKind::RolePolicy => {
                    role_policies.insert(&c.id);
                }
                EntityKind::InstanceProfile => {
                    profiles.insert(c.id.clone());
                }
                EntityKind::Role => {
                    roles.insert(&c.id);
                }
                _ => {}
            }
        }
        if !role_policies.is_empty() {
            // A role's policies changed (e.g. AWSRevokeOlderSessions): its cached credentials
            // are minted again on their next request, so instances get sessions issued after
            // the change.
            self.creds()
                .retain(|_, c| !role_policies.contains(c.issued.role_id.as_str()));
        }
        if !roles.is_empty() {
            let snap = self.read();
            for (arn, group) in &snap.by_profile {
                let role = group.view.role.as_ref();
                if role.is_some_and(|r| roles.contains(r.id.as_str())) {
                    profiles.insert(arn.clone());
                }
            }
        }
        let mut resolved: HashMap<String, Arc<ProfileView>> = HashMap::new();
        let mut rebuilt = 0u64;
        let changed: HashSet<Ec2Id> = instances.iter().map(|i| Ec2Id::new(i)).collect();
        // Instances associated with a changed profile keep their instance and association: only
        // their profile view is replaced.
        for arn in &profiles {
            let (ids, fallback_id): (Vec<Ec2Id>, String) = {
                let snap = self.read();
                match snap.by_profile.get(arn) {
                    Some(g) => (
                        g.ids
                            .iter()
                            .filter(|i| !changed.contains(i))
                            .cloned()
                            .collect(),
                        g.view.id.clone(),
                    ),
                    None => continue,
                }
            };
            if ids.is_empty() {
                continue;
            }
            let view = Arc::new(profile_view(iam, arn, &fallback_id).await?);
            for id in ids {
                let Some(old) = self.read().by_id.get(&id).cloned() else {
                    continue;
                };
                self.put(
                    &id,
                    Some(Fresh::Entry(Box::new(old.with_profile(view.clone())))),
                );
                rebuilt += 1;
            }
            resolved.insert(arn.clone(), view);
        }
        for id in &instances {
            let fresh = load_instance(iam, id, &mut resolved).await?;
            self.put(&Ec2Id::new(id), fresh);
            rebuilt += 1;
        }
        self.rebuilt.fetch_add(rebuilt, Ordering::Relaxed);
        let m = rolecall_core::metrics::metrics();
        m.directory_entries_rebuilt.inc_by(rebuilt);
        m.imds_instances
            .set(i64::try_from(self.len()).unwrap_or(i64::MAX));
        tracing::debug!(
            changes = changes.len(),
            rebuilt,
            "IMDS directory applied changes"
        );
        Ok(())
    }

    /// Sets (or, with None, drops) one instance's entry, and drops its cached credentials unless
    /// they are for the role, association and run the instance still has.
    fn put(&self, id: &Ec2Id, fresh: Option<Fresh>) {
        let entry = {
            let mut snap = self.write();
            match fresh {
                Some(Fresh::Entry(e)) => snap.insert(*e),
                Some(Fresh::Loaded(l)) => snap.add(
                    &l.instance,
                    l.profile,
                    &l.association_id,
                    l.credentials_since,
                ),
                Some(Fresh::View(v)) => snap.add_view(&v),
                None => {
                    snap.remove(id);
                }
            }
            snap.by_id.get(id).cloned()
        };
        let mut creds = self.creds();
        for d in [Delivery::V1, Delivery::V2] {
            let key = (id.to_string(), d);
            if creds
                .get(&key)
                .is_some_and(|c| !entry.as_deref().is_some_and(|v| serves(v, &c.issued)))
            {
                creds.remove(&key);
            }
        }
    }

    /// Replaces a remote directory's instances at once, and adds `credentials` (by instance and
    /// delivery version). Credentials of instances that left or changed role are dropped.
    pub fn install(
        &self,
        account_id: &str,
        views: Vec<Arc<InstanceView>>,
        credentials: HashMap<CredentialKey, Arc<Issued>>,
    ) {
        if self.account_id.get().is_none() {
            let _ = self.account_id.set(account_id.to_string());
        }
        let got: Vec<CredentialKey> = credentials.keys().cloned().collect();
        let mut snap = Snapshot::default();
        for v in &views {
            snap.add_view(v);
        }
        self.replace(snap, Some(credentials));
        self.installed(&got);
    }

    /// Applies a remote directory's changes: `views` replace (or add) those instances' entries
    /// and their credentials (`credentials`, by instance and delivery version); `removed`
    /// instances are dropped.
    pub fn install_changes(
        &self,
        views: Vec<Arc<InstanceView>>,
        removed: &[String],
        credentials: HashMap<CredentialKey, Arc<Issued>>,
    ) {
        let rebuilt = views.len() + removed.len();
        for id in removed {
            self.put(&Ec2Id::new(id), None);
        }
        for v in views {
            let id = Ec2Id::new(&v.instance.id);
            self.put(&id, Some(Fresh::View(v)));
        }
        let got: Vec<CredentialKey> = credentials.keys().cloned().collect();
        {
            let mut creds = self.creds();
            for (key, issued) in credentials {
                creds.insert(
                    key,
                    Cached {
                        issued,
                        asked: None,
                    },
                );
            }
        }
        self.installed(&got);
        self.rebuilt.fetch_add(
            u64::try_from(rebuilt).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        rolecall_core::metrics::metrics()
            .imds_instances
            .set(i64::try_from(self.len()).unwrap_or(i64::MAX));
    }

    /// Drops the cached credentials of the role `role_id` issued before `before` (its sessions
    /// were revoked: verifiers refuse them); instances that keep asking get new ones (fetched
    /// after the next install, or minted). Returns how many were dropped.
    pub fn drop_sessions_before(&self, role_id: &str, before: DateTime<Utc>) -> usize {
        let mut creds = self.creds();
        let held = creds.len();
        creds.retain(|_, c| c.issued.role_id != role_id || c.issued.last_updated >= before);
        held - creds.len()
    }

    /// After an install: the credentials received are no longer pending; an instance that asked
    /// recently and whose credential was dropped (its role changed) is pending again; requests
    /// waiting for a credential look again.
    fn installed(&self, got: &[CredentialKey]) {
        let now = self.clock.now();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for key in got {
                pending.remove(key);
            }
            let asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            let creds = self.creds();
            let snap = self.read();
            for (key, at) in asked.iter() {
                let usable = snap
                    .by_id
                    .get(&Ec2Id::new(&key.0))
                    .is_some_and(|v| role_of(v.profile()).is_some());
                if usable && !creds.contains_key(key) && now - *at < ASKED_WINDOW {
                    pending.insert(key.clone());
                }
            }
            if !pending.is_empty() {
                self.wake.notify_one();
            }
        }
        self.installs.send_modify(|v| *v += 1);
    }

    /// Remote: waits until an instance asks for a credential the directory does not hold.
    pub async fn credentials_wanted(&self) {
        self.wake.notified().await;
    }

    /// Remote: the instances (and delivery versions) whose credentials to fetch: those pending,
    /// and those asked for within their credential's lifetime that expire within `ahead`.
    pub fn credentials_to_fetch(&self, ahead: chrono::Duration) -> Vec<CredentialKey> {
        let now = self.clock.now();
        let mut out: HashSet<CredentialKey> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        for (key, c) in self.creds().iter() {
            let lifetime = c.issued.expires_at - c.issued.last_updated;
            let recent = asked.get(key).is_some_and(|a| now - *a < lifetime);
            if recent && c.issued.expires_at - now <= ahead {
                out.insert(key.clone());
            }
        }
        out.into_iter().collect()
    }

    /// Remote: the instances that asked for a credential within `window`.
    pub fn asked_within(&self, window: chrono::Duration) -> Vec<String> {
        let now = self.clock.now();
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.retain(|_, a| now - *a < window.max(ASKED_WINDOW));
        let ids: HashSet<String> = asked
            .iter()
            .filter(|(_, a)| now - **a < window)
            .map(|((id, _), _)| id.clone())
            .collect();
        ids.into_iter().collect()
    }

    /// Whether the instance at this address asked for a credential not yet received.
    pub fn awaits_credentials(&self, ip: IpAddr) -> bool {
        self.by_ip(ip).is_some_and(|v| {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|(id, _)| id.as_str() == &*v.id())
        })
    }

    /// Notified on every install.
    pub fn subscribe_installs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.installs.subscribe()
    }

    /// Whether IMDS may answer from this directory: a store-sourced one once its first load
    /// finished (until then IMDS answers 503 rather than "no such instance").
    pub fn is_ready(&self) -> bool {
        self.is_remote() || self.seq().is_some()
    }

    /// Loads the fleet in the background (the API serves meanwhile and IMDS answers 503), then
    /// catches up with the changes committed while loading (skipped by
    /// [`changed`](ChangeListener::changed) until the load finished).
    pub fn load_in_background(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            for _ in 0..2 {
                if let Err(e) = self.reload().await {
                    tracing::error!(error = %e, "IMDS directory: loading the instances failed");
                }
            }
            while !self.is_ready() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Err(e) = self.reload().await {
                    tracing::error!(error = %e, "IMDS directory: loading the instances failed");
                }
            }
            tracing::info!(
                instances = self.len(),
                seconds = started.elapsed().as_secs_f64(),
                "IMDS directory loaded; IMDS serving"
            );
        })
    }

    pub fn is_remote(&self) -> bool {
        matches!(self.source, Source::Remote)
    }

    /// The earliest expiry among the credentials held (for refreshing ahead of it).
    pub fn earliest_expiry(&self) -> Option<DateTime<Utc>> {
        self.creds().values().map(|c| c.issued.expires_at).min()
    }

    fn replace(&self, snap: Snapshot, credentials: Option<HashMap<CredentialKey, Arc<Issued>>>) {
        {
            let mut creds = self.creds();
            if let Some(new) = credentials {
                // Credentials held and not renewed stay (until they expire), unless dropped below.
                for (key, issued) in new {
                    creds.insert(
                        key,
                        Cached {
                            issued,
                            asked: None,
                        },
                    );
                }
            }
            // Drop cached credentials of instances that left or changed role or association.
            creds.retain(|(id, _), c| {
                snap.by_id
                    .get(&Ec2Id::new(id))
                    .is_some_and(|v| serves(v, &c.issued))
            });
        }
        let count = snap.by_id.len();
        rolecall_core::metrics::metrics()
            .imds_instances
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        *self.write() = snap;
        tracing::debug!(instances = count, "IMDS directory reloaded");
    }

    /// The credential to serve for this instance's role, minting one if there is none or the
    /// current one is due for replacement (sealing only, no I/O). None when the instance has no
    /// usable role. A remote directory serves the installed credential of that delivery version
    /// until it expires, and mints none. Records that the instance asked, so [`refresh_due`](Self::refresh_due) keeps
    /// its credential fresh while it keeps asking. Credentials are minted per delivery version
    /// (`ec2:RoleDelivery` is sealed in them), each cached on its own.
    pub fn credentials_for(&self, view: &InstanceEntry, delivery: Delivery) -> Option<Arc<Issued>> {
        role_of(view.profile())?;
        let now = self.clock.now();
        let Source::Store { policy, .. } = &self.source else {
            let key = (view.id().to_string(), delivery);
            self.asked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), now);
            let served = self
                .creds()
                .get(&key)
                .map(|c| c.issued.clone())
                .filter(|c| serves(view, c) && c.expires_at > now);
            if served.is_some() {
                rolecall_core::metrics::metrics().credential(false);
            } else {
                // Fetched when first asked for (the request waits for it, see the server).
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key);
                self.wake.notify_one();
            }
            return served;
        };
        let key = (view.id().to_string(), delivery);
        let cached = {
            let mut creds = self.creds();
            match creds.get_mut(&key) {
                Some(c) if serves(view, &c.issued) => {
                    c.asked = Some(now);
                    Some(c.issued.clone())
                }
                _ => None,
            }
        };
        if let Some(c) = cached.filter(|c| c.is_fresh(now, policy)) {
            rolecall_core::metrics::metrics().credential(false);
            return Some(c);
        }
        let issued = Arc::new(self.mint(view, now, policy, Some(delivery))?);
        rolecall_core::metrics::metrics().credential(true);
        self.issued(view, &issued, now);
        self.creds().insert(
            key,
            Cached {
                issued: issued.clone(),
                asked: Some(now),
            },
        );
        Some(issued)
    }

    /// Mints ahead of time the credentials that are due, only for instances that asked within
    /// the last credential lifetime; forgets those of instances that did not. Never mints for an
    /// instance that has not asked.
    pub fn refresh_due(&self) {
        let Source::Store { policy, .. } = &self.source else {
            return;
        };
        let now = self.clock.now();
        let due: Vec<(String, Delivery)> = {
            let mut creds = self.creds();
            creds.retain(|_, c| c.asked.is_some_and(|a| now - a < policy.lifetime));
            creds
                .iter()
                .filter(|(_, c)| !c.issued.is_fresh(now, policy))
                .map(|(key, _)| key.clone())
                .collect()
        };
        for key in due {
            let Some(view) = self.by_id(&key.0) else {
                self.creds().remove(&key);
                continue;
            };
            let minted = self.mint(&view, now, policy, Some(key.1));
            let Some(issued) = minted else {
                continue;
            };
            rolecall_core::metrics::metrics().credential(true);
            self.issued(&view, &issued, now);
            if let Some(c) = self.creds().get_mut(&key)
                && serves(&view, &issued)
            {
                c.issued = Arc::new(issued);
            }
        }
    }

    /// Sets what is told of every credential minted here (once; later calls are ignored).
    pub fn set_issue_hook(&self, hook: IssueHook) {
        let _ = self.issue_hook.set(hook);
    }

    fn issued(&self, view: &InstanceEntry, issued: &Issued, now: DateTime<Utc>) {
        if let Some(hook) = self.issue_hook.get()
            && let Some(role) = role_of(view.profile())
        {
            let arn = view.arn(&self.region, self.account_id());
            hook(IssuedNotice::new(
                self.account_id(),
                role,
                &view.id(),
                &arn,
                issued,
                now,
            ));
        }
    }

    /// Fresh credentials for the instance's role (None when it has no role that trusts EC2).
    fn mint(
        &self,
        view: &InstanceEntry,
        now: DateTime<Utc>,
        policy: &CredentialPolicy,
        delivery: Option<Delivery>,
    ) -> Option<Issued> {
        let role = role_of(view.profile())?;
        let account_id = self.account_id();
        let req = MintRequest {
            issued_for: IssuedFor {
                account_id,
                role_id: &role.id,
                association_id: &view.association_id(),
            },
            role_name: &role.name,
            instance_id: &view.id(),
            instance_arn: &view.arn(&self.region, account_id),
            private_ip: &view.private_ip().to_string(),
            vpc_id: view.vpc_id().unwrap_or_default(),
            delivery,
        };
        mint(&self.keyring, &req, now, policy)
    }

    /// Renews, ahead of expiry, the credentials of instances that keep asking, forever. Run it
    /// as a background task.
    pub async fn run_refresher(self: Arc<Self>, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.refresh_due();
        }
    }
}

/// An instance's entry to be (re)built under the snapshot's lock.
enum Fresh {
    /// Rebuilt from an entry held (another profile view).
    Entry(Box<InstanceEntry>),
    /// Read from the store.
    Loaded(Box<Loaded>),
    /// Installed from the control plane.
    View(Arc<InstanceView>),
}

struct Loaded {
    instance: Instance,
    profile: Option<Arc<ProfileView>>,
    association_id: String,
    credentials_since: i64,
}

/// A running instance with its active association, as read from the store; `profiles` caches
/// profile views by ARN (and shares them).
async fn loaded(
    iam: &Iam,
    instance: Instance,
    assoc: Option<Association>,
    profiles: &mut HashMap<String, Arc<ProfileView>>,
) -> rolecall_core::Result<Loaded> {
    let profile = match &assoc {
        None => None,
        Some(a) => {
            if !profiles.contains_key(&a.profile_arn) {
                let view = profile_view(iam, &a.profile_arn, &a.profile_id).await?;
                profiles.insert(a.profile_arn.clone(), Arc::new(view));
            }
            profiles.get(&a.profile_arn).cloned()
        }
    };
    Ok(Loaded {
        credentials_since: assoc
            .as_ref()
            .and_then(|a| credentials_since(&instance, a))
            .unwrap_or(0),
        association_id: assoc.map(|a| a.id).unwrap_or_default(),
        profile,
        instance,
    })
}

/// The instance with its active association, from the store; None unless it is running.
async fn running_instance(
    iam: &Iam,
    id: &str,
) -> rolecall_core::Result<Option<(Instance, Option<Association>)>> {
    let store = iam.store();
    let inst = match store.get_instance(id).await? {
        Some(inst) if inst.state == InstanceState::Running => inst,
        _ => return Ok(None),
    };
    let assoc = store
        .active_associations(std::slice::from_ref(&inst.id))
        .await?
        .pop();
    Ok(Some((inst, assoc)))
}

/// The instance's entry to build, from the store; None unless it is running.
async fn load_instance(
    iam: &Iam,
    id: &str,
    profiles: &mut HashMap<String, Arc<ProfileView>>,
) -> rolecall_core::Result<Option<Fresh>> {
    match running_instance(iam, id).await? {
        None => Ok(None),
        Some((inst, assoc)) => Ok(Some(Fresh::Loaded(Box::new(
            loaded(iam, inst, assoc, profiles).await?,
        )))),
    }
}

/// The whole view of a loaded instance (for agents).
fn whole_view(region: &str, account_id: &str, l: Loaded) -> Arc<InstanceView> {
    Arc::new(InstanceView {
        arn: instance_arn(region, account_id, &l.instance.id),
        profile: l.profile.as_deref().cloned(),
        association_id: l.association_id,
        credentials_since: l.credentials_since,
        instance: l.instance,
    })
}

/// What changed for IMDS in `changes`: the views of the instances they touched (an instance or
/// its association; the instances of a changed profile; the instances of a role whose trust
/// policy changed), and the ids of touched instances that are no longer running. Policies,
/// users, groups and keys touch no instance. A profile or role change reads only the instances
/// associated with it (an index lookup in the store).
pub async fn changed_views(
    iam: &Iam,
    region: &str,
    changes: &[Change],
) -> rolecall_core::Result<(Vec<Arc<InstanceView>>, Vec<String>)> {
    let mut instances: Vec<&str> = Vec::new();
    let mut profiles: HashSet<&str> = HashSet::new();
    let mut roles: HashSet<&str> = HashSet::new();
    for c in changes {
        match c.kind {
            EntityKind::Instance if !instances.contains(&c.id.as_str()) => instances.push(&c.id),
            EntityKind::InstanceProfile => {
                profiles.insert(&c.id);
            }
            EntityKind::Role => {
                roles.insert(&c.id);
            }
            _ => {}
        }
    }
    let account_id = iam.account_id();
    let mut views: Vec<Arc<InstanceView>> = Vec::new();
    let mut gone = Vec::new();
    let mut resolved: HashMap<String, Arc<ProfileView>> = HashMap::new();
    if !profiles.is_empty() || !roles.is_empty() {
        let profiles: Vec<String> = profiles.into_iter().map(str::to_string).collect();
        let roles: Vec<String> = roles.into_iter().map(str::to_string).collect();
        for (inst, a) in iam.store().running_instances_of(&profiles, &roles).await? {
            if instances.contains(&inst.id.as_str()) {
                continue;
            }
            let l = loaded(iam, inst, Some(a), &mut resolved).await?;
            views.push(whole_view(region, account_id, l));
        }
    }
    for id in instances {
        match running_instance(iam, id).await? {
            Some((inst, assoc)) => {
                let l = loaded(iam, inst, assoc, &mut resolved).await?;
                views.push(whole_view(region, account_id, l));
            }
            None => gone.push(id.to_string()),
        }
    }
    Ok((views, gone))
}

fn instance_arn(region: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:ec2:{region}:{account_id}:instance/{id}")
}

/// The profile an association names, with its role, as IMDS sees it; a profile deleted since
/// (the association then names nothing, as in EC2) has no role.
async fn profile_view(
    iam: &Iam,
    arn: &str,
    fallback_id: &str,
) -> rolecall_core::Result<ProfileView> {
    match iam.resolve_instance_profile(None, Some(arn)).await {
        Ok(p) => Ok(ProfileView {
            arn: p.arn.clone(),
            id: p.id.clone(),
            role: p.roles.first().map(|r| RoleView {
                name: r.name.clone(),
                id: r.id.clone(),
                trusts_ec2: trusts_ec2(&r.assume_role_policy_document),
            }),
        }),
        Err(rolecall_core::Error::InvalidParameterValue(_)) => Ok(ProfileView {
            arn: arn.to_string(),
            id: fallback_id.to_string(),
            role: None,
        }),
        Err(e) => Err(e),
    }
}

/// Fresh credentials for the instance's role, minted as IMDS mints them (None when the instance
/// has no role that trusts EC2).
pub fn mint_for(
    keyring: &KeyRing,
    account_id: &str,
    view: &InstanceView,
    now: DateTime<Utc>,
    policy: &CredentialPolicy,
    delivery: Option<Delivery>,
) -> Option<Issued> {
    let role = role_of(view.profile.as_ref())?;
    let req = MintRequest {
        issued_for: IssuedFor {
            account_id,
            role_id: &role.id,
            association_id: &view.association_id,
        },
        role_name: &role.name,
        instance_id: &view.instance.id,
        instance_arn: &view.arn,
        private_ip: &view.instance.private_ip,
        vpc_id: view.instance.vpc_id.as_deref().unwrap_or_default(),
        delivery,
    };
    mint(keyring, &req, now, policy)
}

/// Instances read per query while loading the fleet.
const LOAD_PAGE: usize = 10_000;

/// Every running instance with its active association (only those with one of `private_ips`
/// when any are given), a page at a time (instance and association in one indexed query), so
/// loading a large fleet never holds more than one page of whole instances. Running instances
/// only: others run no software.
async fn for_each_running(
    iam: &Iam,
    private_ips: &[std::net::IpAddr],
    mut each: impl FnMut(Loaded),
) -> rolecall_core::Result<()> {
    let store = iam.store();
    let mut running = vec![Filter {
        name: "instance-state-name".into(),
        values: vec![InstanceState::Running.name().into()],
    }];
    if !private_ips.is_empty() {
        running.push(Filter {
            name: "private-ip-address".into(),
            values: private_ips.iter().map(|ip| ip.to_string()).collect(),
        });
    }
    let mut profiles: HashMap<String, Arc<ProfileView>> = HashMap::new();
    let mut from = None;
    loop {
        let rows = store
            .query_instances(
                &[],
                &running,
                &PageRequest {
                    from: from.take(),
                    limit: LOAD_PAGE,
                },
            )
            .await?;
        let page = Page::from_overfetch(rows, LOAD_PAGE, |(i, _)| i.id.clone());
        for (inst, assoc) in page.items {
            each(loaded(iam, inst, assoc, &mut profiles).await?);
        }
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(()),
        }
    }
}

/// Every running instance with its profile and role, from the store (for agents); with
/// `private_ips`, only the instances at those addresses (filtered in the database, so an agent
/// fronting a few instances costs what it fronts, not the fleet).
pub async fn load_views(
    iam: &Iam,
    region: &str,
    private_ips: &[std::net::IpAddr],
) -> rolecall_core::Result<Vec<Arc<InstanceView>>> {
    let mut views = Vec::new();
    for_each_running(iam, private_ips, |l| {
        views.push(whole_view(region, iam.account_id(), l));
    })
    .await?;
    Ok(views)
}

/// Every running instance's compact entry, from the store.
async fn load_snapshot(iam: &Iam) -> rolecall_core::Result<Snapshot> {
    let mut snap = Snapshot::default();
    for_each_running(iam, &[], |l| {
        snap.add(
            &l.instance,
            l.profile,
            &l.association_id,
            l.credentials_since,
        );
    })
    .await?;
    Ok(snap)
}

/// The role whose credentials an instance of `profile` gets: it must exist and trust EC2.
fn role_of(profile: Option<&ProfileView>) -> Option<&RoleView> {
    role_of_profile(profile?)
}

fn role_of_profile(profile: &ProfileView) -> Option<&RoleView> {
    profile.role.as_ref().filter(|r| r.trusts_ec2)
}

#[async_trait]
impl ChangeListener for Directory {
    async fn changed(&self) {
        if !self.is_ready() {
            // The first load is under way and catches up when done (load_in_background).
            return;
        }
        if let Err(e) = self.reload().await {
            rolecall_core::metrics::metrics()
                .imds_refresh_failures
                .inc();
            tracing::error!(error = %e, "IMDS directory reload failed; serving the previous view");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_core::model::Tag;

    fn rss_bytes() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .unwrap_or(0)
            * 1024
    }

    /// Memory per idle instance in the directory, measured (run alone:
    /// `cargo test -p rolecall-imds --lib -- --ignored --nocapture memory_per_instance`).
    #[test]
    #[ignore = "a measurement: run alone"]
    fn memory_per_instance() {
        const N: u64 = 200_000;
        let profiles: Vec<Arc<ProfileView>> = (0..100)
            .map(|m| {
                Arc::new(ProfileView {
                    arn: format!("arn:aws:iam::123456789012:instance-profile/bench-profile-{m}"),
                    id: format!("AIPA{m:017}"),
                    role: Some(RoleView {
                        name: format!("bench-role-{m}"),
                        id: format!("AROA{m:017}"),
                        trusts_ec2: true,
                    }),
                })
            })
            .collect();
        let before = rss_bytes();
        let mut snap = Snapshot::default();
        for n in 0..N {
            let ip = n + (128 << 16);
            let private_ip = format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
            let tag = Tag {
                key: "bench".into(),
                value: "fleet".into(),
            };
            let inst = Instance::fleet_member(n, private_ip, vec![tag], Utc::now());
            let profile = profiles.get((n % 100) as usize).cloned();
            snap.add(&inst, profile, &format!("iip-assoc-{n:017x}"), 0);
        }
        let per = (rss_bytes().saturating_sub(before)) as u64 / N;
        println!("directory: {per} bytes per idle instance ({N} instances)");
        assert_eq!(snap.by_id.len(), N as usize);
        assert!(per < 1024, "{per} bytes per instance");
    }
}
