//! One SQL implementation of [`rolecall_core::Store`] and [`rolecall_core::PrincipalStore`] over
//! any database a [`Dialect`] describes (SQLite and PostgreSQL, each in its own crate).
//!
//! Every query is written once, with `$N` placeholders (which sqlx's SQLite driver reads as
//! positional too) and portable SQL. What differs between the databases is the dialect:
//!
//! - how writers are serialized: SQLite takes one in-process async mutex and `BEGIN IMMEDIATE`
//!   (so transactions never race to upgrade SQLite's lock); PostgreSQL runs plain transactions
//!   and takes row locks (`SELECT ... FOR UPDATE`/`FOR SHARE`/`FOR KEY SHARE`), which SQLite has
//!   no syntax for and does not need;
//! - how a list of ids is bound (a PostgreSQL `text[]`, a JSON array for SQLite's `json_each`);
//! - how a foreign-key violation is recognized, and what runs before the migrations (an
//!   advisory lock in PostgreSQL, so nodes starting together apply them once).
//!
//! Invariants are enforced the same way on both (see `ARCHITECTURE.md`): unique and partial
//! unique indexes, counts checked under the parent's row lock (the writer mutex in SQLite) with
//! triggers as backstops, checks before deletes under the entity's lock with `ON DELETE RESTRICT`
//! foreign keys as backstops. Failures are reported as [`StoreError`]s; core words them as AWS
//! does.

mod audit;
mod ec2;
mod ec2_query;
mod principals;
mod store;
#[doc(hidden)]
pub mod upgrade_test;
pub use ec2_query::PatternMatch;

use rolecall_core::model::PolicyVersion;
use rolecall_core::{EntityKind, Missing, PageRequest, StoreError, StoreResult, Taken};
use rolecall_sql_bounds::sql_bounds;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyQueryResult;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::query::QueryScalar;
use sqlx::{Connection, Database, Pool, Transaction};
use std::path::Path;
use tokio::sync::{Mutex, MutexGuard};

/// The arguments type of a dialect's database.
pub type Args<'q, D> = <<D as Dialect>::Db as Database>::Arguments<'q>;

/// A query for one column, as the list queries are.
pub type ListQuery<'q, D> = QueryScalar<'q, <D as Dialect>::Db, String, Args<'q, D>>;

/// The options a dialect's connections are opened with.
pub type ConnectOptionsOf<D> =
    <<<D as Dialect>::Db as Database>::Connection as Connection>::Options;

/// What differs between the databases the one SQL store runs on.
pub trait Dialect: Send + Sync + 'static {
    /// The database; its statements' results convert to sqlx's driver-neutral one, which
    /// counts the rows they changed ([`rows_affected`]).
    type Db: Database<QueryResult: Into<AnyQueryResult>>;

    /// For messages in logs ("sqlite", "postgres").
    const NAME: &'static str;
    /// `Some(begin)`: writers are serialized by the store's in-process mutex and open their
    /// transaction with `begin` (SQLite). `None`: writers run concurrently in plain transactions
    /// and the database's row locks ([`row_lock`](Self::row_lock)) order them (PostgreSQL).
    const SERIALIZED_WRITES: Option<&'static str>;
    /// Run in the migrations' transaction before anything else (a lock across nodes).
    const MIGRATION_LOCK: Option<&'static str>;
    /// How EC2 filter patterns (`*`, `?` wildcards) match, case-sensitively.
    const PATTERN_MATCH: PatternMatch;
    /// The schema, from [`schema_migrations!`]: (version, SQL run in order), ascending; each
    /// version is applied once.
    const MIGRATIONS: &'static [Migration];
    /// Which words this database's SQL has for the `{markers}` of the shared migrations that
    /// differ between the databases only in a few words; see [`migration_sql`].
    const MIGRATION_WORDS: MigrationWords;

    /// The clause appended to a SELECT in a write transaction to lock the rows it reads ("" where
    /// writers are serialized anyway).
    fn row_lock(lock: RowLock) -> &'static str;

    /// The pool's options (size, health checks).
    fn pool_options(max_connections: u32) -> PoolOptions<Self::Db>;

    /// Whether a database error is a foreign-key violation.
    fn is_foreign_key_violation(e: &dyn DatabaseError) -> bool {
        e.is_foreign_key_violation()
    }

    /// `column` is one of the list bound by [`bind_list`](Self::bind_list) at parameter `$n`.
    fn in_list(column: &str, n: usize) -> String;

    /// The text at `path` inside the JSON document in `column` (NULL when absent or null).
    fn json_text(column: &str, path: &[&str]) -> String;

    /// Binds a list of strings for [`in_list`](Self::in_list).
    fn bind_list<'q>(query: ListQuery<'q, Self>, list: &'q [String]) -> ListQuery<'q, Self>
    where
        Self: Sized;
}

