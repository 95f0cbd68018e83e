//! The role-policy family: inline policies of roles, and managed policies attached to roles.

use crate::context::Call;
use crate::generated::iam;
use crate::iam_xml::{encode_policy, respond, respond_empty, truncation};
use crate::units::iam_common::{on_entity, page_of, policy_arn_key};

on_entity!(
    PutRolePolicy,
    PutRolePolicyInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::PutRolePolicyInput| {
        call.api
            .iam
            .put_role_policy(&input.role_name, &input.policy_name, &input.policy_document)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    GetRolePolicy,
    GetRolePolicyInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetRolePolicyInput| {
        let (role, name, doc) = call
            .api
            .iam
            .get_role_policy(&input.role_name, &input.policy_name)
            .await?;
        Ok(respond(call, |x| {
            x.leaf("RoleName", &role);
            x.leaf("PolicyName", &name);
            x.leaf("PolicyDocument", encode_policy(&doc));
        }))
    }
);

on_entity!(
    ListRolePolicies,
    ListRolePoliciesInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListRolePoliciesInput| {
        let page = call
            .api
            .iam
            .list_role_policies(
                &input.role_name,
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("PolicyNames", "member", &page.items, |x, n| {
                // List members of strings are bare text in the Query protocol.
                x.leaf_text(n);
            });
            truncation(x, &page);
        }))
    }
);

on_entity!(
    DeleteRolePolicy,
    DeleteRolePolicyInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteRolePolicyInput| {
        call.api
            .iam
            .delete_role_policy(&input.role_name, &input.policy_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    AttachRolePolicy,
    AttachRolePolicyInput,
    Role(role_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::AttachRolePolicyInput| {
        call.api
            .iam
            .attach_role_policy(&input.role_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DetachRolePolicy,
    DetachRolePolicyInput,
    Role(role_name),
    |input| policy_arn_key(&input.policy_arn),
    async |call: &Call<'_>, input: iam::DetachRolePolicyInput| {
        call.api
            .iam
            .detach_role_policy(&input.role_name, &input.policy_arn)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListAttachedRolePolicies,
    ListAttachedRolePoliciesInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListAttachedRolePoliciesInput| {
        let page = call
            .api
            .iam
            .list_attached_role_policies(
                &input.role_name,
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
