//! The audit trail's events (CloudTrail records) as the store keeps them, the queries over them,
//! and the slot through which a write's event reaches the write's own transaction.
//!
//! A write's event is recorded in the same transaction as the change it describes: the API
//! runs the operation inside [`with_pending`], and the store's commit takes the event out of the
//! slot ([`seal_pending`]) and inserts it with the change feed's rows. A write that changed
//! nothing leaves the event in the slot, and the API records it off the request path like
//! reads and refusals.

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

/// A resource an event names (`resources` in the record; LookupEvents' `Resources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditResource {
    /// `AWS::IAM::Role`, `AWS::EC2::Instance`, ...
    pub resource_type: String,
    /// The short name (role name, instance id).
    pub name: String,
    pub arn: String,
}

/// One event: the lookup attributes as columns, and the CloudTrail record in two parts.
///
/// A client's requests share most of their records (`userIdentity`, `sourceIPAddress`,
/// `userAgent`, ...): that part is `context`, made once per client and batch and stored once per
/// segment; `detail` holds the fields of this event alone that are not columns (request
/// parameters, response elements, error, request id). [`AuditEvent::record`] joins them with the
/// columns into the record, when it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// A UUID (`eventID`); those this server makes carry their event time ([`new_event_id`]).
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    /// The server's own names are `&'static` (no allocation per event); those read back are
    /// owned.
    pub event_name: Cow<'static, str>,
    /// `iam.amazonaws.com`, `sts.amazonaws.com`, ...
    pub event_source: Cow<'static, str>,
    /// Shared with the caller's other events (the audit writer makes thousands of a client's
    /// events a second: no copy per event).
    pub username: Option<Arc<str>>,
    pub access_key_id: Option<Arc<str>>,
    pub read_only: bool,
    /// Shared by the events of a run of calls on the same resources, as the username.
    pub resources: Arc<[AuditResource]>,
    /// The record's fields shared by a client's requests (a JSON object's text). None: `detail`
    /// is the whole record (console sign-ins, IMDS issuances, events stored before segments had
    /// contexts).
    pub context: Option<Arc<str>>,
    /// The record's own fields (a JSON object's text), without secrets.
    pub detail: String,
}

impl AuditEvent {
    /// The CloudTrail record (`CloudTrailEvent`, JSON text): the context's fields, the columns
    /// (`eventTime`, `eventSource`, `eventName`, `eventID`, `readOnly`, `resources`) and the
    /// detail's fields, in CloudTrail's order as far as the parts allow.
    pub fn record(&self) -> String {
        let Some(context) = &self.context else {
            return self.detail.clone();
        };
        let mut out = String::with_capacity(context.len() + self.detail.len() + 512);
        out.push_str("{\"eventVersion\":\"1.08\",");
        push_members(&mut out, context);
        push_field(
            &mut out,
            "eventTime",
            &self.event_time.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        push_field(&mut out, "eventSource", &self.event_source);
        push_field(&mut out, "eventName", &self.event_name);
        push_members(&mut out, &self.detail);
        push_field(&mut out, "eventID", &self.event_id);
        out.push_str(if self.read_only {
            "\"readOnly\":true,"
        } else {
            "\"readOnly\":false,"
        });
        if !self.resources.is_empty() {
            out.push_str("\"resources\":[");
            for (i, r) in self.resources.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                push_field(
                    &mut out,
                    "accountId",
                    r.arn.split(':').nth(4).unwrap_or_default(),
                );
                push_field(&mut out, "type", &r.resource_type);
                push_string(&mut out, "ARN");
                out.push(':');
                push_string(&mut out, &r.arn);
                out.push('}');
            }
            out.push_str("],");
        }
        out.push_str("\"managementEvent\":true,\"eventCategory\":\"Management\"}");
        out
    }
}

/// `s` as a JSON string (records are rendered when read, not on the request path).
fn push_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// `"name":"value",`
fn push_field(out: &mut String, name: &str, value: &str) {
    push_string(out, name);
    out.push(':');
    push_string(out, value);
    out.push(',');
}

/// The members of the JSON object `object`, each followed by a comma.
fn push_members(out: &mut String, object: &str) {
    let inner = object
        .trim()
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or_default()
        .trim();
    if !inner.is_empty() {
        out.push_str(inner);
        out.push(',');
    }
}

/// The CloudTrail resource type of an ARN this server names, and the resource's short name
/// (None for other ARNs and patterns).
pub fn resource_of(arn: &str) -> Option<AuditResource> {
    let (resource_type, name) = resource_parts(arn)?;
    Some(AuditResource {
        resource_type: resource_type.into(),
        name: name.to_string(),
        arn: arn.to_string(),
    })
}

