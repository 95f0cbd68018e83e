//! Requests signed by botocore 1.43.11 (the `aws` CLI / boto3), captured by
//! `tests/fixtures/gen_botocore_fixtures.py` into `tests/fixtures/botocore.json`.
//!
//! Each must verify, and must be rejected once one byte of the body, of a
//! signed header, of the query, the path, the method or the secret changes.
//! Our signer must also reproduce botocore's signature exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use rolecall_sigv4::{
    Credentials, ParsedAuth, Request, SigV4Error, SigningKey, SigningParams, parse, parse_amz_date,
    presign, sign, verify,
};
use serde_json::Value;

struct Fixture {
    name: String,
    service: String,
    region: String,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    time: DateTime<Utc>,
    presigned: bool,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fixture {
    fn request<'a>(&'a self, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            body: &self.body,
        }
    }

    fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    fn key(&self, auth: &ParsedAuth) -> SigningKey {
        SigningKey::for_scope(&self.secret, &auth.scope)
    }
}

fn load() -> Vec<Fixture> {
    let text = include_str!("fixtures/botocore.json");
    let v: Value = serde_json::from_str(text).unwrap();
    let s = |f: &Value, k: &str| f[k].as_str().unwrap().to_owned();
    v["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Fixture {
            name: s(f, "name"),
            service: s(f, "service"),
            region: s(f, "region"),
            access_key_id: s(f, "access_key_id"),
            secret: s(f, "secret_access_key"),
            token: f["session_token"].as_str().map(str::to_owned),
            time: parse_amz_date(f["signing_time"].as_str().unwrap()).unwrap(),
            presigned: f["presigned"].as_bool().unwrap(),
            method: s(f, "method"),
            path: s(f, "path"),
            query: s(f, "query"),
            headers: f["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            body: s(f, "body").into_bytes(),
        })
        .collect()
}

fn parse_and_verify(f: &Fixture, req: &Request<'_>, now: DateTime<Utc>) -> Result<(), SigV4Error> {
    let auth = parse(req)?;
    verify(req, &auth, &f.key(&auth), now).map(drop)
}

