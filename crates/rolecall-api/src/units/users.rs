//! The user family: create, read, list, update, delete, tag, and permissions boundaries.

use crate::authz;
use crate::context::Call;
use crate::generated::iam;
use crate::iam_xml::{paged_tags, respond, respond_empty, tags_xml, truncation, user_xml};
use crate::principal::PrincipalKind;
use crate::units::iam_common::{
    boundary_key, max_items_str, model_tags, on_entity, on_resource, page_of, removed_tag_keys,
    tag_keys_of, user_or_caller,
};
use rolecall_wire::iso8601;

on_resource!(
    CreateUser,
    CreateUserInput,
    |call, input| authz::with_path(call.api, "user", input.path.as_deref(), &input.user_name),
    |input| {
        let mut keys = boundary_key(input.permissions_boundary.as_deref());
        keys.extend(tag_keys_of(&input.tags));
        keys
    },
    async |call: &Call<'_>, input: iam::CreateUserInput| {
        let u = call
            .api
            .iam
            .create_user(
                &input.user_name,
                input.path.as_deref(),
                input.permissions_boundary.as_deref(),
                model_tags(input.tags),
            )
            .await?;
        Ok(respond(call, |x| {
            x.elem("User", |x| user_xml(x, &u, true));
        }))
    }
);

on_entity!(
    GetUser,
    GetUserInput,
    User(caller or user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetUserInput| {
        if input.user_name.is_none() && call.principal.kind == PrincipalKind::Root {
            // The root "user": its account id, ARN and the account's creation date.
            let p = call.principal;
            let created = call
                .api
                .iam
                .store()
                .get_meta("account_created")
                .await?
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(chrono::DateTime::UNIX_EPOCH);
            return Ok(respond(call, |x| {
                x.elem("User", |x| {
                    x.leaf("UserId", &p.user_id);
                    x.leaf("Arn", &p.arn);
                    x.leaf("CreateDate", iso8601(created));
                });
            }));
        }
        let u = call
            .api
            .iam
            .get_user(user_or_caller(call, &input.user_name)?)
            .await?;
        Ok(respond(call, |x| {
            x.elem("User", |x| user_xml(x, &u, true));
        }))
    }
);

on_resource!(
    ListUsers,
    ListUsersInput,
    |call, input| authz::with_path(call.api, "user", input.path_prefix.as_deref(), ""),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListUsersInput| {
        let page = call
            .api
            .iam
            .list_users(
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("Users", "member", &page.items, |x, u| user_xml(x, u, false));
            truncation(x, &page);
        }))
    }
);

on_entity!(
    UpdateUser,
    UpdateUserInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::UpdateUserInput| {
        call.api
            .iam
            .update_user(
                &input.user_name,
                input.new_user_name.as_deref(),
                input.new_path.as_deref(),
            )
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DeleteUser,
    DeleteUserInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteUserInput| {
        call.api.iam.delete_user(&input.user_name).await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    TagUser,
    TagUserInput,
    User(user_name),
    |input| tag_keys_of(&input.tags),
    async |call: &Call<'_>, input: iam::TagUserInput| {
        call.api
            .iam
            .tag_user(&input.user_name, model_tags(input.tags))
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    UntagUser,
    UntagUserInput,
    User(user_name),
    |input| removed_tag_keys(&input.tag_keys),
    async |call: &Call<'_>, input: iam::UntagUserInput| {
        let keys: Vec<&str> = input.tag_keys.iter().map(String::as_str).collect();
        call.api.iam.untag_user(&input.user_name, &keys).await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListUserTags,
    ListUserTagsInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListUserTagsInput| {
        let u = call.api.iam.get_user(&input.user_name).await?;
        let max_items = max_items_str(input.max_items);
        let page = paged_tags(u.tags, input.marker.as_deref(), max_items.as_deref())?;
        Ok(respond(call, |x| {
            tags_xml(x, &page.items);
            truncation(x, &page);
        }))
    }
);

on_entity!(
    PutUserPermissionsBoundary,
    PutUserPermissionsBoundaryInput,
    User(user_name),
    |input| boundary_key(Some(&input.permissions_boundary)),
    async |call: &Call<'_>, input: iam::PutUserPermissionsBoundaryInput| {
        call.api
            .iam
            .put_user_permissions_boundary(&input.user_name, &input.permissions_boundary)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    DeleteUserPermissionsBoundary,
    DeleteUserPermissionsBoundaryInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteUserPermissionsBoundaryInput| {
        call.api
            .iam
            .delete_user_permissions_boundary(&input.user_name)
            .await?;
        Ok(respond_empty(call))
    }
);
