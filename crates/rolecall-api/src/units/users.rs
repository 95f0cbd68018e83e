//! The user family: create, read, list, update, delete, tag, and permissions boundaries.

use crate::generated::iam_outputs::User;
use crate::generated::outputs;
use crate::iam_xml::user;
use crate::principal::PrincipalKind;
use crate::units::iam_common::{
    create_principal, list_by_path, model_tags, on_entity, principal_units, user_or_caller,
};

create_principal!(CreateUser, User(user_name), |iam, input| {
    iam.create_user(
        &input.user_name,
        input.path.as_deref(),
        input.permissions_boundary.as_deref(),
        model_tags(input.tags),
    )
});

on_entity!(GetUser, UserOrCaller(user_name), |call, input| {
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
        let root = User {
            user_id: p.user_id.clone(),
            arn: p.arn.clone(),
            create_date: created,
            ..User::default()
        };
        return Ok(outputs::GetUser { user: root });
    }
    let u = call
        .api
        .iam
        .get_user(user_or_caller(call, &input.user_name)?)
        .await?;
    Ok(outputs::GetUser {
        user: user(&u, true),
    })
});

list_by_path!(ListUsers, "user", list_users, users, |u| { user(u, false) });

on_entity!(
    UpdateUser,
    User(user_name),
    empty(|iam, input| {
        let (new_name, new_path) = (input.new_user_name.as_deref(), input.new_path.as_deref());
        iam.update_user(&input.user_name, new_name, new_path)
    })
);

principal_units!(User(user_name), units [
    DeleteUser(delete_user),
    TagUser(tag_user),
    UntagUser(untag_user),
    ListUserTags(get_user),
    PutUserPermissionsBoundary(put_user_permissions_boundary),
    DeleteUserPermissionsBoundary(delete_user_permissions_boundary),
]);
