//! STS AssumeRole, GetSessionToken and GetFederationToken: temporary credentials in the same self-contained form as
//! instance credentials (sealed claims, derived secret).

use crate::authz::role_by_arn;
use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::outputs;
use crate::generated::sts_outputs::{AssumedRoleUser, Credentials, FederatedUser};
use crate::input::violation;
use crate::params::Args;
use crate::principal::PrincipalKind;
use chrono::{DateTime, Duration, Utc};
use rolecall_crypto::{SessionClaims, SessionCredentials, SessionKind, issue_session};
use rolecall_policy::{Policy, PolicyKind, policy_size};

/// A session's credentials as STS answers them.
fn credentials(c: &SessionCredentials) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: c.claims.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: c.session_token.clone(),
        expiration: DateTime::<Utc>::from_timestamp(c.claims.expires_at, 0).unwrap_or_default(),
    })
}

/// PackedPolicySize: the percentage of the packed session-policy-and-tags space a session
/// uses (`packed` bytes of 2048).
fn packed_percent(packed: usize) -> Option<i64> {
    Some(i64::try_from((packed * 100).div_ceil(2048)).unwrap_or(i64::MAX))
}

fn issue(call: &Call<'_>, claims: SessionClaims) -> Result<SessionCredentials, ApiError> {
    issue_session(&call.api.keyring, claims).map_err(|e| {
        tracing::error!(error = %e, "cannot issue session credentials");
        ApiError::internal()
    })
}

/// A session or federated user name: `[\w+=,.@-]*`, 2..=`max` characters; `field` as AWS
/// names it in the refusal.
fn check_session_name(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    let ok = (2..=max).contains(&v.chars().count())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !ok {
        return Err(violation(
            field,
            v,
            &format!(
                "Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and {max}"
            ),
        ));
    }
    Ok(())
}

/// AssumeRole's own input rules: the role ARN and session name present, the session name's
/// pattern and length, the external id's length.
pub fn validate_assume_role(params: &rolecall_wire::Params) -> Result<(), ApiError> {
    let a = Args {
        params,
        protocol: Protocol::Sts,
    };
    a.req("RoleArn")?;
    check_session_name("roleSessionName", a.req("RoleSessionName")?, 64)?;
    if let Some(id) = a.opt("ExternalId")
        && !(2..=1224).contains(&id.len())
    {
        return Err(violation(
            "externalId",
            id,
            "Member must have length between 2 and 1224",
        ));
    }
    Ok(())
}

