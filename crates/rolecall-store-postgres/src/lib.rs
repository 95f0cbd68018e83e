//! [`rolecall_core::Store`] on PostgreSQL: the shared SQL store ([`rolecall_store_sql`]) with
//! PostgreSQL's connection set-up, migrations and dialect.
//!
//! Several API nodes may share one database, so nothing relies on a process-wide lock: every
//! invariant is enforced by the database. Uniqueness (case-insensitive names, one role per
//! instance profile, one active association per instance, live private IPs) by unique indexes;
//! count limits (five policy versions, two access keys) by counting under a `FOR UPDATE` lock on
//! the parent row in the inserting transaction; read-modify-write by `SELECT ... FOR UPDATE` in
//! one transaction; delete conflicts by checks under the entity's row lock, backed by
//! `ON DELETE RESTRICT` foreign keys (policies, which have no foreign key to their owner, by a
//! `FOR KEY SHARE` lock on the owner's row). Transactions run at READ COMMITTED and take row
//! locks in one order (instance before association, parent before child), so they do not
//! deadlock. Migrations run in one transaction under an advisory lock, so nodes starting at once
//! apply each exactly once.

use rolecall_store_sql::{Dialect, ListQuery, Migration, MigrationWords, PatternMatch, RowLock};
use sqlx::pool::PoolOptions;
use std::time::Duration;

/// The store on PostgreSQL: `PostgresStore::connect(url)` (libpq's URL form, a pool of 10) or
/// `PostgresStore::connect_with(options, pool_size)`. Any number of these (in any number of
/// processes) may share one database.
pub type PostgresStore = rolecall_store_sql::SqlStore<Postgres>;

/// PostgreSQL's dialect of the shared SQL store.
pub struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    const NAME: &'static str = "postgres";
    const SERIALIZED_WRITES: Option<&'static str> = None;
    /// Transaction-scoped advisory lock 0x726f6c6563616c6c ("rolecall").
    const MIGRATION_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(8245928625453493356)");
    const PATTERN_MATCH: PatternMatch = PatternMatch::Like;
    const MIGRATIONS: &'static [Migration] = rolecall_store_sql::schema_migrations!();
    const MIGRATION_WORDS: MigrationWords = MigrationWords::Postgres;

    fn row_lock(lock: RowLock) -> &'static str {
        match lock {
            RowLock::Update => " FOR UPDATE",
            RowLock::Share => " FOR SHARE",
            RowLock::KeyShare => " FOR KEY SHARE",
        }
    }

    fn pool_options(max_connections: u32) -> PoolOptions<sqlx::Postgres> {
        PoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
    }

    fn in_list(column: &str, n: usize) -> String {
        format!("{column} = ANY(${n})")
    }

    fn json_text(column: &str, path: &[&str]) -> String {
        format!("({column}::jsonb #>> '{{{}}}')", path.join(","))
    }

    /// As a `text[]`.
    fn bind_list<'q>(query: ListQuery<'q, Self>, list: &'q [String]) -> ListQuery<'q, Self> {
        query.bind(list)
    }
}

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_common;

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_store_sql::upgrade_test::{Upgrade, check, shared_migrations_unchanged};

    #[test]
    fn shared_migrations_run_what_postgres_ran_before() {
        shared_migrations_unchanged::<Postgres>(&[
            (
                10,
                "586709f2697b1a995ba72d85f90d547f3b219097a6fdc03bcf063ef9e251dc73",
            ),
            (
                12,
                "06e085ef4ca5e6fe3148e6316350b3bef6ce793d9d30c93883dfe08c2b0ee3af",
            ),
        ]);
    }

    /// A fresh database, a one-connection pool on it (for the old schema) and the store
    /// reopening it (which applies the remaining migrations).
    async fn upgrade_database() -> (
        sqlx::Pool<sqlx::Postgres>,
        impl std::future::Future<Output = rolecall_core::StoreResult<PostgresStore>>,
    ) {
        let options = test_common::fresh_database().await;
        let pool = Postgres::pool_options(1)
            .connect_with(options.clone())
            .await
            .expect("pool");
        (pool, PostgresStore::connect_with(options, 2))
    }

    /// Rows written under each old schema read back through core after the migrations.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: ROLECALL_TEST_DATABASE_URL (scripts/test.sh runs it)"]
    async fn upgrades_keep_old_rows() {
        for upgrade in Upgrade::ALL {
            let (pool, reopen) = upgrade_database().await;
            check(upgrade, pool, reopen).await;
        }
    }
}