/// How a write transaction locks a row it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// The transaction will change the row, or count its children before inserting one.
    Update,
    /// The row must not change before the transaction commits.
    Share,
    /// A child is about to be inserted under the row: blocks the row's delete (which holds
    /// `Update`), not other children's inserts.
    KeyShare,
}

/// A dialect of databases that live in a file (or in memory).
pub trait FileDialect: Dialect {
    /// Pool size for a database file.
    const FILE_CONNECTIONS: u32;
    /// Options that open (creating if needed) the database file at `path`.
    fn file(path: &Path) -> ConnectOptionsOf<Self>;
    /// Options for a private in-memory database.
    fn memory() -> StoreResult<ConnectOptionsOf<Self>>;
}

/// The store: one implementation of every query, on the dialect's database.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
    /// Held by every write transaction when [`Dialect::SERIALIZED_WRITES`].
    writers: Mutex<()>,
}

/// A write transaction (with the writer lock, when the dialect serializes writers), and the
/// entities it touched, recorded in the change feed when it commits.
pub(crate) struct Write<'s, DB: Database> {
    _serial: Option<MutexGuard<'s, ()>>,
    pub(crate) tx: Transaction<'static, DB>,
    changes: Vec<(EntityKind, String)>,
}

#[sql_bounds(DB)]
impl<DB: Database> Write<'_, DB>
where
    DB::QueryResult: Into<AnyQueryResult>,
{
    /// Runs a statement with text parameters (`$1`, `$2`, ... in order) in this transaction:
    /// the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, params: &[&str]) -> StoreResult<u64> {
        execute_text(&mut self.tx, sql, params).await
    }

    /// Records that this transaction touched the entity (once per entity).
    pub(crate) fn record(&mut self, kind: EntityKind, id: impl Into<String>) {
        let id = id.into();
        if !self.changes.iter().any(|(k, i)| *k == kind && *i == id) {
            self.changes.push((kind, id));
        }
    }

    /// Records the touched entities under the next sequence, then commits. Taking the sequence
    /// is the transaction's last statement: the `change_feed` row lock it takes is held until
    /// commit, so concurrent writers get and commit their sequences one after the other (no
    /// reader can see sequence N+1 before N), and no lock is waited for while holding it.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let mut recorded = false;
        if !self.changes.is_empty() {
            let seq: i64 = sqlx::query_scalar(
                "UPDATE change_feed SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq",
            )
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| backend(&e))?;
            for (n, (kind, id)) in self.changes.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO changes (seq, n, kind, entity_id) VALUES ($1, $2, $3, $4)",
                )
                .bind(seq)
                .bind(i64::try_from(n).unwrap_or(i64::MAX))
                .bind(kind.name())
                .bind(id.as_str())
                .execute(&mut *self.tx)
                .await
                .map_err(|e| backend(&e))?;
            }
            // The event of the write this is (if the API runs one): recorded with its change.
            if let Some(event) = rolecall_core::audit::seal_pending() {
                audit::insert_all(&mut self.tx, std::slice::from_ref(&event)).await?;
                recorded = true;
            }
        }
        self.tx.commit().await.map_err(|e| backend(&e))?;
        if recorded {
            rolecall_core::audit::pending_recorded();
        }
        Ok(())
    }
}

