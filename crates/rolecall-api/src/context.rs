//! What every request runs against: the node's [`Api`] state and one request as handlers see
//! it ([`Call`]). This module imports no handler, so handlers, authorization and the server can
//! all depend on it without a circle.

use crate::cache::PolicyCache;
use crate::generated::Operation;
use crate::keys::{AuthMode, KeyStore};
use crate::principal::Principal;
use rolecall_core::ec2::Ec2;
use rolecall_core::iam::Iam;
use rolecall_core::{ChangeListener, DynClock};
use rolecall_crypto::KeyRing;
use rolecall_wire::Params;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub region: String,
    pub auth: AuthMode,
    /// Lifetime of instance credentials handed to agents (`DescribeInstanceIdentities`).
    pub instance_credentials: rolecall_imds::CredentialPolicy,
}

/// Everything a request handler needs.
pub struct Api {
    pub iam: Iam,
    pub ec2: Ec2,
    pub config: ApiConfig,
    pub keys: KeyStore,
    /// Opens session tokens (temporary credentials are verified without a database read).
    pub keyring: KeyRing,
    pub clock: DynClock,
    /// Told after each successful change (e.g. the IMDS directory, the instance runtime).
    pub listeners: Vec<Arc<dyn ChangeListener>>,
    /// What runs instances on this node (console output comes from it).
    pub runtime: Arc<dyn rolecall_runtime::InstanceRuntime>,
    /// Compiled policies of principals, cleared on every change.
    pub policy_cache: PolicyCache,
    /// The change generation this node has seen (see `changes`).
    pub generation: Generation,
    /// Instance credentials cut off before expiry (ended associations), from the change feed.
    pub revocations: Arc<crate::revocation::Revocations>,
    /// Where audit events go (`crate::audit`; off in tests unless they turn it on).
    pub audit: crate::audit::Audit,
}

impl Api {
    /// A node's API over `iam` and `ec2` as it starts: no access keys, listeners or audit, no
    /// instance runtime, and instance credentials revoked for as long as `config` issues them.
    pub fn new(iam: Iam, ec2: Ec2, config: ApiConfig, keyring: KeyRing, clock: DynClock) -> Api {
        let revocations = Arc::new(crate::revocation::Revocations::new(
            iam.clone(),
            clock.clone(),
            config.instance_credentials.lifetime,
        ));
        Api {
            iam,
            ec2,
            config,
            keys: KeyStore::default(),
            keyring,
            clock,
            listeners: vec![],
            runtime: Arc::new(rolecall_runtime::NoRuntime::default()),
            policy_cache: Default::default(),
            generation: Default::default(),
            revocations,
            audit: Default::default(),
        }
    }
}

/// One request as the handlers see it.
pub struct Call<'a> {
    pub api: &'a Api,
    pub principal: &'a Principal,
    pub params: &'a Params,
    pub op: Operation,
    pub request_id: &'a str,
    /// A read's audit draft while the operation runs (None for writes, whose draft waits in
    /// the task's pending slot for their commit, and when auditing is off).
    pub read_event: Option<&'a crate::audit::ReadEvent>,
}

impl Call<'_> {
    /// Names the resources the operation acts on in the request's audit event.
    pub(crate) fn audit_resources<'r>(&self, arns: impl IntoIterator<Item = &'r str>) {
        match self.read_event {
            Some(slot) => slot.set_resources(arns),
            None => rolecall_core::audit::update_pending(|d| {
                crate::audit::record::set_resources(d, arns);
            }),
        }
    }
}

/// The newest change-feed sequence this node has refreshed for.
#[derive(Default)]
pub struct Generation(Mutex<Option<i64>>);

impl Generation {
    pub(crate) fn swap(&self, seq: Option<i64>) -> Option<i64> {
        self.0
            .lock()
            .map(|mut g| std::mem::replace(&mut *g, seq))
            .unwrap_or(None)
    }
}
