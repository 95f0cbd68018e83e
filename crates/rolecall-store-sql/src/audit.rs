//! The audit trail's tables (migration 12): events are stored in segments. `audit_segment` holds
//! one row per segment — up to [`SEGMENT_EVENTS`] events spanning at most [`SEGMENT_SPAN`],
//! oldest first, as one JSON array (`body`) — keyed by its newest event (seg_time, seg_id) and
//! carrying its oldest event's time (`first_time`); `audit_segment_key` has one row per distinct
//! lookup attribute (attr, value) of a segment's events. A batch of a thousand GetRoles by one
//! user is then a few segment rows and a handful of key rows, not thousands of rows: recording a
//! read costs little more than encoding it.
//!
//! A write's event is a segment of one, inserted in the write's own transaction (see
//! `Write::commit`); the batches of reads and refusals are cut into segments. Lookups read the
//! segments that may hold matching events newest first (through `audit_segment_key` when they
//! filter by an attribute), decode them and filter and order their events in memory, and stop as
//! soon as no further segment can hold one of the page's events: the page (newest first, ties by
//! event id; page token the last event's time and id) is the same as if every event were a row.
//! [`SEGMENT_SPAN`] bounds every scan by time. Retention deletes whole segments, and rewrites one
//! that straddles the cut without its expired events.

use crate::{Args, Dialect, SqlStore, backend};
use chrono::{DateTime, Utc};
use rolecall_core::audit::{
    AuditEvent, AuditQuery, AuditResource, AuditTail, LookupKey, resource_of, resource_parts,
    time_key, time_of_id,
};
use rolecall_core::{StoreError, StoreResult as Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// Most events in one segment (a page's read decodes a few segments at most).
const SEGMENT_EVENTS: usize = 256;
/// Longest time (ms) one segment spans, newest minus oldest event: a segment holding events
/// at time T has `seg_time` in [T, T + SEGMENT_SPAN], which bounds every scan.
const SEGMENT_SPAN: i64 = 10_000;
/// Segments a lookup reads per round trip.
const SEGMENTS_PER_READ: i64 = 4;

/// The `attr` codes of `audit_segment_key` (as migration 10's `audit_lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Attr {
    EventName = 1,
    EventSource = 2,
    Username = 3,
    AccessKeyId = 4,
    ReadOnly = 5,
    ResourceType = 6,
    /// A resource's name and, as a second row, its ARN.
    ResourceName = 7,
    /// Only for ids that do not carry their time (events from before migration 10, tests).
    EventId = 8,
}

impl From<LookupKey> for Attr {
    fn from(k: LookupKey) -> Attr {
        match k {
            LookupKey::EventId => Attr::EventId,
            LookupKey::EventName => Attr::EventName,
            LookupKey::EventSource => Attr::EventSource,
            LookupKey::Username => Attr::Username,
            LookupKey::ResourceName => Attr::ResourceName,
            LookupKey::ResourceType => Attr::ResourceType,
            LookupKey::AccessKeyId => Attr::AccessKeyId,
            LookupKey::ReadOnly => Attr::ReadOnly,
        }
    }
}

fn flag(read_only: bool) -> &'static str {
    if read_only { "true" } else { "false" }
}

/// The event's lookup attributes (attribute, value), possibly repeated.
fn lookup_rows(e: &AuditEvent) -> impl Iterator<Item = (Attr, &str)> {
    let fixed = [
        (Attr::EventName, &*e.event_name),
        (Attr::EventSource, &*e.event_source),
        (Attr::ReadOnly, flag(e.read_only)),
    ];
    let optional = [
        e.username.as_deref().map(|u| (Attr::Username, u)),
        e.access_key_id.as_deref().map(|k| (Attr::AccessKeyId, k)),
        (time_of_id(&e.event_id) != Some(time_key(e.event_time)))
            .then_some((Attr::EventId, e.event_id.as_str())),
    ];
    let resources = e.resources.iter().flat_map(|r| {
        [
            (Attr::ResourceType, r.resource_type.as_str()),
            (Attr::ResourceName, r.name.as_str()),
            (Attr::ResourceName, r.arn.as_str()),
        ]
    });
    fixed
        .into_iter()
        .chain(optional.into_iter().flatten())
        .chain(resources)
}

/// The distinct lookup attributes of `events` (a segment's key rows).
fn distinct_keys<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> HashSet<(Attr, &'a str)> {
    let mut keys = HashSet::new();
    let mut previous: Option<&AuditEvent> = None;
    for e in events {
        // A client's run of one call adds no new key: not hashed again.
        if previous.is_some_and(|p| same_keys(p, e)) {
            continue;
        }
        keys.extend(lookup_rows(e));
        previous = Some(e);
    }
    keys
}

/// Whether `b` has no lookup attribute `a` lacks.
fn same_keys(a: &AuditEvent, b: &AuditEvent) -> bool {
    a.event_name == b.event_name
        && a.event_source == b.event_source
        && a.read_only == b.read_only
        && a.username == b.username
        && a.access_key_id == b.access_key_id
        && same_resources(a, b)
        && time_of_id(&b.event_id) == Some(time_key(b.event_time))
}

