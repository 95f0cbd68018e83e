//! Who is calling.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root: may do everything.
    Root,
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
