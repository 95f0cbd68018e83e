//! The instance-profile family: create, read, list, delete, tag, and the role inside.
//!
//! AddRoleToInstanceProfile passes the added role to EC2 (whatever instance the profile is or
//! will be associated with serves its credentials), so it needs `iam:PassRole` on that role —
//! checked on the role it resolved, and the very same role (by id) is the one added.

use crate::authz;
use crate::generated::outputs;
use crate::iam_xml::{page_output, profile};
use crate::units::iam_common::{
    iam_check, list_by_path, model_tags, on_entity, on_resource, page_of, tag_keys_of, tag_units,
};
use rolecall_core::model::{InstanceProfile, Role};

on_resource!(
    CreateInstanceProfile,
    |call, input| {
        let name = &input.instance_profile_name;
        authz::with_path(call.api, "instance-profile", input.path.as_deref(), name)
    },
    keys(|input| tag_keys_of(&input.tags)),
    output(
        |created| outputs::CreateInstanceProfile {
            instance_profile: profile(&created)
        },
        |iam, input| iam.create_instance_profile(
            &input.instance_profile_name,
            input.path.as_deref(),
            model_tags(input.tags),
        )
    )
);

on_entity!(
    GetInstanceProfile,
    InstanceProfile(instance_profile_name),
    output(
        |found| outputs::GetInstanceProfile {
            instance_profile: profile(&found)
        },
        |iam, input| iam.get_instance_profile(&input.instance_profile_name)
    )
);

on_entity!(
    DeleteInstanceProfile,
    InstanceProfile(instance_profile_name),
    empty(|iam, input| iam.delete_instance_profile(&input.instance_profile_name))
);

on_entity!(
    RemoveRoleFromInstanceProfile,
    InstanceProfile(instance_profile_name),
    empty(|iam, input| {
        iam.remove_role_from_instance_profile(&input.instance_profile_name, &input.role_name)
    })
);

tag_units!(
    InstanceProfile(instance_profile_name),
    tag_instance_profile,
    untag_instance_profile,
    get_instance_profile,
    units [TagInstanceProfile, UntagInstanceProfile, ListInstanceProfileTags],
);

list_by_path!(
    ListInstanceProfiles,
    "instance-profile",
    list_instance_profiles,
    instance_profiles,
    profile
);

on_entity!(
    ListInstanceProfilesForRole,
    Role(role_name),
    |call, input| {
        let page = page_of(input.marker.as_deref(), input.max_items)?;
        let page = call
            .api
            .iam
            .list_instance_profiles_for_role(&input.role_name, &page)
            .await?;
        let out = page_output!(
            ListInstanceProfilesForRole { instance_profiles },
            page,
            profile
        );
        Ok(out)
    }
);

/// The profile and the role, each as found (or why not).
pub(crate) struct ProfileAndRole {
    profile: rolecall_core::Result<InstanceProfile>,
    role: rolecall_core::Result<Role>,
}

// Checked on the profile, and `iam:PassRole` on the role being added: the instance is not known
// here, so `iam:AssociatedResourceArn` is `arn:aws:ec2:*:ACCOUNT:instance/*`, as AWS documents.
unit!(
    AddRoleToInstanceProfile,
    resolve |call, input| -> ProfileAndRole {
        let iam = &call.api.iam;
        ProfileAndRole {
            profile: iam.get_instance_profile(&input.instance_profile_name).await,
            role: iam.get_role(&input.role_name).await,
        }
    },
    checks |call, input, r| {
        let api = call.api;
        let profile = match &r.profile {
            Ok(p) => p.arn.clone(),
            Err(_) => authz::iam_arn(api, "instance-profile", &input.instance_profile_name),
        };
        let role = match &r.role {
            Ok(role) => role.arn.clone(),
            Err(_) => authz::iam_arn(api, "role", &input.role_name),
        };
        vec![
            iam_check(Self::OP, profile, vec![]),
            authz::profile_pass_role(api, role),
        ]
    },
    handle |call, _, r| {
        call.api
            .iam
            .add_resolved_role_to_instance_profile(r.profile, r.role)
            .await?;
        Ok(outputs::AddRoleToInstanceProfile::default())
    }
);

#[cfg(test)]
mod tests {
    use crate::generated::Operation;
    use crate::units::testing::{answered, api, call, checks_of, create_role};

    #[tokio::test]
    async fn add_role_checks_and_adds_the_role_it_resolved() {
        let api = api().await;
        create_role(&api, "r", Some("/team/")).await;
        let created = answered(
            &api,
            Operation::CreateInstanceProfile,
            &[("InstanceProfileName", "p")],
        )
        .await;
        assert!(created.contains("<InstanceProfileName>p</InstanceProfileName>"));
        let missing = call(
            &api,
            Operation::AddRoleToInstanceProfile,
            &[("InstanceProfileName", "p"), ("RoleName", "nope")],
        )
        .await
        .expect("a unit");
        assert_eq!(missing.expect_err("no such role").code, "NoSuchEntity");
        answered(
            &api,
            Operation::AddRoleToInstanceProfile,
            &[("InstanceProfileName", "p"), ("RoleName", "r")],
        )
        .await;
        let profile = api.iam.get_instance_profile("p").await.expect("profile");
        assert_eq!(
            profile.roles[0].arn,
            "arn:aws:iam::123456789012:role/team/r"
        );

        // The checks are computed from what was resolved: the role's real ARN (with its path),
        // passed to EC2 for any instance of the account.
        use super::AddRoleToInstanceProfile as U;
        let checks = checks_of::<U>(&api, &[("InstanceProfileName", "p"), ("RoleName", "R")]).await;
        assert_eq!(checks[0].action, "iam:AddRoleToInstanceProfile");
        assert_eq!(
            checks[0].resource,
            "arn:aws:iam::123456789012:instance-profile/p"
        );
        assert_eq!(checks[1].action, "iam:PassRole");
        assert_eq!(checks[1].resource, "arn:aws:iam::123456789012:role/team/r");
        assert_eq!(
            checks[1].keys,
            vec![
                (
                    "iam:PassedToService".to_string(),
                    vec!["ec2.amazonaws.com".to_string()]
                ),
                (
                    "iam:AssociatedResourceArn".to_string(),
                    vec!["arn:aws:ec2:*:123456789012:instance/*".to_string()]
                ),
            ]
        );
    }
}
