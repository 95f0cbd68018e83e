//! Self-contained temporary credentials.
//!
//! The session token is the claims sealed (ChaCha20-Poly1305) under the deployment's active key,
//! so any node holding the key ring can verify a request signed with them without a database read.
//! The secret access key is derived from the access key id with the sealing key's derivation
//! subkey, so it is never stored: the verifier opens the token, checks the access key id matches
//! the signature's, and re-derives the secret.

use crate::ids::{IdPrefix, access_key_id_for};
use crate::keyring::{KeyRing, KeyRingError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

const TOKEN_AAD: &[u8] = b"rolecall/session-token/v2";
const SECRET_LABEL: &[u8] = b"rolecall/session-secret/v1";

/// Whose session a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SessionKind {
    /// A role session (instance credentials, AssumeRole).
    #[default]
    Role,
    /// An IAM user's GetSessionToken session.
    User,
    /// The account root's GetSessionToken session.
    Root,
    /// A GetFederationToken session: `role_name`/`role_id`/`principal_arn` name the IAM user
    /// who asked for it (empty for the root), `session_name` the federated user's name.
    Federated,
}

/// What a session token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionClaims {
    pub access_key_id: String,
    pub account_id: String,
    #[serde(default)]
    pub kind: SessionKind,
    /// The role's name (the user's for user sessions; empty for root).
    pub role_name: String,
    /// The role's unique id (the user's for user sessions).
    pub role_id: String,
    /// The role's (or user's) IAM ARN, with its path.
    #[serde(default)]
    pub principal_arn: String,
    /// The role session name (for instance credentials, the instance id).
    pub session_name: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// The milliseconds within `issued_at`'s second (`aws:TokenIssueTime` has them, so a
    /// revocation in the same second as an issue tells which came first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub issued_millis: u32,
    /// Unix seconds.
    pub expires_at: i64,
    /// For instance credentials, the instance's ARN (`ec2:SourceInstanceARN`).
    #[serde(default)]
    pub source_instance_arn: String,
    /// AssumeRole's inline session policy.
    #[serde(default)]
    pub session_policy: Option<String>,
    /// AssumeRole's managed session policies.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Session tags (key, value).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub source_identity: Option<String>,
    /// For instance credentials, the association they were issued under: once it ends (or the
    /// instance stops), verifiers refuse them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub association_id: String,
    /// For instance credentials, how IMDS delivered them (`ec2:RoleDelivery`: `1.0` or `2.0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_delivery: String,
    /// For instance credentials, the instance's private IPv4 (`aws:EC2InstanceSourcePrivateIPv4`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_private_ip: String,
    /// For instance credentials, the instance's VPC (`aws:EC2InstanceSourceVPC`), if it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_vpc: String,
}

/// Issued temporary credentials. No Debug: the secret must not reach logs.
#[derive(Clone)]
pub struct SessionCredentials {
    pub claims: SessionClaims,
    pub secret_access_key: String,
    pub session_token: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("session token is not valid base64")]
    Encoding,
    #[error("session token: {0}")]
    Sealed(#[from] KeyRingError),
    #[error("session token has an unknown format")]
    Format,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn secret_for(ring: &KeyRing, key_id: u8, access_key_id: &str) -> Option<String> {
    let d = ring.derive(key_id, SECRET_LABEL, access_key_id.as_bytes())?;
    // 30 bytes of base64 is 40 characters, the length of AWS secret keys.
    Some(B64.encode(&d[..30]))
}

fn encode(c: &SessionClaims) -> Result<String, SessionError> {
    serde_json::to_string(c).map_err(|_| SessionError::Format)
}

fn decode(text: &str) -> Result<SessionClaims, SessionError> {
    serde_json::from_str(text).map_err(|_| SessionError::Format)
}

/// Mints credentials for `claims` (whose `access_key_id` is replaced by a fresh ASIA id).
pub fn issue(
    ring: &KeyRing,
    mut claims: SessionClaims,
) -> Result<SessionCredentials, SessionError> {
    claims.access_key_id = access_key_id_for(IdPrefix::TemporaryAccessKey, &claims.account_id);
    let sealed = ring.seal(encode(&claims)?.as_bytes(), TOKEN_AAD);
    let secret_access_key = secret_for(ring, ring.active_id(), &claims.access_key_id)
        .ok_or(SessionError::Sealed(KeyRingError::Empty))?;
    Ok(SessionCredentials {
        claims,
        secret_access_key,
        session_token: B64.encode(sealed),
    })
}

/// Opens a session token and re-derives its secret. Expiry is the caller's to check.
pub fn open(ring: &KeyRing, token: &str) -> Result<(SessionClaims, String), SessionError> {
    let sealed = B64
        .decode(token.trim())
        .map_err(|_| SessionError::Encoding)?;
    let plain = ring.open(&sealed, TOKEN_AAD)?;
    let claims = decode(std::str::from_utf8(&plain).map_err(|_| SessionError::Format)?)?;
    let secret = secret_for(ring, sealed[0], &claims.access_key_id)
        .ok_or(SessionError::Sealed(KeyRingError::UnknownKey(sealed[0])))?;
    Ok((claims, secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keyring::MasterKey;

    fn claims() -> SessionClaims {
        SessionClaims {
            access_key_id: String::new(),
            account_id: "123456789012".into(),
            role_name: "s3access".into(),
            role_id: "AROAEXAMPLEEXAMPLE123".into(),
            session_name: "i-0123456789abcdef0".into(),
            issued_at: 100,
            expires_at: 200,
            source_instance_arn: "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
                .into(),
            ..Default::default()
        }
    }

    #[test]
    fn issue_open_and_rotate() {
        let k1 = MasterKey::new(1, &MasterKey::generate_bytes()).unwrap();
        let ring = KeyRing::new(vec![k1.clone()]).unwrap();
        let creds = issue(&ring, claims()).unwrap();
        assert!(creds.claims.access_key_id.starts_with("ASIA"));
        assert_eq!(creds.secret_access_key.len(), 40);
        let (c, secret) = open(&ring, &creds.session_token).unwrap();
        assert_eq!(c, creds.claims);
        assert_eq!(secret, creds.secret_access_key);
        // A rotated ring (new active key) still opens tokens of the old key, with the same secret.
        let rotated = KeyRing::new(vec![
            k1,
            MasterKey::new(2, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap();
        assert_eq!(
            open(&rotated, &creds.session_token).unwrap().1,
            creds.secret_access_key
        );
        // Another deployment's ring cannot.
        let other = KeyRing::new(vec![
            MasterKey::new(1, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap();
        assert!(open(&other, &creds.session_token).is_err());
        assert!(matches!(
            open(&ring, "not base64!"),
            Err(SessionError::Encoding)
        ));
    }

    #[test]
    fn tampered_token_fails() {
        let ring = KeyRing::new(vec![
            MasterKey::new(7, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap();
        let creds = issue(&ring, claims()).unwrap();
        let mut raw = B64.decode(&creds.session_token).unwrap();
        raw[20] ^= 1;
        assert!(matches!(
            open(&ring, &B64.encode(raw)),
            Err(SessionError::Sealed(KeyRingError::Tampered))
        ));
    }
}
