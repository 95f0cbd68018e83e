//! Account-wide IAM operations.

use crate::error::ApiError;
use crate::generated::outputs;
use crate::units::iam_common::on_resource;
use rolecall_core::{Page, PageRequest};
use std::future::Future;

/// The number of items a paged list holds, read a thousand at a time.
async fn count<T, F, Fut>(list: F) -> Result<usize, ApiError>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = rolecall_core::Result<Page<T>>>,
{
    let mut n = 0;
    let mut from = None;
    loop {
        let page = list(PageRequest { from, limit: 1000 }).await?;
        n += page.items.len();
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(n),
        }
    }
}

// GetAccountSummary: IAM entity usage and quotas (the quotas are AWS's defaults).
on_resource!(GetAccountSummary, |_, _| "*".into(), |call, _| {
    let iam = &call.api.iam;
    let users = count(|p| async move { iam.list_users(None, &p).await }).await?;
    let groups = count(|p| async move { iam.list_groups(None, &p).await }).await?;
    let roles = count(|p| async move { iam.list_roles(None, &p).await }).await?;
    let profiles = count(|p| async move { iam.list_instance_profiles(None, &p).await }).await?;
    let policies =
        count(|p| async move { iam.list_policies(Some("Local"), false, None, &p).await }).await?;
    let summary: [(&str, usize); 34] = [
        ("Users", users),
        ("UsersQuota", 5000),
        ("Groups", groups),
        ("GroupsQuota", 300),
        ("Roles", roles),
        ("RolesQuota", 1000),
        ("InstanceProfiles", profiles),
        ("InstanceProfilesQuota", 1000),
        ("Policies", policies),
        ("PoliciesQuota", 1500),
        ("PolicySizeQuota", 6144),
        ("PolicyVersionsInUse", 0),
        ("PolicyVersionsInUseQuota", 10000),
        ("VersionsPerPolicyQuota", 5),
        ("AttachedPoliciesPerGroupQuota", 10),
        ("AttachedPoliciesPerRoleQuota", 10),
        ("AttachedPoliciesPerUserQuota", 10),
        ("GroupsPerUserQuota", 10),
        ("AccessKeysPerUserQuota", 2),
        ("SigningCertificatesPerUserQuota", 2),
        ("UserPolicySizeQuota", 2048),
        ("GroupPolicySizeQuota", 5120),
        ("RolePolicySizeQuota", 10240),
        ("AssumeRolePolicySizeQuota", 2048),
        ("ServerCertificates", 0),
        ("ServerCertificatesQuota", 20),
        ("MFADevices", 0),
        ("MFADevicesInUse", 0),
        ("AccountMFAEnabled", 0),
        ("AccountAccessKeysPresent", 1),
        ("AccountPasswordPresent", 0),
        ("AccountSigningCertificatesPresent", 0),
        ("Providers", 0),
        ("GlobalEndpointTokenVersion", 1),
    ];
    let entries = summary.iter().map(|(key, value)| {
        let value = i64::try_from(*value).unwrap_or(i64::MAX);
        (key.to_string(), value)
    });
    let out = outputs::GetAccountSummary {
        summary_map: Some(entries.collect()),
    };
    Ok(out)
});

// Account aliases: authorized on `*` (the Service Authorization Reference names no resource).
on_resource!(ListAccountAliases, |_, _| "*".into(), |call, _| {
    let alias = call.api.iam.account_alias().await?;
    let out = outputs::ListAccountAliases {
        account_aliases: alias.into_iter().collect(),
        is_truncated: Some(false),
        marker: None,
    };
    Ok(out)
});

on_resource!(
    CreateAccountAlias,
    |_, _| "*".into(),
    empty(|iam, input| iam.create_account_alias(&input.account_alias))
);

on_resource!(
    DeleteAccountAlias,
    |_, _| "*".into(),
    empty(|iam, input| iam.delete_account_alias(&input.account_alias))
);

#[cfg(test)]
mod tests {
    use crate::generated::Operation;
    use crate::units::testing::{answered, api, create_role};

    fn entry(body: &str, key: &str) -> Option<String> {
        let at = body.find(&format!("<key>{key}</key><value>"))? + key.len() + 18;
        Some(body[at..at + body[at..].find('<')?].to_string())
    }

    #[tokio::test]
    async fn counts_what_the_account_holds() {
        let api = api().await;
        for name in ["a", "b"] {
            create_role(&api, name, None).await;
        }
        api.iam
            .create_instance_profile("p", None, vec![])
            .await
            .expect("profile");
        api.iam
            .create_user("u", None, None, vec![])
            .await
            .expect("user");
        let body = answered(&api, Operation::GetAccountSummary, &[]).await;
        assert!(body.contains("<GetAccountSummaryResponse xmlns="), "{body}");
        assert!(
            body.contains("<GetAccountSummaryResult><SummaryMap><entry>"),
            "{body}"
        );
        assert_eq!(entry(&body, "Roles").as_deref(), Some("2"));
        assert_eq!(entry(&body, "InstanceProfiles").as_deref(), Some("1"));
        assert_eq!(entry(&body, "Users").as_deref(), Some("1"));
        assert_eq!(entry(&body, "Groups").as_deref(), Some("0"));
        assert_eq!(entry(&body, "Policies").as_deref(), Some("0"));
        assert_eq!(entry(&body, "RolesQuota").as_deref(), Some("1000"));
        assert!(Operation::GetAccountSummary.is_read_only());
    }
}
