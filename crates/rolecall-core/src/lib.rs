//! The rolecall domain: IAM and EC2 entities, their invariants, and the operations on them,
//! behind the [`Store`] trait (implemented once, in `rolecall-store-sql`, for SQLite and
//! PostgreSQL). Stores report [`StoreError`]s; core words them as AWS does.
//!
//! The services here validate input the way AWS does (names, paths, tags, policy documents) and
//! generate ids; the store enforces the invariants that must hold under concurrency (unique
//! names, one role per instance profile, one active association per instance, at most five
//! policy versions) with database constraints and transactions.

pub mod audit;
pub mod authz;
pub mod clock;
pub mod ec2;
pub mod ec2_errors;
pub mod ec2_images;
pub mod ec2_network;
pub mod ec2_status;
pub mod ec2_tags;
mod error;
pub mod iam;
pub mod iam_account;
mod iam_entities;
pub mod iam_principals;
pub mod login_profiles;
pub mod metrics;
pub mod model;
pub mod paging;
mod principal_store;
pub mod revoke_sessions;
pub mod root_keys;
pub mod service_linked;
pub mod simulation;
mod store;
mod store_error;
pub mod validate;

pub use clock::{Clock, DynClock, ManualClock, SystemClock};
pub use error::{Error, InternalError, Result};
pub use paging::{Page, PageRequest};
pub use principal_store::{PrincipalEntity, PrincipalStore, Principals, StoredPrincipal};
pub use store::{
    Change, ChangeListener, ChangesSince, DynStore, Edit, EntityKind, InstanceDoc, Store,
};
pub use store_error::{
    Dependents, Existing, Limit, Missing, Named, Owner, OwnerKind, StoreError, StoreResult, Taken,
};
