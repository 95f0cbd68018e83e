//! Who is calling.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root: may do everything.
    Root,
    /// An IAM user (long-term access key).
    User { name: String, id: String },
    /// A role session (instance credentials).
    AssumedRole {
        role_name: String,
        role_id: String,
        session_name: String,
        source_instance_arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    /// `UserId` as GetCallerIdentity reports it.
    pub user_id: String,
    pub account_id: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn user(u: &rolecall_core::model::User) -> Principal {
        let account_id = u.arn.split(':').nth(4).unwrap_or_default().to_string();
        Principal {
            arn: u.arn.clone(),
            user_id: u.id.clone(),
            account_id,
            kind: PrincipalKind::User {
                name: u.name.clone(),
                id: u.id.clone(),
            },
        }
    }

    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, user id `ROLEID:SESSION`.
    pub fn assumed_role(c: &rolecall_crypto::SessionClaims) -> Principal {
        Principal {
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
            },
        }
    }

    pub fn root(account_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account_id}:root"),
            user_id: account_id.to_string(),
            account_id: account_id.to_string(),
            kind: PrincipalKind::Root,
        }
    }
}
