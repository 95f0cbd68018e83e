//! Cutting instance credentials off before they expire.
//!
//! An instance credential's sealed token names the association it was issued under
//! (`SessionClaims::association_id`) and when (`issued_at`). When that association ends
//! (disassociated, replaced, or ended by terminating the instance) or the instance stops, every
//! node learns it from the change feed and refuses the credential from then on
//! (`InvalidClientTokenId`), still without a database read per request. AWS keeps such
//! credentials valid until they expire.
//!
//! The set is compact: one entry per association ended (or instance stopped or started) within
//! the last credential lifetime; an entry is forgotten once every credential it could refuse has
//! expired anyway.

use chrono::{DateTime, Utc};
use rolecall_core::iam::Iam;
use rolecall_core::model::{Association, Instance, InstanceState};
use rolecall_core::{Change, ChangesSince, DynClock, EntityKind};
use std::collections::HashMap;
use std::sync::Mutex;

/// What is refused under one association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cutoff {
    /// Credentials issued (unix milliseconds) before this are refused; `i64::MAX`: all of them.
    refuse_before: i64,
    /// When the entry can be forgotten: every credential it refuses has expired by then.
    forget_at: i64,
}

/// Associations whose earlier credentials are refused, each until its credentials expired.
#[derive(Debug)]
pub struct EndedAssociations {
    entries: HashMap<String, Cutoff>,
    /// The longest lifetime of a credential naming an association (milliseconds). All times
    /// here are unix milliseconds.
    max_lifetime: i64,
    /// When expired entries are next dropped.
    next_prune: i64,
}

/// Milliseconds between two prunings of expired entries.
const PRUNE_EVERY: i64 = 60_000;

impl EndedAssociations {
    pub fn new(max_lifetime: chrono::Duration) -> EndedAssociations {
        EndedAssociations {
            entries: HashMap::new(),
            max_lifetime: max_lifetime.num_milliseconds().max(1),
            next_prune: 0,
        }
    }

    /// Every credential issued under `association` so far is refused (it ended, or its instance
    /// is not running).
    pub fn end(&mut self, association: &str, now: i64) {
        let forget_at = now.saturating_add(self.max_lifetime);
        self.entries.insert(
            association.to_string(),
            Cutoff {
                refuse_before: i64::MAX,
                forget_at,
            },
        );
    }

    /// The instance holding `association` runs again since `launched`: credentials of earlier
    /// runs are refused, later ones pass.
    pub fn restarted(&mut self, association: &str, launched: i64, now: i64) {
        let forget_at = launched.saturating_add(self.max_lifetime);
        if forget_at <= now {
            // Every credential of an earlier run has expired.
            self.entries.remove(association);
            return;
        }
        self.entries.insert(
            association.to_string(),
            Cutoff {
                refuse_before: launched,
                forget_at,
            },
        );
    }

    /// Whether a credential issued under `association` at `issued_at` is refused.
    pub fn refuses(&self, association: &str, issued_at: i64) -> bool {
        self.entries
            .get(association)
            .is_some_and(|c| issued_at < c.refuse_before)
    }

