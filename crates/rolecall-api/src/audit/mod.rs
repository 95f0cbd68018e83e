//! The audit trail: every API request (allowed or refused, authentication failures included)
//! and every credential IMDS issues becomes a CloudTrail record (`record`), stored in the
//! database and looked up with CloudTrail's `LookupEvents` (`crate::cloudtrail`).
//!
//! A write's event is recorded in the write's own transaction (`rolecall_core::audit`), then
//! completed with its response elements off the request path. Reads, refusals and IMDS issuances
//! go through a bounded channel to one writer task that appends whatever has queued in one
//! transaction as soon as it can (so within a second unless the database is slower than that).
//! When the channel is full, API requests wait for room (back-pressure: no event is dropped);
//! IMDS, which answers synchronously, drops the event and counts it
//! (`rolecall_audit_events_dropped_total`) and logs it, rather than block.

pub mod record;

use rolecall_core::DynStore;
use rolecall_core::audit::AuditEvent;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events queued for the writer before API requests wait.
const QUEUE: usize = 16_384;
/// Most events appended in one transaction.
const BATCH: usize = 2_000;
/// Events deleted per retention transaction.
const PRUNE_BATCH: usize = 5_000;

enum Item {
    Append(AuditEvent),
    /// A write's event (already stored by its transaction) with its response.
    Complete(String, serde_json::Value),
}

/// Where events go. Off: nothing is recorded (tests, benchmarks, `--audit off`).
#[derive(Clone, Default)]
pub struct Audit {
    sink: Option<mpsc::Sender<Item>>,
}

impl Audit {
    pub fn off() -> Audit {
        Audit { sink: None }
    }

    /// Records into `store`: starts the writer task and the retention task (events older
    /// than `retention` are deleted, checked every minute).
    pub fn start(store: DynStore, retention: chrono::Duration) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write(store.clone(), rx));
        tokio::spawn(prune(store, retention));
        Audit { sink: Some(tx) }
    }

    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Queues an event, waiting for room if the writer is behind.
    pub(crate) async fn append(&self, event: AuditEvent) {
        if let Some(s) = &self.sink {
            let _ = s.send(Item::Append(event)).await;
        }
    }

    pub(crate) async fn complete(&self, event_id: String, record: serde_json::Value) {
        if let Some(s) = &self.sink {
            let _ = s.send(Item::Complete(event_id, record)).await;
        }
    }

    /// Queues an event without waiting (IMDS); a full queue drops it, counted and logged.
    pub fn try_append(&self, event: AuditEvent) {
        if let Some(s) = &self.sink
            && s.try_send(Item::Append(event)).is_err()
        {
            rolecall_core::metrics::metrics().audit_dropped.inc();
            tracing::warn!("audit queue full: an IMDS issuance event was dropped");
        }
    }

    /// The hook IMDS calls for every credential it mints.
    pub fn imds_hook(&self, region: String) -> rolecall_imds::IssueHook {
        let audit = self.clone();
        std::sync::Arc::new(move |n: rolecall_imds::IssuedNotice| {
            audit.try_append(record::imds_issuance(&n, &region));
        })
    }
}

/// The writer: appends what queued, in one transaction per batch.
async fn write(store: DynStore, mut rx: mpsc::Receiver<Item>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        let mut completions = Vec::new();
        for item in batch.drain(..) {
            match item {
                Item::Append(e) => appends.push(e),
                Item::Complete(id, r) => completions.push((id, r)),
            }
        }
        if let Err(e) = store.append_audit_events(&appends).await {
            rolecall_core::metrics::metrics()
                .audit_dropped
                .inc_by(u64::try_from(appends.len()).unwrap_or(u64::MAX));
            tracing::error!(error = %e, events = appends.len(), "audit: cannot store events");
        }
        for (id, record) in completions {
            if let Err(e) = store.complete_audit_event(&id, &record).await {
                tracing::error!(error = %e, event = %id, "audit: cannot complete an event");
            }
        }
    }
}

/// Retention: deletes events older than `retention`, in batches, every minute.
async fn prune(store: DynStore, retention: chrono::Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - retention;
        loop {
            match store.prune_audit_events(before, PRUNE_BATCH).await {
                Ok(n) if n >= u64::try_from(PRUNE_BATCH).unwrap_or(u64::MAX) => {
                    tokio::task::yield_now().await
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "audit: retention failed");
                    break;
                }
            }
        }
    }
}
