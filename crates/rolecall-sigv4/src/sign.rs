//! Client-side signing (header and presigned), sharing canonicalization with
//! the verifier.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::canonical::{self, ALGORITHM, TERMINATOR, sha256_hex, uri_encode};
use crate::key::SigningKey;
use crate::parse::{
    MAX_PRESIGN_EXPIRES_SECS, QP_ALGORITHM, QP_CREDENTIAL, QP_DATE, QP_EXPIRES, QP_SECURITY_TOKEN,
    QP_SIGNATURE, QP_SIGNED_HEADERS, format_timestamp,
};
use crate::request::{Request, header_value};

/// Access key, secret and optional session token.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// Access key id (`AKIA...` / `ASIA...`).
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token for temporary credentials.
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// What to sign with.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// Credentials.
    pub credentials: Credentials<'a>,
    /// Scope region, e.g. `us-east-1`.
    pub region: &'a str,
    /// Scope service, e.g. `sts`.
    pub service: &'a str,
    /// Signing time (sub-second precision is dropped).
    pub time: DateTime<Utc>,
}

/// Result of [`sign`]: headers to add, plus the intermediate strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Amz-Date` header.
    pub x_amz_date: String,
    /// Value of the `X-Amz-Security-Token` header, if a session token was
    /// given.
    pub security_token: Option<String>,
    /// Hex signature.
    pub signature: String,
    /// The canonical request that was signed.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
}

impl SignedRequest {
    /// The headers to add to the request (lowercase names). Any existing
    /// `Authorization`, `X-Amz-Date` and (when a token is used)
    /// `X-Amz-Security-Token` header must be replaced by these.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut h = vec![
            ("x-amz-date", self.x_amz_date.as_str()),
            ("authorization", self.authorization.as_str()),
        ];
        if let Some(t) = &self.security_token {
            h.push(("x-amz-security-token", t.as_str()));
        }
        h
    }
}

/// Result of [`presign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The full query string to send (original parameters, the `X-Amz-*`
    /// parameters and `X-Amz-Signature` last), without `?`.
    pub query: String,
    /// Hex signature.
    pub signature: String,
    /// The canonical request that was signed.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
}

