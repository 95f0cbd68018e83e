//! Errors, with AWS's wording.
//!
//! Message sources (cited per variant below):
//! * dynalite: `mhart/dynalite` `index.js`
//!   (<https://github.com/mhart/dynalite/blob/master/index.js>), which records the exact bodies
//!   real AWS (DynamoDB/Coral) returned for each malformed-signature case.
//! * scratchstack: `dacut/scratchstack-aws-signature` (`src/constants.rs`,
//!   `src/error.rs`, <https://github.com/dacut/scratchstack-aws-signature>), a Rust SigV4 verifier that reproduces AWS's messages.
//! * Public reports of real AWS responses quoted in GitHub issues, e.g.
//!   `aws/aws-cli#6676` ("Signature expired: ... (... - 15 min.)" from STS
//!   GetCallerIdentity), `boto/boto3#756` (STS `SignatureDoesNotMatch` text),
//!   `aws/chalice#828` (the "Authorization header requires ..." list).
//! * AWS "Common Errors" API reference pages (IAM, EC2) for codes and HTTP
//!   status codes.

use std::fmt;

/// The protocol family the error will be rendered for; AWS uses different
/// codes for the same failure in EC2 than in IAM/STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceFlavor {
    /// IAM and STS (`awsQuery` protocol, `<ErrorResponse><Error><Type>Sender`).
    Query,
    /// EC2 (`ec2Query` protocol, `<Response><Errors><Error>`).
    Ec2,
}

/// Why a request's SigV4 authentication was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// The request carries no SigV4 authentication at all: no
    /// `Authorization` header and no `X-Amz-Algorithm`/`X-Amz-Credential`/
    /// `X-Amz-Signature` query parameter.
    ///
    /// Wording: dynalite, scratchstack `MSG_REQUEST_MISSING_AUTH_TOKEN`.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,

    /// The signature is present but malformed: missing `Credential`/
    /// `SignedHeaders`/`Signature`, missing or unparsable date, unsupported
    /// algorithm, a credential that is not `key/date/region/service/term`,
    /// duplicated parameters, an invalid `X-Amz-Expires`, or both a header
    /// and a presigned signature. The string is the full AWS message.
    ///
    /// Wording: see the constructors in `parse.rs`.
    #[error("{0}")]
    IncompleteSignature(String),

    /// The credential scope is well formed but wrong for this request:
    /// region, service, terminator or date. Several problems are joined in one
    /// message, as AWS does, e.g. "Credential should be scoped to a valid
    /// region, not 'c'. Credential should be scoped to correct service:
    /// 'iam'. Credential should be scoped with a valid terminator:
    /// 'aws4_request', not 'e'. Date in Credential scope does not match
    /// YYYYMMDD from ISO-8601 version of date from HTTP: 'b' != '20130609',
    /// from '20130609T095204Z'." dynalite. AWS answers this with
    /// `SignatureDoesNotMatch` (`timkay/aws#111`, `aws/aws-sdk-js#792`).
    #[error("{0}")]
    InvalidCredentialScope(String),

    /// `host` is not among the signed headers.
    ///
    /// Wording: scratchstack `MSG_HOST_AUTHORITY_MUST_BE_SIGNED`; older
    /// responses recorded by dynalite omit "or ':authority'".
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// The request time is more than the allowed skew in the past.
    ///
    /// Wording: dynalite, `aws/aws-cli#6676`:
    /// "Signature expired: 20220127T001427Z is now earlier than
    /// 20220127T014428Z (20220127T015928Z - 15 min.)".
    #[error(
        "Signature expired: {request_time} is now earlier than {earliest} ({now} - {skew_minutes} min.)"
    )]
    SignatureExpired {
        /// Request time, `YYYYMMDDTHHMMSSZ`.
        request_time: String,
        /// `now - skew`, `YYYYMMDDTHHMMSSZ`.
        earliest: String,
        /// Server time, `YYYYMMDDTHHMMSSZ`.
        now: String,
        /// Allowed skew in minutes.
        skew_minutes: i64,
    },

    /// The request time is more than the allowed skew in the future.
    ///
    /// Wording: scratchstack and reports of real responses, e.g.
    /// "Signature not yet current: 20170424T013926Z is still later than
    /// 20170424T013832Z (20170424T013332Z + 5 min.)".
    #[error(
        "Signature not yet current: {request_time} is still later than {latest} ({now} + {skew_minutes} min.)"
    )]
    SignatureNotYetCurrent {
        /// Request time, `YYYYMMDDTHHMMSSZ`.
        request_time: String,
        /// `now + skew`, `YYYYMMDDTHHMMSSZ`.
        latest: String,
        /// Server time, `YYYYMMDDTHHMMSSZ`.
        now: String,
        /// Allowed skew in minutes.
        skew_minutes: i64,
    },

    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    ///
    /// Wording: EC2's `RequestExpired` and S3's presigned-URL message
    /// ("Request has expired"); no verbatim STS sample was found.
    #[error("Request has expired")]
    PresignedUrlExpired {
        /// `X-Amz-Date + X-Amz-Expires`, `YYYYMMDDTHHMMSSZ`.
        expired_at: String,
        /// Server time, `YYYYMMDDTHHMMSSZ`.
        now: String,
    },

    /// `X-Amz-Content-Sha256` does not match the body, or claims an unsigned
    /// or streaming payload for a request whose body must be signed.
    ///
    /// Wording: S3's `XAmzContentSHA256Mismatch` ("The provided
    /// 'x-amz-content-sha256' header does not match what was computed."); the
    /// services rolecall implements have no dedicated code.
    #[error("{0}")]
    PayloadHashMismatch(String),

    /// The recomputed signature differs from the one sent (wrong secret,
    /// tampered request, or a client canonicalizing differently). The
    /// canonical request and string to sign are kept for logging/debugging;
    /// AWS appends them to the message for some services (`boto/boto3#756`),
    /// but the `Display` text is the short form.
    ///
    /// Wording: dynalite, scratchstack `MSG_REQUEST_SIGNATURE_MISMATCH`.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch {
        /// Canonical request the server computed.
        canonical_request: String,
        /// String to sign the server computed.
        string_to_sign: String,
    },

    /// Server bug: the [`SigningKey`](crate::SigningKey) passed to
    /// [`verify`](crate::verify) was derived for another
    /// `date/region/service` than the request's credential scope.
    #[error("signing key scope '{key_scope}' does not match credential scope '{request_scope}'")]
    SigningKeyScopeMismatch {
        /// `date/region/service` of the key.
        key_scope: String,
        /// `date/region/service` of the request.
        request_scope: String,
    },
}

