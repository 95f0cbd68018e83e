//! The managed-policy family: policies and their versions. Authorized on the policy's ARN as
//! the request names it (`iam:PolicyARN` too).

use crate::authz;
use crate::iam_xml::{policy_xml, version_xml};
use crate::iam_xml::{respond, respond_page, truncation};
use crate::units::iam_common::{
    model_tags, on_policy, on_resource, page_in_memory, page_of, removed_tag_keys, tag_keys_of,
    tags_response,
};
use rolecall_core::OwnerKind;
use rolecall_core::iam::CreatePolicy as NewPolicy;
use rolecall_core::model::PolicyEntity;

on_resource!(
    CreatePolicy,
    |call, input| authz::with_path(
        call.api,
        "policy",
        input.path.as_deref(),
        &input.policy_name
    ),
    keys(|input| tag_keys_of(&input.tags)),
    elem(
        "Policy",
        |x, p| policy_xml(x, p, true),
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
    elem(
        "Policy",
        |x, p| policy_xml(x, p, true),
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
        Ok(respond_page(call, "Policies", &page, |x, p| {
            policy_xml(x, p, false)
        }))
    }
);

on_policy!(
    DeletePolicy,
    empty(|iam, input| iam.delete_policy(&input.policy_arn))
);

on_policy!(
    CreatePolicyVersion,
    elem(
        "PolicyVersion",
        |x, v| version_xml(x, v, false),
        |iam, input| {
            let set_as_default = input.set_as_default.unwrap_or(false);
            iam.create_policy_version(&input.policy_arn, &input.policy_document, set_as_default)
        }
    )
);

on_policy!(
    GetPolicyVersion,
    elem(
        "PolicyVersion",
        |x, v| version_xml(x, v, true),
        |iam, input| iam.get_policy_version(&input.policy_arn, &input.version_id)
    )
);

on_policy!(ListPolicyVersions, |call, input| {
    let versions = call.api.iam.list_policy_versions(&input.policy_arn).await?;
    let page = page_in_memory(versions, input.marker.as_deref(), input.max_items, |v| {
        v.version_id.clone()
    })?;
    Ok(respond_page(call, "Versions", &page, |x, v| {
        version_xml(x, v, false)
    }))
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
        tags_response(call, tags, input.marker.as_deref(), input.max_items)
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
    let of = |kind: OwnerKind| -> Vec<&PolicyEntity> {
        page.items.iter().filter(|e| e.kind == kind).collect()
    };
    Ok(respond(call, |x| {
        x.list("PolicyGroups", "member", of(OwnerKind::Group), |x, e| {
            x.leaf("GroupName", &e.name);
            x.leaf("GroupId", &e.id);
        });
        x.list("PolicyUsers", "member", of(OwnerKind::User), |x, e| {
            x.leaf("UserName", &e.name);
            x.leaf("UserId", &e.id);
        });
        x.list("PolicyRoles", "member", of(OwnerKind::Role), |x, e| {
            x.leaf("RoleName", &e.name);
            x.leaf("RoleId", &e.id);
        });
        truncation(x, &page);
    }))
});
