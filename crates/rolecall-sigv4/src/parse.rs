//! Locating and parsing the signature (no secret needed).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::canonical::{ALGORITHM, TERMINATOR, decode_component, split_query};
use crate::error::SigV4Error;
use crate::request::{Request, header_value};

/// Presigned URLs may live at most 7 days (SigV4 query auth documentation).
pub const MAX_PRESIGN_EXPIRES_SECS: u32 = 604_800;

/// The `date/region/service/terminator` part of the `Credential`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// `YYYYMMDD` exactly as sent (validated against the request time by
    /// [`verify`](crate::verify) / [`ParsedAuth::check_scope`]).
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service, e.g. `iam`, `sts`, `ec2`. Route on this.
    pub service: String,
    /// Should be `aws4_request`; checked at verification.
    pub terminator: String,
}

impl CredentialScope {
    /// `date/region/service/terminator`, as used in the string to sign.
    pub fn to_scope_string(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLocation {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    Header,
    /// `X-Amz-Algorithm=...&X-Amz-Credential=...&...&X-Amz-Signature=...`.
    Query {
        /// `X-Amz-Expires` in seconds (1..=604800). `None` when the
        /// parameter is absent: the request then gets the normal clock-skew
        /// window, like a header-signed request.
        expires: Option<u32>,
    },
}

/// A located and syntactically valid SigV4 signature.
///
/// Produced by [`parse`] without any secret, so the server can route by
/// [`CredentialScope::service`] and look the access key up before calling
/// [`verify`](crate::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    /// Access key id (first `Credential` element).
    pub access_key_id: String,
    /// Credential scope.
    pub scope: CredentialScope,
    /// Signed header names, lowercased, in the order sent.
    pub signed_headers: Vec<String>,
    /// The signature as sent (normally 64 lowercase hex digits).
    pub signature: String,
    /// Request time from `X-Amz-Date` (header or query) or `Date`.
    pub request_time: DateTime<Utc>,
    /// `X-Amz-Security-Token` (header, or query parameter), if any.
    pub security_token: Option<String>,
    /// Header or presigned query.
    pub location: SignatureLocation,
}

impl ParsedAuth {
    /// `true` for query-string (presigned) authentication.
    pub fn is_presigned(&self) -> bool {
        matches!(self.location, SignatureLocation::Query { .. })
    }

    /// `X-Amz-Expires` of a presigned request.
    pub fn expires(&self) -> Option<Duration> {
        match self.location {
            SignatureLocation::Query {
                expires: Some(secs),
            } => Some(Duration::seconds(i64::from(secs))),
            _ => None,
        }
    }

    /// Request time as `YYYYMMDDTHHMMSSZ` (the string-to-sign timestamp).
    pub fn timestamp(&self) -> String {
        format_timestamp(&self.request_time)
    }

    /// Validate the credential scope the way AWS does before looking at the
    /// key: region (via `region_ok`), service, terminator and date, all
    /// problems reported in one [`SigV4Error::InvalidCredentialScope`].
    ///
    /// [`verify`](crate::verify) re-checks terminator and date, so calling
    /// this is only needed for the region/service checks (and to fail before
    /// the key lookup, as AWS does).
    pub fn check_scope(
        &self,
        region_ok: impl FnOnce(&str) -> bool,
        expected_service: &str,
    ) -> Result<(), SigV4Error> {
        let mut problems = Vec::new();
        if !region_ok(&self.scope.region) {
            problems.push(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                self.scope.region
            ));
        }
        if self.scope.service != expected_service {
            problems.push(format!(
                "Credential should be scoped to correct service: '{expected_service}'."
            ));
        }
        self.scope_problems(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SigV4Error::InvalidCredentialScope(problems.join(" ")))
        }
    }

    /// Terminator and date checks, shared with `verify`.
    pub(crate) fn scope_problems(&self, problems: &mut Vec<String>) {
        if self.scope.terminator != TERMINATOR {
            problems.push(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
                self.scope.terminator
            ));
        }
        let date = self.request_time.format("%Y%m%d").to_string();
        if self.scope.date != date {
            problems.push(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{date}', from '{}'.",
                self.scope.date,
                self.timestamp()
            ));
        }
    }
}

/// `YYYYMMDDTHHMMSSZ`.
pub(crate) fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(msg.into())
}

