//! The audit trail: every API request (allowed or refused, authentication failures included)
//! and every credential IMDS issues becomes a CloudTrail record (`record`), stored in the
//! database and looked up with CloudTrail's `LookupEvents` (`crate::cloudtrail`).
//!
//! A request's event is a [`record::Draft`]: what the request captured (its caller shared with the
//! caller's other requests, [`callers`]), made into its event later. A write's event is recorded in
//! the write's own transaction (`rolecall_core::audit`: its draft waits in the task's pending slot
//! for the commit), then completed with its response elements off the request path; a read's draft
//! waits beside its call instead ([`ReadEvent`]), as no commit records it. Reads, refusals and IMDS
//! issuances go through a bounded channel to one writer task, which makes the drafts into events
//! (the record's context is its caller's, serialized when the caller was first seen: a client's
//! thousand GetRoles serialize its identity once), which sleeps [`LINGER`] after the first event
//! (not woken by each one that follows; not at all after a full batch) and then appends what queued
//! in one transaction: a few large transactions a second instead of one per handful of events (each
//! commit rewrites the log's and the lookup table's newest pages and syncs), so events are durable
//! within about half a second. Completions have their own channel and end the wait: they are
//! written at once. When the channel is full, API requests wait for room (back-pressure: no event
//! is dropped); IMDS, which answers synchronously, drops the event and counts it
//! (`rolecall_audit_events_dropped_total`) and logs it, rather than block.

pub mod callers;
pub mod record;

use rolecall_core::audit::AuditEvent;
use rolecall_core::{DynClock, DynStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events queued for the writer before API requests wait: several batches, so that a slow
/// commit (a checkpoint, a busy disk) is absorbed rather than felt by requests.
const QUEUE: usize = 4 * BATCH;
/// Most events appended in one transaction.
const BATCH: usize = 8_192;
/// How long the writer gathers events before appending them.
const LINGER: Duration = Duration::from_millis(250);
/// Events deleted per retention transaction.
const PRUNE_BATCH: usize = 5_000;

/// A write's event (already stored by its transaction, found by its time and id) with its
/// final detail.
type Completion = (chrono::DateTime<chrono::Utc>, String, String);

/// What the writer is sent to append.
#[expect(
    clippy::large_enum_variant,
    reason = "drafts are moved through the channel's reused slots rather than boxed"
)]
enum Queued {
    /// A request's draft, made into its event by the writer. Moved in by value, not boxed: a
    /// box per request would be allocated on a request thread and freed on the writer's, and
    /// such frees cost the request threads' allocator later; the channel's slots are reused.
    Request(record::Draft),
    /// An event already made (IMDS issuances, console sign-ins).
    Event(AuditEvent),
}

#[derive(Clone)]
struct Sinks {
    appends: mpsc::Sender<Queued>,
    completions: mpsc::Sender<Completion>,
    callers: Arc<callers::Callers>,
}

/// Where events go. Off: nothing is recorded (tests, benchmarks, `--audit off`).
#[derive(Clone, Default)]
pub struct Audit {
    sink: Option<Sinks>,
}

impl Audit {
    pub fn off() -> Audit {
        Audit { sink: None }
    }

    /// Records into `store`: starts the writer task and the retention task (events older
    /// than `retention` are deleted, checked every minute).
    pub fn start(store: DynStore, retention: chrono::Duration, clock: DynClock) -> Audit {
        let (appends, appended) = mpsc::channel(QUEUE);
        let (completions, completed) = mpsc::channel(QUEUE);
        tokio::spawn(write(store.clone(), appended, completed));
        tokio::spawn(prune(store, retention, clock));
        Audit {
            sink: Some(Sinks {
                appends,
                completions,
                callers: Arc::default(),
            }),
        }
    }

    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// The draft event of a request (None when auditing is off); `principal` is None when
    /// authentication failed, `params` None when the request was rejected before its
    /// parameters were read.
    pub(crate) fn request_event(
        &self,
        info: &record::RequestInfo<'_>,
        principal: Option<&crate::principal::Principal>,
        access_key_id: &str,
        params: Option<&rolecall_wire::Params>,
    ) -> Option<record::Draft> {
        let s = self.sink.as_ref()?;
        let caller = s.callers.of(info, principal, access_key_id);
        Some(record::request_event(info, caller, params))
    }

