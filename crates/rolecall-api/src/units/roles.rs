//! The role family: create, read, list, update, delete, tag, and permissions boundaries.

use crate::authz;
use crate::context::Call;
use crate::generated::iam;
use crate::iam_xml::{paged_tags, respond, respond_empty, role_xml, tags_xml, truncation};
use crate::units::iam_common::{
    boundary_key, max_items_str, model_tags, on_entity, on_resource, page_of, removed_tag_keys,
    tag_keys_of,
};
use rolecall_core::iam::CreateRole as NewRole;

on_resource!(
    CreateRole,
    CreateRoleInput,
    |call, input| authz::with_path(call.api, "role", input.path.as_deref(), &input.role_name),
    |input| {
        let mut keys = boundary_key(input.permissions_boundary.as_deref());
        keys.extend(tag_keys_of(&input.tags));
        keys
    },
    async |call: &Call<'_>, input: iam::CreateRoleInput| {
        let role = call
            .api
            .iam
            .create_role(NewRole {
                name: &input.role_name,
                path: input.path.as_deref(),
                trust_policy: &input.assume_role_policy_document,
                description: input.description.as_deref(),
                max_session_duration: input.max_session_duration,
                tags: model_tags(input.tags),
                permissions_boundary: input.permissions_boundary.as_deref(),
            })
            .await?;
        Ok(respond(call, |x| {
            x.elem("Role", |x| role_xml(x, &role, true));
        }))
    }
);

on_entity!(
    GetRole,
    GetRoleInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetRoleInput| {
        // From the entity cache; a role not there gets the store's answer (NoSuchEntity).
        let cached = authz::role(call.api, &input.role_name).await?;
        let role = match cached.as_ref().and_then(|e| e.role.as_ref()) {
            Some(c) => std::borrow::Cow::Borrowed(&c.role),
            None => std::borrow::Cow::Owned(call.api.iam.get_role(&input.role_name).await?),
        };
        Ok(respond(call, |x| {
            x.elem("Role", |x| role_xml(x, &role, true));
        }))
    }
);

on_resource!(
    ListRoles,
    ListRolesInput,
    |call, input| authz::with_path(call.api, "role", input.path_prefix.as_deref(), ""),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListRolesInput| {
        let page = call
            .api
            .iam
            .list_roles(
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("Roles", "member", &page.items, |x, r| role_xml(x, r, false));
            truncation(x, &page);
        }))
    }
);

on_entity!(
    UpdateRole,
    UpdateRoleInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::UpdateRoleInput| {
        call.api
            .iam
            .update_role(
                &input.role_name,
                input.description.as_deref(),
                input.max_session_duration,
            )
            .await?;
        Ok(respond(call, |_| {}))
    }
);

on_entity!(
    UpdateRoleDescription,
    UpdateRoleDescriptionInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::UpdateRoleDescriptionInput| {
        let iam = &call.api.iam;
        iam.update_role(&input.role_name, Some(&input.description), None)
            .await?;
        let role = iam.get_role(&input.role_name).await?;
        Ok(respond(call, |x| {
            x.elem("Role", |x| role_xml(x, &role, true));
        }))
    }
);

on_entity!(
    UpdateAssumeRolePolicy,
    UpdateAssumeRolePolicyInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::UpdateAssumeRolePolicyInput| {
        call.api
            .iam
            .update_assume_role_policy(&input.role_name, &input.policy_document)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DeleteRole,
    DeleteRoleInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteRoleInput| {
        call.api.iam.delete_role(&input.role_name).await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    TagRole,
    TagRoleInput,
    Role(role_name),
    |input| tag_keys_of(&input.tags),
    async |call: &Call<'_>, input: iam::TagRoleInput| {
        call.api
            .iam
            .tag_role(&input.role_name, model_tags(input.tags))
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    UntagRole,
    UntagRoleInput,
    Role(role_name),
    |input| removed_tag_keys(&input.tag_keys),
    async |call: &Call<'_>, input: iam::UntagRoleInput| {
        let keys: Vec<&str> = input.tag_keys.iter().map(String::as_str).collect();
        call.api.iam.untag_role(&input.role_name, &keys).await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListRoleTags,
    ListRoleTagsInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListRoleTagsInput| {
        let role = call.api.iam.get_role(&input.role_name).await?;
        let max_items = max_items_str(input.max_items);
        let page = paged_tags(role.tags, input.marker.as_deref(), max_items.as_deref())?;
        Ok(respond(call, |x| {
            tags_xml(x, &page.items);
            truncation(x, &page);
        }))
    }
);

on_entity!(
    PutRolePermissionsBoundary,
    PutRolePermissionsBoundaryInput,
    Role(role_name),
    |input| boundary_key(Some(&input.permissions_boundary)),
    async |call: &Call<'_>, input: iam::PutRolePermissionsBoundaryInput| {
        call.api
            .iam
            .put_role_permissions_boundary(&input.role_name, &input.permissions_boundary)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DeleteRolePermissionsBoundary,
    DeleteRolePermissionsBoundaryInput,
    Role(role_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteRolePermissionsBoundaryInput| {
        call.api
            .iam
            .delete_role_permissions_boundary(&input.role_name)
            .await?;
        Ok(respond_empty(call))
    }
);
