//! Keeping every node's in-memory views current, from the store's change feed.
//!
//! Every store write records the entities it touched under the next feed sequence, in its own
//! transaction (see `rolecall_store_sql`). A node that changes IAM or EC2 state refreshes its
//! own caches and IMDS directory before it answers (the directory applies the changes since its
//! sequence). Every node polls the feed's newest sequence; when it moved, the node refreshes
//! too, so another node's change is in force here within one poll interval. The same sequence
//! is the change generation agents poll (`rolecall:GetChangeGeneration`).

use crate::context::Api;
use rolecall_core::ChangesSince;
use std::sync::Arc;
use std::time::Duration;

/// Sequences of the change feed kept when pruning: a consumer further behind reloads fully.
pub const FEED_KEEP: u64 = 100_000;
/// Polls between two prunings of the feed.
const PRUNE_EVERY: u32 = 240;

/// Changes read from the feed at a time.
const FEED_BATCH: usize = 10_000;

async fn refresh(api: &Api) {
    if let Err(e) = refresh_cache(api).await {
        // Nothing stale may stay: drop everything (the next refresh reads the feed again).
        api.policy_cache.clear();
        tracing::error!(error = %e, "policy cache: reading the change feed failed");
    }
    if let Err(e) = api.revocations.reload().await {
        tracing::error!(error = %e, "revocations: reading the change feed failed");
    }
    for l in &api.listeners {
        l.changed().await;
    }
}

/// Brings the policy cache to the feed's newest sequence: drops only the entries that depend on
/// what the changes touched; everything when it has no sequence yet or fell behind a pruning
/// (the newest sequence read first, so a change committed meanwhile is applied again after).
async fn refresh_cache(api: &Api) -> rolecall_core::Result<()> {
    let store = api.iam.store();
    let mut seq = api.policy_cache.seq.lock().await;
    loop {
        let Some(at) = *seq else {
            let latest = store.latest_change().await?;
            api.policy_cache.clear();
            *seq = Some(latest);
            return Ok(());
        };
        match store.changes_since(at, FEED_BATCH).await? {
            ChangesSince::Pruned { latest } => {
                tracing::warn!(
                    at,
                    latest,
                    "policy cache fell behind the pruned change feed: clearing it"
                );
                api.policy_cache.clear();
                *seq = Some(latest);
                return Ok(());
            }
            ChangesSince::Changes { changes, latest } => {
                if latest <= at {
                    return Ok(());
                }
                api.policy_cache.invalidate(&changes);
                *seq = Some(latest);
            }
        }
    }
}

/// After a successful change: refresh this node (other nodes follow the feed the change was
/// recorded in).
pub async fn publish(api: &Api) {
    refresh(api).await;
}

/// Polls the change feed forever, refreshing this node when a change was recorded (by this
/// node or another), and prunes the feed now and then.
pub async fn watch(api: Arc<Api>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls: u32 = 0;
    loop {
        tick.tick().await;
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(PRUNE_EVERY)
            && let Err(e) = api.iam.store().prune_changes(FEED_KEEP).await
        {
            tracing::warn!(error = %e, "pruning the change feed failed");
        }
        let current = match api.iam.store().latest_change().await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "reading the change feed failed");
                continue;
            }
        };
        let previous = api.generation.swap(current);
        if current != previous {
            tracing::debug!("state changed: refreshing");
            refresh(&api).await;
        }
    }
}
