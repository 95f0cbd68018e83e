//! AWS Signature Version 4: parsing, verification and signing.
//!
//! Pure code: no I/O, no async, no HTTP library types. The server hands in a
//! borrowed [`Request`] view of what came off the wire.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use rolecall_sigv4::{Credentials, Request, ServiceFlavor, SigningKey, SigningParams};
//!
//! // Client side: sign a Query-protocol call.
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let body = b"Action=GetCallerIdentity&Version=2011-06-15";
//! let mut headers = vec![
//!     ("host", "rolecall.local:8443"),
//!     ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
//! ];
//! let req = Request { method: "POST", path: "/", query: "", headers: &headers, body };
//! let params = SigningParams {
//!     credentials: Credentials {
//!         access_key_id: "AKIAIOSFODNN7EXAMPLE",
//!         secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!         session_token: None,
//!     },
//!     region: "us-east-1",
//!     service: "sts",
//!     time: now,
//! };
//! let signed = rolecall_sigv4::sign(&req, &params);
//! headers.extend(signed.headers());
//!
//! // Server side.
//! let req = Request { method: "POST", path: "/", query: "", headers: &headers, body };
//! let auth = rolecall_sigv4::parse(&req)?;           // no secret needed
//! assert_eq!(auth.scope.service, "sts");             // route on the service
//! auth.check_scope(|region| region == "us-east-1", "sts")?; // optional
//! // ... look up auth.access_key_id (and auth.security_token) -> secret ...
//! let key = SigningKey::for_scope("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &auth.scope);
//! match rolecall_sigv4::verify(&req, &auth, &key, now) {
//!     Ok(_plus_mode) => {}
//!     Err(e) => panic!("{} {}: {}", e.http_status(ServiceFlavor::Query),
//!                      e.code(ServiceFlavor::Query), e.message(ServiceFlavor::Query)),
//! }
//! # Ok::<(), rolecall_sigv4::SigV4Error>(())
//! ```
//!
//! Parsing and verification are separate because the service (and hence the
//! error dialect and the credential store) is only known from the credential
//! scope. [`parse`] distinguishes "no signature at all"
//! ([`SigV4Error::MissingAuthenticationToken`]) from "malformed"
//! ([`SigV4Error::IncompleteSignature`]). Every [`SigV4Error`] carries AWS's
//! message and maps to a wire code/HTTP status per [`ServiceFlavor`].
//!
//! # Canonicalization
//!
//! The canonical request is rebuilt exactly as the SigV4 specification and
//! botocore (`botocore/auth.py`, `SigV4Auth`) define it for non-S3 services
//! (module [`canonical`]):
//!
//! * URI: dot segments removed, empty segments collapsed, then every byte but
//!   unreserved characters and `/` percent-encoded; since the server sees the
//!   already-encoded path, `%` becomes `%25` ("double encoding").
//! * Query: each key/value decoded and re-encoded with the unreserved set,
//!   sorted by key then value; `X-Amz-Signature` excluded for presigned URLs.
//! * Headers: the `SignedHeaders` list, lowercase names, values trimmed with
//!   inner whitespace runs collapsed, repeated headers joined with `,`.
//! * Payload: SHA-256 of the body, or the `X-Amz-Content-Sha256` value if the
//!   client sent one (checked against the body by the verifier).
//!
//! The same code backs [`sign`] / [`presign`], which integration tests and the
//! IMDS agent use as a client. The AWS SigV4 test suite and requests signed by
//! botocore 1.43.11 are part of the tests.
//!
//! # Time
//!
//! The request time comes from `X-Amz-Date` (header or query) or `Date`.
//! Header-signed requests must be within [`VerifyOptions::max_clock_skew`]
//! (5 minutes by default) of `now`, in either direction; presigned URLs are
//! valid until `X-Amz-Date + X-Amz-Expires` (1..=604800 s) and must not be
//! dated in the future beyond the skew. The credential scope date must equal
//! the request time's date.

pub mod canonical;
mod error;
mod key;
mod parse;
mod request;
mod sign;
mod verify;

pub use canonical::PlusMode;
pub use error::{ServiceFlavor, SigV4Error};
pub use key::SigningKey;
pub use parse::{
    CredentialScope, MAX_PRESIGN_EXPIRES_SECS, ParsedAuth, SignatureLocation, parse, parse_amz_date,
};
pub use request::Request;
pub use sign::{
    Credentials, FORM_CONTENT_TYPE, PresignedRequest, SignedRequest, SigningParams, presign, sign,
    sign_form_post, sign_with_key,
};
pub use verify::{DEFAULT_MAX_CLOCK_SKEW, VerifyOptions, verify, verify_with};