    /// Queues an event, waiting for room if the writer is behind.
    pub(crate) async fn append(&self, event: AuditEvent) {
        if let Some(s) = &self.sink {
            let _ = s.appends.send(Queued::Event(event)).await;
        }
    }

    /// Queues a request's event, made into its record by the writer; waits for room as
    /// [`append`](Self::append).
    pub(crate) async fn append_request(&self, draft: record::Draft) {
        if let Some(s) = &self.sink {
            // Most requests find room: queued without the waiting send's future.
            if let Err(mpsc::error::TrySendError::Full(queued)) =
                s.appends.try_send(Queued::Request(draft))
            {
                let _ = s.appends.send(queued).await;
            }
        }
    }

    pub(crate) async fn complete(&self, draft: &record::Draft) {
        if let Some(s) = &self.sink {
            let _ = s.completions.send(draft.completion()).await;
        }
    }

    /// Queues an event without waiting (IMDS); a full queue drops it, counted and logged.
    pub fn try_append(&self, event: AuditEvent) {
        if let Some(s) = &self.sink
            && s.appends.try_send(Queued::Event(event)).is_err()
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

/// A read's draft while its operation runs (`Call::read_event`):
/// reads commit no write that could record it, so it needs no task-local slot, whose scope
/// costs every poll of the request's future.
pub struct ReadEvent(std::sync::Mutex<record::Draft>);

impl ReadEvent {
    pub(crate) fn new(draft: record::Draft) -> ReadEvent {
        ReadEvent(std::sync::Mutex::new(draft))
    }

    pub(crate) fn set_resources<'a>(&self, arns: impl IntoIterator<Item = &'a str>) {
        let mut draft = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record::set_resources(&mut draft, arns);
    }

    pub(crate) fn into_draft(self) -> record::Draft {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

type StoreResult = Result<(), rolecall_core::StoreError>;

/// What the writer needs of the store (the store itself; a recorder in tests).
trait EventLog: Clone + Send + Sync + 'static {
    fn append(
        &self,
        events: &[AuditEvent],
    ) -> impl std::future::Future<Output = StoreResult> + Send;
    fn complete(&self, c: &Completion) -> impl std::future::Future<Output = StoreResult> + Send;
}

impl EventLog for DynStore {
    async fn append(&self, events: &[AuditEvent]) -> StoreResult {
        self.append_audit_events(events).await
    }

    async fn complete(&self, (time, id, record): &Completion) -> StoreResult {
        self.complete_audit_event(*time, id, record).await
    }
}

/// The writer: after the first event, sleeps [`LINGER`] (a completion ends the sleep: the write
/// it completes has already answered), then appends what queued in one transaction. After a
/// full batch it does not sleep: events are arriving faster than a batch per linger, and
/// sleeping again would cap recording at [`BATCH`] events per linger and hold requests back
/// once the queue filled.
async fn write(
    store: impl EventLog,
    mut appends: mpsc::Receiver<Queued>,
    mut completions: mpsc::Receiver<Completion>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    // Reused from batch to batch: a fresh 8,192-event vector is megabytes of new pages (and
    // their faults) four times a second.
    let mut events: Vec<AuditEvent> = Vec::with_capacity(BATCH);
    let mut done: Vec<Completion> = Vec::new();
    let mut behind = false;
    loop {
        tokio::select! {
            n = appends.recv_many(&mut batch, BATCH) => if n == 0 { return },
            c = completions.recv() => match c {
                Some(c) => done.push(c),
                None => return,
            },
        }
        if done.is_empty() && !behind {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                c = completions.recv() => done.extend(c),
            }
        }
        while batch.len() < BATCH
            && let Ok(e) = appends.try_recv()
        {
            batch.push(e);
        }
        while let Ok(c) = completions.try_recv() {
            done.push(c);
        }
        // Made into events and stored on a thread of their own: the batch's memory comes and
        // goes there, not through the request threads' allocator pages and caches.
        let (mut queued, mut made) = (std::mem::take(&mut batch), std::mem::take(&mut events));
        let (writer_store, runtime) = (store.clone(), tokio::runtime::Handle::current());
        let batch_len = queued.len();
        behind = batch_len == BATCH;
        let stored = tokio::task::spawn_blocking(move || {
            let mut last = record::LastResources::default();
            made.extend(queued.drain(..).map(|q| q.into_event(&mut last)));
            let stored = runtime.block_on(writer_store.append(&made));
            let n = made.len();
            made.clear();
            (stored, n, queued, made)
        })
        .await;
        let dropped = |n: usize| {
            rolecall_core::metrics::metrics()
                .audit_dropped
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        };
        match stored {
            Ok((stored, n, queued, made)) => {
                (batch, events) = (queued, made);
                if let Err(e) = stored {
                    dropped(n);
                    tracing::error!(error = %e, events = n, "audit: cannot store events");
                }
            }
            Err(e) => {
                dropped(batch_len);
                tracing::error!(error = %e, events = batch_len, "audit: the writer failed");
            }
        }
        for c in done.drain(..) {
            if let Err(e) = store.complete(&c).await {
                tracing::error!(error = %e, event = %c.1, "audit: cannot complete an event");
            }
        }
    }
}

impl Queued {
    /// The event, after the draft `last` made into one before it.
    fn into_event(self, last: &mut record::LastResources) -> AuditEvent {
        match self {
            Queued::Event(e) => e,
            Queued::Request(d) => d.into_event_after(last),
        }
    }
}

/// Retention: deletes events older than `retention`, in batches, every minute.
async fn prune(store: DynStore, retention: chrono::Duration, clock: DynClock) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let before = clock.now() - retention;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::time::Instant;

