//! The audit trail's tables (migration 10): `audit_log`, one row per event keyed and ordered by
//! (event_time, event_id), and `audit_lookup`, one row per lookup attribute of an event. Appends
//! (a write's event inside the write's transaction, see `Write::commit`; the others in batches)
//! are prepared multi-row INSERTs of a few fixed sizes; lookups are newest first by one
//! attribute; the tail is for `rolecall audit --follow`; retention deletes an event's lookup
//! rows by their exact keys (they are a function of the event).

use crate::{Args, Dialect, SqlStore, backend};
use chrono::{DateTime, Utc};
use rolecall_core::audit::{
    AuditEvent, AuditQuery, AuditResource, AuditTail, LookupKey, time_key, time_of_id,
};
use rolecall_core::{StoreError, StoreResult as Result};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::sync::OnceLock;

/// The `attr` codes of `audit_lookup` (migration 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The event's `audit_lookup` rows (attribute, value), each once.
fn lookup_rows(e: &AuditEvent) -> Vec<(Attr, &str)> {
    let mut rows = vec![
        (Attr::EventName, e.event_name.as_str()),
        (Attr::EventSource, e.event_source.as_str()),
        (Attr::ReadOnly, flag(e.read_only)),
    ];
    if let Some(u) = &e.username {
        rows.push((Attr::Username, u));
    }
    if let Some(k) = &e.access_key_id {
        rows.push((Attr::AccessKeyId, k));
    }
    if time_of_id(&e.event_id) != Some(time_key(e.event_time)) {
        rows.push((Attr::EventId, &e.event_id));
    }
    for r in &e.resources {
        for row in [
            (Attr::ResourceType, r.resource_type.as_str()),
            (Attr::ResourceName, r.name.as_str()),
            (Attr::ResourceName, r.arn.as_str()),
        ] {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    rows
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

/// 9 parameters a row: up to 900 per statement, well under both databases' limits.
static INSERT_LOG: Batched = Batched::new(
    "INSERT INTO audit_log (event_time, event_id, event_name, event_source, username, \
     access_key_id, read_only, resources, record) VALUES ",
    "",
    9,
    [100, 10, 1],
);
static INSERT_LOOKUP: Batched = Batched::new(
    "INSERT INTO audit_lookup (attr, value, event_time, event_id) VALUES ",
    "",
    4,
    [250, 25, 1],
);
static DELETE_LOOKUP: Batched = Batched::new(
    "DELETE FROM audit_lookup WHERE (attr, value, event_time, event_id) IN (",
    ")",
    4,
    [250, 25, 1],
);
static DELETE_LOG: Batched = Batched::new(
    "DELETE FROM audit_log WHERE (event_time, event_id) IN (",
    ")",
    2,
    [250, 25, 1],
);

/// A lookup row as bound: (attr, value, event_time, event_id).
type LookupRow<'a> = (i64, &'a str, i64, &'a str);

fn all_lookup_rows(events: &[AuditEvent]) -> Vec<LookupRow<'_>> {
    events
        .iter()
        .flat_map(|e| {
            let (time, id) = (time_key(e.event_time), e.event_id.as_str());
            lookup_rows(e)
                .into_iter()
                .map(move |(a, v)| (a as i64, v, time, id))
        })
        .collect()
}

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

/// Inserts events and their lookup rows on `conn` (a transaction's connection).
pub(crate) async fn insert_all<DB: Database>(
    conn: &mut DB::Connection,
    events: &[AuditEvent],
) -> Result<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let resources: Vec<String> = events
        .iter()
        .map(|e| resources_json(&e.resources))
        .collect();
    let rows: Vec<(&AuditEvent, &str)> = events
        .iter()
        .zip(resources.iter().map(String::as_str))
        .collect();
    each_chunk!(DB, conn, INSERT_LOG, &rows, |q, row| {
        let (e, resources) = row;
        q.bind(time_key(e.event_time))
            .bind(e.event_id.as_str())
            .bind(e.event_name.as_str())
            .bind(e.event_source.as_str())
            .bind(e.username.as_deref().unwrap_or_default())
            .bind(e.access_key_id.as_deref().unwrap_or_default())
            .bind(e.read_only)
            .bind(*resources)
            .bind(e.record.as_str())
    });
    let lookups = all_lookup_rows(events);
    each_chunk!(DB, conn, INSERT_LOOKUP, &lookups, |q, row| {
        q.bind(row.0).bind(row.1).bind(row.2).bind(row.3)
    });
    Ok(())
}

/// The resources column: as LookupEvents' `Resources` (type, name, and the ARN for lookups).
fn resources_json(resources: &[AuditResource]) -> String {
    #[derive(serde::Serialize)]
    struct Stored<'a> {
        #[serde(rename = "type")]
        resource_type: &'a str,
        name: &'a str,
        arn: &'a str,
    }
    let stored: Vec<Stored<'_>> = resources
        .iter()
        .map(|r| Stored {
            resource_type: &r.resource_type,
            name: &r.name,
            arn: &r.arn,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

fn resources_from(json: &str) -> Vec<AuditResource> {
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(rename = "type")]
        resource_type: String,
        name: String,
        arn: String,
    }
    serde_json::from_str::<Vec<Stored>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|s| AuditResource {
            resource_type: s.resource_type,
            name: s.name,
            arn: s.arn,
        })
        .collect()
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
);

