//! IMDSv2 session tokens and development path prefixes, both verifiable without a lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use rolecall_crypto::KeyRing;
use subtle::ConstantTimeEq;

const TOKEN_AAD: &[u8] = b"rolecall/imds-token/v1";
const DEV_PATH_LABEL: &[u8] = b"rolecall/imds-dev-path/v1";

/// A token bound to `instance_id`, valid until `expires`.
pub fn issue(ring: &KeyRing, instance_id: &str, expires: DateTime<Utc>) -> String {
    let plain = format!("{instance_id}\n{}", expires.timestamp());
    B64.encode(ring.seal(plain.as_bytes(), TOKEN_AAD))
}

/// The instance a token was issued to and its expiry, if the token is genuine.
pub fn open(ring: &KeyRing, token: &str) -> Option<(String, i64)> {
    let sealed = B64.decode(token.trim()).ok()?;
    let plain = String::from_utf8(ring.open(&sealed, TOKEN_AAD).ok()?).ok()?;
    let (id, exp) = plain.split_once('\n')?;
    Some((id.to_string(), exp.parse().ok()?))
}

fn dev_mac(ring: &KeyRing, instance_id: &str) -> Option<String> {
    let mac = ring.derive(ring.active_id(), DEV_PATH_LABEL, instance_id.as_bytes())?;
    Some(hex::encode(&mac[..16]))
}

/// `/rolecall/<instance-id>/<mac>`: the path prefix that identifies an instance in development
/// mode (`AWS_EC2_METADATA_SERVICE_ENDPOINT=http://HOST:PORT/rolecall/<id>/<mac>/`).
pub fn dev_path_prefix(ring: &KeyRing, instance_id: &str) -> Option<String> {
    Some(format!(
        "/rolecall/{instance_id}/{}",
        dev_mac(ring, instance_id)?
    ))
}

/// Splits a development path into (instance id, rest of the path), checking the MAC.
pub fn parse_dev_path<'p>(ring: &KeyRing, path: &'p str) -> Option<(&'p str, &'p str)> {
    let rest = path.strip_prefix("/rolecall/")?;
    let (id, rest) = rest.split_once('/')?;
    let (mac, rest) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // `$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/...` written by hand doubles the slash.
    let extra = rest
        .bytes()
        .take_while(|&b| b == b'/')
        .count()
        .saturating_sub(1);
    let rest = &rest[extra..];
    let expected = dev_mac(ring, id)?;
    let ok: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
    ok.then_some((id, rest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rolecall_crypto::MasterKey;

    #[test]
    fn tokens_and_dev_paths() {
        let ring = KeyRing::new(vec![
            MasterKey::new(1, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap();
        let exp = Utc::now();
        let t = issue(&ring, "i-0123456789abcdef0", exp);
        assert_eq!(
            open(&ring, &t),
            Some(("i-0123456789abcdef0".into(), exp.timestamp()))
        );
        assert_eq!(open(&ring, "garbage"), None);
        let prefix = dev_path_prefix(&ring, "i-0123456789abcdef0").unwrap();
        let path = format!("{prefix}/latest/meta-data/");
        assert_eq!(
            parse_dev_path(&ring, &path),
            Some(("i-0123456789abcdef0", "/latest/meta-data/"))
        );
        let doubled = format!("{prefix}//latest/meta-data/");
        assert_eq!(
            parse_dev_path(&ring, &doubled),
            Some(("i-0123456789abcdef0", "/latest/meta-data/"))
        );
        let forged = path.replace("/i-0123456789abcdef0/", "/i-0123456789abcdef1/");
        assert_eq!(parse_dev_path(&ring, &forged), None);
    }
}
