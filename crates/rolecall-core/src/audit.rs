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
    /// A UUID (`eventID`); those this server makes carry their event time ([`new_event_id`]).
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    /// `iam.amazonaws.com`, `sts.amazonaws.com`, ...
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    pub resources: Vec<AuditResource>,
    /// The CloudTrail record (`CloudTrailEvent`, JSON text), without secrets.
    pub record: String,
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

/// A new event id for an event at `t`: a UUID carrying `t` in milliseconds, so an event is
/// found by its id through the `(event_time, event_id)` key, without an index of its own.
pub fn new_event_id(t: DateTime<Utc>) -> String {
    rolecall_crypto::time_ordered_id(time_key(t))
}

/// The event time (ms) an id from [`new_event_id`] carries; None for any other id (events
/// recorded before migration 10 have random ids).
pub use rolecall_crypto::time_of_id;

/// An event under construction while its request runs: what a committing write records
/// ([`Draft::seal`]). The API's drafts hold the record typed and serialize it once.
pub trait Draft: Send + 'static {
    /// The event as it stands now.
    fn seal(&self) -> AuditEvent;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// A finished event is its own draft (tests, and events recorded as they are).
impl Draft for AuditEvent {
    fn seal(&self) -> AuditEvent {
        self.clone()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The event of the operation the current task is running, until a commit records it.
#[derive(Default)]
pub struct Pending {
    draft: Option<Box<dyn Draft>>,
    /// Whether a commit recorded it (then `draft` is still here, to be completed).
    recorded: bool,
}

/// Shared between the API (which fills it and reads the outcome) and the store.
pub type PendingSlot = Arc<Mutex<Pending>>;

tokio::task_local! {
    static PENDING: PendingSlot;
}

/// What became of the draft [`with_pending`] ran with.
pub enum Outcome<D> {
    /// A write transaction recorded it (as it was then): it can only be completed now.
    Recorded(D),
    /// No write committed: it is still to be appended.
    NotRecorded(D),
    /// Neither (cannot happen: the draft stays in the slot until `with_pending` returns).
    Lost,
}

/// Runs `f` with `draft` waiting in the slot for the first committing write transaction.
pub async fn with_pending<D: Draft, F: std::future::Future>(
    draft: D,
    f: F,
) -> (F::Output, Outcome<D>) {
    let slot: PendingSlot = Arc::new(Mutex::new(Pending {
        draft: Some(Box::new(draft)),
        recorded: false,
    }));
    let out = PENDING.scope(slot.clone(), f).await;
    let mut p = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let draft = p
        .draft
        .take()
        .and_then(|d| d.into_any().downcast::<D>().ok());
    let outcome = match (draft, p.recorded) {
        (Some(d), true) => Outcome::Recorded(*d),
        (Some(d), false) => Outcome::NotRecorded(*d),
        (None, _) => Outcome::Lost,
    };
    drop(p);
    (out, outcome)
}

/// Changes the waiting draft (e.g. once the operation knows the resources it acts on), if it
/// is a `D` and no commit recorded it yet.
pub fn update_pending<D: Draft>(edit: impl FnOnce(&mut D)) {
    let _ = PENDING.try_with(|slot| {
        if let Ok(mut p) = slot.lock()
            && !p.recorded
            && let Some(d) = p.draft.as_mut()
            && let Some(d) = d.as_mut().as_any_mut().downcast_mut::<D>()
        {
            edit(d);
        }
    });
}

/// For a committing write transaction: the waiting event, once (outside [`with_pending`], none).
pub fn take_pending() -> Option<AuditEvent> {
    PENDING
        .try_with(|slot| {
            let mut p = slot.lock().ok()?;
            if p.recorded {
                return None;
            }
            let e = p.draft.as_ref()?.seal();
            p.recorded = true;
            Some(e)
        })
        .ok()
        .flatten()
}
