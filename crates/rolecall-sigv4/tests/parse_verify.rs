//! Parse errors, time windows, presigning and round trips through the public
//! API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use rolecall_sigv4::{
    Credentials, Request, ServiceFlavor, SigV4Error, SignatureLocation, SigningKey, SigningParams,
    VerifyOptions, parse, presign, sign, verify, verify_with,
};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "rolecall.local:8443";
const BODY: &[u8] = b"Action=ListRoles&Version=2010-05-08";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap()
}

fn params(token: Option<&'static str>) -> SigningParams<'static> {
    SigningParams {
        credentials: Credentials {
            access_key_id: AKID,
            secret_access_key: SECRET,
            session_token: token,
        },
        region: "us-east-1",
        service: "iam",
        time: t0(),
    }
}

fn key() -> SigningKey {
    SigningKey::derive(SECRET, "20260101", "us-east-1", "iam")
}

/// A request signed with our signer: (headers).
fn signed_headers(token: Option<&'static str>) -> Vec<(String, String)> {
    let base = [
        ("Host", HOST),
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("User-Agent", "test/1.0"),
    ];
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body: BODY,
    };
    let s = sign(&req, &params(token));
    base.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .chain(
            s.headers()
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        )
        .collect()
}

fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn post<'a>(headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
    Request {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body: BODY,
    }
}

fn with_auth(value: &str) -> Result<rolecall_sigv4::ParsedAuth, SigV4Error> {
    parse(&post(&auth_headers(value)))
}

/// A request's headers with `authorization` as its Authorization header.
fn auth_headers(authorization: &str) -> [(&str, &str); 3] {
    [
        ("Host", HOST),
        ("X-Amz-Date", "20260101T001000Z"),
        ("Authorization", authorization),
    ]
}

/// Why `verify` refuses a request whose Authorization header (`authorization`) parses.
fn verify_refusal(authorization: &str) -> SigV4Error {
    let headers = auth_headers(authorization);
    let req = post(&headers);
    let auth = parse(&req).unwrap();
    let key = SigningKey::for_scope(SECRET, &auth.scope);
    verify(&req, &auth, &key, t0()).unwrap_err()
}

