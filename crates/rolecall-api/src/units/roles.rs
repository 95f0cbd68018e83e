//! The role family: create, read, list, update, delete, tag, and permissions boundaries.

use crate::authz;
use crate::generated::outputs;
use crate::iam_xml::role;
use crate::units::iam_common::{
    create_principal, list_by_path, model_tags, on_entity, principal_units,
};
use rolecall_core::iam::CreateRole as NewRole;

create_principal!(CreateRole, Role(role_name), |iam, input| {
    iam.create_role(NewRole {
        name: &input.role_name,
        path: input.path.as_deref(),
        trust_policy: &input.assume_role_policy_document,
        description: input.description.as_deref(),
        max_session_duration: input.max_session_duration,
        tags: model_tags(input.tags),
        permissions_boundary: input.permissions_boundary.as_deref(),
    })
});

on_entity!(GetRole, Role(role_name), |call, input| {
    // From the entity cache; a role not there gets the store's answer (NoSuchEntity).
    let cached = authz::role(call.api, &input.role_name).await?;
    let found = match cached.as_ref().and_then(|e| e.role()) {
        Some(c) => std::borrow::Cow::Borrowed(&c.role),
        None => std::borrow::Cow::Owned(call.api.iam.get_role(&input.role_name).await?),
    };
    let out = outputs::GetRole {
        role: role(&found, true),
    };
    Ok(out)
});

list_by_path!(ListRoles, "role", list_roles, roles, |r| role(r, false));

on_entity!(UpdateRole, Role(role_name), |call, input| {
    call.api
        .iam
        .update_role(
            &input.role_name,
            input.description.as_deref(),
            input.max_session_duration,
        )
        .await?;
    Ok(outputs::UpdateRole {})
});

on_entity!(UpdateRoleDescription, Role(role_name), |call, input| {
    let iam = &call.api.iam;
    let updated = iam
        .update_role(&input.role_name, Some(&input.description), None)
        .await?;
    let out = outputs::UpdateRoleDescription {
        role: Some(role(&updated, true)),
    };
    Ok(out)
});

on_entity!(
    UpdateAssumeRolePolicy,
    Role(role_name),
    empty(|iam, input| iam.update_assume_role_policy(&input.role_name, &input.policy_document))
);

principal_units!(Role(role_name), units [
    DeleteRole(delete_role),
    TagRole(tag_role),
    UntagRole(untag_role),
    ListRoleTags(get_role),
    PutRolePermissionsBoundary(put_role_permissions_boundary),
    DeleteRolePermissionsBoundary(delete_role_permissions_boundary),
]);
