//! Who is calling.

use rolecall_crypto::{SessionClaims, SessionKind};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root: may do everything.
    Root,
    /// An IAM user: with a long-term access key, or (`session`) GetSessionToken credentials.
    User {
        name: String,
        id: String,
        session: bool,
    },
    /// A role session (instance credentials, AssumeRole), with what its token carries.
    AssumedRole {
        role_name: String,
        role_id: String,
        session_name: String,
        source_instance_arn: String,
        session: Arc<SessionClaims>,
    },
    /// A GetFederationToken session (`arn:aws:sts::ACCOUNT:federated-user/NAME`): the calling
    /// user's permissions (empty `user_name` for the root) as limited by the session policies.
    FederatedUser {
        user_name: String,
        user_id: String,
        session: Arc<SessionClaims>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    /// `UserId` as GetCallerIdentity reports it.
    pub user_id: String,
    pub account_id: String,
    pub kind: PrincipalKind,
    /// Signed with temporary credentials (a session token).
    pub temporary: bool,
}

fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_string()
}

impl Principal {
    pub fn user(u: &rolecall_core::model::User) -> Principal {
        Principal {
            arn: u.arn.clone(),
            user_id: u.id.clone(),
            account_id: account_of(&u.arn),
            kind: PrincipalKind::User {
                name: u.name.clone(),
                id: u.id.clone(),
                session: false,
            },
            temporary: false,
        }
    }

    /// The principal a session token names: a role session
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, user id `ROLEID:SESSION`), or the user
    /// or root whose GetSessionToken session it is.
    pub fn from_session(c: &SessionClaims) -> Principal {
        match c.kind {
            SessionKind::Root => Principal {
                temporary: true,
                ..Principal::root(&c.account_id)
            },
            SessionKind::User => Principal {
                arn: c.principal_arn.clone(),
                user_id: c.role_id.clone(),
                account_id: c.account_id.clone(),
                kind: PrincipalKind::User {
                    name: c.role_name.clone(),
                    id: c.role_id.clone(),
                    session: true,
                },
                temporary: true,
            },
            SessionKind::Federated => Principal {
                arn: format!(
                    "arn:aws:sts::{}:federated-user/{}",
                    c.account_id, c.session_name
                ),
                user_id: format!("{}:{}", c.account_id, c.session_name),
                account_id: c.account_id.clone(),
                kind: PrincipalKind::FederatedUser {
                    user_name: c.role_name.clone(),
                    user_id: c.role_id.clone(),
                    session: Arc::new(c.clone()),
                },
                temporary: true,
            },
            SessionKind::Role => Principal {
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/{}",
                    c.account_id, c.role_name, c.session_name
                ),
                user_id: format!("{}:{}", c.role_id, c.session_name),
                account_id: c.account_id.clone(),
                kind: PrincipalKind::AssumedRole {
                    role_name: c.role_name.clone(),
                    role_id: c.role_id.clone(),
                    session_name: c.session_name.clone(),
                    source_instance_arn: c.source_instance_arn.clone(),
                    session: Arc::new(c.clone()),
                },
                temporary: true,
            },
        }
    }

    pub fn root(account_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account_id}:root"),
            user_id: account_id.to_string(),
            account_id: account_id.to_string(),
            kind: PrincipalKind::Root,
            temporary: false,
        }
    }
}