/// Whether two events name the same resources (a run of one client's calls shares them).
fn same_resources(a: &AuditEvent, b: &AuditEvent) -> bool {
    Arc::ptr_eq(&a.resources, &b.resources) || a.resources == b.resources
}

/// One multi-row statement in a few fixed sizes (so each size is prepared once per connection
/// and reused): `head`, `(…), (…)` groups of `width` placeholders, `tail`.
///
/// SQLite gets anonymous `?` placeholders: sqlx finds each numbered one's argument through
/// `sqlite3_bind_parameter_name`, a linear search, which made a 900-parameter statement cost
/// more than its rows (quadratic); PostgreSQL needs `$N`.
struct Batched {
    head: &'static str,
    tail: &'static str,
    width: usize,
    /// Rows per statement, largest first; the last is 1.
    sizes: [usize; 3],
    /// Per size: (numbered `$N`, anonymous `?`).
    sql: OnceLock<[(String, String); 3]>,
}

impl Batched {
    const fn new(
        head: &'static str,
        tail: &'static str,
        width: usize,
        sizes: [usize; 3],
    ) -> Batched {
        Batched {
            head,
            tail,
            width,
            sizes,
            sql: OnceLock::new(),
        }
    }

    fn sql(&self, size_index: usize, anonymous: bool) -> &str {
        let all = self.sql.get_or_init(|| {
            self.sizes.map(|rows| {
                let text = |placeholder: &dyn Fn(usize) -> String| {
                    let groups: Vec<String> = (0..rows)
                        .map(|r| {
                            let cols: Vec<String> = (1..=self.width)
                                .map(|c| placeholder(r * self.width + c))
                                .collect();
                            format!("({})", cols.join(", "))
                        })
                        .collect();
                    format!("{}{}{}", self.head, groups.join(", "), self.tail)
                };
                (text(&|n| format!("${n}")), text(&|_| "?".to_string()))
            })
        });
        all.get(size_index).map_or(
            "",
            |(numbered, anon)| if anonymous { anon } else { numbered },
        )
    }

    /// `items` cut into statements for database `DB`: (its SQL, its rows).
    fn chunks<'a, DB: Database, T>(&'a self, mut items: &'a [T]) -> Vec<(&'a str, &'a [T])> {
        let anonymous = DB::NAME == "SQLite";
        let mut out = Vec::new();
        for (i, size) in self.sizes.iter().enumerate() {
            while items.len() >= *size {
                let (chunk, rest) = items.split_at(*size);
                out.push((self.sql(i, anonymous), chunk));
                items = rest;
            }
        }
        out
    }
}

/// 4 parameters a row; bodies are up to a few hundred KB, so few rows a statement.
static INSERT_SEGMENT: Batched = Batched::new(
    "INSERT INTO audit_segment (seg_time, seg_id, first_time, body) VALUES ",
    "",
    4,
    [16, 4, 1],
);
static INSERT_KEY: Batched = Batched::new(
    "INSERT INTO audit_segment_key (attr, value, seg_time, seg_id) VALUES ",
    "",
    4,
    [250, 25, 1],
);
static DELETE_KEY: Batched = Batched::new(
    "DELETE FROM audit_segment_key WHERE (attr, value, seg_time, seg_id) IN (",
    ")",
    4,
    [250, 25, 1],
);

/// Runs the `Batched` statement over `rows` on database `DB`, binding each row with `bind`.
macro_rules! each_chunk {
    ($db:ty, $conn:expr, $batched:expr, $rows:expr, |$q:ident, $row:ident| $bind:expr) => {
        for (sql, chunk) in $batched.chunks::<$db, _>($rows) {
            let mut $q = sqlx::query::<$db>(sql);
            for $row in chunk {
                $q = $bind;
            }
            $q.execute(&mut *$conn).await.map_err(|e| backend(&e))?;
        }
    };
}

/// A segment's body (format 3): `{"v":3,"c":[contexts],"e":[events]}`, each distinct record
/// context once (a segment of one client's requests stores its identity, address and user agent
/// once) and each event as its columns, its resources' ARNs (their type and name follow from
/// the ARN), the index of its context and its detail. An event leaves out what it shares with
/// the event before it in the body (name, source, user, key, read-only, resources, context:
/// `null` or `[]` where it has none but the one before had) and its time where its id carries
/// it: about 150 bytes for a GetRole. Contexts and details are JSON objects, written as they
/// are (not escaped into strings).
fn encode(events: &[&AuditEvent]) -> Result<String> {
    let mut contexts: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    // Consecutive events of one client share one `Arc`: compared by pointer before hashing.
    let mut last: Option<(&Arc<str>, usize)> = None;
    let mut refs: Vec<Option<usize>> = Vec::with_capacity(events.len());
    for e in events {
        refs.push(e.context.as_ref().map(|c| match last {
            Some((l, i)) if Arc::ptr_eq(l, c) => i,
            _ => {
                let i = *index.entry(c).or_insert_with(|| {
                    contexts.push(c);
                    contexts.len() - 1
                });
                last = Some((c, i));
                i
            }
        }));
    }
    let size = contexts.iter().map(|c| c.len() + 1).sum::<usize>()
        + events
            .iter()
            .map(|e| {
                e.detail.len() + 192 + e.resources.iter().map(|r| r.arn.len() + 3).sum::<usize>()
            })
            .sum::<usize>();
    let mut out: Vec<u8> = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"v\":3,\"c\":[");
    for (i, c) in contexts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(b"],\"e\":[");
    let mut before: Option<(&AuditEvent, Option<usize>)> = None;
    for (e, context) in events.iter().zip(refs) {
        if before.is_some() {
            out.push(b',');
        }
        write_event(&mut out, e, context, before)
            .map_err(|e| backend_text("encode audit segment", &e))?;
        before = Some((e, context));
    }
    out.extend_from_slice(b"]}");
    String::from_utf8(out).map_err(|e| backend_text("encode audit segment", &e))
}

