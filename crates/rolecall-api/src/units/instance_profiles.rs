//! The instance-profile family: create, read, list, delete, tag, and the role inside.
//!
//! AddRoleToInstanceProfile passes the added role to EC2 (whatever instance the profile is or
//! will be associated with serves its credentials), so it needs `iam:PassRole` on that role —
//! checked on the role it resolved, and the very same role (by id) is the one added.

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::cache::Kind;
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::iam::{self as input, Tag};
use crate::iam_xml::{paged_tags, profile_xml, respond, respond_empty, tags_xml, truncation};
use crate::units::Unit;
use rolecall_core::iam::page;
use rolecall_core::model::{self, InstanceProfile, Role};

fn iam_check(op: Operation, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("iam:{}", op.name()),
        resource,
        keys,
    }
}

fn tag_keys_of(tags: &[Tag]) -> Keys {
    let pairs: Vec<(String, String)> = tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    request_tag_keys(&pairs)
}

fn model_tags(tags: Vec<Tag>) -> Vec<model::Tag> {
    tags.into_iter()
        .map(|t| model::Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn page_of(
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<rolecall_core::PageRequest, ApiError> {
    Ok(page(marker, max_items.map(|n| n.to_string()).as_deref())?)
}

pub(crate) struct CreateInstanceProfile;

impl Unit for CreateInstanceProfile {
    const OP: Operation = Operation::CreateInstanceProfile;
    type Input = input::CreateInstanceProfileInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(call: &Call<'_>, input: &Self::Input, _: &()) -> Vec<Check> {
        let arn = authz::with_path(
            call.api,
            "instance-profile",
            input.path.as_deref(),
            &input.instance_profile_name,
        );
        vec![iam_check(Self::OP, arn, tag_keys_of(&input.tags))]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
        let p = call
            .api
            .iam
            .create_instance_profile(
                &input.instance_profile_name,
                input.path.as_deref(),
                model_tags(input.tags),
            )
            .await?;
        Ok(respond(call, |x| {
            x.elem("InstanceProfile", |x| profile_xml(x, &p));
        }))
    }
}

/// Operations on one named profile, authorized on its ARN (with its path when it exists).
macro_rules! on_profile {
    ($unit:ident, $input:ident, $keys:expr, $handle:expr) => {
        pub(crate) struct $unit;

        impl Unit for $unit {
            const OP: Operation = Operation::$unit;
            type Input = input::$input;
            /// The profile's ARN.
            type Resolved = String;

            async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<String, ApiError> {
                Ok(authz::profile_arn(call.api, &input.instance_profile_name).await)
            }

            fn checks(_: &Call<'_>, input: &Self::Input, arn: &String) -> Vec<Check> {
                let keys: fn(&Self::Input) -> Keys = $keys;
                vec![iam_check(Self::OP, arn.clone(), keys(input))]
            }

            async fn handle(
                call: &Call<'_>,
                input: Self::Input,
                _: String,
            ) -> Result<String, ApiError> {
                $handle(call, input).await
            }
        }
    };
}

on_profile!(
    GetInstanceProfile,
    GetInstanceProfileInput,
    |_| vec![],
    async |call: &Call<'_>, input: input::GetInstanceProfileInput| {
        let p = call
            .api
            .iam
            .get_instance_profile(&input.instance_profile_name)
            .await?;
        Ok(respond(call, |x| {
            x.elem("InstanceProfile", |x| profile_xml(x, &p));
        }))
    }
);

on_profile!(
    DeleteInstanceProfile,
    DeleteInstanceProfileInput,
    |_| vec![],
    async |call: &Call<'_>, input: input::DeleteInstanceProfileInput| {
        call.api
            .iam
            .delete_instance_profile(&input.instance_profile_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_profile!(
    RemoveRoleFromInstanceProfile,
    RemoveRoleFromInstanceProfileInput,
    |_| vec![],
    async |call: &Call<'_>, input: input::RemoveRoleFromInstanceProfileInput| {
        call.api
            .iam
            .remove_role_from_instance_profile(&input.instance_profile_name, &input.role_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_profile!(
    TagInstanceProfile,
    TagInstanceProfileInput,
    |input| tag_keys_of(&input.tags),
    async |call: &Call<'_>, input: input::TagInstanceProfileInput| {
        call.api
            .iam
            .tag_instance_profile(&input.instance_profile_name, model_tags(input.tags))
            .await?;
        Ok(respond_empty(call))
    }
);

on_profile!(
    UntagInstanceProfile,
    UntagInstanceProfileInput,
    |input| vec![("aws:TagKeys".to_string(), input.tag_keys.clone())],
    async |call: &Call<'_>, input: input::UntagInstanceProfileInput| {
        let keys: Vec<&str> = input.tag_keys.iter().map(String::as_str).collect();
        call.api
            .iam
            .untag_instance_profile(&input.instance_profile_name, &keys)
            .await?;
        Ok(respond_empty(call))
    }
);

on_profile!(
    ListInstanceProfileTags,
    ListInstanceProfileTagsInput,
    |_| vec![],
    async |call: &Call<'_>, input: input::ListInstanceProfileTagsInput| {
        let p = call
            .api
            .iam
            .get_instance_profile(&input.instance_profile_name)
            .await?;
        let max_items = input.max_items.map(|n| n.to_string());
        let page = paged_tags(p.tags, input.marker.as_deref(), max_items.as_deref())?;
        Ok(respond(call, |x| {
            tags_xml(x, &page.items);
            truncation(x, &page);
        }))
    }
);

pub(crate) struct ListInstanceProfiles;

impl Unit for ListInstanceProfiles {
    const OP: Operation = Operation::ListInstanceProfiles;
    type Input = input::ListInstanceProfilesInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    /// Authorized on the path it lists (`arn:aws:iam::ACCOUNT:instance-profile/`).
    fn checks(call: &Call<'_>, input: &Self::Input, _: &()) -> Vec<Check> {
        let arn = authz::with_path(
            call.api,
            "instance-profile",
            input.path_prefix.as_deref(),
            "",
        );
        vec![iam_check(Self::OP, arn, vec![])]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
        let page = call
            .api
            .iam
            .list_instance_profiles(
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("InstanceProfiles", "member", &page.items, profile_xml);
            truncation(x, &page);
        }))
    }
}

pub(crate) struct ListInstanceProfilesForRole;

impl Unit for ListInstanceProfilesForRole {
    const OP: Operation = Operation::ListInstanceProfilesForRole;
    type Input = input::ListInstanceProfilesForRoleInput;
    /// The role's ARN and its tags (`iam:ResourceTag/*`).
    type Resolved = (String, Vec<model::Tag>);

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<Self::Resolved, ApiError> {
        Ok(
            match authz::entity(call.api, Kind::Role, &input.role_name).await {
                Some(e) => (e.arn.clone(), e.tags.clone()),
                None => (authz::iam_arn(call.api, "role", &input.role_name), vec![]),
            },
        )
    }

    fn checks(_: &Call<'_>, _: &Self::Input, (arn, tags): &Self::Resolved) -> Vec<Check> {
        let keys = tags
            .iter()
            .flat_map(|t| {
                [
                    key(&format!("iam:ResourceTag/{}", t.key), t.value.clone()),
                    key(&format!("aws:ResourceTag/{}", t.key), t.value.clone()),
                ]
            })
            .collect();
        vec![iam_check(Self::OP, arn.clone(), keys)]
    }

    async fn handle(
        call: &Call<'_>,
        input: Self::Input,
        _: Self::Resolved,
    ) -> Result<String, ApiError> {
        let page = call
            .api
            .iam
            .list_instance_profiles_for_role(
                &input.role_name,
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("InstanceProfiles", "member", &page.items, profile_xml);
            truncation(x, &page);
        }))
    }
}

