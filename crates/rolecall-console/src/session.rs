//! The console's session: a cookie sealed with the deployment key ring (ChaCha20-Poly1305, bound
//! to its purpose by associated data), holding the access key id (and a session token for
//! temporary credentials) or, after a password sign-in, the IAM user's name and id; when it
//! expires and the session's CSRF token. It holds no secret: each request looks the key (or the
//! user and its login profile) up again, so a key deactivated or deleted, or a user or login
//! profile deleted, ends its sessions. Nothing is stored on the server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rolecall_crypto::KeyRing;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "rc_session";
/// The CSRF token of a visitor not signed in yet (the sign-in form's, double-submitted).
pub const PRE_CSRF_COOKIE: &str = "rc_csrf";
pub const LANG_COOKIE: &str = "rc_lang";
/// How long a console session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;
const AAD: &[u8] = b"rolecall-console-session";

/// A signed-in console session (what the sealed cookie holds).
#[derive(Clone)]
pub struct Session {
    pub access_key_id: String,
    pub session_token: Option<String>,
    /// A password session's IAM user (name, unique id); the access key id is then empty.
    pub password_user: Option<(String, String)>,
    pub expires_at: i64,
    pub csrf: String,
}

impl Session {
    pub fn new(access_key_id: &str, session_token: Option<&str>, now: i64) -> Session {
        Session {
            access_key_id: access_key_id.to_string(),
            session_token: session_token.map(str::to_string),
            password_user: None,
            expires_at: now + SESSION_SECONDS,
            csrf: random_token(),
        }
    }

    /// The session of an IAM user signed in with its console password.
    pub fn for_password_user(user_name: &str, user_id: &str, now: i64) -> Session {
        Session {
            password_user: Some((user_name.to_string(), user_id.to_string())),
            ..Session::new("", None, now)
        }
    }

    pub fn seal(&self, ring: &KeyRing) -> String {
        let doc = json!({
            "k": self.access_key_id,
            "t": self.session_token,
            "u": self.password_user,
            "x": self.expires_at,
            "c": self.csrf,
        });
        URL_SAFE_NO_PAD.encode(ring.seal(doc.to_string().as_bytes(), AAD))
    }

    /// The session a cookie holds, if it was sealed by this deployment and has not expired.
    pub fn open(ring: &KeyRing, cookie: &str, now: i64) -> Option<Session> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        let plain = ring.open(&sealed, AAD).ok()?;
        let doc: Value = serde_json::from_slice(&plain).ok()?;
        let s = Session {
            access_key_id: doc.get("k")?.as_str()?.to_string(),
            session_token: doc.get("t").and_then(Value::as_str).map(str::to_string),
            password_user: serde_json::from_value(doc.get("u").cloned().unwrap_or(Value::Null))
                .ok()?,
            expires_at: doc.get("x")?.as_i64()?,
            csrf: doc.get("c")?.as_str()?.to_string(),
        };
        (now < s.expires_at).then_some(s)
    }
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Constant-time comparison of a submitted CSRF token with the expected one.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value scoped to the console: never readable by scripts unless `script` (none
/// is), sent only on same-site requests, `Secure` when served over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let mut c =
        format!("{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rolecall_crypto::MasterKey;

    fn ring(id: u8) -> KeyRing {
        KeyRing::new(vec![
            MasterKey::new(id, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn a_sealed_session_opens_only_with_its_ring_and_until_it_expires() {
        let r = ring(1);
        let s = Session::new("AKIAEXAMPLE", None, 1000);
        let c = s.seal(&r);
        let back = Session::open(&r, &c, 1001).unwrap();
        assert_eq!(back.access_key_id, "AKIAEXAMPLE");
        assert_eq!(back.csrf, s.csrf);
        assert!(back.session_token.is_none() && back.password_user.is_none());
        let p = Session::for_password_user("ana", "AIDAEXAMPLE", 1000).seal(&r);
        let back = Session::open(&r, &p, 1001).unwrap();
        assert_eq!(
            back.password_user,
            Some(("ana".into(), "AIDAEXAMPLE".into()))
        );
        assert_eq!(back.access_key_id, "");
        assert!(Session::open(&r, &c, 1000 + SESSION_SECONDS).is_none());
        assert!(Session::open(&ring(2), &c, 1001).is_none());
        // A flipped character is refused (the seal is authenticated).
        let mut bad = c.into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(Session::open(&r, &String::from_utf8(bad).unwrap(), 1001).is_none());
    }

    #[test]
    fn cookies_are_read_by_name_and_set_strict() {
        assert_eq!(cookie("a=1; rc_lang=ko; b=2", "rc_lang"), Some("ko"));
        assert_eq!(cookie("a=1", "rc_lang"), None);
        let c = set_cookie("rc_session", "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("rc_session", "v", 60, false).contains("Secure"));
        assert!(tokens_match("abc", "abc") && !tokens_match("abc", "abd") && !tokens_match("", ""));
    }
}
