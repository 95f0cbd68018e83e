//! The shared storage conformance suite, on PostgreSQL: each test on its own fresh database.
//! Needs `$ROLECALL_TEST_DATABASE_URL` (e.g. `scripts/with-postgres.sh cargo test -p
//! rolecall-store-postgres`); without it the tests say they are skipped (and fail under CI).

mod common;

use rolecall_core::DynStore;
use rolecall_store_postgres::PostgresStore;
use std::sync::Arc;

async fn make() -> Option<DynStore> {
    let opts = common::fresh_database().await?;
    let store = PostgresStore::connect_with(opts, 8)
        .await
        .expect("connect postgres");
    Some(Arc::new(store))
}

// The macro awaits its argument inside each test; the block returns from the test (a skip) when
// there is no database, and otherwise hands the store over as a ready future.
rolecall_store_tests::conformance_tests!({
    match make().await {
        Some(store) => std::future::ready(store),
        None => return,
    }
});