pub(crate) struct AddRoleToInstanceProfile;

/// The profile and the role, each as found (or why not).
pub(crate) struct ProfileAndRole {
    profile: rolecall_core::Result<InstanceProfile>,
    role: rolecall_core::Result<Role>,
}

impl Unit for AddRoleToInstanceProfile {
    const OP: Operation = Operation::AddRoleToInstanceProfile;
    type Input = input::AddRoleToInstanceProfileInput;
    type Resolved = ProfileAndRole;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<ProfileAndRole, ApiError> {
        let iam = &call.api.iam;
        Ok(ProfileAndRole {
            profile: iam.get_instance_profile(&input.instance_profile_name).await,
            role: iam.get_role(&input.role_name).await,
        })
    }

    /// The profile, and `iam:PassRole` on the role being added: the instance is not known here,
    /// so `iam:AssociatedResourceArn` is `arn:aws:ec2:*:ACCOUNT:instance/*`, as AWS documents.
    fn checks(call: &Call<'_>, input: &Self::Input, r: &ProfileAndRole) -> Vec<Check> {
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
    }

    async fn handle(
        call: &Call<'_>,
        _: Self::Input,
        r: ProfileAndRole,
    ) -> Result<String, ApiError> {
        call.api
            .iam
            .add_resolved_role_to_instance_profile(r.profile, r.role)
            .await?;
        Ok(respond_empty(call))
    }
}

#[cfg(test)]
mod tests {
    use crate::generated::Operation;
    use crate::units::testing::{api, call};

    #[tokio::test]
    async fn add_role_checks_and_adds_the_role_it_resolved() {
        let api = api().await;
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        api.iam
            .create_role(rolecall_core::iam::CreateRole {
                path: Some("/team/"),
                ..rolecall_core::iam::CreateRole::new("r", trust)
            })
            .await
            .expect("role");
        let created = call(
            &api,
            Operation::CreateInstanceProfile,
            &[("InstanceProfileName", "p")],
        )
        .await
        .expect("a unit")
        .expect("created");
        assert!(created.contains("<InstanceProfileName>p</InstanceProfileName>"));
        let missing = call(
            &api,
            Operation::AddRoleToInstanceProfile,
            &[("InstanceProfileName", "p"), ("RoleName", "nope")],
        )
        .await
        .expect("a unit");
        assert_eq!(missing.expect_err("no such role").code, "NoSuchEntity");
        call(
            &api,
            Operation::AddRoleToInstanceProfile,
            &[("InstanceProfileName", "p"), ("RoleName", "r")],
        )
        .await
        .expect("a unit")
        .expect("added");
        let profile = api.iam.get_instance_profile("p").await.expect("profile");
        assert_eq!(
            profile.roles[0].arn,
            "arn:aws:iam::123456789012:role/team/r"
        );

        // The checks are computed from what was resolved: the role's real ARN (with its path),
        // passed to EC2 for any instance of the account.
        use super::AddRoleToInstanceProfile as U;
        use crate::units::Unit;
        let params =
            rolecall_wire::Params::from_pairs([("InstanceProfileName", "p"), ("RoleName", "R")]);
        let principal = crate::principal::Principal::root("123456789012");
        let c = crate::context::Call {
            api: &api,
            principal: &principal,
            params: &params,
            op: Operation::AddRoleToInstanceProfile,
            request_id: "t",
        };
        let input = U::parse(&params).expect("input");
        let resolved = U::resolve(&c, &input).await.expect("resolved");
        let checks = U::checks(&c, &input, &resolved);
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
