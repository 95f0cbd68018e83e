//! SQLite implementation of [`rolecall_core::Store`] on sqlx.
//!
//! WAL journal, `synchronous=FULL`, foreign keys on. Writes are serialized through one async
//! mutex so transactions never race to upgrade SQLite's lock (which would fail with SQLITE_BUSY
//! instead of waiting); reads run concurrently on the pool.

mod migrate;
mod principals;
mod store;

pub use store::SqliteStore;
