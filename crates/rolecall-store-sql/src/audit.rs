//! The audit trail's table: appends (a write's event inside the write's transaction, see
//! `Write::commit`; the others in batches), lookups newest first by one attribute, the tail
//! for `rolecall audit --follow`, and retention.

use crate::{Args, Dialect, SqlStore, backend};
use chrono::{DateTime, Utc};
use rolecall_core::audit::{AuditEvent, AuditQuery, AuditResource, AuditTail, LookupKey, time_key};
use rolecall_core::{StoreError, StoreResult as Result};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// Events per multi-row INSERT (9 parameters each: well under both databases' limits).
const ROWS_PER_INSERT: usize = 100;

/// `($1, ..., $k), ($k+1, ...), ...`: `rows` groups of `width` placeholders.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts events and their resources on `conn` (a transaction's connection), many rows per
/// statement.
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
    let encode = |v: &serde_json::Value| {
        serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encode: {e}")))
    };
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_events (event_id, event_time, event_name, event_source, username, \
             access_key_id, read_only, resources, record) VALUES {}",
            placeholders(chunk.len(), 9)
        );
        let mut q = sqlx::query::<DB>(&sql);
        for event in chunk {
            q = q
                .bind(event.event_id.clone())
                .bind(time_key(event.event_time))
                .bind(event.event_name.clone())
                .bind(event.event_source.clone())
                .bind(event.username.clone().unwrap_or_default())
                .bind(event.access_key_id.clone().unwrap_or_default())
                .bind(event.read_only)
                .bind(encode(&resources_json(&event.resources))?)
                .bind(encode(&event.record)?);
        }
        q.execute(&mut *conn).await.map_err(|e| backend(&e))?;
    }
    let resources: Vec<(&str, &AuditResource)> = events
        .iter()
        .flat_map(|e| e.resources.iter().map(move |r| (e.event_id.as_str(), r)))
        .collect();
    for chunk in resources.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_event_resources (event_id, resource_type, resource_name, \
             resource_arn) VALUES {}",
            placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query::<DB>(&sql);
        for (id, r) in chunk {
            q = q
                .bind(id.to_string())
                .bind(r.resource_type.clone())
                .bind(r.name.clone())
                .bind(r.arn.clone());
        }
        q.execute(&mut *conn).await.map_err(|e| backend(&e))?;
    }
    Ok(())
}

/// The resources column: as LookupEvents' `Resources` (type, name, and the ARN for lookups).
fn resources_json(resources: &[AuditResource]) -> serde_json::Value {
    resources
        .iter()
        .map(|r| serde_json::json!({"type": r.resource_type, "name": r.name, "arn": r.arn}))
        .collect()
}

fn resources_from(json: &str) -> Vec<AuditResource> {
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    serde_json::from_str::<Vec<serde_json::Value>>(json)
        .unwrap_or_default()
        .iter()
        .map(|v| AuditResource {
            resource_type: field(v, "type"),
            name: field(v, "name"),
            arn: field(v, "arn"),
        })
        .collect()
}

type Row = (
    String,
    i64,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
);

const COLUMNS: &str = "event_id, event_time, event_name, event_source, username, access_key_id, \
                       read_only, resources, record";

fn event(row: Row) -> Result<AuditEvent> {
    let (event_id, time, event_name, event_source, username, key, read_only, resources, record) =
        row;
    let event_time = DateTime::<Utc>::from_timestamp_millis(time)
        .ok_or_else(|| StoreError::Backend(format!("audit event time {time}")))?;
    let record =
        serde_json::from_str(&record).map_err(|e| StoreError::Backend(format!("decode: {e}")))?;
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
    Flag(bool),
}