fn incomplete_msg(r: Result<rolecall_sigv4::ParsedAuth, SigV4Error>) -> String {
    match r {
        Err(SigV4Error::IncompleteSignature(m)) => m,
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

// ---------------------------------------------------------------- round trips

#[test]
fn sign_then_verify() {
    for token in [None, Some("FwoGZXIvYXdzEBYaDEXAMPLE+token/==")] {
        let h = signed_headers(token);
        let h = refs(&h);
        let req = post(&h);
        let auth = parse(&req).unwrap();
        assert_eq!(auth.access_key_id, AKID);
        assert_eq!(auth.scope.service, "iam");
        assert_eq!(auth.scope.region, "us-east-1");
        assert_eq!(auth.scope.date, "20260101");
        assert_eq!(auth.location, SignatureLocation::Header);
        assert_eq!(auth.security_token.as_deref(), token);
        assert_eq!(auth.request_time, t0());
        assert!(!auth.signed_headers.contains(&"user-agent".to_owned()));
        assert!(auth.signed_headers.contains(&"content-type".to_owned()));
        if token.is_some() {
            assert!(
                auth.signed_headers
                    .contains(&"x-amz-security-token".to_owned())
            );
        }
        auth.check_scope(|r| r == "us-east-1", "iam").unwrap();
        verify(&req, &auth, &key(), t0()).unwrap();
    }
}

#[test]
fn presign_then_verify() {
    for (method, token) in [("GET", None), ("GET", Some("tok/en+==")), ("POST", None)] {
        let headers = [("Host", HOST)];
        let req = Request {
            method,
            path: "/",
            query: "Action=GetCallerIdentity&Version=2011-06-15",
            headers: &headers,
            body: b"",
        };
        let mut p = params(token);
        p.service = "sts";
        let pre = presign(&req, &p, 900);
        let signed = Request {
            query: &pre.query,
            ..req
        };
        let auth = parse(&signed).unwrap();
        assert!(auth.is_presigned());
        assert_eq!(auth.expires(), Some(Duration::seconds(900)));
        assert_eq!(auth.security_token.as_deref(), token);
        assert_eq!(auth.signature, pre.signature);
        let key = SigningKey::for_scope(SECRET, &auth.scope);
        verify(&signed, &auth, &key, t0()).unwrap();
        verify(&signed, &auth, &key, t0() + Duration::seconds(900)).unwrap();
        assert!(matches!(
            verify(&signed, &auth, &key, t0() + Duration::seconds(901)),
            Err(SigV4Error::PresignedUrlExpired { .. })
        ));
        // Presigned URLs may not be dated in the future beyond the skew...
        assert!(matches!(
            verify(&signed, &auth, &key, t0() - Duration::seconds(301)),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
        // ...but within it they are fine.
        verify(&signed, &auth, &key, t0() - Duration::seconds(300)).unwrap();
        // Tampered signature.
        let tampered = pre.query.replace(&pre.signature, &"0".repeat(64));
        let bad = Request {
            query: &tampered,
            ..req
        };
        let auth = parse(&bad).unwrap();
        assert!(matches!(
            verify(&bad, &auth, &key, t0()),
            Err(SigV4Error::SignatureDoesNotMatch { .. })
        ));
    }
}

// -------------------------------------------------------------- time windows

#[test]
fn skew_window_edges() {
    let h = signed_headers(None);
    let h = refs(&h);
    let req = post(&h);
    let auth = parse(&req).unwrap();
    let k = key();
    // Exactly 5 minutes either way is accepted.
    verify(&req, &auth, &k, t0() + Duration::minutes(5)).unwrap();
    verify(&req, &auth, &k, t0() - Duration::minutes(5)).unwrap();
    // One second more is not.
    let err = verify(&req, &auth, &k, t0() + Duration::seconds(301)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature expired: 20260101T001000Z is now earlier than 20260101T001001Z (20260101T001501Z - 5 min.)"
    );
    assert_eq!(err.code(ServiceFlavor::Query), "SignatureDoesNotMatch");
    assert_eq!(err.http_status(ServiceFlavor::Query), 403);
    assert_eq!(err.code(ServiceFlavor::Ec2), "RequestExpired");
    assert_eq!(err.http_status(ServiceFlavor::Ec2), 400);
    let err = verify(&req, &auth, &k, t0() - Duration::seconds(301)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature not yet current: 20260101T001000Z is still later than 20260101T000959Z (20260101T000459Z + 5 min.)"
    );
    // A wider window can be configured.
    let opts = VerifyOptions {
        max_clock_skew: Duration::minutes(15),
        ..VerifyOptions::default()
    };
    verify_with(&req, &auth, &k, t0() + Duration::minutes(15), &opts).unwrap();
}

#[test]
fn date_header_fallback() {
    // `Date` instead of `X-Amz-Date`, as botocore does when the caller set
    // a Date header.
    let base = [("Host", HOST), ("Date", "Thu, 01 Jan 2026 00:10:00 GMT")];
    let req = Request {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &base,
        body: b"",
    };
    // Build the canonical form by hand with the shared signer pieces: sign
    // once to get the string, then recompute with the Date header signed.
    let k = key();
    let creq = format!(
        "GET\n/\nAction=ListUsers&Version=2010-05-08\ndate:Thu, 01 Jan 2026 00:10:00 GMT\nhost:{HOST}\n\ndate;host\n{}",
        rolecall_sigv4::canonical::sha256_hex(b"")
    );
    let sts = rolecall_sigv4::canonical::string_to_sign(
        "20260101T001000Z",
        "20260101/us-east-1/iam/aws4_request",
        &creq,
    );
    let sig = k.sign(&sts);
    let authz = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20260101/us-east-1/iam/aws4_request, SignedHeaders=date;host, Signature={sig}"
    );
    let headers = [base[0], base[1], ("Authorization", authz.as_str())];
    let req = Request {
        headers: &headers,
        ..req
    };
    let auth = parse(&req).unwrap();
    assert_eq!(auth.request_time, t0());
    verify(&req, &auth, &k, t0()).unwrap();
}

// ----------------------------------------------------------- tampering, keys

#[test]
fn tampered_signature_and_wrong_secret() {
    let h = signed_headers(None);
    let mut h2 = h.clone();
    let authz = &mut h2.iter_mut().find(|(n, _)| n == "authorization").unwrap().1;
    let last = authz.pop().unwrap();
    authz.push(if last == '0' { '1' } else { '0' });
    let h2 = refs(&h2);
    let req = post(&h2);
    let auth = parse(&req).unwrap();
    let err = verify(&req, &auth, &key(), t0()).unwrap_err();
    assert!(matches!(err, SigV4Error::SignatureDoesNotMatch { .. }));
    assert_eq!(err.code(ServiceFlavor::Ec2), "AuthFailure");
    assert_eq!(err.http_status(ServiceFlavor::Ec2), 401);
    assert_eq!(
        err.message(ServiceFlavor::Ec2),
        "AWS was not able to validate the provided access credentials"
    );

    let h = refs(&h);
    let req = post(&h);
    let auth = parse(&req).unwrap();
    let wrong = SigningKey::derive("not-the-secret", "20260101", "us-east-1", "iam");
    let err = verify(&req, &auth, &wrong, t0()).unwrap_err();
    assert!(err.to_string().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));
    assert_eq!(err.code(ServiceFlavor::Query), "SignatureDoesNotMatch");
    assert_eq!(err.http_status(ServiceFlavor::Query), 403);

    // A key for another scope is a server bug, reported distinctly.
    let other = SigningKey::derive(SECRET, "20260101", "us-east-1", "sts");
    let err = verify(&req, &auth, &other, t0()).unwrap_err();
    assert!(matches!(err, SigV4Error::SigningKeyScopeMismatch { .. }));
    assert_eq!(err.http_status(ServiceFlavor::Query), 500);
}

#[test]
fn payload_hash_header() {
    let body_hash = rolecall_sigv4::canonical::sha256_hex(BODY);
    for (claimed, ok) in [
        (body_hash.as_str(), true),
        (rolecall_sigv4::canonical::EMPTY_SHA256, false),
        ("UNSIGNED-PAYLOAD", false),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", false),
    ] {
        let base = [("Host", HOST), ("X-Amz-Content-Sha256", claimed)];
        let req = post(&base);
        let s = sign(&req, &params(None));
        let mut headers = base.to_vec();
        headers.extend(s.headers());
        let req = post(&headers);
        let auth = parse(&req).unwrap();
        let r = verify(&req, &auth, &key(), t0());
        assert_eq!(r.is_ok(), ok, "{claimed}: {r:?}");
        if !ok {
            assert!(
                matches!(r, Err(SigV4Error::PayloadHashMismatch(_))),
                "{r:?}"
            );
        }
    }
    // UNSIGNED-PAYLOAD allowed by option.
    let base = [("Host", HOST), ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")];
    let s = sign(&post(&base), &params(None));
    let mut headers = base.to_vec();
    headers.extend(s.headers());
    let req = post(&headers);
    let auth = parse(&req).unwrap();
    let opts = VerifyOptions {
        allow_unsigned_payload: true,
        ..VerifyOptions::default()
    };
    verify_with(&req, &auth, &key(), t0(), &opts).unwrap();
}

// --------------------------------------------------------------- parse errors

#[test]
fn missing_authentication() {
    let headers = [("Host", HOST), ("X-Amz-Date", "20260101T001000Z")];
    let err = parse(&post(&headers)).unwrap_err();
    assert_eq!(err, SigV4Error::MissingAuthenticationToken);
    assert_eq!(err.to_string(), "Request is missing Authentication Token");
    assert_eq!(err.code(ServiceFlavor::Query), "MissingAuthenticationToken");
    assert_eq!(err.http_status(ServiceFlavor::Query), 403);
    // An empty Authorization header is no authentication either.
    assert_eq!(
        with_auth("  ").unwrap_err(),
        SigV4Error::MissingAuthenticationToken
    );
    // Unrelated query parameters are not a signature.
    let req = Request {
        query: "Action=ListRoles&X-Amz-Date=20260101T001000Z",
        ..post(&headers)
    };
    assert_eq!(
        parse(&req).unwrap_err(),
        SigV4Error::MissingAuthenticationToken
    );
}

#[test]
fn incomplete_header_messages() {
    // A JWT (no space): every SigV4 part is missing (aws/chalice#828).
    let m = incomplete_msg(with_auth("eyJ0eXAiOiJKV1Qi.eyJzdWIiOiI5ZDQz.4f1JhoEZ"));
    assert_eq!(
        m,
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=eyJ0eXAiOiJKV1Qi.eyJzdWIiOiI5ZDQz.4f1JhoEZ"
    );
    // "Bearer <token>": the token is not a key=value pair.
    let m = incomplete_msg(with_auth("Bearer abc.def"));
    assert_eq!(
        m,
        "'abc.def' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc.def'."
    );

    let m = incomplete_msg(with_auth(
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
    ));
    assert!(m.starts_with("Authorization header requires 'Credential' parameter. Authorization="));

    // No date at all.
    let headers = [
        ("Host", HOST),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
        ),
    ];
    let m = incomplete_msg(parse(&post(&headers)));
    assert!(m.starts_with(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256"
    ));

    // Missing equal sign.
    let m = incomplete_msg(with_auth(
        "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders, Signature=ab",
    ));
    assert!(m.starts_with("'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256"));
}

#[test]
fn unknown_algorithm() {
    let m = incomplete_msg(with_auth(
        "AWS4-HMAC-SHA512 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
    ));
    assert_eq!(
        m,
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."
    );
    let err = with_auth("AWS4-ECDSA-P256-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab").unwrap_err();
    assert_eq!(err.code(ServiceFlavor::Query), "IncompleteSignature");
    assert_eq!(err.http_status(ServiceFlavor::Query), 400);
    assert_eq!(err.code(ServiceFlavor::Ec2), "IncompleteSignature");
}

#[test]
fn bad_credential_shape() {
    for cred in [
        "A/20260101/us-east-1/iam",
        "A/20260101/us-east-1/iam/aws4_request/x",
        "A",
    ] {
        let m = incomplete_msg(with_auth(&format!(
            "AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature=ab"
        )));
        assert_eq!(
            m,
            format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{cred}'"
            )
        );
    }
    // Trailing slashes are ignored, as AWS does.
    let auth = with_auth(
        "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request//, SignedHeaders=host, Signature=ab",
    )
    .unwrap();
    assert_eq!(auth.scope.terminator, "aws4_request");
}

#[test]
fn duplicate_parameters() {
    let m = incomplete_msg(with_auth(
        "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, Credential=B/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
    ));
    assert!(m.contains("duplicate 'Credential'"), "{m}");

    let headers = [("Host", HOST)];
    let req = Request {
        query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T001000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Signature=cd",
        ..post(&headers)
    };
    let m = incomplete_msg(parse(&req));
    assert!(
        m.contains("'X-Amz-Signature' must be specified only once"),
        "{m}"
    );

    // Two Authorization headers.
    let headers = [
        ("Host", HOST),
        ("X-Amz-Date", "20260101T001000Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
        ),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
        ),
    ];
    incomplete_msg(parse(&post(&headers)));
}