/// Runs a statement with text parameters (`$1`, `$2`, ... in order) on `conn`: the number of
/// rows it changed.
#[sql_bounds(DB)]
pub(crate) async fn execute_text<DB: Database>(
    conn: &mut DB::Connection,
    sql: &str,
    params: &[&str],
) -> StoreResult<u64>
where
    DB::QueryResult: Into<AnyQueryResult>,
{
    let query = params.iter().fold(sqlx::query(sql), |q, p| q.bind(*p));
    let res = query.execute(&mut *conn).await.map_err(|e| backend(&e))?;
    Ok(rows_affected(res))
}

/// Rows a statement changed (the drivers' results have no common trait for it, but convert to
/// sqlx's driver-neutral result).
pub(crate) fn rows_affected(result: impl Into<AnyQueryResult>) -> u64 {
    result.into().rows_affected()
}

pub(crate) fn backend(e: &sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A statement's result, with the database errors `known` recognizes as the store's own (a
/// unique or foreign-key violation, a backstop trigger) and any other as a backend error.
pub(crate) fn known_errors<T>(
    res: Result<T, sqlx::Error>,
    known: impl FnOnce(&sqlx::Error) -> Option<StoreError>,
) -> StoreResult<T> {
    res.map_err(|e| known(&e).unwrap_or_else(|| backend(&e)))
}

/// A statement's result, with a unique-key violation as the name `taken` is taken.
pub(crate) fn taken_if_unique<T>(
    res: Result<T, sqlx::Error>,
    taken: impl FnOnce() -> Taken,
) -> StoreResult<T> {
    known_errors(res, |e| {
        is_unique_violation(e, None).then(|| StoreError::Conflict(taken()))
    })
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encode: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("decode: {e}")))
}

pub(crate) fn all_from_json<T: DeserializeOwned>(rows: &[String]) -> StoreResult<Vec<T>> {
    rows.iter().map(|d| from_json(d)).collect()
}

/// Names are unique and looked up case-insensitively: by their lower-cased key.
pub(crate) fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// `LIMIT` for an overfetching page query.
pub(crate) fn limit(page: &PageRequest) -> i64 {
    i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX)
}

pub(crate) fn from(page: &PageRequest) -> String {
    page.from.clone().unwrap_or_default()
}

/// A unique violation, of the index `index` where the database names it (SQLite does not).
pub(crate) fn is_unique_violation(e: &sqlx::Error, index: Option<&str>) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation()
        && index.is_none_or(|i| d.constraint().is_none_or(|c| c == i)))
}

/// An error raised by one of the schema's backstop triggers (`rolecall: <what>`).
pub(crate) fn is_raised(e: &sqlx::Error, what: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains(what))
}

pub(crate) fn version(
    version_id: String,
    document: String,
    is_default: bool,
    date: &str,
) -> StoreResult<PolicyVersion> {
    let create_date = chrono::DateTime::parse_from_rfc3339(date)
        .map_err(|e| StoreError::Backend(format!("date: {e}")))?
        .to_utc();
    Ok(PolicyVersion {
        version_id,
        document,
        is_default,
        create_date,
    })
}

#[sql_bounds(D::Db)]
impl<D: Dialect> SqlStore<D> {
    /// Connects with `options` (a pool of `max_connections`) and applies pending migrations.
    pub async fn connect_with(
        options: ConnectOptionsOf<D>,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = D::pool_options(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Backend(format!("{}: {e}", D::NAME)))?;
        migrate::<D>(&pool, None)
            .await
            .map_err(|e| StoreError::Backend(format!("{} migrations: {e}", D::NAME)))?;
        Ok(SqlStore {
            pool,
            writers: Mutex::new(()),
        })
    }

