//! Signing key derivation.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::canonical::TERMINATOR;

type HmacSha256 = Hmac<Sha256>;

/// `HMAC-SHA256(key, data)`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the
    // fallback keeps this function panic-free regardless.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

/// A derived SigV4 signing key for one `(secret, date, region, service)`:
///
/// ```text
/// kDate    = HMAC("AWS4" + secret, date)
/// kRegion  = HMAC(kDate, region)
/// kService = HMAC(kRegion, service)
/// kSigning = HMAC(kService, "aws4_request")
/// ```
///
/// The key remembers its scope so [`verify`](crate::verify) can refuse a key
/// derived for another scope. It is cheap to clone and safe to cache (keyed by
/// access key id + scope); its `Debug` output does not reveal the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    key: [u8; 32],
    date: String,
    region: String,
    service: String,
}

impl SigningKey {
    /// Derive the key. `date` is the scope date, `YYYYMMDD`.
    pub fn derive(secret_access_key: &str, date: &str, region: &str, service: &str) -> Self {
        let mut secret = Vec::with_capacity(4 + secret_access_key.len());
        secret.extend_from_slice(b"AWS4");
        secret.extend_from_slice(secret_access_key.as_bytes());
        let k_date = hmac(&secret, date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let key = hmac(&k_service, TERMINATOR.as_bytes());
        Self {
            key,
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        }
    }

    /// Derive the key for a parsed request's credential scope.
    pub fn for_scope(secret_access_key: &str, scope: &crate::CredentialScope) -> Self {
        Self::derive(
            secret_access_key,
            &scope.date,
            &scope.region,
            &scope.service,
        )
    }

    /// Scope date, `YYYYMMDD`.
    pub fn date(&self) -> &str {
        &self.date
    }

    /// Scope region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Scope service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `date/region/service/aws4_request`.
    pub fn scope_string(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }

    /// The raw 32-byte key (for callers that persist the derived key
    /// instead of the secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// `hex(HMAC(kSigning, string_to_sign))`.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.key, string_to_sign.as_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("scope", &self.scope_string())
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Example from the AWS General Reference ("Examples of how to derive a
    /// signing key for Signature Version 4").
    #[test]
    fn aws_documented_example() {
        let k = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.as_bytes()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert!(!format!("{k:?}").contains("f4780e"));
    }
}
