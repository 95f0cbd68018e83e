//! The group family: create, read (with members), list, delete, membership.

use crate::authz;
use crate::context::Call;
use crate::generated::iam;
use crate::iam_xml::{group_xml, paged, respond, respond_empty, truncation, user_xml};
use crate::units::iam_common::{max_items_str, on_entity, on_resource, page_of};

on_resource!(
    CreateGroup,
    CreateGroupInput,
    |call, input| authz::with_path(call.api, "group", input.path.as_deref(), &input.group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::CreateGroupInput| {
        let g = call
            .api
            .iam
            .create_group(&input.group_name, input.path.as_deref())
            .await?;
        Ok(respond(call, |x| {
            x.elem("Group", |x| group_xml(x, &g));
        }))
    }
);

on_entity!(
    GetGroup,
    GetGroupInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::GetGroupInput| {
        let iam = &call.api.iam;
        let g = iam.get_group(&input.group_name).await?;
        let members = iam.group_members(&g).await?;
        let max_items = max_items_str(input.max_items);
        let page = paged(
            members,
            input.marker.as_deref(),
            max_items.as_deref(),
            |u| u.name.to_ascii_lowercase(),
        )?;
        Ok(respond(call, |x| {
            x.elem("Group", |x| group_xml(x, &g));
            x.list("Users", "member", &page.items, |x, u| user_xml(x, u, false));
            truncation(x, &page);
        }))
    }
);

on_resource!(
    ListGroups,
    ListGroupsInput,
    |call, input| authz::with_path(call.api, "group", input.path_prefix.as_deref(), ""),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListGroupsInput| {
        let page = call
            .api
            .iam
            .list_groups(
                input.path_prefix.as_deref(),
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("Groups", "member", &page.items, group_xml);
            truncation(x, &page);
        }))
    }
);

on_entity!(
    DeleteGroup,
    DeleteGroupInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::DeleteGroupInput| {
        call.api.iam.delete_group(&input.group_name).await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    AddUserToGroup,
    AddUserToGroupInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::AddUserToGroupInput| {
        call.api
            .iam
            .add_user_to_group(&input.group_name, &input.user_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    RemoveUserFromGroup,
    RemoveUserFromGroupInput,
    Group(group_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::RemoveUserFromGroupInput| {
        call.api
            .iam
            .remove_user_from_group(&input.group_name, &input.user_name)
            .await?;
        Ok(respond_empty(call))
    }
);

on_entity!(
    ListGroupsForUser,
    ListGroupsForUserInput,
    User(user_name),
    |_| vec![],
    async |call: &Call<'_>, input: iam::ListGroupsForUserInput| {
        let page = call
            .api
            .iam
            .list_groups_for_user(
                &input.user_name,
                &page_of(input.marker.as_deref(), input.max_items)?,
            )
            .await?;
        Ok(respond(call, |x| {
            x.list("Groups", "member", &page.items, group_xml);
            truncation(x, &page);
        }))
    }
);