/// Runs `check` on each fixture with its request as botocore signed it, parsed.
fn each_signed(check: impl Fn(&Fixture, Request<'_>, ParsedAuth)) {
    for f in load() {
        let headers = f.header_refs();
        let req = f.request(&headers);
        let auth = parse(&req).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        check(&f, req, auth);
    }
}

fn flip_byte(s: &mut [u8], i: usize) {
    s[i] = if s[i] == b'A' { b'B' } else { b'A' };
}

#[test]
fn fixtures_present() {
    let fixtures = load();
    assert!(fixtures.len() >= 8);
    assert!(fixtures.iter().any(|f| f.presigned));
    assert!(fixtures.iter().any(|f| f.token.is_some()));
    for s in ["iam", "sts", "ec2"] {
        assert!(fixtures.iter().any(|f| f.service == s));
    }
}

#[test]
fn botocore_requests_verify() {
    each_signed(|f, req, auth| {
        assert_eq!(auth.access_key_id, f.access_key_id, "{}", f.name);
        assert_eq!(auth.scope.service, f.service, "{}", f.name);
        assert_eq!(auth.scope.region, f.region, "{}", f.name);
        assert_eq!(auth.is_presigned(), f.presigned, "{}", f.name);
        assert_eq!(auth.security_token, f.token, "{}", f.name);
        assert_eq!(auth.request_time, f.time, "{}", f.name);
        auth.check_scope(|r| r == f.region, &f.service)
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let max = auth.expires().map_or(300, |e| e.num_seconds().min(300));
        for offset in [-299, -1, 0, 1, 59, max] {
            let now = f.time + Duration::seconds(offset);
            verify(&req, &auth, &f.key(&auth), now)
                .unwrap_or_else(|e| panic!("{} (now {offset:+}s): {e} {e:?}", f.name));
        }
    });
}

#[test]
fn body_tampering_rejected() {
    for f in load().into_iter().filter(|f| !f.body.is_empty()) {
        let headers = f.header_refs();
        for i in [0, f.body.len() / 2, f.body.len() - 1] {
            let mut body = f.body.clone();
            flip_byte(&mut body, i);
            let req = Request {
                body: &body,
                ..f.request(&headers)
            };
            let err = parse_and_verify(&f, &req, f.time).unwrap_err();
            assert!(
                matches!(err, SigV4Error::SignatureDoesNotMatch { .. }),
                "{} byte {i}: {err:?}",
                f.name
            );
        }
        // Appending or dropping a byte too.
        let mut longer = f.body.clone();
        longer.push(b'&');
        let req = Request {
            body: &longer,
            ..f.request(&headers)
        };
        assert!(parse_and_verify(&f, &req, f.time).is_err(), "{}", f.name);
        let req = Request {
            body: &f.body[..f.body.len() - 1],
            ..f.request(&headers)
        };
        assert!(parse_and_verify(&f, &req, f.time).is_err(), "{}", f.name);
    }
}

#[test]
fn signed_header_tampering_rejected_unsigned_ignored() {
    for f in load() {
        let auth = {
            let headers = f.header_refs();
            parse(&f.request(&headers)).unwrap()
        };
        for (idx, (name, value)) in f.headers.iter().enumerate() {
            let lname = name.to_ascii_lowercase();
            if lname == "authorization" {
                continue;
            }
            // Change one byte of the value (keeping dates parseable: bump a
            // digit of the seconds).
            let mut v = value.clone().into_bytes();
            let pos = if lname == "x-amz-date" {
                14
            } else {
                v.len() / 2
            };
            v[pos] = if v[pos] == b'1' { b'2' } else { b'1' };
            let v = String::from_utf8(v).unwrap();
            let mut headers = f.header_refs();
            headers[idx].1 = &v;
            let req = f.request(&headers);
            let result = parse_and_verify(&f, &req, f.time);
            if auth.signed_headers.contains(&lname) {
                let err = result.expect_err(&format!("{}: header {name}", f.name));
                assert!(
                    matches!(err, SigV4Error::SignatureDoesNotMatch { .. }),
                    "{}: header {name}: {err:?}",
                    f.name
                );
            } else {
                result.unwrap_or_else(|e| panic!("{}: unsigned header {name}: {e}", f.name));
            }
        }
        // Dropping a signed header (other than the date) must fail too.
        let headers: Vec<(&str, &str)> = f
            .header_refs()
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
            .collect();
        assert!(
            parse_and_verify(&f, &f.request(&headers), f.time).is_err(),
            "{}",
            f.name
        );
    }
}

#[test]
fn query_path_method_tampering_rejected() {
    for f in load() {
        let headers = f.header_refs();
        let signed = f.request(&headers);
        let queries = if f.query.is_empty() {
            vec!["Action=DeleteRole".to_string()]
        } else {
            // One byte changed in the value of the first parameter; a parameter added.
            let mut q = f.query.clone().into_bytes();
            let pos = f.query.find('=').unwrap() + 1;
            flip_byte(&mut q, pos);
            vec![
                String::from_utf8(q).unwrap(),
                format!("{}&Extra=1", f.query),
            ]
        };
        let method = if f.method == "GET" { "POST" } else { "GET" };
        let tampered = queries
            .iter()
            .map(|q| Request { query: q, ..signed })
            .chain([
                Request {
                    path: "/x",
                    ..signed
                },
                Request { method, ..signed },
            ]);
        for req in tampered {
            assert!(
                parse_and_verify(&f, &req, f.time).is_err(),
                "{}: {req:?}",
                f.name
            );
        }
    }
}

#[test]
fn wrong_secret_rejected() {
    each_signed(|f, req, auth| {
        let mut secret = f.secret.clone().into_bytes();
        flip_byte(&mut secret, 0);
        let wrong = SigningKey::for_scope(std::str::from_utf8(&secret).unwrap(), &auth.scope);
        let err = verify(&req, &auth, &wrong, f.time).unwrap_err();
        assert!(
            matches!(err, SigV4Error::SignatureDoesNotMatch { .. }),
            "{}: {err:?}",
            f.name
        );
    });
}

#[test]
fn time_windows() {
    each_signed(|f, req, auth| {
        let key = f.key(&auth);
        let late = f.time + Duration::seconds(301);
        let early = f.time - Duration::seconds(301);
        assert!(matches!(
            verify(&req, &auth, &key, early),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
        match auth.expires() {
            None => assert!(matches!(
                verify(&req, &auth, &key, late),
                Err(SigV4Error::SignatureExpired { .. })
            )),
            Some(exp) => {
                verify(&req, &auth, &key, f.time + exp).unwrap();
                assert!(matches!(
                    verify(&req, &auth, &key, f.time + exp + Duration::seconds(1)),
                    Err(SigV4Error::PresignedUrlExpired { .. })
                ));
            }
        }
    });
}

/// Our signer reproduces botocore's signatures byte for byte.
#[test]
fn signer_matches_botocore() {
    for f in load() {
        let headers = f.header_refs();
        let auth = parse(&f.request(&headers)).unwrap();
        let params = SigningParams {
            credentials: Credentials {
                access_key_id: &f.access_key_id,
                secret_access_key: &f.secret,
                session_token: f.token.as_deref(),
            },
            region: &f.region,
            service: &f.service,
            time: f.time,
        };
        if f.presigned {
            let base = f.query.split("&X-Amz-Algorithm=").next().unwrap();
            let host: Vec<(&str, &str)> = headers
                .iter()
                .copied()
                .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
                .collect();
            let req = Request {
                query: base,
                ..f.request(&host)
            };
            let expires = u32::try_from(auth.expires().unwrap().num_seconds()).unwrap();
            let p = presign(&req, &params, expires);
            assert_eq!(p.query, f.query, "{}", f.name);
        } else {
            // Hand the signer exactly the headers botocore signed (the rest
            // were added by botocore after signing).
            let to_sign: Vec<(&str, &str)> = headers
                .iter()
                .copied()
                .filter(|(n, _)| {
                    let n = n.to_ascii_lowercase();
                    auth.signed_headers.contains(&n)
                        && n != "x-amz-date"
                        && n != "x-amz-security-token"
                })
                .collect();
            let s = sign(&f.request(&to_sign), &params);
            let authz = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                .unwrap()
                .1;
            assert_eq!(s.authorization, authz, "{}", f.name);
        }
    }
}