    /// Drops the entries whose credentials have all expired (at most once a minute).
    pub fn prune(&mut self, now: i64) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now.saturating_add(PRUNE_EVERY);
        self.entries.retain(|_, c| c.forget_at > now);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The node's ended-association set, kept current from the change feed.
pub struct Revocations {
    iam: Iam,
    clock: DynClock,
    max_lifetime: chrono::Duration,
    ended: Mutex<EndedAssociations>,
    /// The feed sequence the set reflects (None: not loaded yet).
    seq: Mutex<Option<i64>>,
    /// Serializes catching up, so changes apply in order.
    serial: tokio::sync::Mutex<()>,
}

/// Changes read from the feed at a time.
const FEED_BATCH: usize = 1000;

impl Revocations {
    /// `max_lifetime`: the longest an instance credential lives (entries are kept that long).
    pub fn new(iam: Iam, clock: DynClock, max_lifetime: chrono::Duration) -> Revocations {
        Revocations {
            iam,
            clock,
            max_lifetime,
            ended: Mutex::new(EndedAssociations::new(max_lifetime)),
            seq: Mutex::new(None),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    fn ended(&self) -> std::sync::MutexGuard<'_, EndedAssociations> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_seq(&self, seq: i64) {
        *self.seq.lock().unwrap_or_else(|e| e.into_inner()) = Some(seq);
    }

    fn seq(&self) -> Option<i64> {
        *self.seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a credential naming `association`, issued at `issued_at`, is cut off.
    pub fn refuses(&self, association: &str, issued_at: i64) -> bool {
        !association.is_empty() && self.ended().refuses(association, issued_at)
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.ended().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Catches up with the feed: everything the first time (and when the feed was pruned past
    /// this set's sequence), then only the changes since.
    pub async fn reload(&self) -> rolecall_core::Result<()> {
        let _serial = self.serial.lock().await;
        loop {
            let Some(at) = self.seq() else {
                return self.full_reload().await;
            };
            match self.iam.store().changes_since(at, FEED_BATCH).await? {
                ChangesSince::Pruned { latest } => {
                    tracing::warn!(
                        at,
                        latest,
                        "revocations fell behind the pruned change feed: reloading"
                    );
                    return self.full_reload().await;
                }
                ChangesSince::Changes { changes, latest } => {
                    if latest <= at {
                        return Ok(());
                    }
                    self.apply(&changes).await?;
                    self.set_seq(latest);
                }
            }
        }
    }

    /// Rebuilds the set from the state: associations ended within the last credential lifetime,
    /// and the active associations of instances stopped or started within it (two index ranges:
    /// what changed within one lifetime, never the fleet; an instance that stopped earlier holds
    /// no credential that has not expired, and IMDS issues none while it is not running). The
    /// feed's sequence is read first, so a change committed meanwhile is applied again afterwards.
    async fn full_reload(&self) -> rolecall_core::Result<()> {
        let store = self.iam.store();
        let seq = store.latest_change().await?;
        let now = self.clock.now();
        let since = now - self.max_lifetime;
        let mut fresh = EndedAssociations::new(self.max_lifetime);
        for a in store.associations_ended_since(since).await? {
            fresh.end(&a.id, a.timestamp.timestamp_millis());
        }
        for (i, a) in store.instances_changed_state_since(since).await? {
            if let Some(a) = a {
                cut(&mut fresh, &a, &i, now);
            }
        }
        tracing::debug!(
            entries = fresh.len(),
            seq,
            "revocations: ended associations loaded"
        );
        *self.ended() = fresh;
        self.set_seq(seq);
        Ok(())
    }

    /// Reads the state after each change: an ended association is cut off; an instance's active
    /// association is cut off while the instance is not running, and for earlier runs once it
    /// runs again.
    async fn apply(&self, changes: &[Change]) -> rolecall_core::Result<()> {
        let store = self.iam.store();
        let now = self.clock.now();
        let mut seen: std::collections::HashSet<(EntityKind, &str)> = Default::default();
        for c in changes {
            if !seen.insert((c.kind, c.id.as_str())) {
                continue;
            }
            match c.kind {
                EntityKind::Association => {
                    if let Some(a) = store.get_association(&c.id).await?
                        && !a.state.is_active()
                    {
                        self.ended().end(&a.id, now.timestamp_millis());
                    }
                }
                EntityKind::Instance => {
                    let Some(i) = store.get_instance(&c.id).await? else {
                        continue;
                    };
                    if let Some(a) = store
                        .active_associations(std::slice::from_ref(&i.id))
                        .await?
                        .pop()
                    {
                        cut(&mut self.ended(), &a, &i, now);
                    }
                }
                _ => {}
            }
        }
        self.ended().prune(now.timestamp_millis());
        Ok(())
    }
}

/// The cut-off for an instance's active association, by the instance's state: all of its
/// credentials while the instance is not running; those of earlier runs once it was started
/// again (launched after the association was made).
fn cut(set: &mut EndedAssociations, a: &Association, i: &Instance, now: DateTime<Utc>) {
    if i.state != InstanceState::Running {
        set.end(&a.id, now.timestamp_millis());
    } else if let Some(since) = rolecall_imds::credentials_since(i, a) {
        set.restarted(&a.id, since, now.timestamp_millis());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_core::Clock;
    use std::sync::Arc;

    const HOUR: i64 = 3_600_000;

    fn set() -> EndedAssociations {
        EndedAssociations::new(chrono::Duration::hours(6))
    }

    /// A node over an in-memory store, on a manual clock.
    async fn node() -> (
        Iam,
        rolecall_core::ec2::Ec2,
        Arc<rolecall_core::ManualClock>,
    ) {
        use rolecall_core::ec2::{Ec2, Ec2Config};
        let store: rolecall_core::DynStore = Arc::new(
            rolecall_store_sqlite::SqliteStore::in_memory()
                .await
                .expect("store"),
        );
        let clock = rolecall_core::ManualClock::new(Utc::now());
        let iam = Iam::new(store.clone(), "123456789012").with_clock(clock.clone());
        let config = Ec2Config {
            region: "us-east-1".into(),
            instance_cidr: "10.9.0.0/24".parse().expect("cidr"),
            strict_ids: false,
        };
        (iam.clone(), Ec2::new(store, iam, config), clock)
    }

    /// Launches an instance with profile `p`: its id and association id.
    async fn launch(ec2: &rolecall_core::ec2::Ec2) -> (String, String) {
        let r = ec2
            .run_instances(rolecall_core::ec2::RunInstances {
                image_id: "ami-11aa22bb".into(),
                min_count: 1,
                max_count: 1,
                profile_name: Some("p".into()),
                ..Default::default()
            })
            .await
            .expect("launch");
        (r.instances[0].id.clone(), r.associations[0].id.clone())
    }

    /// A node started after instances were stopped, restarted and disassociated refuses their
    /// earlier credentials from its first answer; what changed longer than one credential
    /// lifetime ago is not even loaded (its credentials have expired).
    #[tokio::test]
    async fn a_restarted_node_refuses_what_ended_within_one_lifetime_and_loads_nothing_older() {
        let (iam, ec2, clock) = node().await;
        iam.create_instance_profile("p", None, vec![])
            .await
            .expect("profile");
        let mut launched = Vec::new();
        for _ in 0..5 {
            launched.push(launch(&ec2).await);
        }
        let [stopped_long_ago, gone_long_ago, stopped, gone, restarted] = &launched[..] else {
            unreachable!()
        };
        let one = |id: &String| vec![id.clone()];
        let second = || clock.advance(chrono::Duration::seconds(1));
        second();
        ec2.stop_instances(&one(&stopped_long_ago.0))
            .await
            .expect("stop");
        ec2.disassociate_iam_instance_profile(&gone_long_ago.1)
            .await
            .expect("disassociate");
        clock.advance(chrono::Duration::hours(7));
        let issued = clock.now().timestamp_millis();
        second();
        ec2.stop_instances(&one(&stopped.0)).await.expect("stop");
        ec2.disassociate_iam_instance_profile(&gone.1)
            .await
            .expect("disassociate");
        ec2.stop_instances(&one(&restarted.0)).await.expect("stop");
        second();
        ec2.start_instances(&one(&restarted.0))
            .await
            .expect("start");
        second();
        let issued_since_start = clock.now().timestamp_millis();

        // The node (re)starts now.
        let node = Revocations::new(iam, clock.clone(), chrono::Duration::hours(6));
        node.reload().await.expect("reload");
        for (_, association) in [stopped, gone, restarted] {
            assert!(node.refuses(association, issued), "{association}");
        }
        assert!(!node.refuses(&restarted.1, issued_since_start));
        assert!(!node.refuses(&stopped_long_ago.1, issued));
        assert!(!node.refuses(&gone_long_ago.1, issued));
        assert_eq!(node.len(), 3, "only what changed within one lifetime");
    }

    #[test]
    fn an_ended_association_refuses_every_credential_issued_under_it() {
        let mut s = set();
        s.end("iip-assoc-1", 1000);
        assert!(s.refuses("iip-assoc-1", 999));
        assert!(s.refuses("iip-assoc-1", 1000));
        assert!(s.refuses("iip-assoc-1", 5000));
        assert!(!s.refuses("iip-assoc-2", 999));
    }

    #[test]
    fn a_restart_refuses_only_earlier_runs() {
        let mut s = set();
        s.end("a", 1000);
        s.restarted("a", 2000, 2001);
        assert!(s.refuses("a", 1500));
        assert!(!s.refuses("a", 2000));
        assert!(!s.refuses("a", 2500));
    }

    #[test]
    fn a_start_older_than_the_lifetime_needs_no_entry() {
        let mut s = set();
        s.end("a", 1000);
        s.restarted("a", 1000, 1000 + 6 * HOUR);
        assert!(s.is_empty());
    }

    #[test]
    fn entries_are_forgotten_once_their_credentials_expired() {
        let mut s = set();
        s.end("old", 1000);
        s.end("new", 1000 + 3 * HOUR);
        s.prune(1000 + 6 * HOUR - 1);
        assert_eq!(s.len(), 2);
        s.prune(1000 + 6 * HOUR + PRUNE_EVERY);
        assert_eq!(s.len(), 1);
        assert!(!s.refuses("old", 999));
        assert!(s.refuses("new", 999));
    }

    #[test]
    fn pruning_runs_at_most_once_a_minute() {
        let mut s = set();
        s.end("a", 1);
        s.prune(6 * HOUR);
        assert_eq!(s.len(), 1, "not expired yet");
        // Expired now, but the next pruning is not due yet.
        s.prune(6 * HOUR + 30);
        assert_eq!(s.len(), 1);
        s.prune(6 * HOUR + PRUNE_EVERY);
        assert!(s.is_empty());
    }

    #[test]
    fn the_set_stays_bounded_by_what_ended_within_one_lifetime() {
        let lifetime = 10 * 60_000;
        let mut s = EndedAssociations::new(chrono::Duration::milliseconds(lifetime));
        // One association ending every second for two lifetimes.
        for t in 0..1200_i64 {
            let now = t * 1000;
            s.end(&format!("a-{t}"), now);
            s.prune(now);
        }
        let per_lifetime = ((lifetime + PRUNE_EVERY) / 1000 + 1) as usize;
        assert!(s.len() <= per_lifetime, "{}", s.len());
        assert!(s.refuses("a-1199", 0));
        assert!(!s.refuses("a-0", 0));
    }
}
