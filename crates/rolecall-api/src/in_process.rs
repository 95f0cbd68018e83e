//! The API in-process, for callers inside this binary (the web console): sign a principal in
//! with an access key pair the way [`crate::auth`] verifies one, and run an operation as that
//! principal through the same path as an HTTP request ([`crate::server::execute`]: parse,
//! resolve, authorize, handle, publish). Nothing here decides about authorization.

use crate::authz::RequestFacts;
use crate::context::Api;
use crate::error::ApiError;
use crate::keys::AuthMode;
use crate::principal::Principal;
use crate::service::Service;
use rolecall_core::Principals;
use rolecall_core::model::User;
use rolecall_wire::Params;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// Where a call comes from (the global condition keys `aws:SourceIp`, `aws:SecureTransport`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
}

impl Origin {
    /// The source address as the audit trail records it ("" when unknown).
    fn peer(&self) -> String {
        self.source_ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// Runs `Action` (with the other parameters, as a Query/EC2 request carries them) of `service`
/// as `principal`. The response document on success, or the error as AWS words it.
pub async fn invoke(
    api: &Api,
    principal: &Principal,
    service: Service,
    params: &Params,
    origin: Origin,
) -> Result<String, ApiError> {
    let facts = RequestFacts {
        source_ip: origin.source_ip,
        secure_transport: origin.secure_transport,
    };
    let request_id = rolecall_crypto::request_id();
    let peer = origin.peer();
    let invocation = crate::server::Invocation {
        envelope: crate::server::Envelope {
            request_id: &request_id,
            peer: &peer,
            user_agent: "rolecall-console",
            started: api.clock.now(),
        },
        principal,
        access_key_id: "",
        service,
        action: params.get("Action").unwrap_or_default(),
        params,
        facts: &facts,
        body: &[],
    };
    let (_, result) = crate::server::execute(api, &invocation).await;
    match &result {
        Ok(_) => {
            tracing::info!(target: "rolecall::api", %request_id, action = ?params.get("Action"), principal = %principal.arn, via = "console", status = 200)
        }
        Err(e) => {
            e.log_internal(&request_id);
            tracing::info!(target: "rolecall::api", %request_id, action = ?params.get("Action"), principal = %principal.arn, via = "console", status = e.status, code = %e.code)
        }
    }
    result
}

/// The principal whose access key pair this is (the root's, an IAM user's active key, or a
/// session's keys with their token), or None: the same keys and secrets the SigV4 verification
/// accepts. With `--auth off` any keys are the account root, as for the API.
pub async fn sign_in(
    api: &Api,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> Option<Principal> {
    let (principal, secret) = key_pair(api, access_key_id, session_token).await?;
    match secret {
        None => Some(principal),
        Some(s) => {
            bool::from(s.as_bytes().ct_eq(secret_access_key.as_bytes())).then_some(principal)
        }
    }
}

/// The outcome of a console password sign-in.
pub enum PasswordSignIn {
    /// Wrong password, unknown user or no login profile (callers must not tell which).
    Refused,
    SignedIn(Principal),
    /// The password is right but must be changed before the console may be used.
    ResetRequired(Principal),
}

/// Checks an IAM user's console password (`Iam::check_console_password`: about the same work
/// whether or not the user or its login profile exists) and the account id if one is given
/// (after the password, like any other failure), and records the attempt in the audit trail as
/// CloudTrail's `ConsoleLogin`.
pub async fn sign_in_with_password(
    api: &Api,
    account: &str,
    user_name: &str,
    password: &str,
    origin: Origin,
    user_agent: &str,
) -> PasswordSignIn {
    use rolecall_core::login_profiles::PasswordCheck;
    let started = api.clock.now();
    let checked = api.iam.check_console_password(user_name, password).await;
    let other_account = !account.is_empty() && account != api.iam.account_id();
    let outcome = match checked {
        _ if other_account => PasswordSignIn::Refused,
        Ok(PasswordCheck::Accepted {
            user,
            reset_required,
        }) => {
            let p = Principal::user(&user);
            if reset_required {
                PasswordSignIn::ResetRequired(p)
            } else {
                PasswordSignIn::SignedIn(p)
            }
        }
        Ok(PasswordCheck::Refused) => PasswordSignIn::Refused,
        Err(e) => {
            tracing::warn!(error = %e, "console password sign-in failed");
            PasswordSignIn::Refused
        }
    };
    if api.audit.is_on() {
        let (user, failure) = match &outcome {
            PasswordSignIn::SignedIn(p) | PasswordSignIn::ResetRequired(p) => {
                (Some(p.clone()), None)
            }
            PasswordSignIn::Refused => (
                api.iam
                    .store()
                    .get_principal::<User>(user_name)
                    .await
                    .ok()
                    .flatten()
                    .map(|u| Principal::user(&u)),
                Some(FAILED_AUTHENTICATION),
            ),
        };
        record_console_login(api, origin, user_agent, started, user, failure).await;
    }
    outcome
}

/// CloudTrail's `errorMessage` for a refused console password.
const FAILED_AUTHENTICATION: &str = "Failed authentication";

/// Records a console password attempt refused before it was checked (too many attempts from
/// its address or for its user name) as a failed `ConsoleLogin`; the user is not looked up
/// (an attacker's flood costs no reads) and stays hidden, as for an unknown user.
pub async fn sign_in_throttled(api: &Api, origin: Origin, user_agent: &str) {
    if api.audit.is_on() {
        let started = api.clock.now();
        let failure = Some("Too many sign-in attempts");
        record_console_login(api, origin, user_agent, started, None, failure).await;
    }
}

/// Records a console sign-in (`failure`: its errorMessage) as CloudTrail's `ConsoleLogin`.
async fn record_console_login(
    api: &Api,
    origin: Origin,
    user_agent: &str,
    started: chrono::DateTime<chrono::Utc>,
    user: Option<Principal>,
    failure: Option<&str>,
) {
    let request_id = rolecall_crypto::request_id();
    let peer = origin
        .source_ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let envelope = crate::server::Envelope {
        request_id: &request_id,
        peer: &peer,
        user_agent,
        started,
    };
    let info = envelope.info(api, "signin", "ConsoleLogin", false);
    let event = crate::audit::record::console_login(&info, user.as_ref(), failure);
    api.audit.append(event).await;
}

/// The IAM user of a console password session, again: it must still exist with the same id
/// (not deleted and re-created) and still have its login profile.
pub async fn password_user(api: &Api, user_name: &str, user_id: &str) -> Option<Principal> {
    let user = api
        .iam
        .store()
        .get_principal::<User>(user_name)
        .await
        .ok()??;
    if user.id != user_id {
        return None;
    }
    api.iam.get_login_profile(&user.name).await.ok()?;
    Some(Principal::user(&user))
}

/// The principal of a signed-in session, again: the long-term key must still be active (a key
/// deactivated or deleted ends its console sessions), a session token still valid.
pub async fn principal_of(
    api: &Api,
    access_key_id: &str,
    session_token: Option<&str>,
) -> Option<Principal> {
    key_pair(api, access_key_id, session_token)
        .await
        .map(|(p, _)| p)
}

/// Whose key this is and its secret (None with `--auth off`: anyone is the root).
async fn key_pair(
    api: &Api,
    access_key_id: &str,
    session_token: Option<&str>,
) -> Option<(Principal, Option<String>)> {
    if api.config.auth == AuthMode::Off {
        return Some((Principal::root(api.iam.account_id()), None));
    }
    match session_token {
        Some(token) => crate::auth::temporary(
            api,
            crate::error::Protocol::Iam,
            access_key_id,
            token,
            api.clock.now(),
        )
        .ok()
        .map(|(p, s)| (p, Some(s))),
        None => {
            let c = crate::auth::long_term_key(api, access_key_id).await?;
            Some((c.principal, Some(c.secret_access_key)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::units::testing::{ACCOUNT, api};

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[tokio::test]
    async fn a_user_signs_in_with_its_key_pair_and_acts_under_its_own_policies() {
        let api = api().await;
        let root = Principal::root(ACCOUNT);
        let run = |p: &'static [(&'static str, &'static str)]| {
            let api = &api;
            let root = &root;
            async move { invoke(api, root, Service::Iam, &params(p), Origin::default()).await }
        };
        run(&[("Action", "CreateUser"), ("UserName", "ana")])
            .await
            .unwrap();
        let key = run(&[("Action", "CreateAccessKey"), ("UserName", "ana")])
            .await
            .unwrap();
        let id = rolecall_wire::xml_read::parse(&key).unwrap();
        let key_id = id.find("AccessKeyId").unwrap().text.clone();
        let secret = id.find("SecretAccessKey").unwrap().text.clone();

        assert!(sign_in(&api, &key_id, "wrong", None).await.is_none());
        assert!(
            sign_in(&api, "AKIANOSUCHKEY0000000", &secret, None)
                .await
                .is_none()
        );
        let ana = sign_in(&api, &key_id, &secret, None)
            .await
            .expect("signed in");
        assert_eq!(ana.arn, format!("arn:aws:iam::{ACCOUNT}:user/ana"));
        let as_ana = |action: &'static str| {
            let (api, ana) = (&api, &ana);
            let p = params(&[("Action", action)]);
            async move { invoke(api, ana, Service::Iam, &p, Origin::default()).await }
        };

        // The same authorization as a signed request: no policy, no action.
        let denied = as_ana("ListRoles").await.unwrap_err();
        assert_eq!(denied.code, "AccessDenied");
        assert!(
            denied
                .message
                .contains("is not authorized to perform: iam:ListRoles")
        );
        run(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "ana"),
            ("PolicyName", "list"),
            ("PolicyDocument", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#),
        ])
        .await
        .unwrap();
        let listed = as_ana("ListRoles").await.unwrap();
        assert!(listed.contains("<ListRolesResult>"));
        // An unknown action is InvalidAction, as over HTTP.
        let bad = as_ana("Nope").await.unwrap_err();
        assert_eq!(bad.code, "InvalidAction");

        // A deactivated key ends the session.
        assert!(principal_of(&api, &key_id, None).await.is_some());
        let p = params(&[
            ("Action", "UpdateAccessKey"),
            ("UserName", "ana"),
            ("AccessKeyId", key_id.as_str()),
            ("Status", "Inactive"),
        ]);
        invoke(&api, &root, Service::Iam, &p, Origin::default())
            .await
            .unwrap();
        assert!(principal_of(&api, &key_id, None).await.is_none());
        assert!(sign_in(&api, &key_id, &secret, None).await.is_none());
    }
}