pub async fn assume_role(call: &Call<'_>) -> Result<outputs::AssumeRole, ApiError> {
    validate_assume_role(call.params)?;
    let a = Args {
        params: call.params,
        protocol: Protocol::Sts,
    };
    let role_arn = a.req("RoleArn")?;
    let session_name = a.req("RoleSessionName")?;
    // Authorization (trust policy) already passed, so the role exists.
    let entity = role_by_arn(call.api, role_arn)
        .await
        .ok_or_else(ApiError::internal)?;
    let role = &entity.role().ok_or_else(ApiError::internal)?.role;
    let chained = matches!(call.principal.kind, PrincipalKind::AssumedRole { .. });
    let max = if chained {
        3600
    } else {
        i64::from(role.max_session_duration)
    };
    let duration = a.int("DurationSeconds")?.unwrap_or(3600);
    if duration < 900 {
        return Err(violation(
            "durationSeconds",
            &duration.to_string(),
            "Member must have value greater than or equal to 900",
        ));
    }
    if duration > max {
        return Err(ApiError::new(
            400,
            "ValidationError",
            format!(
                "The requested DurationSeconds exceeds the {} set for this role.",
                if chained {
                    "1 hour session limit for roles assumed by role chaining"
                } else {
                    "MaxSessionDuration"
                }
            ),
        ));
    }
    let (session_policy, policy_arns) = session_policies(call, &a).await?;
    let tags: Vec<(String, String)> = a
        .params
        .structs("Tags.member")
        .iter()
        .map(|t| {
            (
                t.get("Key").unwrap_or_default().to_string(),
                t.get("Value").unwrap_or_default().to_string(),
            )
        })
        .collect();
    if tags.len() > 50 {
        return Err(ApiError::new(
            400,
            "PackedPolicyTooLarge",
            "Packed policy consumes more than 100 percent of the allotted space.",
        ));
    }
    let now = call.api.clock.now();
    let claims = SessionClaims {
        account_id: call.api.iam.account_id().to_string(),
        kind: SessionKind::Role,
        role_name: role.name.clone(),
        role_id: role.id.clone(),
        principal_arn: role.arn.clone(),
        session_name: session_name.to_string(),
        issued_at: now.timestamp(),
        issued_millis: now.timestamp_subsec_millis(),
        expires_at: (now + Duration::seconds(duration)).timestamp(),
        source_identity: a.opt("SourceIdentity").map(str::to_string),
        session_policy: session_policy.clone(),
        policy_arns,
        tags: tags.clone(),
        ..Default::default()
    };
    let creds = issue(call, claims)?;
    // PackedPolicySize: how much of the packed session-policy-and-tags space this session uses.
    let packed = session_policy.as_deref().map(policy_size).unwrap_or(0)
        + tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let account = call.api.iam.account_id();
    let out = outputs::AssumeRole {
        credentials: credentials(&creds),
        assumed_role_user: Some(AssumedRoleUser {
            assumed_role_id: format!("{}:{session_name}", role.id),
            arn: format!(
                "arn:aws:sts::{account}:assumed-role/{}/{session_name}",
                role.name
            ),
        }),
        packed_policy_size: packed_percent(packed)
            .filter(|_| session_policy.is_some() || !tags.is_empty()),
        source_identity: creds.claims.source_identity.clone(),
    };
    Ok(out)
}

pub async fn get_session_token(call: &Call<'_>) -> Result<outputs::GetSessionToken, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Sts,
    };
    let p = call.principal;
    let (kind, name, id, max) = match &p.kind {
        PrincipalKind::Root if !p.temporary => {
            (SessionKind::Root, String::new(), p.user_id.clone(), 3600)
        }
        PrincipalKind::User {
            name,
            id,
            session: false,
        } => (SessionKind::User, name.clone(), id.clone(), 129_600),
        _ => {
            return Err(ApiError::new(
                403,
                "AccessDenied",
                "Cannot call GetSessionToken with session credentials",
            ));
        }
    };
    let duration = a
        .int("DurationSeconds")?
        .unwrap_or(if kind == SessionKind::Root {
            3600
        } else {
            43_200
        });
    if !(900..=max).contains(&duration) {
        return Err(violation(
            "durationSeconds",
            &duration.to_string(),
            &format!("Member must have value between 900 and {max}"),
        ));
    }
    let now = call.api.clock.now();
    let claims = SessionClaims {
        account_id: p.account_id.clone(),
        kind,
        role_name: name,
        role_id: id,
        principal_arn: p.arn.clone(),
        issued_at: now.timestamp(),
        issued_millis: now.timestamp_subsec_millis(),
        expires_at: (now + Duration::seconds(duration)).timestamp(),
        ..Default::default()
    };
    let creds = issue(call, claims)?;
    let out = outputs::GetSessionToken {
        credentials: credentials(&creds),
    };
    Ok(out)
}