#[test]
fn both_header_and_query_signature() {
    let headers = auth_headers(
        "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
    );
    let req = Request {
        query: "X-Amz-Signature=ab",
        ..post(&headers)
    };
    let m = incomplete_msg(parse(&req));
    assert!(m.starts_with("Only one auth mechanism allowed"), "{m}");
}

#[test]
fn bad_dates() {
    for d in [
        "2026-01-01T00:10:00Z",
        "20260101T001000",
        "20261301T001000Z",
        "20260101T246000Z",
        "+0260101T001000Z",
        "",
    ] {
        let headers = [
            ("Host", HOST),
            ("X-Amz-Date", d),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab",
            ),
        ];
        let m = incomplete_msg(parse(&post(&headers)));
        assert_eq!(
            m,
            format!(
                "Date must be in ISO-8601 'basic format'. Got '{d}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )
        );
    }
}

#[test]
fn presigned_parameter_errors() {
    let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T001000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab";
    let headers = [("Host", HOST)];
    let q = |extra: &str| format!("{base}{extra}");

    let check = |query: &str| {
        let req = Request {
            method: "GET",
            path: "/",
            query,
            headers: &headers,
            body: b"",
        };
        parse(&req)
    };
    for (expires, msg) in [
        ("0", "X-Amz-Expires must be greater than 0"),
        (
            "604801",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
        (
            "99999999999",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
        ("-5", "X-Amz-Expires must be non-negative"),
        ("abc", "X-Amz-Expires should be a number"),
        ("", "X-Amz-Expires should be a number"),
    ] {
        assert_eq!(
            incomplete_msg(check(&q(&format!("&X-Amz-Expires={expires}")))),
            msg
        );
    }
    let auth = check(&q("&X-Amz-Expires=604800")).unwrap();
    assert_eq!(auth.expires(), Some(Duration::seconds(604_800)));
    let auth = check(&q("&X-Amz-Expires=1")).unwrap();
    assert_eq!(auth.expires(), Some(Duration::seconds(1)));
    // Without X-Amz-Expires the normal skew window applies.
    let auth = check(base).unwrap();
    assert_eq!(auth.location, SignatureLocation::Query { expires: None });

    // Missing parameters are listed.
    let m = incomplete_msg(check("X-Amz-Signature=ab&X-Amz-SignedHeaders=host"));
    assert_eq!(
        m,
        "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
    );
    let m = incomplete_msg(check(&base.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")));
    assert!(m.starts_with("Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"));
    // Query-string date must be ISO basic.
    let m = incomplete_msg(check(&base.replace("20260101T001000Z", "yesterday")));
    assert!(m.starts_with("Date must be in ISO-8601 'basic format'. Got 'yesterday'."));
}

#[test]
fn scope_checks() {
    let auth = with_auth(
        "AWS4-HMAC-SHA256 Credential=A/20251231/eu-west-1/sts/aws5_request, SignedHeaders=host, Signature=ab",
    )
    .unwrap();
    let err = auth.check_scope(|r| r == "us-east-1", "iam").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should be scoped to correct service: 'iam'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T001000Z'."
    );
    assert_eq!(err.code(ServiceFlavor::Query), "SignatureDoesNotMatch");
    assert_eq!(err.code(ServiceFlavor::Ec2), "AuthFailure");

    // verify() checks the terminator and the date on its own.
    let err = verify_refusal(
        "AWS4-HMAC-SHA256 Credential=A/20251231/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab",
    );
    assert_eq!(
        err.to_string(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T001000Z'."
    );
}

#[test]
fn host_must_be_signed() {
    let err = verify_refusal(
        "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request, SignedHeaders=x-amz-date, Signature=ab",
    );
    assert_eq!(err, SigV4Error::HostNotSigned);
    assert_eq!(
        err.to_string(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn authorization_separators() {
    // Commas without spaces and spaces without commas are both accepted.
    for sep in [",", ", ", " ", " , "] {
        let v = format!(
            "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/iam/aws4_request{sep}SignedHeaders=host;x-amz-date{sep}Signature=ab"
        );
        let auth = with_auth(&v).unwrap();
        assert_eq!(auth.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(auth.signature, "ab");
    }
}
