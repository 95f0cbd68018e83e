//! The deployment key ring: ChaCha20-Poly1305 keys with one-byte ids.
//!
//! Sealed blob layout: `key_id (1) || nonce (12) || ciphertext+tag`. The caller's associated data
//! binds a blob to its purpose (e.g. "root-secret"), so a blob sealed for one use cannot be
//! replayed as another.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

pub const MASTER_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("sealed data is too short")]
    Truncated,
    #[error("sealed under unknown key id {0}")]
    UnknownKey(u8),
    #[error("sealed data failed authentication")]
    Tampered,
    #[error("key ring has no key")]
    Empty,
    #[error("master key must be {MASTER_KEY_LEN} bytes")]
    BadKeyLength,
}

/// One deployment key. Its bytes are never printed (no Debug of the secret).
///
/// Two subkeys are derived from the key material with HMAC-SHA256 and distinct labels: one for
/// sealing (ChaCha20-Poly1305), one for deriving secrets (temporary credentials' secret keys),
/// so no key is used for two purposes.
#[derive(Clone)]
pub struct MasterKey {
    id: u8,
    cipher: ChaCha20Poly1305,
    derive: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

fn subkey(material: &[u8], label: &[u8]) -> [u8; 32] {
    // A 32-byte key is always a valid HMAC key.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(material).unwrap_or_else(|_| unreachable!());
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn new(id: u8, bytes: &[u8]) -> Result<Self, KeyRingError> {
        if bytes.len() != MASTER_KEY_LEN {
            return Err(KeyRingError::BadKeyLength);
        }
        let seal = subkey(bytes, b"rolecall/seal/v1");
        Ok(Self {
            id,
            cipher: ChaCha20Poly1305::new(Key::from_slice(&seal)),
            derive: subkey(bytes, b"rolecall/derive/v1"),
        })
    }

    /// Fresh random key material for a new deployment.
    pub fn generate_bytes() -> [u8; MASTER_KEY_LEN] {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }

    pub fn id(&self) -> u8 {
        self.id
    }
}

/// The keys of a deployment: the active one seals, all of them open.
#[derive(Clone, Debug)]
pub struct KeyRing {
    active: usize,
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// `keys` must be non-empty; the last key is the active one.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self {
            active: keys.len() - 1,
            keys,
        })
    }

    pub fn active_id(&self) -> u8 {
        self.keys[self.active].id
    }

    /// HMAC-SHA256 under the derivation subkey of key `id` (None if the ring lacks that key).
    pub fn derive(&self, id: u8, label: &[u8], input: &[u8]) -> Option<[u8; 32]> {
        let key = self.keys.iter().find(|k| k.id == id)?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key.derive).ok()?;
        mac.update(label);
        mac.update(&[0]);
        mac.update(input);
        Some(mac.finalize().into_bytes().into())
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &self.keys[self.active];
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Encryption only fails for inputs larger than ~256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        if sealed.len() < 1 + NONCE_LEN + 16 {
            return Err(KeyRingError::Truncated);
        }
        let id = sealed[0];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(KeyRingError::UnknownKey(id))?;
        let nonce = Nonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        key.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map_err(|_| KeyRingError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ring(ids: &[u8]) -> KeyRing {
        KeyRing::new(
            ids.iter()
                .map(|&i| MasterKey::new(i, &MasterKey::generate_bytes()).unwrap())
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_tamper() {
        let r = ring(&[1]);
        let s = r.seal(b"secret", b"root");
        assert_eq!(r.open(&s, b"root").unwrap(), b"secret");
        assert_eq!(r.open(&s, b"other"), Err(KeyRingError::Tampered));
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(r.open(&t, b"root"), Err(KeyRingError::Tampered));
        assert_eq!(r.open(&s[..10], b"root"), Err(KeyRingError::Truncated));
    }

    #[test]
    fn rotation_keeps_old_blobs_open() {
        let k1 = MasterKey::new(1, &MasterKey::generate_bytes()).unwrap();
        let old = KeyRing::new(vec![k1.clone()]).unwrap();
        let blob = old.seal(b"x", b"");
        let k2 = MasterKey::new(2, &MasterKey::generate_bytes()).unwrap();
        let new = KeyRing::new(vec![k1, k2]).unwrap();
        assert_eq!(new.active_id(), 2);
        assert_eq!(new.open(&blob, b"").unwrap(), b"x");
        assert_eq!(new.seal(b"y", b"")[0], 2);
        assert_eq!(
            ring(&[3]).open(&blob, b""),
            Err(KeyRingError::UnknownKey(1))
        );
    }
}