/// [`resource_of`]'s type and name, borrowed.
pub fn resource_parts(arn: &str) -> Option<(&'static str, &str)> {
    if arn.contains('*') {
        return None;
    }
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let (kind, path) = rest.split_once('/')?;
    let resource_type = match (service, kind) {
        ("iam", "role") => "AWS::IAM::Role",
        ("iam", "user") => "AWS::IAM::User",
        ("iam", "group") => "AWS::IAM::Group",
        ("iam", "policy") => "AWS::IAM::Policy",
        ("iam", "instance-profile") => "AWS::IAM::InstanceProfile",
        ("ec2", "instance") => "AWS::EC2::Instance",
        _ => return None,
    };
    Some((resource_type, path.rsplit('/').next().unwrap_or(path)))
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
/// ([`Draft::seal`]). The API's drafts hold what their request captured and are made into
/// events when recorded.
pub trait Draft: Send + 'static {
    /// The event as it stands now (its id made now, and kept for its completion).
    fn seal(&mut self) -> AuditEvent;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// A finished event is its own draft (tests, and events recorded as they are).
impl Draft for AuditEvent {
    fn seal(&mut self) -> AuditEvent {
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

tokio::task_local! {
    /// The task's own: filled by the API, read by the store's commit, both on the task.
    static PENDING: RefCell<Pending>;
}

/// What became of the draft [`with_pending`] ran with (boxed as it waited: it goes on to the
/// audit writer without another copy).
pub enum Outcome<D> {
    /// A write transaction recorded it (as it was then): it can only be completed now.
    Recorded(Box<D>),
    /// No write committed: it is still to be appended.
    NotRecorded(Box<D>),
    /// Neither (cannot happen: the draft stays in the slot until `with_pending` returns).
    Lost,
}

/// Runs `f` with `draft` waiting in the slot for the first committing write transaction.
pub async fn with_pending<D: Draft, F: std::future::Future>(
    draft: D,
    f: F,
) -> (F::Output, Outcome<D>) {
    let pending = RefCell::new(Pending {
        draft: Some(Box::new(draft)),
        recorded: false,
    });
    let mut scoped = std::pin::pin!(PENDING.scope(pending, f));
    let out = scoped.as_mut().await;
    let Some(p) = scoped.take_value().map(RefCell::into_inner) else {
        return (out, Outcome::Lost);
    };
    let draft = p.draft.and_then(|d| d.into_any().downcast::<D>().ok());
    let outcome = match (draft, p.recorded) {
        (Some(d), true) => Outcome::Recorded(d),
        (Some(d), false) => Outcome::NotRecorded(d),
        (None, _) => Outcome::Lost,
    };
    (out, outcome)
}

/// Changes the waiting draft (e.g. once the operation knows the resources it acts on), if it
/// is a `D` and no commit recorded it yet.
pub fn update_pending<D: Draft>(edit: impl FnOnce(&mut D)) {
    let _ = PENDING.try_with(|slot| {
        if let Ok(mut p) = slot.try_borrow_mut()
            && !p.recorded
            && let Some(d) = p.draft.as_mut()
            && let Some(d) = d.as_mut().as_any_mut().downcast_mut::<D>()
        {
            edit(d);
        }
    });
}

/// For a committing write transaction: the waiting event (outside [`with_pending`], or once a
/// commit recorded it, none). The transaction calls [`pending_recorded`] once it committed: a
/// transaction that fails leaves the event waiting, to be appended as the failed request's.
pub fn seal_pending() -> Option<AuditEvent> {
    PENDING
        .try_with(|slot| {
            let mut p = slot.try_borrow_mut().ok()?;
            if p.recorded {
                return None;
            }
            p.draft.as_mut().map(|d| d.seal())
        })
        .ok()
        .flatten()
}

/// The event [`seal_pending`] gave was committed with its write.
pub fn pending_recorded() {
    let _ = PENDING.try_with(|slot| {
        if let Ok(mut p) = slot.try_borrow_mut() {
            p.recorded = true;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            event_id: "e".into(),
            event_time: DateTime::from_timestamp_millis(1_000).unwrap_or_default(),
            event_name: "CreateRole".into(),
            event_source: "iam.amazonaws.com".into(),
            username: None,
            access_key_id: None,
            read_only: false,
            resources: Arc::default(),
            context: None,
            detail: "{}".into(),
        }
    }

    /// Runs `with_pending` to completion on the current thread (no runtime needed: nothing
    /// in it waits).
    fn run<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn only_a_committed_transaction_records_the_event() {
        // A transaction that sealed the event but did not commit leaves it to be appended.
        let (sealed, outcome) = run(with_pending(event(), async { seal_pending().is_some() }));
        assert!(sealed);
        assert!(matches!(outcome, Outcome::NotRecorded(_)));
        // One that committed records it, and a later transaction of the operation does not
        // record it again.
        let (again, outcome) = run(with_pending(event(), async {
            seal_pending();
            pending_recorded();
            seal_pending()
        }));
        assert!(again.is_none());
        assert!(matches!(outcome, Outcome::Recorded(_)));
        // Outside an operation there is no event.
        assert!(seal_pending().is_none());
    }
}
