//! The instance metadata service (IMDS v1 and v2).
//!
//! Answers come from memory: the [`Directory`] holds every running instance with its profile
//! and role, loaded once at start and then kept current from the store's change feed (it is a
//! [`ChangeListener`](rolecall_core::ChangeListener)): each change rebuilds only the entries it
//! touched. Credentials are minted when an instance first asks, and renewed ahead of expiry only
//! for instances that keep asking. Minting is pure computation (sealing a token), so an IMDS
//! answer never waits on the database.
//!
//! Callers are identified by source IP (the instance whose private IP is the peer address; AWS's
//! own paths) or, in development, by a path prefix `/rolecall/<instance-id>/<mac>/` whose MAC
//! only holders of the deployment key can compute (`rolecall exec` does).

mod credentials;
mod directory;
mod entry;
mod paths;
mod server;
mod token;

pub use credentials::{CredentialParts, CredentialPolicy, Delivery, Issued, IssuedFor};
pub use directory::{
    CredentialKey, CredentialTimes, Directory, InstanceView, IssueHook, IssuedNotice, ProfileView,
    RoleView, changed_views, credentials_since, load_views, mint_for,
};
pub use entry::{Addr, Ec2Id, IdText, InstanceEntry, Options};
pub use server::{ImdsConfig, apply_hop_limit, serve};
pub use token::dev_path_prefix;