    fn event(n: usize) -> AuditEvent {
        let event_time = chrono::Utc::now() + chrono::Duration::milliseconds(n as i64);
        AuditEvent {
            event_id: rolecall_core::audit::new_event_id(event_time),
            event_time,
            event_name: "GetRole".into(),
            event_source: "iam.amazonaws.com".into(),
            username: Some("alice".into()),
            access_key_id: None,
            read_only: true,
            resources: Arc::default(),
            context: None,
            detail: "{}".into(),
        }
    }

    /// When each append came and how many events it had.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(Instant, usize)>>>);

    impl EventLog for Recorder {
        async fn append(&self, events: &[AuditEvent]) -> StoreResult {
            if let Ok(mut appends) = self.0.lock() {
                appends.push((Instant::now(), events.len()));
            }
            Ok(())
        }

        async fn complete(&self, _: &Completion) -> StoreResult {
            Ok(())
        }
    }

    impl Recorder {
        fn appends(&self) -> Vec<(Instant, usize)> {
            self.0.lock().map(|a| a.clone()).unwrap_or_default()
        }
    }

    /// Events queued faster than a batch per linger are stored without a linger between the
    /// batches: sleeping after a full batch capped recording at a batch per linger, and the
    /// queue then filled and held API requests back. (Tokio's clock is paused: the times are
    /// the writer's sleeps, not this machine's speed.)
    #[tokio::test(start_paused = true)]
    async fn a_writer_behind_does_not_linger_between_full_batches() {
        let log = Recorder::default();
        let (appends, appended) = mpsc::channel(QUEUE);
        let (_completions, completed) = mpsc::channel(1);
        let writer = tokio::spawn(write(log.clone(), appended, completed));
        let started = Instant::now();
        for n in 0..3 * BATCH {
            appends.send(Queued::Event(event(n))).await.expect("queued");
        }
        while log.appends().len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let batches = log.appends();
        assert_eq!(
            batches.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            [BATCH; 3]
        );
        // One linger before the first batch; the two full ones behind it follow at once (with
        // a linger before each, the third would come after three).
        let last = batches[2].0 - started;
        assert!(last >= LINGER && last < 2 * LINGER, "{last:?}");
        // What queued behind a full batch is stored at once too, and a batch that was not
        // full is followed by a linger again.
        for expected in [4, 5] {
            appends.send(Queued::Event(event(0))).await.expect("queued");
            while log.appends().len() < expected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let (third, fourth, fifth) = (batches[2].0, log.appends()[3].0, log.appends()[4].0);
        assert!(fourth - third < LINGER, "{:?}", fourth - third);
        assert!(fifth - fourth >= LINGER, "{:?}", fifth - fourth);
        drop(appends);
        writer.await.expect("the writer ends with its queue");
    }
}
