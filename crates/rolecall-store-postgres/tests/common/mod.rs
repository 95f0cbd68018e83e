//! A fresh database per test on the server named by `$ROLECALL_TEST_DATABASE_URL`
//! (`scripts/with-postgres.sh` starts a throwaway one and sets it).

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::io::Write;
use std::str::FromStr;

pub const URL_VAR: &str = "ROLECALL_TEST_DATABASE_URL";

/// Creates an empty database and returns options that connect to it; `None` (after saying so)
/// when no server is configured outside CI. In CI a missing server is a failure, not a skip.
pub async fn fresh_database() -> Option<PgConnectOptions> {
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{URL_VAR} is not set but CI is: the PostgreSQL store tests must run \
                     (scripts/with-postgres.sh cargo test -p rolecall-store-postgres)"
                );
            }
            // Straight to stderr (the test harness captures `eprintln!`), once per test binary.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: {URL_VAR} is not set, so the PostgreSQL store tests did not run. \
                     Run them with: scripts/with-postgres.sh cargo test -p rolecall-store-postgres"
                );
            });
            return None;
        }
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
    Some(admin.database(&name))
}
