//! The audit trail's events (CloudTrail records) as the store keeps them, the queries over them,
//! and the slot through which a write's event reaches the write's own transaction.
//!
//! A write's event is recorded in the same transaction as the change it describes: the API
//! runs the operation inside [`with_pending`], and the store's commit takes the event out of the
//! slot ([`take_pending`]) and inserts it with the change feed's rows. A write that changed
//! nothing leaves the event in the slot, and the API records it off the request path like
//! reads and refusals.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// A resource an event names (`resources` in the record; LookupEvents' `Resources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditResource {
    /// `AWS::IAM::Role`, `AWS::EC2::Instance`, ...
    pub resource_type: String,
    /// The short name (role name, instance id).
    pub name: String,
    pub arn: String,
}

/// One event: the lookup attributes as columns, and the CloudTrail record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// A UUID (`eventID`).
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    /// `iam.amazonaws.com`, `sts.amazonaws.com`, ...
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    pub resources: Vec<AuditResource>,
    /// The CloudTrail record (`CloudTrailEvent`), without secrets.
    pub record: serde_json::Value,
}

/// The attribute LookupEvents filters by (at most one, as CloudTrail allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKey {
    EventId,
    EventName,
    EventSource,
    Username,
    ResourceName,
    ResourceType,
    AccessKeyId,
    ReadOnly,
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditQuery {
    pub filter: Option<(LookupKey, String)>,
    /// Inclusive bounds on the event time.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Events strictly older than this (event time in ms, event id) — the page token.
    pub before: Option<(i64, String)>,
    /// The store returns up to `limit + 1` events, so the caller can tell there is more.
    pub limit: usize,
}

/// Events strictly newer than a position, oldest first (`rolecall audit --follow`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditTail {
    pub after: Option<(i64, String)>,
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// The event time as stored and compared (milliseconds since the epoch).
pub fn time_key(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The event of the operation the current task is running, until a commit records it.
#[derive(Default)]
pub struct Pending {
    event: Option<AuditEvent>,
    /// The event as a commit recorded it.
    recorded: Option<AuditEvent>,
}

/// Shared between the API (which fills it and reads the outcome) and the store.
pub type PendingSlot = Arc<Mutex<Pending>>;

tokio::task_local! {
    static PENDING: PendingSlot;
}

/// What became of the event [`with_pending`] ran with.
pub enum Outcome {
    /// A write transaction recorded it (as it was then): it can only be completed now.
    Recorded(AuditEvent),
    /// No write committed: it is still to be appended.
    NotRecorded(AuditEvent),
    /// Neither (cannot happen: the slot is only emptied by a recording commit).
    Lost,
}

/// Runs `f` with `event` waiting in the slot for the first committing write transaction.
pub async fn with_pending<F: std::future::Future>(event: AuditEvent, f: F) -> (F::Output, Outcome) {
    let slot: PendingSlot = Arc::new(Mutex::new(Pending {
        event: Some(event),
        recorded: None,
    }));
    let out = PENDING.scope(slot.clone(), f).await;
    let mut p = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let outcome = match (p.recorded.take(), p.event.take()) {
        (Some(r), _) => Outcome::Recorded(r),
        (None, Some(e)) => Outcome::NotRecorded(e),
        (None, None) => Outcome::Lost,
    };
    drop(p);
    (out, outcome)
}

/// Changes the waiting event (e.g. once the operation knows the resources it acts on).
pub fn update_pending(edit: impl FnOnce(&mut AuditEvent)) {
    let _ = PENDING.try_with(|slot| {
        if let Ok(mut p) = slot.lock()
            && let Some(e) = p.event.as_mut()
        {
            edit(e);
        }
    });
}

/// For a committing write transaction: the waiting event, once (outside [`with_pending`], none).
pub fn take_pending() -> Option<AuditEvent> {
    PENDING
        .try_with(|slot| {
            let mut p = slot.lock().ok()?;
            let e = p.event.take()?;
            p.recorded = Some(e.clone());
            Some(e)
        })
        .ok()
        .flatten()
}