    /// Connects to `url` (the driver's URL form) with a pool of 10 and applies migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: ConnectOptionsOf<D> = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("{}: {e}", D::NAME)))?;
        Self::connect_with(options, 10).await
    }

    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self>
    where
        D: FileDialect,
    {
        Self::connect_with(D::file(path), D::FILE_CONNECTIONS).await
    }

    /// A private in-memory database (for tests): one connection, since each connection to
    /// memory is its own database.
    pub async fn in_memory() -> StoreResult<Self>
    where
        D: FileDialect,
    {
        Self::connect_with(D::memory()?, 1).await
    }

    /// The connection pool (for operational checks and tests).
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// Opens a write transaction: under the writer lock where the dialect has one.
    pub(crate) async fn begin(&self) -> StoreResult<Write<'_, D::Db>> {
        let (serial, tx) = match D::SERIALIZED_WRITES {
            Some(begin) => {
                let serial = self.writers.lock().await;
                (Some(serial), self.pool.begin_with(begin).await)
            }
            None => (None, self.pool.begin().await),
        };
        let tx = tx.map_err(|e| backend(&e))?;
        Ok(Write {
            _serial: serial,
            tx,
            changes: Vec::new(),
        })
    }

    pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
        matches!(e, sqlx::Error::Database(d) if D::is_foreign_key_violation(d.as_ref()))
    }

    /// The `columns` of the row of `table` whose `column` is `value`, locked as `lock` for the
    /// rest of the transaction.
    pub(crate) async fn locked_row<R>(
        tx: &mut <D::Db as Database>::Connection,
        (columns, table, column): (&str, &str, &str),
        value: &str,
        lock: RowLock,
    ) -> StoreResult<Option<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {column} = $1{}",
            D::row_lock(lock)
        );
        sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| backend(&e))
    }

    /// The id of the row whose `column` is `value`, locked; `missing` if none.
    pub(crate) async fn locked_id(
        tx: &mut <D::Db as Database>::Connection,
        table: &str,
        column: &str,
        value: &str,
        lock: RowLock,
        missing: impl FnOnce() -> Missing,
    ) -> StoreResult<String> {
        let id: Option<(String,)> =
            Self::locked_row(tx, ("id", table, column), value, lock).await?;
        id.map(|(id,)| id)
            .ok_or_else(|| StoreError::NotFound(missing()))
    }
}