/// One event of a format-3 body, after `before` (the body's previous event and its context).
fn write_event(
    out: &mut Vec<u8>,
    e: &AuditEvent,
    context: Option<usize>,
    before: Option<(&AuditEvent, Option<usize>)>,
) -> serde_json::Result<()> {
    let field = |out: &mut Vec<u8>, name: &[u8], value: &str| {
        out.extend_from_slice(name);
        serde_json::to_writer(&mut *out, value)
    };
    out.push(b'{');
    field(out, b"\"id\":", &e.event_id)?;
    if time_of_id(&e.event_id) != Some(time_key(e.event_time)) {
        out.extend_from_slice(b",\"t\":");
        serde_json::to_writer(&mut *out, &time_key(e.event_time))?;
    }
    let (b, b_context) = match before {
        Some((b, c)) => (Some(b), c),
        None => (None, None),
    };
    type Text = fn(&AuditEvent) -> Option<&str>;
    let texts: [(&[u8], Text); 4] = [
        (b",\"n\":", |e| Some(&e.event_name)),
        (b",\"s\":", |e| Some(&e.event_source)),
        (b",\"u\":", |e| e.username.as_deref()),
        (b",\"k\":", |e| e.access_key_id.as_deref()),
    ];
    for (name, text) in texts {
        let value = text(e);
        if value != b.and_then(text) {
            out.extend_from_slice(name);
            serde_json::to_writer(&mut *out, &value)?;
        }
    }
    if b.is_none_or(|b| b.read_only != e.read_only) {
        out.extend_from_slice(if e.read_only {
            b",\"ro\":true"
        } else {
            b",\"ro\":false"
        });
    }
    if b.map_or(!e.resources.is_empty(), |b| !same_resources(b, e)) {
        out.extend_from_slice(b",\"res\":[");
        for (i, r) in e.resources.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // An ARN alone where it says the type and name (always, for the API's events);
            // otherwise the resource in full.
            if resource_parts(&r.arn) == Some((r.resource_type.as_str(), r.name.as_str())) {
                serde_json::to_writer(&mut *out, &r.arn)?;
            } else {
                field(out, b"{\"type\":", &r.resource_type)?;
                field(out, b",\"name\":", &r.name)?;
                field(out, b",\"arn\":", &r.arn)?;
                out.push(b'}');
            }
        }
        out.push(b']');
    }
    if context != b_context {
        out.extend_from_slice(b",\"c\":");
        serde_json::to_writer(&mut *out, &context)?;
    }
    let detail = e.detail.trim();
    if detail.starts_with('{') && detail.ends_with('}') {
        out.extend_from_slice(b",\"d\":");
        out.extend_from_slice(detail.as_bytes());
    } else {
        // Not a JSON object (a whole record of format 1 that was empty or malformed): kept as
        // text, as format 1 kept records, so the body stays valid JSON.
        field(out, b",\"r\":", &e.detail)?;
    }
    out.push(b'}');
    Ok(())
}

