//! Minting and caching instance role credentials.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rolecall_crypto::{KeyRing, SessionClaims, issue_session};

/// How long credentials live and when they are replaced.
#[derive(Debug, Clone, Copy)]
pub struct CredentialPolicy {
    pub lifetime: Duration,
    /// A credential with less than this left is replaced by a new one (the old stays valid until
    /// it expires). At least 30 minutes, so no served credential looks "about to expire" to SDKs.
    pub refresh_before: Duration,
}

impl Default for CredentialPolicy {
    /// Like EC2: six-hour credentials, a new one every hour.
    fn default() -> Self {
        CredentialPolicy {
            lifetime: Duration::hours(6),
            refresh_before: Duration::hours(5),
        }
    }
}

impl CredentialPolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.refresh_before < Duration::minutes(30) {
            return Err("credential refresh must happen with at least 30 minutes left".into());
        }
        if self.lifetime <= self.refresh_before {
            return Err("credential lifetime must be longer than the refresh threshold".into());
        }
        Ok(())
    }
}

/// How IMDS delivered a credential (`ec2:RoleDelivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// IMDSv1: a request without a session token.
    V1,
    /// IMDSv2: a request with a valid session token.
    V2,
}

impl Delivery {
    /// The value of `ec2:RoleDelivery`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::V1 => "1.0",
            Delivery::V2 => "2.0",
        }
    }

    /// The version `ec2:RoleDelivery` names (`1.0` or `2.0`).
    pub fn parse(s: &str) -> Option<Delivery> {
        match s {
            "1.0" => Some(Delivery::V1),
            "2.0" => Some(Delivery::V2),
            _ => None,
        }
    }
}

/// A minted credential with its IMDS JSON rendered once.
pub struct Issued {
    pub role_id: String,
    /// The association it was issued under (verifiers refuse it once that ends).
    pub association_id: String,
    pub expires_at: DateTime<Utc>,
    pub json: String,
    /// The same document with `AccountId`, for `iam/security-credentials-extended/`.
    pub json_extended: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub last_updated: DateTime<Utc>,
}

/// What a credential is for: the account, the role and the association it is issued under.
#[derive(Clone, Copy)]
pub struct IssuedFor<'a> {
    pub account_id: &'a str,
    pub role_id: &'a str,
    pub association_id: &'a str,
}

/// The parts of a credential as the API hands them to an agent.
pub struct CredentialParts<'a> {
    pub issued_for: IssuedFor<'a>,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub last_updated: DateTime<Utc>,
    pub expiration: DateTime<Utc>,
}

impl Issued {
    /// A credential minted elsewhere, rendered exactly as a locally minted one.
    pub fn from_parts(p: &CredentialParts<'_>) -> Issued {
        let head = format!(
            "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"{}\",\n  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"{}\",\n  \"SecretAccessKey\" : \"{}\",\n  \"Token\" : \"{}\",\n  \"Expiration\" : \"{}\"",
            ts(p.last_updated),
            p.access_key_id,
            p.secret_access_key,
            p.session_token,
            ts(p.expiration)
        );
        let json = format!("{head}\n}}");
        let of = p.issued_for;
        let json_extended = format!("{head},\n  \"AccountId\" : \"{}\"\n}}", of.account_id);
        Issued {
            role_id: of.role_id.into(),
            association_id: of.association_id.into(),
            expires_at: DateTime::from_timestamp(p.expiration.timestamp(), 0)
                .unwrap_or(p.expiration),
            json,
            json_extended,
            access_key_id: p.access_key_id.into(),
            secret_access_key: p.secret_access_key.into(),
            session_token: p.session_token.into(),
            last_updated: p.last_updated,
        }
    }

    pub fn is_fresh(&self, now: DateTime<Utc>, policy: &CredentialPolicy) -> bool {
        self.expires_at - now >= policy.refresh_before
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub struct MintRequest<'a> {
    pub issued_for: IssuedFor<'a>,
    pub role_name: &'a str,
    pub instance_id: &'a str,
    pub instance_arn: &'a str,
    pub private_ip: &'a str,
    pub vpc_id: &'a str,
    /// None: minted for an agent, which serves it over either version (the key is then absent).
    pub delivery: Option<Delivery>,
}

pub fn mint(
    ring: &KeyRing,
    req: &MintRequest<'_>,
    now: DateTime<Utc>,
    policy: &CredentialPolicy,
) -> Option<Issued> {
    let expires_at = now + policy.lifetime;
    let of = req.issued_for;
    let claims = SessionClaims {
        access_key_id: String::new(),
        account_id: of.account_id.into(),
        role_name: req.role_name.into(),
        role_id: of.role_id.into(),
        session_name: req.instance_id.into(),
        issued_at: now.timestamp(),
        issued_millis: now.timestamp_subsec_millis(),
        expires_at: expires_at.timestamp(),
        source_instance_arn: req.instance_arn.into(),
        association_id: of.association_id.into(),
        role_delivery: req
            .delivery
            .map(Delivery::as_str)
            .unwrap_or_default()
            .into(),
        source_private_ip: req.private_ip.into(),
        source_vpc: req.vpc_id.into(),
        ..Default::default()
    };
    let c = match issue_session(ring, claims) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot mint instance credentials");
            return None;
        }
    };
    // Field order and formats as EC2 serves them.
    Some(Issued::from_parts(&CredentialParts {
        issued_for: of,
        access_key_id: &c.claims.access_key_id,
        secret_access_key: &c.secret_access_key,
        session_token: &c.session_token,
        last_updated: now,
        expiration: expires_at,
    }))
}
