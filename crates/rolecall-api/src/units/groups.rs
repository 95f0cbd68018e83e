//! The group family: create, read (with members), list, delete, membership.

use crate::authz;
use crate::generated::outputs;
use crate::iam_xml::{group, page_output, truncated, user};
use crate::units::iam_common::{list_by_path, on_entity, on_resource, page_in_memory, page_of};

on_resource!(
    CreateGroup,
    |call, input| authz::with_path(call.api, "group", input.path.as_deref(), &input.group_name),
    output(
        |created| outputs::CreateGroup {
            group: group(&created)
        },
        |iam, input| iam.create_group(&input.group_name, input.path.as_deref())
    )
);

on_entity!(GetGroup, Group(group_name), |call, input| {
    let iam = &call.api.iam;
    let g = iam.get_group(&input.group_name).await?;
    let members = iam.group_members(&g).await?;
    let page = page_in_memory(members, input.marker.as_deref(), input.max_items, |u| {
        u.name.to_ascii_lowercase()
    })?;
    let (is_truncated, marker) = truncated(&page);
    let out = outputs::GetGroup {
        group: group(&g),
        users: page.items.iter().map(|u| user(u, false)).collect(),
        is_truncated,
        marker,
    };
    Ok(out)
});

list_by_path!(ListGroups, "group", list_groups, groups, group);

on_entity!(
    DeleteGroup,
    Group(group_name),
    empty(|iam, input| iam.delete_group(&input.group_name))
);

on_entity!(
    AddUserToGroup,
    Group(group_name),
    empty(|iam, input| iam.add_user_to_group(&input.group_name, &input.user_name))
);

on_entity!(
    RemoveUserFromGroup,
    Group(group_name),
    empty(|iam, input| iam.remove_user_from_group(&input.group_name, &input.user_name))
);

on_entity!(ListGroupsForUser, User(user_name), |call, input| {
    let page = call
        .api
        .iam
        .list_groups_for_user(
            &input.user_name,
            &page_of(input.marker.as_deref(), input.max_items)?,
        )
        .await?;
    Ok(page_output!(ListGroupsForUser { groups }, page, group))
});
