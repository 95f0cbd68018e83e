//! The managed-policy family: policies and their versions. Authorized on the policy's ARN as
//! the request names it (`iam:PolicyARN` too).

use crate::authz;
use crate::generated::iam_outputs::{PolicyGroup, PolicyRole, PolicyUser};
use crate::generated::outputs;
use crate::iam_xml::{page_output, policy, tag, truncated, version};
use crate::units::iam_common::{
    model_tags, on_policy, on_resource, page_in_memory, page_of, removed_tag_keys, tag_keys_of,
    tags_page,
};
use rolecall_core::OwnerKind::{Group, Role, User};
use rolecall_core::iam::CreatePolicy as NewPolicy;

on_resource!(
    CreatePolicy,
    |call, input| authz::with_path(
        call.api,
        "policy",
        input.path.as_deref(),
        &input.policy_name
    ),
    keys(|input| tag_keys_of(&input.tags)),
    output(
        |created| outputs::CreatePolicy {
            policy: Some(policy(&created, true))
        },
        |iam, input| {
            iam.create_policy(NewPolicy {
                name: &input.policy_name,
                path: input.path.as_deref(),
                document: &input.policy_document,
                description: input.description.as_deref(),
                tags: model_tags(input.tags),
            })
        }
    )
);

on_policy!(
    GetPolicy,
    output(
        |found| outputs::GetPolicy {
            policy: Some(policy(&found, true))
        },
        |iam, input| iam.get_policy(&input.policy_arn)
    )
);

on_resource!(
    ListPolicies,
    |call, input| authz::with_path(call.api, "policy", input.path_prefix.as_deref(), ""),
    |call, input| {
        let page = call
            .api
            .iam
            .list_policies(
                input.scope.as_deref(),
                input.only_attached.unwrap_or(false),
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        let out = page_output!(ListPolicies { policies }, page, |p| policy(p, false));
        Ok(out)
    }
);

on_policy!(
    DeletePolicy,
    empty(|iam, input| iam.delete_policy(&input.policy_arn))
);

on_policy!(
    CreatePolicyVersion,
    output(
        |created| outputs::CreatePolicyVersion {
            policy_version: Some(version(&created, false))
        },
        |iam, input| {
            let set_as_default = input.set_as_default.unwrap_or(false);
            iam.create_policy_version(&input.policy_arn, &input.policy_document, set_as_default)
        }
    )
);

on_policy!(
    GetPolicyVersion,
    output(
        |found| outputs::GetPolicyVersion {
            policy_version: Some(version(&found, true))
        },
        |iam, input| iam.get_policy_version(&input.policy_arn, &input.version_id)
    )
);

on_policy!(ListPolicyVersions, |call, input| {
    let versions = call.api.iam.list_policy_versions(&input.policy_arn).await?;
    let page = page_in_memory(versions, input.marker.as_deref(), input.max_items, |v| {
        v.version_id.clone()
    })?;
    let out = page_output!(ListPolicyVersions { versions }, page, |v| version(v, false));
    Ok(out)
});

on_policy!(
    DeletePolicyVersion,
    empty(|iam, input| iam.delete_policy_version(&input.policy_arn, &input.version_id))
);

on_policy!(
    SetDefaultPolicyVersion,
    empty(|iam, input| iam.set_default_policy_version(&input.policy_arn, &input.version_id))
);

on_policy!(
    TagPolicy,
    keys(|input| tag_keys_of(&input.tags)),
    empty(|iam, input| iam.tag_policy(&input.policy_arn, model_tags(input.tags)))
);

on_policy!(
    UntagPolicy,
    keys(|input| removed_tag_keys(&input.tag_keys)),
    empty(|iam, input| iam.untag_policy(&input.policy_arn, input.tag_keys))
);

on_resource!(
    ListPolicyTags,
    |_, input| input.policy_arn.clone(),
    |call, input| {
        let tags = call.api.iam.list_policy_tags(&input.policy_arn).await?;
        let page = tags_page(tags, input.marker.as_deref(), input.max_items)?;
        Ok(page_output!(ListPolicyTags { tags }, page, tag))
    }
);

on_policy!(ListEntitiesForPolicy, |call, input| {
    let page = call
        .api
        .iam
        .list_entities_for_policy(
            &input.policy_arn,
            input.entity_filter.as_deref(),
            input.path_prefix.as_deref(),
            &page_of(input.marker.as_deref(), input.max_items)?,
        )
        .await?;
    let (is_truncated, marker) = truncated(&page);
    let (mut groups, mut users, mut roles) = (vec![], vec![], vec![]);
    for e in &page.items {
        let (name, id) = (Some(e.name.clone()), Some(e.id.clone()));
        match e.kind {
            Group => groups.push(PolicyGroup {
                group_name: name,
                group_id: id,
            }),
            User => users.push(PolicyUser {
                user_name: name,
                user_id: id,
            }),
            Role => roles.push(PolicyRole {
                role_name: name,
                role_id: id,
            }),
        }
    }
    let out = outputs::ListEntitiesForPolicy {
        policy_groups: Some(groups),
        policy_users: Some(users),
        policy_roles: Some(roles),
        is_truncated,
        marker,
    };
    Ok(out)
});
