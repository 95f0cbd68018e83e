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

use rolecall_store_sql::{Dialect, ListQuery, Migration, PatternMatch, RowLock};
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
    use rolecall_store_sql::upgrade_test::{Upgrade, check};

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

    #[tokio::test]
    #[ignore = "needs PostgreSQL: ROLECALL_TEST_DATABASE_URL (scripts/test.sh runs it)"]
    async fn version_2_policies_survive_migration_3() {
        let (pool, reopen) = upgrade_database().await;
        check(Upgrade::Version2Policies, pool, reopen).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: ROLECALL_TEST_DATABASE_URL (scripts/test.sh runs it)"]
    async fn migration_11_backfills_association_ends() {
        let (pool, reopen) = upgrade_database().await;
        check(Upgrade::Version9AssociationEnds, pool, reopen).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: ROLECALL_TEST_DATABASE_URL (scripts/test.sh runs it)"]
    async fn migration_13_dates_instance_state_changes() {
        let (pool, reopen) = upgrade_database().await;
        check(Upgrade::Version11InstanceStates, pool, reopen).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: ROLECALL_TEST_DATABASE_URL (scripts/test.sh runs it)"]
    async fn audit_events_survive_migration_10() {
        let (pool, reopen) = upgrade_database().await;
        check(Upgrade::Version9AuditEvents, pool, reopen).await;
    }
}
