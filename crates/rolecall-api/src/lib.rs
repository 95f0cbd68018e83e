//! The AWS-compatible HTTP API: one listener serving IAM and STS (Query protocol) and EC2 (EC2
//! protocol). A request is read whole, authenticated (SigV4, or `--auth off`), routed to its
//! service by the credential scope (or by `Version` when unsigned), dispatched on `Action`, and
//! answered in that protocol's XML envelope. Domain errors become wire errors in [`error`] only.

mod agent_api;
pub mod audit;
mod auth;
mod authz;
mod cache;
#[cfg(test)]
mod cache_tests;
pub mod changes;
mod cloudtrail;
mod context;
mod ec2_xml;
pub mod error;
mod generated;
mod iam_xml;
mod in_process;
mod input;
mod instance_fragments;
#[cfg(test)]
mod instance_fragments_tests;
mod keys;
#[cfg(test)]
mod operation_tests;
mod operations;
mod output;
mod params;
mod principal;
pub mod revocation;
mod server;
mod service;
mod simulate;
mod sts_sessions;
mod units;

pub use audit::Audit;
pub use cache::PolicyCache;
pub use context::{Api, ApiConfig};
pub use in_process::{
    Origin, PasswordSignIn, invoke, password_user, principal_of, sign_in, sign_in_throttled,
    sign_in_with_password,
};
pub use keys::{AuthMode, Credentials, KeyStore};
pub use principal::{Principal, PrincipalKind};
pub use server::{OverTls, router, serve, serve_router, serve_with};
pub use service::Service;