/// Parse an ISO 8601 basic timestamp, `YYYYMMDDTHHMMSSZ`, strictly.
pub fn parse_amz_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    if !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let year = i32::try_from(num(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(4..6)?, num(6..8)?)?;
    let time = NaiveTime::from_hms_opt(num(9..11)?, num(11..13)?, num(13..15)?)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// "Date must be in ISO-8601 'basic format'. ..." (dynalite).
fn bad_date(got: &str) -> SigV4Error {
    incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{got}'. See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// "Unsupported AWS 'algorithm': ..." (dynalite, scratchstack).
fn check_algorithm(alg: &str) -> Result<(), SigV4Error> {
    if alg == ALGORITHM {
        Ok(())
    } else {
        Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{alg}' (only {ALGORITHM} for now)."
        )))
    }
}

/// Split `AKID/date/region/service/term`; trailing slashes are ignored and
/// anything but 5 elements is rejected with AWS's message (dynalite,
/// `mhart/aws4#97`).
fn parse_credential(credential: &str) -> Result<(String, CredentialScope), SigV4Error> {
    let trimmed = credential.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, terminator] => Ok((
            (*key).to_owned(),
            CredentialScope {
                date: (*date).to_owned(),
                region: (*region).to_owned(),
                service: (*service).to_owned(),
                terminator: (*terminator).to_owned(),
            },
        )),
        _ => Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

fn parse_signed_headers(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

// The query parameters of a presigned request (read here, written by `sign::presign`).
pub(crate) const QP_ALGORITHM: &str = "X-Amz-Algorithm";
pub(crate) const QP_CREDENTIAL: &str = "X-Amz-Credential";
pub(crate) const QP_DATE: &str = "X-Amz-Date";
pub(crate) const QP_EXPIRES: &str = "X-Amz-Expires";
pub(crate) const QP_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
pub(crate) const QP_SIGNATURE: &str = "X-Amz-Signature";
pub(crate) const QP_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

/// Locate and parse the request's SigV4 signature.
///
/// * No `Authorization` header and no presigning parameter →
///   [`SigV4Error::MissingAuthenticationToken`].
/// * Anything malformed → [`SigV4Error::IncompleteSignature`] with AWS's
///   message.
///
/// Scope values (region/service/terminator/date) are *not* judged here, only
/// their shape; see [`ParsedAuth::check_scope`] and [`verify`](crate::verify).
pub fn parse(req: &Request<'_>) -> Result<ParsedAuth, SigV4Error> {
    let mut auth_headers = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| *v);
    let auth_header = auth_headers.next();
    if auth_headers.next().is_some() {
        // rolecall wording: AWS's behaviour for a repeated header is unknown.
        return Err(incomplete(
            "The Authorization header must be specified only once.",
        ));
    }
    let has_query_auth = split_query(req.query).any(|(k, _)| {
        let k = decode_component(k);
        k == QP_ALGORITHM || k == QP_CREDENTIAL || k == QP_SIGNATURE || k == QP_SIGNED_HEADERS
    });
    match (auth_header, has_query_auth) {
        (Some(_), true) => Err(incomplete(
            // S3's InvalidArgument wording for the same situation.
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        )),
        (Some(h), false) if !h.trim().is_empty() => parse_header_auth(req, h),
        (Some(_), false) | (None, false) => Err(SigV4Error::MissingAuthenticationToken),
        (None, true) => parse_query_auth(req),
    }
}

