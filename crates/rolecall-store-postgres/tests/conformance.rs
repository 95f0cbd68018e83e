//! The shared storage conformance suite, on PostgreSQL: each test on its own fresh database.
//! Needs `$ROLECALL_TEST_DATABASE_URL`, so the tests are ignored by a plain `cargo test`; run them
//! with `scripts/with-postgres.sh cargo test -p rolecall-store-postgres -- --include-ignored`
//! (a missing server then fails them).

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
mod common;

use rolecall_core::DynStore;
use rolecall_store_postgres::PostgresStore;
use std::sync::Arc;

async fn make() -> DynStore {
    let opts = common::fresh_database().await;
    let store = PostgresStore::connect_with(opts, 8)
        .await
        .expect("connect postgres");
    Arc::new(store)
}

rolecall_store_tests::conformance_tests!(
    ignore = "needs PostgreSQL: scripts/with-postgres.sh cargo test -p rolecall-store-postgres -- --include-ignored";
    make()
);
