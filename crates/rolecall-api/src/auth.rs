//! Authentication: SigV4 verification against the key store, or `--auth off`.
//!
//! The service is taken from the SigV4 credential scope before any key is looked up, so errors
//! are written in the right protocol's envelope. Unsigned requests in `--auth off` mode are
//! routed by their `Version` parameter.

use crate::context::Api;
use crate::error::{ApiError, Protocol};
pub use crate::keys::{AuthMode, Credentials};
use crate::principal::{Principal, PrincipalKind};
pub use crate::service::Service;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rolecall_core::model::User;
use rolecall_core::{EntityKind, Principals};
use rolecall_sigv4::{ServiceFlavor, SigV4Error, SigningKey};
use rolecall_wire::Params;

fn flavor(p: Protocol) -> ServiceFlavor {
    if p == Protocol::Ec2 {
        ServiceFlavor::Ec2
    } else {
        ServiceFlavor::Query
    }
}

fn sigv4_error(p: Protocol, e: &SigV4Error) -> (Protocol, ApiError) {
    let f = flavor(p);
    (p, ApiError::new(e.http_status(f), e.code(f), e.message(f)))
}

fn invalid_token(p: Protocol) -> (Protocol, ApiError) {
    let err = match p {
        Protocol::Ec2 => ApiError::new(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        _ => ApiError::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    };
    (p, err)
}

/// The service an unsigned (or unroutable) request is for, by its `Version`.
fn service_by_version(params: &Params) -> Result<Service, (Protocol, ApiError)> {
    match params.get("Version") {
        Some(v) => Service::from_version(v).ok_or_else(|| {
            (
                Protocol::Iam,
                ApiError::new(
                    400,
                    "InvalidAction",
                    format!("Could not find operation for version {v}"),
                ),
            )
        }),
        None => Err((
            Protocol::Iam,
            ApiError::new(
                400,
                "MissingParameter",
                "The request must contain the parameter Version",
            ),
        )),
    }
}

/// Who signed a request, for which service, and how its signature read the query string.
pub struct Authenticated {
    pub principal: Principal,
    pub service: Service,
    /// The signature covered `+` in the query as a literal plus (`%2B`), not a space: the
    /// parameters must be read again that way before they are acted on.
    pub literal_plus: bool,
    /// The access key id the request was signed with ("" when unsigned).
    pub access_key_id: String,
}

pub async fn authenticate(
    api: &Api,
    parts: &Parts,
    query: &str,
    body: &[u8],
    params: &Params,
) -> Result<Authenticated, (Protocol, ApiError)> {
    let headers = header_pairs(parts);
    let req = sigv4_request(parts, query, body, &headers);
    let root = || Principal::root(api.iam.account_id());
    let parsed = rolecall_sigv4::parse(&req);
    let signer = parsed
        .as_ref()
        .map(|a| a.access_key_id.clone())
        .unwrap_or_default();
    let authenticated = |principal, service, mode| Authenticated {
        principal,
        service,
        literal_plus: mode == rolecall_sigv4::PlusMode::Literal,
        access_key_id: signer.clone(),
    };

    if api.config.auth == AuthMode::Off {
        // Any credentials, or none, are the account root; route by scope when there is one.
        let service = match parsed
            .as_ref()
            .ok()
            .and_then(|a| Service::from_scope(&a.scope.service))
        {
            Some(s) => s,
            None => service_by_version(params)?,
        };
        return Ok(authenticated(
            root(),
            service,
            rolecall_sigv4::PlusMode::Space,
        ));
    }

    let auth = match parsed {
        Ok(a) => a,
        Err(e) => {
            let p = service_by_version(params)
                .map(Service::protocol)
                .unwrap_or(Protocol::Iam);
            return Err(sigv4_error(p, &e));
        }
    };
    let service = match Service::from_scope(&auth.scope.service) {
        Some(s) => s,
        None => {
            let p = service_by_version(params)
                .map(Service::protocol)
                .unwrap_or(Protocol::Iam);
            let msg = format!(
                "Credential should be scoped to correct service: '{}'. ",
                auth.scope.service.replace('\'', "")
            );
            return Err((
                p,
                ApiError::new(403, "SignatureDoesNotMatch", msg.trim_end()),
            ));
        }
    };
    let p = service.protocol();
    // This server is one region. IAM is global, so AWS clients sign it for us-east-1 (as they
    // may STS's global endpoint); they sign everything else for the region they call.
    let region = api.config.region.as_str();
    let region_ok = |r: &str| r == region || (r == "us-east-1" && service != Service::Ec2);
    auth.check_scope(region_ok, &auth.scope.service)
        .map_err(|e| sigv4_error(p, &e))?;
    let now = api.clock.now();
    if let Some(token) = &auth.security_token {
        let (principal, secret) = temporary(api, p, &auth.access_key_id, token, now)?;
        let key = SigningKey::for_scope(&secret, &auth.scope);
        let mode =
            rolecall_sigv4::verify(&req, &auth, &key, now).map_err(|e| sigv4_error(p, &e))?;
        return Ok(authenticated(principal, service, mode));
    }
    let creds = long_term_key(api, &auth.access_key_id)
        .await
        .ok_or_else(|| invalid_token(p))?;
    let key = SigningKey::for_scope(&creds.secret_access_key, &auth.scope);
    let mode = rolecall_sigv4::verify(&req, &auth, &key, now).map_err(|e| sigv4_error(p, &e))?;
    if let PrincipalKind::User { .. } = creds.principal.kind {
        record_last_used(
            api,
            &auth.access_key_id,
            &auth.scope.service,
            &auth.scope.region,
            now,
        )
        .await;
    }
    Ok(authenticated(creds.principal, service, mode))
}

fn header_pairs(parts: &Parts) -> Vec<(&str, &str)> {
    parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect()
}

fn sigv4_request<'a>(
    parts: &'a Parts,
    query: &'a str,
    body: &'a [u8],
    headers: &'a [(&'a str, &'a str)],
) -> rolecall_sigv4::Request<'a> {
    rolecall_sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        headers,
        body,
    }
}