/// Headers never signed: hop-by-hop headers and headers proxies rewrite.
/// Same list as botocore's `SIGNED_HEADERS_BLACKLIST`, plus the headers the
/// signer sets itself.
const UNSIGNABLE: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Sorted, deduplicated, lowercase names of `headers` that get signed,
/// skipping `UNSIGNABLE` and `extra_skip`.
fn names_to_sign(headers: &[(&str, &str)], extra_skip: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.trim().to_ascii_lowercase())
        .filter(|n| {
            !n.is_empty() && !UNSIGNABLE.contains(&n.as_str()) && !extra_skip.contains(&n.as_str())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn truncate_to_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

/// Sign `req` for header authentication (`Authorization` + `X-Amz-Date`
/// [+ `X-Amz-Security-Token`]).
///
/// All headers in `req.headers` are signed except hop-by-hop ones,
/// `User-Agent` and `X-Amzn-Trace-Id` (botocore's list); any `Authorization`,
/// `X-Amz-Date` or (with a session token) `X-Amz-Security-Token` in
/// `req.headers` is ignored and replaced by the returned values. `req.headers`
/// must contain `Host` (the value the HTTP client will send, with the port if
/// non-default). The payload hash is the value of an `X-Amz-Content-Sha256`
/// header if present, else SHA-256 of `req.body`.
pub fn sign(req: &Request<'_>, params: &SigningParams<'_>) -> SignedRequest {
    let (time, key) = time_and_key(params);
    sign_with_key(
        req,
        params.credentials.access_key_id,
        params.credentials.session_token,
        &key,
        time,
    )
}

/// The content type of a Query/EC2-protocol form POST, as the AWS SDKs send it.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Sign a Query/EC2-protocol request: the form `body` POSTed to `/` on `host` (the `Host` header
/// the client will send) with [`FORM_CONTENT_TYPE`].
pub fn sign_form_post(host: &str, body: &str, params: &SigningParams<'_>) -> SignedRequest {
    let headers = [("host", host), ("content-type", FORM_CONTENT_TYPE)];
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    sign(&req, params)
}

/// The signing time (whole seconds) and the key derived for its date.
fn time_and_key(params: &SigningParams<'_>) -> (DateTime<Utc>, SigningKey) {
    let time = truncate_to_seconds(params.time);
    let date = time.format("%Y%m%d").to_string();
    let key = SigningKey::derive(
        params.credentials.secret_access_key,
        &date,
        params.region,
        params.service,
    );
    (time, key)
}

/// Like [`sign`], with a pre-derived key (e.g. cached by an agent). `time`
/// must fall on the key's date; sub-second precision is dropped.
pub fn sign_with_key(
    req: &Request<'_>,
    access_key_id: &str,
    session_token: Option<&str>,
    key: &SigningKey,
    time: DateTime<Utc>,
) -> SignedRequest {
    let time = truncate_to_seconds(time);
    let timestamp = format_timestamp(&time);
    let skip: &[&str] = if session_token.is_some() {
        &["x-amz-date", "x-amz-security-token"]
    } else {
        &["x-amz-date"]
    };
    let mut headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(n, _)| !skip.iter().any(|s| n.trim().eq_ignore_ascii_case(s)))
        .copied()
        .collect();
    headers.push(("x-amz-date", &timestamp));
    if let Some(token) = session_token {
        headers.push(("x-amz-security-token", token));
    }
    let signed = names_to_sign(&headers, &[]);
    let signed_headers = signed.join(";");
    let payload_hash = match header_value(req.headers, "x-amz-content-sha256") {
        Some(v) => v.trim().to_owned(),
        None => sha256_hex(req.body),
    };
    let canonical_request = canonical::canonical_request(
        req.method,
        &canonical::canonical_uri(req.path),
        &canonical::canonical_query(req.query, |_| false),
        &canonical::canonical_headers(&signed, &headers),
        &signed_headers,
        &payload_hash,
    );
    let scope = key.scope_string();
    let string_to_sign = canonical::string_to_sign(&timestamp, &scope, &canonical_request);
    let signature = key.sign(&string_to_sign);
    let authorization = format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    SignedRequest {
        authorization,
        x_amz_date: timestamp,
        security_token: session_token.map(str::to_owned),
        signature,
        canonical_request,
        string_to_sign,
    }
}

fn push_param(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    uri_encode(key.as_bytes(), false, out);
    out.push('=');
    uri_encode(value.as_bytes(), false, out);
}

/// Presign `req` (query-string authentication), as botocore's
/// `SigV4QueryAuth` does for non-S3 services: the `X-Amz-*` parameters are
/// appended to `req.query`, the signed headers are those of `req.headers`
/// minus the unsignable ones, `Content-Type` and `Content-Length`, and the
/// payload hash is SHA-256 of `req.body` (normally empty).
///
/// `expires_secs` is clamped to `1..=604800`. `req.query` must not already
/// contain `X-Amz-*` authentication parameters.
pub fn presign(
    req: &Request<'_>,
    params: &SigningParams<'_>,
    expires_secs: u32,
) -> PresignedRequest {
    let (time, key) = time_and_key(params);
    let timestamp = format_timestamp(&time);
    let signed = names_to_sign(
        req.headers,
        &["content-type", "content-length", "x-amz-date"],
    );
    let signed_headers = signed.join(";");
    let scope = key.scope_string();
    let expires = expires_secs.clamp(1, MAX_PRESIGN_EXPIRES_SECS).to_string();

    let mut query = req.query.trim_start_matches('?').to_owned();
    push_param(&mut query, QP_ALGORITHM, ALGORITHM);
    push_param(
        &mut query,
        QP_CREDENTIAL,
        &format!("{}/{scope}", params.credentials.access_key_id),
    );
    push_param(&mut query, QP_DATE, &timestamp);
    push_param(&mut query, QP_EXPIRES, &expires);
    push_param(&mut query, QP_SIGNED_HEADERS, &signed_headers);
    if let Some(token) = params.credentials.session_token {
        push_param(&mut query, QP_SECURITY_TOKEN, token);
    }

    let canonical_request = canonical::canonical_request(
        req.method,
        &canonical::canonical_uri(req.path),
        &canonical::canonical_query(&query, |_| false),
        &canonical::canonical_headers(&signed, req.headers),
        &signed_headers,
        &sha256_hex(req.body),
    );
    let string_to_sign = canonical::string_to_sign(&timestamp, &scope, &canonical_request);
    let signature = key.sign(&string_to_sign);
    push_param(&mut query, QP_SIGNATURE, &signature);
    debug_assert!(scope.ends_with(TERMINATOR));
    PresignedRequest {
        query,
        signature,
        canonical_request,
        string_to_sign,
    }
}