fn parse_header_auth(req: &Request<'_>, header: &str) -> Result<ParsedAuth, SigV4Error> {
    let header = header.trim();
    let (algorithm, rest) = header.split_once([' ', '\t', ',']).unwrap_or((header, ""));

    let mut credential: Option<&str> = None;
    let mut signed_headers: Option<&str> = None;
    let mut signature: Option<&str> = None;
    // Components are separated by commas and/or whitespace: AWS accepts
    // both `, ` and `,` (scylladb issue #9568 reproduces this).
    for comp in rest.split([',', ' ', '\t']).filter(|c| !c.is_empty()) {
        let Some((key, value)) = comp.split_once('=') else {
            // dynalite: "'Credential' not a valid key=value pair (missing
            // equal-sign) in Authorization header: '...'."
            return Err(incomplete(format!(
                "'{comp}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            // rolecall wording; AWS's text for this case is not documented.
            return Err(incomplete(format!(
                "Authorization header has a duplicate '{key}' parameter. Authorization={header}"
            )));
        }
        *slot = Some(value);
    }

    let amz_date = header_value(req.headers, "x-amz-date");
    let date = header_value(req.headers, "date");

    // dynalite, `aws/chalice#828`: all missing parts are listed in one
    // message followed by "Authorization=<header>".
    let mut msg = String::new();
    if credential.is_none_or(str::is_empty) {
        msg.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none_or(str::is_empty) {
        msg.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        msg.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if amz_date.is_none() && date.is_none() {
        msg.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), true) =
        (credential, signed_headers, signature, msg.is_empty())
    else {
        msg.push_str("Authorization=");
        msg.push_str(header);
        return Err(incomplete(msg));
    };

    let request_time = match (amz_date, date) {
        (Some(d), _) => parse_amz_date(d.trim()).ok_or_else(|| bad_date(d))?,
        (None, Some(d)) => DateTime::parse_from_rfc2822(d.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| bad_date(d))?,
        (None, None) => return Err(SigV4Error::MissingAuthenticationToken),
    };

    check_algorithm(algorithm)?;
    let (access_key_id, scope) = parse_credential(credential)?;

    let security_token = header_value(req.headers, "x-amz-security-token")
        .map(|t| t.trim().to_owned())
        .or_else(|| query_param(req.query, QP_SECURITY_TOKEN));

    Ok(ParsedAuth {
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(signed_headers),
        signature: signature.to_owned(),
        request_time,
        security_token,
        location: SignatureLocation::Header,
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    split_query(query)
        .find(|(k, _)| decode_component(k) == name)
        .map(|(_, v)| decode_component(v))
}

fn parse_query_auth(req: &Request<'_>) -> Result<ParsedAuth, SigV4Error> {
    const NAMES: [&str; 7] = [
        QP_ALGORITHM,
        QP_CREDENTIAL,
        QP_DATE,
        QP_EXPIRES,
        QP_SIGNED_HEADERS,
        QP_SIGNATURE,
        QP_SECURITY_TOKEN,
    ];
    let mut values: [Option<String>; 7] = Default::default();
    for (raw_k, raw_v) in split_query(req.query) {
        let key = decode_component(raw_k);
        if let Some(i) = NAMES.iter().position(|n| *n == key) {
            if values[i].is_some() {
                // rolecall wording.
                return Err(incomplete(format!(
                    "AWS query-string parameter '{key}' must be specified only once. Re-examine the query-string parameters."
                )));
            }
            values[i] = Some(decode_component(raw_v));
        }
    }
    let [
        algorithm,
        credential,
        date,
        expires,
        signed_headers,
        signature,
        token,
    ] = values;

    // scratchstack: "AWS query-string parameters must include
    // 'X-Amz-Credential'. Re-examine the query-string parameters."
    let mut msg = String::new();
    for (name, v) in [
        (QP_ALGORITHM, &algorithm),
        (QP_CREDENTIAL, &credential),
        (QP_SIGNATURE, &signature),
        (QP_SIGNED_HEADERS, &signed_headers),
        (QP_DATE, &date),
    ] {
        if v.as_deref().is_none_or(str::is_empty) && !(name == QP_SIGNED_HEADERS && v.is_some()) {
            msg.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(signed_headers),
        Some(date),
        true,
    ) = (
        algorithm,
        credential,
        signature,
        signed_headers,
        date,
        msg.is_empty(),
    )
    else {
        msg.push_str("Re-examine the query-string parameters.");
        return Err(incomplete(msg));
    };

    let request_time = parse_amz_date(&date).ok_or_else(|| bad_date(&date))?;
    check_algorithm(&algorithm)?;
    let (access_key_id, scope) = parse_credential(&credential)?;

    // S3 `AuthorizationQueryParametersError` wording.
    let expires = match expires {
        None => None,
        Some(e) => {
            if e.starts_with('-') && e.len() > 1 && e[1..].bytes().all(|b| b.is_ascii_digit()) {
                return Err(incomplete("X-Amz-Expires must be non-negative"));
            }
            if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                return Err(incomplete("X-Amz-Expires should be a number"));
            }
            match e.parse::<u32>() {
                Ok(0) => {
                    return Err(incomplete("X-Amz-Expires must be greater than 0"));
                }
                Ok(n) if n <= MAX_PRESIGN_EXPIRES_SECS => Some(n),
                _ => {
                    return Err(incomplete(
                        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                    ));
                }
            }
        }
    };

    let security_token = token
        .or_else(|| header_value(req.headers, "x-amz-security-token").map(|t| t.trim().to_owned()));

    Ok(ParsedAuth {
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(&signed_headers),
        signature,
        request_time,
        security_token,
        location: SignatureLocation::Query { expires },
    })
}
