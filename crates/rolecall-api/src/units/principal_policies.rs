//! The policies of users and groups: inline (`Put/Get/List/Delete{User,Group}Policy`) and
//! attached managed policies (`Attach/Detach/ListAttached{User,Group}Policies`), on core's
//! owner-keyed model.

use crate::context::Call;
use crate::generated::iam;
use crate::iam_xml::{encode_policy, respond, respond_empty, truncation};
use crate::units::iam_common::{on_entity, page_of, policy_arn_key};
use rolecall_core::OwnerKind;

on_entity!(
    PutUserPolicy,
    PutUserPolicyInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::PutUserPolicyInput| {
        call.api
            .iam
            .put_owner_policy(
                OwnerKind::User,
                &input.user_name,
                &input.policy_name,
                &input.policy_document,
            )
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    GetUserPolicy,
    GetUserPolicyInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetUserPolicyInput| {
        let (owner, name, doc) = call
            .api
            .iam
            .get_owner_policy(OwnerKind::User, &input.user_name, &input.policy_name)
            .await?;
        Ok(respond(call, |x| {
            x.leaf("UserName", &owner);
            x.leaf("PolicyName", &name);
            x.leaf("PolicyDocument", encode_policy(&doc));
        }))
    }
);

on_entity!(
    ListUserPolicies,
    ListUserPoliciesInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListUserPoliciesInput| {
        let page = call
            .api
            .iam
            .list_owner_policies(
                OwnerKind::User,
                &input.user_name,
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("PolicyNames", "member", &page.items, |x, n| {
                x.leaf_text(n);
            });
            truncation(x, &page);
        }))
    }
);

on_entity!(
    DeleteUserPolicy,
    DeleteUserPolicyInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteUserPolicyInput| {
        call.api
            .iam
            .delete_owner_policy(OwnerKind::User, &input.user_name, &input.policy_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    AttachUserPolicy,
    AttachUserPolicyInput,
    User(user_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::AttachUserPolicyInput| {
        call.api
            .iam
            .attach_owner_policy(OwnerKind::User, &input.user_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DetachUserPolicy,
    DetachUserPolicyInput,
    User(user_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::DetachUserPolicyInput| {
        call.api
            .iam
            .detach_owner_policy(OwnerKind::User, &input.user_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListAttachedUserPolicies,
    ListAttachedUserPoliciesInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListAttachedUserPoliciesInput| {
        let page = call
            .api
            .iam
            .list_attached_owner_policies(
                OwnerKind::User,
                &input.user_name,
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("AttachedPolicies", "member", &page.items, |x, p| {
                x.leaf("PolicyName", &p.name);
                x.leaf("PolicyArn", &p.arn);
            });
            truncation(x, &page);
        }))
    }
);

on_entity!(
    PutGroupPolicy,
    PutGroupPolicyInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::PutGroupPolicyInput| {
        call.api
            .iam
            .put_owner_policy(
                OwnerKind::Group,
                &input.group_name,
                &input.policy_name,
                &input.policy_document,
            )
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    GetGroupPolicy,
    GetGroupPolicyInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetGroupPolicyInput| {
        let (owner, name, doc) = call
            .api
            .iam
            .get_owner_policy(OwnerKind::Group, &input.group_name, &input.policy_name)
            .await?;
        Ok(respond(call, |x| {
            x.leaf("GroupName", &owner);
            x.leaf("PolicyName", &name);
            x.leaf("PolicyDocument", encode_policy(&doc));
        }))
    }
);

on_entity!(
    ListGroupPolicies,
    ListGroupPoliciesInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListGroupPoliciesInput| {
        let page = call
            .api
            .iam
            .list_owner_policies(
                OwnerKind::Group,
                &input.group_name,
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("PolicyNames", "member", &page.items, |x, n| {
                x.leaf_text(n);
            });
            truncation(x, &page);
        }))
    }
);

on_entity!(
    DeleteGroupPolicy,
    DeleteGroupPolicyInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteGroupPolicyInput| {
        call.api
            .iam
            .delete_owner_policy(OwnerKind::Group, &input.group_name, &input.policy_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    AttachGroupPolicy,
    AttachGroupPolicyInput,
    Group(group_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::AttachGroupPolicyInput| {
        call.api
            .iam
            .attach_owner_policy(OwnerKind::Group, &input.group_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DetachGroupPolicy,
    DetachGroupPolicyInput,
    Group(group_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::DetachGroupPolicyInput| {
        call.api
            .iam
            .detach_owner_policy(OwnerKind::Group, &input.group_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListAttachedGroupPolicies,
    ListAttachedGroupPoliciesInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListAttachedGroupPoliciesInput| {
        let page = call
            .api
            .iam
            .list_attached_owner_policies(
                OwnerKind::Group,
                &input.group_name,
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("AttachedPolicies", "member", &page.items, |x, p| {
                x.leaf("PolicyName", &p.name);
                x.leaf("PolicyArn", &p.arn);
            });
            truncation(x, &page);
        }))
    }
);
