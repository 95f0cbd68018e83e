//! PostgreSQL implementation of [`rolecall_core::Store`] on sqlx.
//!
//! Several API nodes may share one database, so nothing relies on a process-wide lock: every
//! invariant is enforced by the database. Uniqueness (case-insensitive names, one role per
//! instance profile, one active association per instance, live private IPs) by unique indexes,
//! whose violations become AWS's errors; count limits (five policy versions, two access keys) by
//! counting under a `FOR UPDATE` lock on the parent row in the inserting transaction;
//! read-modify-write by `SELECT ... FOR UPDATE` in one transaction; delete conflicts by checks
//! under the entity's row lock, backed by `ON DELETE RESTRICT` foreign keys. Transactions run at
//! READ COMMITTED and take row locks in one order (instance before association, parent before
//! child), so they do not deadlock.

mod migrate;
mod principals;
mod store;

pub use store::PostgresStore;
