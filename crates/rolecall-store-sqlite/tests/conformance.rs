//! The shared storage conformance suite, on SQLite files (WAL, a real connection pool).

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
use rolecall_core::DynStore;
use rolecall_store_sqlite::SqliteStore;
use std::sync::Arc;

async fn make() -> DynStore {
    // Leak the directory so the database outlives the test body; the OS cleans /tmp.
    let dir = tempfile::tempdir().expect("tempdir").keep();
    Arc::new(
        SqliteStore::open(&dir.join("conformance.db"))
            .await
            .expect("open sqlite"),
    )
}

rolecall_store_tests::conformance_tests!(make());
