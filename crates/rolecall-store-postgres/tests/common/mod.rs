//! A fresh database per test on the server named by `$ROLECALL_TEST_DATABASE_URL`
//! (`scripts/with-postgres.sh` starts a throwaway one and sets it).
//!
//! These tests are `#[ignore]`d: a plain `cargo test` reports them as ignored,
//! and `scripts/test.sh` runs them with `--include-ignored` under `scripts/with-postgres.sh`,
//! where a missing server fails them.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

pub const URL_VAR: &str = "ROLECALL_TEST_DATABASE_URL";

/// Creates an empty database and returns options that connect to it. Panics when no server is
/// configured: a test that was asked to run (`--include-ignored`) must not pass without one.
pub async fn fresh_database() -> PgConnectOptions {
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: the PostgreSQL store tests need a server \
             (scripts/with-postgres.sh cargo test -p rolecall-store-postgres -- --include-ignored)"
        ),
    };
    let admin = PgConnectOptions::from_str(&url).expect("ROLECALL_TEST_DATABASE_URL");
    let name = format!("rolecall_test_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .expect("connect to ROLECALL_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.expect("close admin connection");
    admin.database(&name)
}