impl SigV4Error {
    /// The wire error code AWS uses for this failure.
    ///
    /// IAM/STS: `MissingAuthenticationToken`, `IncompleteSignature`,
    /// `SignatureDoesNotMatch` (also for skew: STS/IAM answer
    /// `SignatureDoesNotMatch` with "Signature expired: ...", see
    /// `aws/aws-cli#6676`, `devsecops/bootcamp#101`), `RequestExpired`
    /// (presigned URL past its expiry, per the Common Errors page).
    ///
    /// EC2: `AuthFailure` replaces `SignatureDoesNotMatch` and
    /// `RequestExpired` is used for every time-window failure (EC2 Common
    /// Errors page).
    pub fn code(&self, flavor: ServiceFlavor) -> &'static str {
        use ServiceFlavor::{Ec2, Query};
        match (self, flavor) {
            (Self::MissingAuthenticationToken, _) => "MissingAuthenticationToken",
            (Self::IncompleteSignature(_), _) => "IncompleteSignature",
            (Self::SigningKeyScopeMismatch { .. }, _) => "InternalFailure",
            (Self::PresignedUrlExpired { .. }, _) => "RequestExpired",
            (Self::SignatureExpired { .. } | Self::SignatureNotYetCurrent { .. }, Query) => {
                "SignatureDoesNotMatch"
            }
            (Self::SignatureExpired { .. } | Self::SignatureNotYetCurrent { .. }, Ec2) => {
                "RequestExpired"
            }
            (
                Self::InvalidCredentialScope(_)
                | Self::HostNotSigned
                | Self::PayloadHashMismatch(_)
                | Self::SignatureDoesNotMatch { .. },
                flavor,
            ) => match flavor {
                Query => "SignatureDoesNotMatch",
                Ec2 => "AuthFailure",
            },
        }
    }

    /// The HTTP status to answer with.
    ///
    /// IAM/STS (Common Errors page): `MissingAuthenticationToken` 403,
    /// `IncompleteSignature` 400, `SignatureDoesNotMatch` 403,
    /// `RequestExpired` 400. EC2: `AuthFailure` and
    /// `MissingAuthenticationToken` 401 (what EC2 sends for credential
    /// failures), `IncompleteSignature`/`RequestExpired` 400.
    pub fn http_status(&self, flavor: ServiceFlavor) -> u16 {
        match self.code(flavor) {
            "IncompleteSignature" | "RequestExpired" => 400,
            "InternalFailure" => 500,
            "AuthFailure" => 401,
            "MissingAuthenticationToken" if flavor == ServiceFlavor::Ec2 => 401,
            _ => 403,
        }
    }

    /// The message to put on the wire. For EC2's `AuthFailure` AWS does not
    /// explain signature problems and says "AWS was not able to validate the
    /// provided access credentials"; everything else uses the `Display` text.
    pub fn message(&self, flavor: ServiceFlavor) -> String {
        match (self, flavor) {
            (Self::SignatureDoesNotMatch { .. }, ServiceFlavor::Ec2) => {
                "AWS was not able to validate the provided access credentials".to_owned()
            }
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for ServiceFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Query => "query",
            Self::Ec2 => "ec2",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ServiceFlavor::{Ec2, Query};
    use super::*;

    /// (wire code, HTTP status)
    type Wire = (&'static str, u16);

    #[test]
    fn wire_mapping() {
        let s = String::new;
        let cases: Vec<(SigV4Error, Wire, Wire)> = vec![
            (
                SigV4Error::MissingAuthenticationToken,
                ("MissingAuthenticationToken", 403),
                ("MissingAuthenticationToken", 401),
            ),
            (
                SigV4Error::IncompleteSignature(s()),
                ("IncompleteSignature", 400),
                ("IncompleteSignature", 400),
            ),
            (
                SigV4Error::InvalidCredentialScope(s()),
                ("SignatureDoesNotMatch", 403),
                ("AuthFailure", 401),
            ),
            (
                SigV4Error::HostNotSigned,
                ("SignatureDoesNotMatch", 403),
                ("AuthFailure", 401),
            ),
            (
                SigV4Error::SignatureExpired {
                    request_time: s(),
                    earliest: s(),
                    now: s(),
                    skew_minutes: 5,
                },
                ("SignatureDoesNotMatch", 403),
                ("RequestExpired", 400),
            ),
            (
                SigV4Error::SignatureNotYetCurrent {
                    request_time: s(),
                    latest: s(),
                    now: s(),
                    skew_minutes: 5,
                },
                ("SignatureDoesNotMatch", 403),
                ("RequestExpired", 400),
            ),
            (
                SigV4Error::PresignedUrlExpired {
                    expired_at: s(),
                    now: s(),
                },
                ("RequestExpired", 400),
                ("RequestExpired", 400),
            ),
            (
                SigV4Error::PayloadHashMismatch(s()),
                ("SignatureDoesNotMatch", 403),
                ("AuthFailure", 401),
            ),
            (
                SigV4Error::SignatureDoesNotMatch {
                    canonical_request: s(),
                    string_to_sign: s(),
                },
                ("SignatureDoesNotMatch", 403),
                ("AuthFailure", 401),
            ),
            (
                SigV4Error::SigningKeyScopeMismatch {
                    key_scope: s(),
                    request_scope: s(),
                },
                ("InternalFailure", 500),
                ("InternalFailure", 500),
            ),
        ];
        for (e, q, ec2) in cases {
            assert_eq!((e.code(Query), e.http_status(Query)), q, "{e:?}");
            assert_eq!((e.code(Ec2), e.http_status(Ec2)), ec2, "{e:?}");
        }
    }
}
