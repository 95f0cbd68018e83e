//! Server-side verification.

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use crate::canonical::{self, PlusMode, UNSIGNED_PAYLOAD, sha256_hex};
use crate::error::SigV4Error;
use crate::key::SigningKey;
use crate::parse::{ParsedAuth, SignatureLocation, format_timestamp};
use crate::request::{Request, header_value};

/// Default allowed clock skew (AWS services allow 15 minutes; rolecall is
/// stricter).
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Verification knobs. `Default` is what [`verify`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Largest accepted difference between the request time and `now`, in
    /// either direction, for header-signed requests (and presigned requests
    /// without `X-Amz-Expires`). For presigned requests with an expiry, only
    /// the future direction is checked against this skew. Default 5 minutes.
    pub max_clock_skew: Duration,
    /// Accept `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` on requests with a
    /// non-empty body. Default `false`: IAM/STS/EC2 carry the operation in
    /// the body, so an unsigned body would make the request replayable with
    /// different parameters.
    pub allow_unsigned_payload: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            allow_unsigned_payload: false,
        }
    }
}

/// Verify with [`VerifyOptions::default`] (5-minute skew).
///
/// `auth` must come from [`parse`](crate::parse) of the same `req`, and
/// `key` must be derived for `auth.scope` with the secret of
/// `auth.access_key_id`.
///
/// Returns how the signature read a literal `+` in the query string. A caller that acts on the
/// query's parameters must read them the same way, so that the values it acts on are exactly the
/// values that were signed (`a+b` signed as `a%2Bb` is `a+b`, never `a b`).
pub fn verify(
    req: &Request<'_>,
    auth: &ParsedAuth,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<PlusMode, SigV4Error> {
    verify_with(req, auth, key, now, &VerifyOptions::default())
}

/// Verify a request. Checks, in AWS's order: the time window, that `host` is
/// signed, the credential scope's terminator and date, then the payload hash
/// and finally the signature (constant-time comparison).
pub fn verify_with(
    req: &Request<'_>,
    auth: &ParsedAuth,
    key: &SigningKey,
    now: DateTime<Utc>,
    opts: &VerifyOptions,
) -> Result<PlusMode, SigV4Error> {
    check_time(auth, now, opts.max_clock_skew)?;

    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }

    let mut problems = Vec::new();
    auth.scope_problems(&mut problems);
    if !problems.is_empty() {
        return Err(SigV4Error::InvalidCredentialScope(problems.join(" ")));
    }

    if key.date() != auth.scope.date
        || key.region() != auth.scope.region
        || key.service() != auth.scope.service
    {
        return Err(SigV4Error::SigningKeyScopeMismatch {
            key_scope: format!("{}/{}/{}", key.date(), key.region(), key.service()),
            request_scope: format!(
                "{}/{}/{}",
                auth.scope.date, auth.scope.region, auth.scope.service
            ),
        });
    }

    let payload_hash = payload_hash(req, auth, opts)?;
    let presigned = auth.is_presigned();
    let exclude = |k: &str| presigned && k == "X-Amz-Signature";
    let uri = canonical::canonical_uri(req.path);
    let headers = canonical::canonical_headers(&auth.signed_headers, req.headers);
    let signed_headers = auth.signed_headers.join(";");
    let scope = auth.scope.to_scope_string();
    let timestamp = auth.timestamp();

    let attempt = |plus: PlusMode| {
        let canonical_request = canonical::canonical_request(
            req.method,
            &uri,
            &canonical::canonical_query_with(req.query, exclude, plus),
            &headers,
            &signed_headers,
            &payload_hash,
        );
        let string_to_sign = canonical::string_to_sign(&timestamp, &scope, &canonical_request);
        let expected = key.sign(&string_to_sign);
        let ok = bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes()));
        (ok, canonical_request, string_to_sign)
    };

    let (ok, canonical_request, string_to_sign) = attempt(PlusMode::Space);
    if ok {
        return Ok(PlusMode::Space);
    }
    // See `PlusMode`: a literal `+` may have been signed as `%2B`.
    if req.query.contains('+') && attempt(PlusMode::Literal).0 {
        return Ok(PlusMode::Literal);
    }
    Err(SigV4Error::SignatureDoesNotMatch {
        canonical_request,
        string_to_sign,
    })
}