fn backend_text(what: &str, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

#[derive(Deserialize)]
struct Segment {
    v: u32,
    c: Vec<Box<RawValue>>,
    e: Vec<Loaded>,
}

/// An event of any format: format 3's (fields the previous event shares left out, `null`
/// for none), format 2's (resources as ARNs, context index `c`, detail `d`, absent `u`/`k`/`c`
/// for none) or format 1's (migration 12's bodies: a JSON array of events with their resources
/// in full and each whole record as a string, `r`). `Some(None)` is an explicit `null`.
#[derive(Deserialize)]
struct Loaded {
    #[serde(default)]
    t: Option<i64>,
    id: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    s: Option<String>,
    #[serde(default, deserialize_with = "given")]
    u: Option<Option<String>>,
    #[serde(default, deserialize_with = "given")]
    k: Option<Option<String>>,
    #[serde(default)]
    ro: Option<bool>,
    #[serde(default)]
    res: Option<Vec<LoadedResource>>,
    #[serde(default, deserialize_with = "given")]
    c: Option<Option<usize>>,
    #[serde(default)]
    d: Option<Box<RawValue>>,
    #[serde(default)]
    r: Option<String>,
}

/// A field that is present (`null` included): absent ones stay `None` by `default`.
fn given<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What a format-3 event leaves out: its previous event's.
#[derive(Default)]
struct Shared {
    name: Option<String>,
    source: Option<String>,
    username: Option<Arc<str>>,
    access_key_id: Option<Arc<str>>,
    read_only: Option<bool>,
    resources: Arc<[AuditResource]>,
    context: Option<usize>,
}

impl Shared {
    /// `l`'s fields, those it left out taken from the event before it (`inherit`, format 3)
    /// or as absent (formats 1 and 2, which leave out only what an event does not have).
    fn update(&mut self, l: &mut Loaded, inherit: bool) -> Result<()> {
        // What the event gives replaces the field; what it leaves out is inherited, or (formats
        // 1 and 2) absent.
        fn take<T: Default>(field: &mut T, given: Option<T>, inherit: bool) {
            match given {
                Some(v) => *field = v,
                None if !inherit => *field = T::default(),
                None => {}
            }
        }
        take(&mut self.name, l.n.take().map(Some), inherit);
        take(&mut self.source, l.s.take().map(Some), inherit);
        take(&mut self.read_only, l.ro.map(Some), inherit);
        // Empty means none (as `None`): the events of the segment share one copy.
        let shared_text = |t: Option<String>| t.filter(|t| !t.is_empty()).map(Arc::from);
        take(&mut self.username, l.u.take().map(shared_text), inherit);
        take(
            &mut self.access_key_id,
            l.k.take().map(shared_text),
            inherit,
        );
        take(&mut self.context, l.c, inherit);
        let resources = l.res.take().map(|res| {
            res.into_iter()
                .filter_map(LoadedResource::resource)
                .collect::<Vec<_>>()
                .into()
        });
        take(&mut self.resources, resources, inherit);
        if self.name.is_none() || self.source.is_none() || self.read_only.is_none() {
            return Err(StoreError::Backend(format!(
                "audit segment: event {} lacks its name, source or read-only flag",
                l.id
            )));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LoadedResource {
    Arn(String),
    Full {
        #[serde(rename = "type")]
        resource_type: String,
        name: String,
        arn: String,
    },
}

impl LoadedResource {
    fn resource(self) -> Option<AuditResource> {
        match self {
            LoadedResource::Arn(arn) => resource_of(&arn),
            LoadedResource::Full {
                resource_type,
                name,
                arn,
            } => Some(AuditResource {
                resource_type,
                name,
                arn,
            }),
        }
    }
}

fn decode(body: &str) -> Result<Vec<AuditEvent>> {
    let bad = |e: serde_json::Error| backend_text("decode audit segment", &e);
    let (version, contexts, loaded): (u32, Vec<Arc<str>>, Vec<Loaded>) =
        if body.trim_start().starts_with('[') {
            (1, Vec::new(), serde_json::from_str(body).map_err(bad)?)
        } else {
            let segment: Segment = serde_json::from_str(body).map_err(bad)?;
            if !(2..=3).contains(&segment.v) {
                return Err(StoreError::Backend(format!(
                    "audit segment of an unknown format {}",
                    segment.v
                )));
            }
            let contexts = segment.c.iter().map(|c| Arc::from(c.get())).collect();
            (segment.v, contexts, segment.e)
        };
    let mut shared = Shared::default();
    loaded
        .into_iter()
        .map(|mut l| {
            shared.update(&mut l, version >= 3)?;
            let context = match shared.context {
                None => None,
                Some(i) => Some(contexts.get(i).cloned().ok_or_else(|| {
                    StoreError::Backend(format!("audit segment: no context {i}"))
                })?),
            };
            let t = l.t.or_else(|| time_of_id(&l.id));
            let event_time = t
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .ok_or_else(|| StoreError::Backend(format!("audit event {} time {t:?}", l.id)))?;
            Ok(AuditEvent {
                event_id: l.id,
                event_time,
                event_name: shared.name.clone().unwrap_or_default().into(),
                event_source: shared.source.clone().unwrap_or_default().into(),
                username: shared.username.clone(),
                access_key_id: shared.access_key_id.clone(),
                read_only: shared.read_only.unwrap_or_default(),
                resources: shared.resources.clone(),
                context,
                detail: l.d.map(|d| d.get().to_string()).or(l.r).unwrap_or_default(),
            })
        })
        .collect()
}

/// An event's place in the trail's order: time, then id.
fn position(e: &AuditEvent) -> (i64, &str) {
    (time_key(e.event_time), e.event_id.as_str())
}

/// A segment to insert: keyed by its newest event, with its oldest event's time.
struct NewSegment<'a> {
    time: i64,
    id: &'a str,
    first: i64,
    body: String,
    keys: HashSet<(Attr, &'a str)>,
}

/// `events` in order, cut into segments of at most [`SEGMENT_EVENTS`] spanning at most
/// [`SEGMENT_SPAN`].
fn cut(events: &[AuditEvent]) -> Result<Vec<NewSegment<'_>>> {
    let mut sorted: Vec<&AuditEvent> = events.iter().collect();
    sorted.sort_by(|a, b| position(a).cmp(&position(b)));
    let mut out = Vec::new();
    let mut rest = sorted.as_slice();
    while let Some(first) = rest.first() {
        let first_time = time_key(first.event_time);
        let len = rest
            .iter()
            .take(SEGMENT_EVENTS)
            .take_while(|e| time_key(e.event_time) - first_time <= SEGMENT_SPAN)
            .count()
            .max(1);
        let (segment, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        if let Some(last) = segment.last() {
            out.push(NewSegment {
                time: time_key(last.event_time),
                id: &last.event_id,
                first: first_time,
                body: encode(segment)?,
                keys: distinct_keys(segment.iter().copied()),
            });
        }
    }
    Ok(out)
}

/// A key row as bound: (attr, value, seg_time, seg_id).
type KeyRow<'a> = (i64, &'a str, i64, &'a str);

/// Inserts events (cut into segments) and their key rows on `conn` (a transaction's
/// connection).
pub(crate) async fn insert_all<DB: Database>(
    conn: &mut DB::Connection,
    events: &[AuditEvent],
) -> Result<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let segments = cut(events)?;
    each_chunk!(DB, conn, INSERT_SEGMENT, &segments, |q, s| {
        q.bind(s.time)
            .bind(s.id)
            .bind(s.first)
            .bind(s.body.as_str())
    });
    let keys: Vec<KeyRow<'_>> = segments
        .iter()
        .flat_map(|s| s.keys.iter().map(|(a, v)| (*a as i64, *v, s.time, s.id)))
        .collect();
    each_chunk!(DB, conn, INSERT_KEY, &keys, |q, row| {
        q.bind(row.0).bind(row.1).bind(row.2).bind(row.3)
    });
    Ok(())
}

/// A stored segment: (seg_time, seg_id, first_time, body).
type SegmentRow = (i64, String, i64, String);

/// A value bound to a placeholder.
enum Bind {
    Text(String),
    Int(i64),
}

/// A statement's WHERE clauses and their values (`$1`, `$2`, ... in order).
#[derive(Default)]
struct Clauses {
    sql: Vec<String>,
    binds: Vec<Bind>,
}

impl Clauses {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// Adds a clause; each `?` in it becomes the next value's placeholder.
    fn add(&mut self, clause: &str, values: impl IntoIterator<Item = Bind>) {
        let mut values = values.into_iter();
        let mut out = String::new();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                let p = values.next().map(|v| self.param(v)).unwrap_or_default();
                out.push_str(&p);
            }
            out.push_str(part);
        }
        self.sql.push(out);
    }

    fn filter(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        }
    }
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Which segments a newest-first lookup reads: those with a key row (attr, value), if any,
/// that may hold events in [low, high].
struct Scan {
    key: Option<(Attr, String)>,
    low: Option<i64>,
    high: Option<i64>,
}

impl Scan {
    /// The next segments after `cursor` (seg_time, seg_id), newest first.
    fn sql(&self, cursor: Option<&(i64, String)>) -> (String, Vec<Bind>) {
        let mut c = Clauses::default();
        // The table whose (seg_time, seg_id) the bounds and the order apply to.
        let (from, o) = match &self.key {
            None => ("audit_segment s".to_string(), "s"),
            Some((attr, value)) => {
                c.add(
                    "k.attr = ? AND k.value = ?",
                    [Bind::Int(*attr as i64), Bind::Text(value.clone())],
                );
                (
                    "audit_segment_key k JOIN audit_segment s ON s.seg_time = k.seg_time AND \
                     s.seg_id = k.seg_id"
                        .to_string(),
                    "k",
                )
            }
        };
        if let Some(low) = self.low {
            c.add(&format!("{o}.seg_time >= ?"), [Bind::Int(low)]);
        }
        if let Some(high) = self.high {
            c.add(
                &format!("{o}.seg_time <= ? AND s.first_time <= ?"),
                [
                    Bind::Int(high.saturating_add(SEGMENT_SPAN)),
                    Bind::Int(high),
                ],
            );
        }
        if let Some((time, id)) = cursor {
            c.add(
                &format!("({o}.seg_time, {o}.seg_id) < (?, ?)"),
                [Bind::Int(*time), Bind::Text(id.clone())],
            );
        }
        let sql = format!(
            "SELECT s.seg_time, s.seg_id, s.first_time, s.body FROM {from}{} \
             ORDER BY {o}.seg_time DESC, {o}.seg_id DESC LIMIT {SEGMENTS_PER_READ}",
            c.filter()
        );
        (sql, c.binds)
    }
}

/// Whether `e` is one of the events `q` asks for.
fn wanted(q: &AuditQuery, e: &AuditEvent) -> bool {
    let (time, id) = position(e);
    let in_range = q.start.is_none_or(|s| time >= time_key(s))
        && q.end.is_none_or(|end| time <= time_key(end))
        && q.before
            .as_ref()
            .is_none_or(|(t, i)| (time, id) < (*t, i.as_str()));
    in_range
        && match &q.filter {
            None => true,
            Some((LookupKey::EventId, v)) => e.event_id == *v,
            Some((k, v)) => {
                let attr = Attr::from(*k);
                let value = match attr {
                    Attr::ReadOnly => flag(v.eq_ignore_ascii_case("true")),
                    _ => v.as_str(),
                };
                lookup_rows(e).any(|row| row == (attr, value))
            }
        }
}

/// The segments to read for `q`.
fn scan_of(q: &AuditQuery) -> Scan {
    let mut low = q.start.map(time_key);
    let mut high = [q.end.map(time_key), q.before.as_ref().map(|b| b.0)]
        .into_iter()
        .flatten()
        .min();
    let key = match &q.filter {
        None => None,
        // An id carrying its time is found by the segments around that time.
        Some((LookupKey::EventId, id)) if time_of_id(id).is_some() => {
            let t = time_of_id(id).unwrap_or_default();
            low = Some(low.map_or(t, |l| l.max(t)));
            high = Some(high.map_or(t, |h| h.min(t)));
            None
        }
        Some((k, v)) => {
            let attr = Attr::from(*k);
            let value = match attr {
                Attr::ReadOnly => flag(v.eq_ignore_ascii_case("true")).to_string(),
                _ => v.clone(),
            };
            Some((attr, value))
        }
    };
    Scan { key, low, high }
}

/// Newest first: descending (time, id).
fn newest_first(a: &AuditEvent, b: &AuditEvent) -> std::cmp::Ordering {
    position(b).cmp(&position(a))
}

/// A statement over segment rows with its values bound.
fn segment_query<D: Dialect>(
    sql: &str,
    binds: Vec<Bind>,
) -> sqlx::query::QueryAs<'_, D::Db, SegmentRow, Args<'_, D>>
where
    for<'q> Args<'q, D>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> SegmentRow: sqlx::FromRow<'r, <D::Db as Database>::Row>,
{
    let mut query = sqlx::query_as::<_, SegmentRow>(sql);
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

/// The segments that may hold an event at `time`.
fn around(time: i64) -> (String, Vec<Bind>) {
    let mut c = Clauses::default();
    c.add(
        "s.seg_time >= ? AND s.seg_time <= ? AND s.first_time <= ?",
        [
            Bind::Int(time),
            Bind::Int(time.saturating_add(SEGMENT_SPAN)),
            Bind::Int(time),
        ],
    );
    let sql = format!(
        "SELECT s.seg_time, s.seg_id, s.first_time, s.body FROM audit_segment s{}",
        c.filter()
    );
    (sql, c.binds)
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> Args<'q, D>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    pub(crate) async fn audit_append(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut w = self.begin().await?;
        insert_all(&mut w.tx, events).await?;
        w.commit().await
    }

    /// Replaces a recorded event's detail (a write's, completed with its response).
    pub(crate) async fn audit_complete(
        &self,
        event_time: DateTime<Utc>,
        event_id: &str,
        detail: &str,
    ) -> Result<()> {
        let time = time_key(event_time);
        let mut w = self.begin().await?;
        let (sql, binds) = around(time);
        let rows = segment_query::<D>(&sql, binds)
            .fetch_all(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        for (seg_time, seg_id, _, body) in rows {
            let mut events = decode(&body)?;
            let Some(e) = events
                .iter_mut()
                .find(|e| e.event_id == event_id && time_key(e.event_time) == time)
            else {
                continue;
            };
            e.detail = detail.to_string();
            let body = encode(&events.iter().collect::<Vec<_>>())?;
            sqlx::query("UPDATE audit_segment SET body = $1 WHERE seg_time = $2 AND seg_id = $3")
                .bind(body)
                .bind(seg_time)
                .bind(seg_id)
                .execute(&mut *w.tx)
                .await
                .map_err(|e| backend(&e))?;
            break;
        }
        w.commit().await
    }

    /// Up to `limit + 1` of the events `q` asks for, newest first: reads the segments that may
    /// hold them newest first, until the next one cannot hold an event of the page.
    pub(crate) async fn audit_lookup(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let want = q.limit.saturating_add(1);
        let scan = scan_of(q);
        let mut found: Vec<AuditEvent> = Vec::new();
        let mut cursor: Option<(i64, String)> = None;
        'read: loop {
            let (sql, binds) = scan.sql(cursor.as_ref());
            let rows = segment_query::<D>(&sql, binds)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend(&e))?;
            let complete = rows.len() < usize::try_from(SEGMENTS_PER_READ).unwrap_or(1);
            for (seg_time, seg_id, _, body) in rows {
                // Every event of this segment and of those after it is at or before seg_time.
                if found.len() >= want
                    && found
                        .last()
                        .is_some_and(|e| seg_time < time_key(e.event_time))
                {
                    break 'read;
                }
                found.extend(decode(&body)?.into_iter().filter(|e| wanted(q, e)));
                found.sort_by(newest_first);
                found.truncate(want);
                cursor = Some((seg_time, seg_id));
            }
            if complete {
                break;
            }
        }
        Ok(found)
    }

    /// Up to `limit` events strictly after a position, oldest first: reads segments in the
    /// order of their oldest event, until the next one cannot hold an event of the page.
    pub(crate) async fn audit_tail(&self, t: &AuditTail) -> Result<Vec<AuditEvent>> {
        if t.limit == 0 {
            return Ok(Vec::new());
        }
        let after = match &t.after {
            Some((time, id)) => (*time, id.clone()),
            None => (t.since.map_or(i64::MIN, time_key), String::new()),
        };
        let mut found: Vec<AuditEvent> = Vec::new();
        let mut cursor: Option<(i64, i64, String)> = None;
        'read: loop {
            let mut c = Clauses::default();
            c.add(
                "s.seg_time >= ? AND s.first_time >= ?",
                [
                    Bind::Int(after.0),
                    Bind::Int(after.0.saturating_sub(SEGMENT_SPAN)),
                ],
            );
            if let Some((first, time, id)) = &cursor {
                c.add(
                    "(s.first_time, s.seg_time, s.seg_id) > (?, ?, ?)",
                    [Bind::Int(*first), Bind::Int(*time), Bind::Text(id.clone())],
                );
            }
            let sql = format!(
                "SELECT s.seg_time, s.seg_id, s.first_time, s.body FROM audit_segment s{} \
                 ORDER BY s.first_time, s.seg_time, s.seg_id LIMIT {SEGMENTS_PER_READ}",
                c.filter()
            );
            let rows = segment_query::<D>(&sql, c.binds)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend(&e))?;
            let complete = rows.len() < usize::try_from(SEGMENTS_PER_READ).unwrap_or(1);
            for (seg_time, seg_id, first_time, body) in rows {
                if found.len() >= t.limit
                    && found
                        .last()
                        .is_some_and(|e| first_time > time_key(e.event_time))
                {
                    break 'read;
                }
                let newer = decode(&body)?
                    .into_iter()
                    .filter(|e| position(e) > (after.0, after.1.as_str()));
                found.extend(newer);
                found.sort_by(|a, b| position(a).cmp(&position(b)));
                found.truncate(t.limit);
                cursor = Some((first_time, seg_time, seg_id));
            }
            if complete {
                break;
            }
        }
        Ok(found)
    }

    /// Deletes up to `batch` of the oldest events before `before`: whole segments, and the
    /// expired part of a segment that straddles the cut (rewritten without it). Returns how
    /// many events it deleted.
    pub(crate) async fn audit_prune(&self, before: DateTime<Utc>, batch: usize) -> Result<u64> {
        let cut = time_key(before);
        let mut w = self.begin().await?;
        let rows = segment_query::<D>(
            "SELECT s.seg_time, s.seg_id, s.first_time, s.body FROM audit_segment s \
             WHERE s.first_time < $1 ORDER BY s.first_time, s.seg_time, s.seg_id LIMIT $2",
            vec![Bind::Int(cut), Bind::Int(limit_of(batch))],
        )
        .fetch_all(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        let mut removed = 0;
        for (seg_time, seg_id, _, body) in rows {
            let events = decode(&body)?;
            let expired = events
                .iter()
                .take_while(|e| time_key(e.event_time) < cut)
                .count()
                .min(batch.saturating_sub(removed));
            if expired == 0 {
                break;
            }
            let (gone, kept) = events.split_at(expired);
            let kept_keys = distinct_keys(kept);
            let dropped: Vec<KeyRow<'_>> = distinct_keys(gone)
                .into_iter()
                .filter(|k| !kept_keys.contains(k))
                .map(|(a, v)| (a as i64, v, seg_time, seg_id.as_str()))
                .collect();
            let conn = &mut *w.tx;
            each_chunk!(D::Db, conn, DELETE_KEY, &dropped, |q, row| {
                q.bind(row.0).bind(row.1).bind(row.2).bind(row.3)
            });
            let statement = match kept.first() {
                None => {
                    sqlx::query("DELETE FROM audit_segment WHERE seg_time = $1 AND seg_id = $2")
                }
                Some(first) => sqlx::query(
                    "UPDATE audit_segment SET first_time = $1, body = $2 \
                     WHERE seg_time = $3 AND seg_id = $4",
                )
                .bind(time_key(first.event_time))
                .bind(encode(&kept.iter().collect::<Vec<_>>())?),
            };
            statement
                .bind(seg_time)
                .bind(seg_id.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(|e| backend(&e))?;
            removed += expired;
        }
        w.commit().await?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_fixed_sizes() {
        let items: Vec<u32> = (0..537).collect();
        let chunks = INSERT_KEY.chunks::<sqlx::Postgres, _>(&items);
        let sizes: Vec<usize> = chunks.iter().map(|(_, c)| c.len()).collect();
        assert_eq!(sizes, [250, 250, 25, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert!(
            INSERT_SEGMENT
                .sql(2, false)
                .ends_with("VALUES ($1, $2, $3, $4)")
        );
        let two = "VALUES ($1, $2, $3, $4), ($5, $6, $7, $8),";
        assert!(INSERT_KEY.sql(1, false).contains(two));
        assert!(
            INSERT_KEY
                .sql(1, true)
                .contains("VALUES (?, ?, ?, ?), (?, ?, ?, ?),")
        );
        assert!(DELETE_KEY.sql(2, false).ends_with("IN (($1, $2, $3, $4))"));
        // SQLite's statements have anonymous placeholders only.
        let (sqlite, _) = INSERT_KEY.chunks::<sqlx::Sqlite, _>(&items)[0];
        assert!(!sqlite.contains('$'));
    }

    const CONTEXT: &str = "{\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"alice\"}}";

    fn event(millis: i64) -> AuditEvent {
        let event_time = DateTime::from_timestamp_millis(millis).unwrap_or_default();
        AuditEvent {
            event_id: rolecall_core::audit::new_event_id(event_time),
            event_time,
            event_name: "GetRole".into(),
            event_source: "iam.amazonaws.com".into(),
            username: Some("alice".into()),
            access_key_id: None,
            read_only: true,
            resources: [AuditResource {
                resource_type: "AWS::IAM::Role".into(),
                name: "r".into(),
                arn: "arn:aws:iam::123456789012:role/r".into(),
            }]
            .into(),
            // Every fifth event a whole record (as IMDS issuances are), the others with a context.
            context: (millis % 250 != 0).then(|| Arc::from(CONTEXT)),
            detail: "{\"requestID\":\"x\",\"n\":\"a\\nb\"}".into(),
        }
    }

    #[test]
    fn segments_are_ordered_bounded_and_round_trip() {
        // 600 events over 30 s, out of order: cut by count and by span, oldest first.
        let events: Vec<AuditEvent> = (0..600).rev().map(|i| event(1_000 + i * 50)).collect();
        let segments = cut(&events).unwrap();
        let sizes: Vec<usize> = segments
            .iter()
            .map(|s| decode(&s.body).unwrap().len())
            .collect();
        assert_eq!(sizes, [201, 201, 198]);
        let first = &segments[0];
        assert_eq!((first.first, first.time), (1_000, 11_000));
        assert_eq!(first.id, events[399].event_id);
        let decoded = decode(&first.body).unwrap();
        assert_eq!(decoded[0], events[599]);
        // One user's GetRoles of one role: a handful of key rows for the whole segment.
        assert_eq!(first.keys.len(), 7);
        // The context is stored once per segment, whatever the number of its events.
        assert_eq!(first.body.matches("userIdentity").count(), 1);
    }

    #[test]
    fn odd_events_round_trip_and_unknown_formats_are_refused() {
        // A resource whose type and name do not follow from its ARN (kept in full), and a
        // whole record that is not a JSON object (kept as text): the body stays decodable.
        let mut odd = event(1_000);
        let mut legacy = odd.resources.to_vec();
        legacy[0].resource_type = "AWS::IAM::Legacy".into();
        odd.resources = legacy.into();
        let mut empty = event(1_250);
        (empty.context, empty.detail) = (None, String::new());
        let body = encode(&[&odd, &empty]).unwrap();
        assert_eq!(decode(&body).unwrap(), [odd, empty]);
        assert!(decode(&body.replacen("\"v\":3", "\"v\":4", 1)).is_err());
    }

    #[test]
    fn events_leave_out_what_the_event_before_shares() {
        // Alternating users, keys, contexts, resources and flags, and one time its id does not
        // carry: each event decodes as it was, whatever the one before it left out.
        let events: Vec<AuditEvent> = (0..12)
            .map(|i| {
                let mut e = event(1_000 + i);
                e.username = (i % 3 != 0).then(|| format!("u{}", i % 2).into());
                e.access_key_id = (i % 4 == 1).then(|| "AKIA1".into());
                e.read_only = i % 5 != 0;
                e.context = (i % 2 == 0).then(|| Arc::from(CONTEXT));
                if i % 3 == 2 {
                    e.resources = Arc::default();
                }
                e
            })
            .collect();
        let mut odd_time = event(2_000);
        odd_time.event_time = DateTime::from_timestamp_millis(2_001).unwrap_or_default();
        let all: Vec<&AuditEvent> = events.iter().chain([&odd_time]).collect();
        let body = encode(&all).unwrap();
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded.iter().collect::<Vec<_>>(), all);
        // A run of one caller's GetRoles: each event past the first is its id and detail.
        let same: Vec<AuditEvent> = (0..10).map(|i| event(1_001 + i)).collect();
        let body = encode(&same.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(body.matches("GetRole").count(), 1, "{body}");
        assert_eq!(body.matches("\"t\":").count(), 0, "{body}");
        assert_eq!(decode(&body).unwrap(), same);
    }

    #[test]
    fn bodies_of_the_second_format_still_decode() {
        let id = rolecall_core::audit::new_event_id(
            DateTime::from_timestamp_millis(1_000).unwrap_or_default(),
        );
        let v2 = format!(
            r#"{{"v":2,"c":[{CONTEXT}],"e":[{{"t":1000,"id":"{id}","n":"GetRole","s":"iam.amazonaws.com","u":"alice","ro":true,"res":["arn:aws:iam::123456789012:role/r"],"c":0,"d":{{"requestID":"x"}}}},{{"t":1000,"id":"{id}","n":"GetRole","s":"iam.amazonaws.com","ro":false,"d":{{"requestID":"y"}}}}]}}"#
        );
        let events = decode(&v2).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].username.as_deref(), Some("alice"));
        assert_eq!(events[0].resources[0].name, "r");
        assert_eq!(events[0].context.as_deref(), Some(CONTEXT));
        // Format 2 left out only what an event did not have.
        assert_eq!(events[1].username, None);
        assert!(events[1].resources.is_empty() && events[1].context.is_none());
        assert!(!events[1].read_only);
    }

    #[test]
    fn bodies_of_the_first_format_still_decode() {
        let v1 = r#"[{"t":1000,"id":"e1","n":"GetRole","s":"iam.amazonaws.com","u":"alice","k":null,"ro":true,"res":[{"type":"AWS::IAM::Role","name":"r","arn":"arn:aws:iam::123456789012:role/r"}],"r":"{\"eventID\":\"e1\"}"}]"#;
        let events = decode(v1).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].record(), "{\"eventID\":\"e1\"}");
        assert_eq!(events[0].resources[0].name, "r");
        assert_eq!(events[0].username.as_deref(), Some("alice"));
    }
}