/// Applies the dialect's migrations up to `until` (all when `None`), each once, in one
/// transaction after the dialect's migration lock.
#[sql_bounds(D::Db)]
pub async fn migrate<D: Dialect>(
    pool: &Pool<D::Db>,
    until: Option<i64>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(lock) = D::MIGRATION_LOCK {
        sqlx::raw_sql(lock).execute(&mut *tx).await?;
    }
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
        .execute(&mut *tx)
        .await?;
    for (version, parts) in D::MIGRATIONS {
        if until.is_some_and(|u| *version > u) {
            break;
        }
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            for sql in *parts {
                sqlx::raw_sql(&migration_sql::<D>(sql))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// The words a database's SQL has for the markers of the shared migrations
/// ([`Dialect::MIGRATION_WORDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationWords {
    Sqlite,
    Postgres,
}

/// The markers of the shared migrations and each database's words for them, side by side:
/// (marker, SQLite's, PostgreSQL's). SQLite's key-only tables have no rowid (the key is the only
/// b-tree); its JSON has no booleans and is text already.
const MIGRATION_MARKERS: &[(&str, &str, &str)] = &[
    ("{table_options}", " WITHOUT ROWID", ""),
    ("{json_array}", "json_array", "json_build_array"),
    ("{json_object}", "json_object", "json_build_object"),
    (
        "{read_only_json}",
        "CASE WHEN read_only THEN json('true') ELSE json('false') END",
        "read_only",
    ),
    ("{resources_json}", "json(resources)", "resources::json"),
    ("{json_as_text}", "", "::text"),
];

/// A migration's SQL as the dialect runs it: each marker replaced by the dialect's words (an
/// unknown marker is left, and fails as a syntax error).
pub fn migration_sql<D: Dialect>(sql: &str) -> String {
    MIGRATION_MARKERS
        .iter()
        .fold(sql.to_string(), |sql, (marker, sqlite, postgres)| {
            let words = match D::MIGRATION_WORDS {
                MigrationWords::Sqlite => sqlite,
                MigrationWords::Postgres => postgres,
            };
            sql.replace(marker, words)
        })
}

/// A schema version and its SQL: the dialect's own file and/or portable SQL, run in order.
pub type Migration = (i64, &'static [&'static str]);

/// Every schema version, for a dialect's [`Dialect::MIGRATIONS`]: the portable SQL of
/// [`migrations`] and, for the versions that differ between databases, the file of the same
/// name in the invoking dialect crate's `migrations/` folder (`include_str!` resolves paths from
/// the file that invokes the macro, the dialect's `src/lib.rs`). A new version is one line here
/// (and, if not portable, one file in each dialect crate).
#[macro_export]
macro_rules! schema_migrations {
    () => {
        &[
            (1, &[include_str!("../migrations/0001_init.sql")]),
            (2, &[include_str!("../migrations/0002_principals.sql")]),
            (3, &[$crate::migrations::OWNER_POLICIES]),
            (4, &[$crate::migrations::CHANGE_FEED]),
            (6, &[include_str!("../migrations/0006_ec2_network.sql")]),
            (7, &[$crate::migrations::AUDIT]),
            (
                9,
                &[include_str!("../migrations/0009_ec2_query_indexes.sql")],
            ),
            (
                10,
                &[
                    $crate::migrations::AUDIT_LOOKUP,
                    $crate::migrations::AUDIT_LOG,
                ],
            ),
            (
                11,
                &[include_str!("../migrations/0011_association_ended_at.sql")],
            ),
            (
                12,
                &[
                    $crate::migrations::AUDIT_SEGMENTS,
                    $crate::migrations::AUDIT_SEGMENT_KEY,
                    $crate::migrations::AUDIT_SEGMENTS_TAIL,
                ],
            ),
            (
                13,
                &[include_str!(
                    "../migrations/0013_instance_state_changed_at.sql"
                )],
            ),
        ]
    };
}

/// Migrations in portable SQL, which both dialects list among theirs.
pub mod migrations {
    /// 3: roles' inline and attached policies join users' and groups' (owner-keyed).
    pub const OWNER_POLICIES: &str = include_str!("../migrations/0003_owner_policies.sql");
    /// 4: the change feed (`change_feed`, `changes`).
    pub const CHANGE_FEED: &str = include_str!("../migrations/0004_change_feed.sql");
    /// 7: the audit trail (`audit_events`, `audit_event_resources`; replaced by 10's
    /// `audit_lookup` and `audit_log`).
    pub const AUDIT: &str = include_str!("../migrations/0007_audit.sql");
    /// 10: the audit trail's lookup table (with the dialect's markers).
    pub const AUDIT_LOOKUP: &str = include_str!("../migrations/0010_audit_lookup.sql");
    /// 10 (after `audit_lookup`): the audit log, carrying 7's events over.
    pub const AUDIT_LOG: &str = include_str!("../migrations/0010_audit_log.sql");
    /// 12: the audit trail in segments.
    pub const AUDIT_SEGMENTS: &str = include_str!("../migrations/0012_audit_segments.sql");
    /// 12 (after the segments' table, with the dialect's markers): their key table, and 10's
    /// events as segments of one.
    pub const AUDIT_SEGMENT_KEY: &str = include_str!("../migrations/0012_audit_segment_key.sql");
    /// 12 (last): 10's lookup rows become key rows; 10's tables go.
    pub const AUDIT_SEGMENTS_TAIL: &str =
        include_str!("../migrations/0012_audit_segments_tail.sql");
}