fn check_time(auth: &ParsedAuth, now: DateTime<Utc>, skew: Duration) -> Result<(), SigV4Error> {
    let t = auth.request_time;
    let skew_minutes = skew.num_minutes();
    let latest = now.checked_add_signed(skew).unwrap_or(now);
    if t > latest {
        return Err(SigV4Error::SignatureNotYetCurrent {
            request_time: format_timestamp(&t),
            latest: format_timestamp(&latest),
            now: format_timestamp(&now),
            skew_minutes,
        });
    }
    match auth.location {
        SignatureLocation::Query {
            expires: Some(secs),
        } => {
            let expired_at = t
                .checked_add_signed(Duration::seconds(i64::from(secs)))
                .unwrap_or(t);
            if now > expired_at {
                return Err(SigV4Error::PresignedUrlExpired {
                    expired_at: format_timestamp(&expired_at),
                    now: format_timestamp(&now),
                });
            }
        }
        SignatureLocation::Query { expires: None } | SignatureLocation::Header => {
            let earliest = now.checked_sub_signed(skew).unwrap_or(now);
            if t < earliest {
                return Err(SigV4Error::SignatureExpired {
                    request_time: format_timestamp(&t),
                    earliest: format_timestamp(&earliest),
                    now: format_timestamp(&now),
                    skew_minutes,
                });
            }
        }
    }
    Ok(())
}

/// The payload hash line of the canonical request.
///
/// Like botocore, a client-supplied `X-Amz-Content-Sha256` (header, or query
/// parameter for presigned URLs) is used verbatim, but unlike a signer the
/// verifier must not trust it: a hex digest must match the body, and
/// `UNSIGNED-PAYLOAD` is only accepted for an empty body unless
/// [`VerifyOptions::allow_unsigned_payload`]. Without the header the hash of
/// the body is used; for presigned URLs that is the hash of the (normally
/// empty) body, as botocore's `SigV4QueryAuth` computes it.
fn payload_hash(
    req: &Request<'_>,
    auth: &ParsedAuth,
    opts: &VerifyOptions,
) -> Result<String, SigV4Error> {
    let computed = sha256_hex(req.body);
    let claimed = header_value(req.headers, "x-amz-content-sha256")
        .map(|v| v.trim().to_owned())
        .or_else(|| {
            if auth.is_presigned() {
                canonical::split_query(req.query)
                    .find(|(k, _)| canonical::decode_component(k) == "X-Amz-Content-Sha256")
                    .map(|(_, v)| canonical::decode_component(v))
            } else {
                None
            }
        });
    let Some(claimed) = claimed else {
        return Ok(computed);
    };
    if claimed.len() == 64 && claimed.bytes().all(|b| b.is_ascii_hexdigit()) {
        if claimed.eq_ignore_ascii_case(&computed) {
            Ok(claimed)
        } else {
            Err(SigV4Error::PayloadHashMismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned(),
            ))
        }
    } else if claimed == UNSIGNED_PAYLOAD {
        if req.body.is_empty() || opts.allow_unsigned_payload {
            Ok(claimed)
        } else {
            Err(SigV4Error::PayloadHashMismatch(
                "x-amz-content-sha256 must be a valid sha256 value: UNSIGNED-PAYLOAD is not accepted for a request with a body."
                    .to_owned(),
            ))
        }
    } else {
        Err(SigV4Error::PayloadHashMismatch(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, or a valid sha256 value.".to_owned(),
        ))
    }
}
