//! AWS's "revoke active sessions": the `AWSRevokeOlderSessions` inline policy the IAM console
//! puts on a role (Deny `*` to sessions whose `aws:TokenIssueTime` is before a cutoff). Policy
//! evaluation refuses those sessions like any deny; this module writes the document and reads
//! its cutoff back, so credential caches (IMDS, agents) can drop what it refuses.

use crate::iam::Iam;
use crate::{OwnerKind, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use rolecall_policy::{Effect, Operator, Policy, PolicyKind};

/// The inline policy name AWS uses for revoked sessions.
pub const POLICY_NAME: &str = "AWSRevokeOlderSessions";

/// The document the IAM console writes: deny everything to sessions issued before `cutoff` (to
/// the millisecond, as session tokens carry it).
pub fn document(cutoff: DateTime<Utc>) -> String {
    let cutoff = cutoff.to_rfc3339_opts(SecondsFormat::Millis, true);
    format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{cutoff}"}}}}}}}}"#
    )
}

/// The latest `aws:TokenIssueTime` a deny statement's `DateLessThan` names in `document`:
/// sessions issued before it are refused (None when the document refuses no session by issue
/// time, or does not parse).
pub fn refused_before(document: &str) -> Option<DateTime<Utc>> {
    let policy = Policy::parse(document, PolicyKind::Identity).ok()?;
    let millis = policy
        .statements()
        .iter()
        .filter(|s| s.effect() == Effect::Deny)
        .flat_map(|s| s.conditions())
        .filter(|c| {
            c.operator() == Operator::DateLessThan
                && c.key_name().eq_ignore_ascii_case("aws:TokenIssueTime")
        })
        .filter_map(|c| c.dates()?.iter().max().copied())
        .max()?;
    DateTime::from_timestamp_millis(millis)
}

impl Iam {
    /// Refuses every session of `role` issued before `cutoff` (puts `AWSRevokeOlderSessions`).
    pub async fn revoke_sessions(&self, role: &str, cutoff: DateTime<Utc>) -> Result<()> {
        self.put_role_policy(role, POLICY_NAME, &document(cutoff))
            .await
    }

    /// When the role with id `role_id` last had its sessions revoked: sessions issued before
    /// this are refused (None: no `AWSRevokeOlderSessions` policy, or the role is gone).
    pub async fn sessions_revoked_before(&self, role_id: &str) -> Result<Option<DateTime<Utc>>> {
        let found = self
            .store()
            .get_owner_policy(crate::Owner::new(OwnerKind::Role, role_id), POLICY_NAME)
            .await?;
        Ok(found.and_then(|(_, doc)| refused_before(&doc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_written_is_the_cutoff_read() {
        let cutoff = DateTime::from_timestamp_millis(1_764_489_600_123).unwrap();
        assert_eq!(refused_before(&document(cutoff)), Some(cutoff));
    }

    #[test]
    fn only_a_deny_on_the_token_issue_time_refuses_sessions() {
        let allow = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}}"#;
        assert_eq!(refused_before(allow), None);
        let other_key = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}}}"#;
        assert_eq!(refused_before(other_key), None);
        assert_eq!(refused_before("not json"), None);
        let two = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"AWS:TokenIssueTime":"2026-01-01T00:00:00Z"}}},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":["2025-01-01T00:00:00Z","2026-02-01T00:00:00Z"]}}}]}"#;
        assert_eq!(
            refused_before(two),
            DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        );
    }
}
