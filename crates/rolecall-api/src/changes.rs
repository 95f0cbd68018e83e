//! Keeping every node's in-memory views current.
//!
//! A node that changes IAM or EC2 state refreshes its own caches and IMDS directory before it
//! answers, then writes a fresh random *generation* token to the shared store. Every node polls
//! that token; when it differs from the last one seen, the node refreshes too. A random token
//! (not a counter) needs no atomic increment: any write changes it, so no change is missed even
//! when two nodes publish at once. The propagation bound is the poll interval.

use crate::context::Api;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const KEY: &str = "generation";

async fn refresh(api: &Api) {
    api.policy_cache.clear();
    for l in &api.listeners {
        l.changed().await;
    }
}

/// After a successful change: refresh this node, then tell the others.
pub async fn publish(api: &Api) {
    refresh(api).await;
    let token = rolecall_crypto::request_id();
    api.generation.swap(Some(token.clone()));
    if let Err(e) = api.iam.store().set_meta(KEY, &token).await {
        tracing::error!(error = %e, "publishing a change to other nodes failed; they catch up on the next change");
    }
}

/// Polls the shared generation token forever, refreshing this node when another changed state.
pub async fn watch(api: Arc<Api>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let current = match api.iam.store().get_meta(KEY).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading the change generation failed");
                continue;
            }
        };
        let previous = api.generation.swap(current.clone());
        if current != previous {
            tracing::debug!("state changed on another node: refreshing");
            refresh(&api).await;
        }
    }
}