/// The WHERE clause of a lookup and its values (`$1`, `$2`, ... in order).
fn lookup_where(q: &AuditQuery) -> (Vec<String>, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some((k, v)) = &q.filter {
        let column = match k {
            LookupKey::EventId => Some("event_id"),
            LookupKey::EventName => Some("event_name"),
            LookupKey::EventSource => Some("event_source"),
            LookupKey::Username => Some("username"),
            LookupKey::AccessKeyId => Some("access_key_id"),
            _ => None,
        };
        match (column, k) {
            (Some(c), _) => {
                let p = next(Bind::Text(v.clone()), &mut binds);
                clauses.push(format!("{c} = {p}"));
            }
            (None, LookupKey::ReadOnly) => {
                let p = next(Bind::Flag(v.eq_ignore_ascii_case("true")), &mut binds);
                clauses.push(format!("read_only = {p}"));
            }
            (None, LookupKey::ResourceType) => {
                let p = next(Bind::Text(v.clone()), &mut binds);
                clauses.push(format!(
                    "event_id IN (SELECT event_id FROM audit_event_resources WHERE resource_type = {p})"
                ));
            }
            (None, _) => {
                let p = next(Bind::Text(v.clone()), &mut binds);
                let a = next(Bind::Text(v.clone()), &mut binds);
                clauses.push(format!(
                    "event_id IN (SELECT event_id FROM audit_event_resources WHERE resource_name = {p} OR resource_arn = {a})"
                ));
            }
        }
    }
    if let Some(s) = q.start {
        let p = next(Bind::Int(time_key(s)), &mut binds);
        clauses.push(format!("event_time >= {p}"));
    }
    if let Some(e) = q.end {
        let p = next(Bind::Int(time_key(e)), &mut binds);
        clauses.push(format!("event_time <= {p}"));
    }
    if let Some((t, id)) = &q.before {
        let a = next(Bind::Int(*t), &mut binds);
        let b = next(Bind::Int(*t), &mut binds);
        let c = next(Bind::Text(id.clone()), &mut binds);
        clauses.push(format!(
            "(event_time < {a} OR (event_time = {b} AND event_id < {c}))"
        ));
    }
    (clauses, binds)
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
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
        event_id: &str,
        record: &serde_json::Value,
    ) -> Result<()> {
        let record = serde_json::to_string(record)
            .map_err(|e| StoreError::Backend(format!("encode: {e}")))?;
        let mut w = self.begin().await?;
        sqlx::query("UPDATE audit_events SET record = $1 WHERE event_id = $2")
            .bind(record)
            .bind(event_id)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        w.commit().await
    }

    pub(crate) async fn audit_lookup(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let (clauses, binds) = lookup_where(q);
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events{} ORDER BY event_time DESC, event_id DESC LIMIT ${}",
            where_sql(&clauses),
            binds.len() + 1
        );
        let mut query = sqlx::query_as::<_, Row>(&sql);
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
                Bind::Flag(f) => query.bind(f),
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
            "SELECT {COLUMNS} FROM audit_events WHERE event_time > $1 OR (event_time = $2 AND \
             event_id > $3) ORDER BY event_time, event_id LIMIT $4"
        );
        let rows = sqlx::query_as::<_, Row>(&sql)
            .bind(after_time)
            .bind(after_time)
            .bind(after_id)
            .bind(limit_of(t.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        rows.into_iter().map(event).collect()
    }

    pub(crate) async fn audit_prune(&self, before: DateTime<Utc>, batch: usize) -> Result<u64> {
        let mut w = self.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT event_id FROM audit_events WHERE event_time < $1 ORDER BY event_time LIMIT $2",
        )
        .bind(time_key(before))
        .bind(limit_of(batch))
        .fetch_all(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        for id in &ids {
            sqlx::query("DELETE FROM audit_event_resources WHERE event_id = $1")
                .bind(id.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(|e| backend(&e))?;
            sqlx::query("DELETE FROM audit_events WHERE event_id = $1")
                .bind(id.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(|e| backend(&e))?;
        }
        w.commit().await?;
        Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
    }
}
