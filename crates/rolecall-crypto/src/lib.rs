//! Credential crypto for rolecall, pure (no I/O): identifiers and secrets in AWS's formats, and
//! the deployment key ring that seals data (stored secrets, later session tokens) with
//! authenticated encryption.
//!
//! Keys carry a one-byte id that prefixes every sealed blob, so a ring can hold retired keys that
//! still open old blobs while new blobs are sealed under the active key.

mod ids;
mod keyring;
mod session;

pub use ids::{
    IdPrefix, access_key_id, access_key_id_for, account_of_access_key, aws_unique_id, ec2_id,
    request_id, secret_access_key, time_of_id, time_ordered_id,
};
pub use keyring::{KeyRing, KeyRingError, MASTER_KEY_LEN, MasterKey};
pub use session::{
    SessionClaims, SessionCredentials, SessionError, SessionKind, issue as issue_session,
    open as open_session,
};