/// The session policies a request passes (`Policy`, `PolicyArns.member.N`), checked.
async fn session_policies(
    call: &Call<'_>,
    a: &Args<'_>,
) -> Result<(Option<String>, Vec<String>), ApiError> {
    let session_policy = match a.opt("Policy") {
        Some(doc) => {
            let policy = Policy::parse(doc, PolicyKind::Session).map_err(|e| {
                if e.is_limit_exceeded() {
                    ApiError::new(
                        400,
                        "PackedPolicyTooLarge",
                        "Packed policy consumes more than 100 percent of the allotted space.",
                    )
                } else {
                    ApiError::new(400, "MalformedPolicyDocument", e.message().to_string())
                }
            })?;
            drop(policy);
            Some(doc.to_string())
        }
        None => None,
    };
    let policy_arns: Vec<String> = a
        .params
        .structs("PolicyArns.member")
        .iter()
        .filter_map(|p| p.get("arn").map(str::to_string))
        .collect();
    if policy_arns.len() > 10 {
        return Err(violation(
            "policyArns",
            &policy_arns.len().to_string(),
            "Member must have length less than or equal to 10",
        ));
    }
    for arn in &policy_arns {
        if call.api.iam.store().get_policy(arn).await?.is_none() {
            return Err(ApiError::new(
                400,
                "InvalidParameterValue",
                format!("Policy {arn} does not exist or is not attachable."),
            ));
        }
    }
    Ok((session_policy, policy_arns))
}

/// GetFederationToken's own input rules (the name), before anything else.
pub fn validate_federation(params: &rolecall_wire::Params) -> Result<(), ApiError> {
    check_session_name("name", sts_args(params).req("Name")?, 32)
}

fn sts_args(params: &rolecall_wire::Params) -> Args<'_> {
    Args {
        params,
        protocol: Protocol::Sts,
    }
}

/// The federated user `Name` names in this account.
pub fn federated_user_arn(account: &str, name: &str) -> String {
    format!("arn:aws:sts::{account}:federated-user/{name}")
}

pub async fn get_federation_token(
    call: &Call<'_>,
) -> Result<outputs::GetFederationToken, ApiError> {
    validate_federation(call.params)?;
    let a = sts_args(call.params);
    let name = a.req("Name")?;
    let p = call.principal;
    let (user_name, user_id, max) = match &p.kind {
        PrincipalKind::Root if !p.temporary => (String::new(), p.user_id.clone(), 3600),
        PrincipalKind::User {
            name,
            id,
            session: false,
        } => (name.clone(), id.clone(), 129_600),
        _ => {
            return Err(ApiError::new(
                403,
                "AccessDenied",
                "Cannot call GetFederationToken with session credentials",
            ));
        }
    };
    let duration = a.int("DurationSeconds")?.unwrap_or(43_200);
    let bound = if duration < 900 {
        Some("greater than or equal to 900")
    } else if duration > 129_600 {
        Some("less than or equal to 129600")
    } else {
        None
    };
    if let Some(bound) = bound {
        return Err(violation(
            "durationSeconds",
            &duration.to_string(),
            &format!("Member must have value {bound}"),
        ));
    }
    // The root's sessions last at most an hour: a longer request is cut to it, as in AWS.
    let duration = duration.min(max);
    let (session_policy, policy_arns) = session_policies(call, &a).await?;
    let now = call.api.clock.now();
    let account = p.account_id.clone();
    let claims = SessionClaims {
        account_id: account.clone(),
        kind: SessionKind::Federated,
        role_name: user_name,
        role_id: user_id,
        principal_arn: p.arn.clone(),
        session_name: name.to_string(),
        issued_at: now.timestamp(),
        issued_millis: now.timestamp_subsec_millis(),
        expires_at: (now + Duration::seconds(duration)).timestamp(),
        session_policy: session_policy.clone(),
        policy_arns,
        ..Default::default()
    };
    let creds = issue(call, claims)?;
    let packed = session_policy.as_deref().map(policy_size).unwrap_or(0);
    let out = outputs::GetFederationToken {
        credentials: credentials(&creds),
        federated_user: Some(FederatedUser {
            federated_user_id: format!("{account}:{name}"),
            arn: federated_user_arn(&account, name),
        }),
        packed_policy_size: packed_percent(packed),
    };
    Ok(out)
}
