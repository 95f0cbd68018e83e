//! The authentication mode and long-term access keys known at start-up.

use crate::principal::Principal;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Verify every request's signature (the default).
    On,
    /// Accept any or no credentials as the account root (development only).
    Off,
}

/// A long-term access key and whose it is. The secret is never logged (no Debug).
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub principal: Principal,
}

/// Long-term access keys by id.
#[derive(Default)]
pub struct KeyStore {
    keys: RwLock<HashMap<String, Credentials>>,
}

impl KeyStore {
    pub fn insert(&self, c: Credentials) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(c.access_key_id.clone(), c);
        }
    }

    pub(crate) fn lookup(&self, access_key_id: &str) -> Option<Credentials> {
        self.keys.read().ok()?.get(access_key_id).cloned()
    }
}
