//! Who is calling.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root: may do everything.
    Root,
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
    pub fn root(account_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account_id}:root"),
            user_id: account_id.to_string(),
            account_id: account_id.to_string(),
            kind: PrincipalKind::Root,
        }
    }
}