/// `audit_log`'s columns as [`Row`] reads them, prefixed with the table's alias `l`.
const COLUMNS: &str = "l.event_time, l.event_id, l.event_name, l.event_source, l.username, \
                       l.access_key_id, l.read_only, l.resources, l.record";

fn event(row: Row) -> Result<AuditEvent> {
    let (time, event_id, event_name, event_source, username, key, read_only, resources, record) =
        row;
    let event_time = DateTime::<Utc>::from_timestamp_millis(time)
        .ok_or_else(|| StoreError::Backend(format!("audit event time {time}")))?;
    Ok(AuditEvent {
        event_id,
        event_time,
        event_name,
        event_source,
        username: (!username.is_empty()).then_some(username),
        access_key_id: (!key.is_empty()).then_some(key),
        read_only,
        resources: resources_from(&resources),
        record,
    })
}

/// A value bound to a lookup's placeholder.
enum Bind {
    Text(String),
    Int(i64),
}

/// A lookup's FROM, WHERE and ORDER BY, and its values (`$1`, `$2`, ... in order): through
/// `audit_lookup` (alias `k`) when it filters by an attribute, else on `audit_log` alone.
fn lookup_sql(q: &AuditQuery) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    // The table whose (event_time, event_id) the bounds and the order apply to.
    let mut key = "l";
    let mut from = "audit_log l".to_string();
    match &q.filter {
        None => {}
        // An id carrying its time is found by the log's own key.
        Some((LookupKey::EventId, id)) if time_of_id(id).is_some() => {
            let t = next(Bind::Int(time_of_id(id).unwrap_or_default()), &mut binds);
            let i = next(Bind::Text(id.clone()), &mut binds);
            clauses.push(format!("l.event_time = {t} AND l.event_id = {i}"));
        }
        Some((k, v)) => {
            let attr = Attr::from(*k);
            let value = match attr {
                Attr::ReadOnly => flag(v.eq_ignore_ascii_case("true")).to_string(),
                _ => v.clone(),
            };
            key = "k";
            from = "audit_lookup k JOIN audit_log l ON l.event_time = k.event_time AND \
                    l.event_id = k.event_id"
                .into();
            let a = next(Bind::Int(attr as i64), &mut binds);
            let v = next(Bind::Text(value), &mut binds);
            clauses.push(format!("k.attr = {a} AND k.value = {v}"));
        }
    }
    if let Some(s) = q.start {
        let p = next(Bind::Int(time_key(s)), &mut binds);
        clauses.push(format!("{key}.event_time >= {p}"));
    }
    if let Some(e) = q.end {
        let p = next(Bind::Int(time_key(e)), &mut binds);
        clauses.push(format!("{key}.event_time <= {p}"));
    }
    if let Some((t, id)) = &q.before {
        let a = next(Bind::Int(*t), &mut binds);
        let b = next(Bind::Text(id.clone()), &mut binds);
        clauses.push(format!("({key}.event_time, {key}.event_id) < ({a}, {b})"));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {from}{filter} ORDER BY {key}.event_time DESC, {key}.event_id DESC \
         LIMIT ${}",
        binds.len() + 1
    );
    (sql, binds)
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

    pub(crate) async fn audit_complete(
        &self,
        event_time: DateTime<Utc>,
        event_id: &str,
        record: &str,
    ) -> Result<()> {
        let mut w = self.begin().await?;
        sqlx::query("UPDATE audit_log SET record = $1 WHERE event_time = $2 AND event_id = $3")
            .bind(record)
            .bind(time_key(event_time))
            .bind(event_id)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        w.commit().await
    }

    pub(crate) async fn audit_lookup(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let (sql, binds) = lookup_sql(q);
        let mut query = sqlx::query_as::<_, Row>(&sql);
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query
            .bind(limit_of(q.limit.saturating_add(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        rows.into_iter().map(event).collect()
    }

    pub(crate) async fn audit_tail(&self, t: &AuditTail) -> Result<Vec<AuditEvent>> {
        let (after_time, after_id) = match &t.after {
            Some((time, id)) => (*time, id.clone()),
            None => (t.since.map_or(i64::MIN, time_key), String::new()),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log l WHERE (l.event_time, l.event_id) > ($1, $2) \
             ORDER BY l.event_time, l.event_id LIMIT $3"
        );
        let rows = sqlx::query_as::<_, Row>(&sql)
            .bind(after_time)
            .bind(after_id)
            .bind(limit_of(t.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        rows.into_iter().map(event).collect()
    }

    /// Deletes the oldest events before `before` (up to `batch`) and their lookup rows.
    pub(crate) async fn audit_prune(&self, before: DateTime<Utc>, batch: usize) -> Result<u64> {
        let mut w = self.begin().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log l WHERE l.event_time < $1 \
             ORDER BY l.event_time, l.event_id LIMIT $2"
        );
        let rows = sqlx::query_as::<_, Row>(&sql)
            .bind(time_key(before))
            .bind(limit_of(batch))
            .fetch_all(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        let events = rows.into_iter().map(event).collect::<Result<Vec<_>>>()?;
        let lookups = all_lookup_rows(&events);
        let conn = &mut *w.tx;
        each_chunk!(D::Db, conn, DELETE_LOOKUP, &lookups, |q, row| {
            q.bind(row.0).bind(row.1).bind(row.2).bind(row.3)
        });
        each_chunk!(D::Db, conn, DELETE_LOG, &events, |q, e| {
            q.bind(time_key(e.event_time)).bind(e.event_id.as_str())
        });
        w.commit().await?;
        Ok(u64::try_from(events.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_fixed_sizes() {
        let items: Vec<u32> = (0..237).collect();
        let chunks = INSERT_LOG.chunks::<sqlx::Postgres, _>(&items);
        let sizes: Vec<usize> = chunks.iter().map(|(_, c)| c.len()).collect();
        assert_eq!(sizes, [100, 100, 10, 10, 10, 1, 1, 1, 1, 1, 1, 1]);
        let nine = "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        assert!(INSERT_LOG.sql(2, false).ends_with(nine));
        let two = "VALUES ($1, $2, $3, $4), ($5, $6, $7, $8),";
        assert!(INSERT_LOOKUP.sql(1, false).contains(two));
        assert!(
            INSERT_LOOKUP
                .sql(1, true)
                .contains("VALUES (?, ?, ?, ?), (?, ?, ?, ?),")
        );
        assert!(DELETE_LOG.sql(2, false).ends_with("IN (($1, $2))"));
        // SQLite's statements have anonymous placeholders only.
        let (sqlite, _) = INSERT_LOG.chunks::<sqlx::Sqlite, _>(&items)[0];
        assert!(!sqlite.contains('$'));
    }
}
