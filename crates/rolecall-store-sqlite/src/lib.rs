//! [`rolecall_core::Store`] on SQLite: the shared SQL store ([`rolecall_store_sql`]) with
//! SQLite's connection set-up, migrations and dialect.
//!
//! WAL journal, `synchronous=FULL` (a committed write survives `kill -9`), foreign keys on.
//! Writes are serialized through one async mutex and open with `BEGIN IMMEDIATE`, so
//! transactions never race to upgrade SQLite's lock (which would fail with SQLITE_BUSY instead of
//! waiting); reads run concurrently on the pool. SQLite has no row locks: under the writer mutex
//! they are not needed, so the dialect's lock clauses are empty.

use rolecall_core::{StoreError, StoreResult};
use rolecall_store_sql::{
    Dialect, FileDialect, ListQuery, Migration, MigrationWords, PatternMatch, RowLock,
};
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The store on SQLite: `SqliteStore::open(path)`, or `SqliteStore::in_memory()` for tests.
pub type SqliteStore = rolecall_store_sql::SqlStore<Sqlite>;

/// SQLite's dialect of the shared SQL store.
pub struct Sqlite;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    const NAME: &'static str = "sqlite";
    // IMMEDIATE takes the write lock up front (waiting out other connections with the busy
    // timeout); a deferred transaction that reads first fails with SQLITE_BUSY when it has to
    // upgrade after another connection has written.
    const SERIALIZED_WRITES: Option<&'static str> = Some("BEGIN IMMEDIATE");
    const MIGRATION_LOCK: Option<&'static str> = None;
    const PATTERN_MATCH: PatternMatch = PatternMatch::Glob;
    const MIGRATIONS: &'static [Migration] = rolecall_store_sql::schema_migrations!();
    /// Key-only tables without a rowid (the key is the only b-tree); SQLite's JSON has no
    /// booleans and is text already.
    const MIGRATION_WORDS: MigrationWords = MigrationWords::Sqlite;

    /// No row locks in SQLite, and none needed: one writer at a time.
    fn row_lock(_: RowLock) -> &'static str {
        ""
    }

    fn pool_options(max_connections: u32) -> PoolOptions<sqlx::Sqlite> {
        PoolOptions::new()
            .max_connections(max_connections)
            // A local file cannot drop the connection: skip the ping before every query.
            .test_before_acquire(false)
    }

    /// SQLite reports RESTRICT foreign keys as SQLITE_CONSTRAINT_TRIGGER (1811), not 787, so
    /// match on the message, which both share.
    fn is_foreign_key_violation(e: &dyn DatabaseError) -> bool {
        e.is_foreign_key_violation() || e.message().contains("FOREIGN KEY constraint failed")
    }

    fn in_list(column: &str, n: usize) -> String {
        format!("{column} IN (SELECT value FROM json_each(${n}))")
    }

    fn json_text(column: &str, path: &[&str]) -> String {
        format!("json_extract({column}, '$.{}')", path.join("."))
    }

    /// As a JSON array, which `json_each` unpacks.
    fn bind_list<'q>(query: ListQuery<'q, Self>, list: &'q [String]) -> ListQuery<'q, Self> {
        query.bind(serde_json::Value::from(list.to_vec()).to_string())
    }
}

impl FileDialect for Sqlite {
    const FILE_CONNECTIONS: u32 = 8;

    fn file(path: &Path) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
    }

    fn memory() -> StoreResult<SqliteConnectOptions> {
        Ok(SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| StoreError::Backend(format!("sqlite: {e}")))?
            .foreign_keys(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_store_sql::upgrade_test::{Upgrade, check, shared_migrations_unchanged};

    #[test]
    fn shared_migrations_run_what_sqlite_ran_before() {
        shared_migrations_unchanged::<Sqlite>(&[
            (
                10,
                "a1adc4e92bbe9fdecb43ce0e7f3e9421556340c31571305b419f22170a175ffc",
            ),
            (
                12,
                "3a7f7e6fcdaa17d1b2f74e14840a545d0c0630b49a21a554d53475dd7343a72b",
            ),
        ]);
    }

    /// A fresh database file in `dir`, a one-connection pool on it (for the old schema) and the
    /// store reopening it (which applies the remaining migrations).
    async fn upgrade_database(
        dir: &tempfile::TempDir,
    ) -> (
        sqlx::Pool<sqlx::Sqlite>,
        impl std::future::Future<Output = StoreResult<SqliteStore>>,
    ) {
        let path = dir.path().join("upgrade.db");
        let pool = Sqlite::pool_options(1)
            .connect_with(Sqlite::file(&path))
            .await
            .expect("pool");
        (pool, async move { SqliteStore::open(&path).await })
    }

    /// Rows written under each old schema read back through core after the migrations.
    #[tokio::test]
    async fn upgrades_keep_old_rows() {
        for upgrade in Upgrade::ALL {
            let dir = tempfile::tempdir().expect("tempdir");
            let (pool, reopen) = upgrade_database(&dir).await;
            check(upgrade, pool, reopen).await;
        }
    }
}