/// The access key id and scope service a request claims to be signed with, if it parses (for
/// the audit event of a request that failed authentication).
pub fn claimed_signer(parts: &Parts, query: &str, body: &[u8]) -> Option<(String, String)> {
    let headers = header_pairs(parts);
    let a = rolecall_sigv4::parse(&sigv4_request(parts, query, body, &headers)).ok()?;
    Some((a.access_key_id, a.scope.service))
}

/// An IAM user's active access key, its secret opened with the key ring.
/// The long-term key `access_key_id` names and its secret: the `KeyStore`'s (tests), then an IAM
/// user's active key, then one of the root's. The one lookup of signatures and console sign-in.
pub(crate) async fn long_term_key(api: &Api, access_key_id: &str) -> Option<Credentials> {
    match api.keys.lookup(access_key_id) {
        Some(c) => Some(c),
        None => match user_key(api, access_key_id).await {
            Some(c) => Some(c),
            None => root_key(api, access_key_id).await,
        },
    }
}

async fn user_key(api: &Api, access_key_id: &str) -> Option<Credentials> {
    if let Some(c) = api.policy_cache.key(access_key_id) {
        return Some(c);
    }
    let epoch = api.policy_cache.epoch();
    let key = api.iam.store().get_access_key(access_key_id).await.ok()??;
    if key.status != "Active" {
        return None;
    }
    let user = api
        .iam
        .store()
        .get_principal::<User>(&key.user_name)
        .await
        .ok()??;
    let secret = rolecall_core::iam_principals::open_secret(&api.keyring, &key)?;
    let creds = Credentials {
        access_key_id: key.id,
        secret_access_key: secret,
        principal: Principal::user(&user),
    };
    // Cached until a change to the key (deactivation, deletion) or its user (rename) drops it.
    let deps = [
        (EntityKind::AccessKey, creds.access_key_id.clone()),
        (EntityKind::User, user.id.clone()),
    ];
    api.policy_cache.put_key(creds.clone(), &deps, epoch);
    Some(creds)
}

/// One of the root's active access keys (kept in the store, `rolecall_core::root_keys`).
async fn root_key(api: &Api, access_key_id: &str) -> Option<Credentials> {
    let epoch = api.policy_cache.epoch();
    let secret = api
        .iam
        .active_root_secret(&api.keyring, access_key_id)
        .await
        .ok()??;
    let creds = Credentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: secret,
        principal: Principal::root(api.iam.account_id()),
    };
    // Cached like users' keys: root key changes are in the feed under the key's id.
    let deps = [(EntityKind::AccessKey, access_key_id.to_string())];
    api.policy_cache.put_key(creds.clone(), &deps, epoch);
    Some(creds)
}

/// GetAccessKeyLastUsed's record, written at most every five minutes per key.
async fn record_last_used(
    api: &Api,
    access_key_id: &str,
    service: &str,
    region: &str,
    now: DateTime<Utc>,
) {
    if !api.policy_cache.should_record_use(access_key_id, now) {
        return;
    }
    let store = api.iam.store();
    let used = rolecall_core::model::AccessKeyLastUsed {
        date: now,
        service: service.into(),
        region: region.into(),
    };
    // Only the last-used record changes, atomically, so a concurrent status change is kept.
    let edit = Box::new(move |k: &mut rolecall_core::model::AccessKey| {
        k.last_used = Some(used);
        Ok(())
    });
    if let Err(e) = store.modify_access_key(access_key_id, edit).await {
        tracing::warn!(error = %e, "recording access key use failed");
    }
}

/// When a session was issued, in unix milliseconds.
fn issued_millis(c: &rolecall_crypto::SessionClaims) -> i64 {
    c.issued_at
        .saturating_mul(1000)
        .saturating_add(i64::from(c.issued_millis.min(999)))
}

/// Opens a session token: the principal it names and the secret to verify the signature with.
pub(crate) fn temporary(
    api: &Api,
    p: Protocol,
    access_key_id: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(Principal, String), (Protocol, ApiError)> {
    let (claims, secret) =
        rolecall_crypto::open_session(&api.keyring, token).map_err(|_| invalid_token(p))?;
    if claims.access_key_id != access_key_id || claims.account_id != api.iam.account_id() {
        return Err(invalid_token(p));
    }
    if now.timestamp() >= claims.expires_at {
        let err = match p {
            Protocol::Ec2 => ApiError::new(400, "RequestExpired", "Request has expired."),
            _ => ApiError::new(
                403,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
        };
        return Err((p, err));
    }
    // Instance credentials whose association ended (or whose instance stopped) since they were
    // issued: refused as AWS refuses a revoked token.
    if api
        .revocations
        .refuses(&claims.association_id, issued_millis(&claims))
    {
        return Err(invalid_token(p));
    }
    Ok((Principal::from_session(&claims), secret))
}
