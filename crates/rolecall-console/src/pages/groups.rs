//! IAM groups: the list (search, pages), create, and a group's page: its members (add, remove),
//! its policies (`owner`), delete. Membership forms on user pages post here too.

use super::owner::{self, Owner};
use super::{Posted, Signed};
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, see_other, table, text};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};

pub async fn list(Signed(ctx): Signed) -> Response {
    owner::list_page(&ctx, Owner::Group, None).await
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    owner::create(&ctx, Owner::Group, &form).await
}

pub async fn detail(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    render_detail(&ctx, &name, html! {}, &Form::default()).await
}

/// The group page with `notice` on top; `draft` is a refused inline policy to show again.
pub async fn render_detail(ctx: &Ctx, name: &str, notice: Markup, draft: &Form) -> Response {
    let got = match ctx
        .iam("GetGroup", &[("GroupName", name), ("MaxItems", "100")])
        .await
    {
        Ok(r) => r,
        Err(e) => return page(ctx, name, error_box(ctx, &e)),
    };
    let group = got.find("Group").cloned().unwrap_or_default();
    let members: Vec<String> = got
        .find("Users")
        .map(|u| {
            u.children
                .iter()
                .map(|m| text(m, "UserName").to_string())
                .collect()
        })
        .unwrap_or_default();
    let truncated = got.find("IsTruncated").is_some_and(|n| n.text == "true");
    // Users to offer (the first 100 that are not members).
    let users: Vec<String> = ctx
        .iam("ListUsers", &[("MaxItems", "100")])
        .await
        .map(|r| {
            r.find("Users")
                .map(|u| {
                    u.children
                        .iter()
                        .map(|m| text(m, "UserName").to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let candidates: Vec<&String> = users.iter().filter(|u| !members.contains(u)).collect();
    let permissions = owner::sections(ctx, Owner::Group, name, draft).await;
    let members_action = format!("{}/members", Owner::Group.page(name));
    let body = html! {
        (notice)
        dl.summary {
            dt { "ARN" } dd { code { (text(&group, "Arn")) } }
            dt { (ctx.t("Path")) } dd { (text(&group, "Path")) }
            dt { (ctx.t("Created")) } dd { (text(&group, "CreateDate")) }
        }
        section aria-labelledby="members" {
            h2 #members { (ctx.t("Users in this group")) }
            @if members.is_empty() {
                p { (ctx.t("None")) }
            } @else {
                (table(ctx, "group-members", &["User name", "Actions"], html! {
                    @for u in &members {
                        tr {
                            td { a href=(Owner::User.page(u)) { (u) } }
                            td { (membership_button(ctx, name, u, Owner::Group)) }
                        }
                    }
                }))
                @if truncated { p.hint { (ctx.t("Only the first 100 members are shown.")) } }
            }
            (membership_adder(ctx, &members_action, ("add-member", "member", "user"), "Add user", &candidates))
        }
        (permissions)
        section aria-labelledby="delete" {
            h2 #delete { (ctx.t("Delete group")) }
            p.hint { (ctx.t("A group can be deleted once it has no users and no policies.")) }
            form method="post" action=(format!("{}/delete", Owner::Group.page(name))) {
                (csrf_field(ctx))
                button #delete-group type="submit" { (ctx.t("Delete group")) }
            }
        }
    };
    page(ctx, name, body)
}

/// A button removing `user` from `group`, on the group's page (`from` = `group`) or the user's.
pub fn membership_button(ctx: &Ctx, group: &str, user: &str, from: Owner) -> Markup {
    let action = match from {
        Owner::User => format!("{}/groups", Owner::User.page(user)),
        _ => format!("{}/members", Owner::Group.page(group)),
    };
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(ctx))
            input type="hidden" name="change" value="remove";
            input type="hidden" name="group" value=(group);
            input type="hidden" name="user" value=(user);
            button type="submit" { (ctx.t("Remove")) }
        }
    }
}

/// The form adding a membership: `ids` = (form id, select id, field), the names offered.
pub fn membership_adder(
    ctx: &Ctx,
    action: &str,
    (form_id, select_id, field): (&str, &str, &str),
    label: &'static str,
    names: &[&String],
) -> Markup {
    html! {
        @if !names.is_empty() {
            form.search id=(form_id) method="post" action=(action) {
                (csrf_field(ctx))
                input type="hidden" name="change" value="add";
                label for=(select_id) { (ctx.t(label)) }
                select id=(select_id) name=(field) {
                    @for n in names { option value=(n) { (n) } }
                }
                button type="submit" { (ctx.t("Add")) }
            }
        }
    }
}

/// POST on a group's members: the user from the form.
pub async fn members(Posted(ctx, group, form): Posted) -> Response {
    change_membership(
        &ctx,
        &group,
        form.get("user"),
        form.get("change"),
        Owner::Group,
    )
    .await
}

/// AddUserToGroup / RemoveUserFromGroup (`change` = `add` / `remove`), then back to the page the
/// form was on (`from`: the group's or the user's), with the error if it was refused.
pub async fn change_membership(
    ctx: &Ctx,
    group: &str,
    user: &str,
    change: &str,
    from: Owner,
) -> Response {
    let action = if change == "remove" {
        "RemoveUserFromGroup"
    } else {
        "AddUserToGroup"
    };
    let r = ctx
        .iam(action, &[("GroupName", group), ("UserName", user)])
        .await;
    let none = Form::default();
    match (r, from) {
        (Ok(_), Owner::User) => see_other(ctx, &format!("{}#groups", Owner::User.page(user))),
        (Ok(_), _) => see_other(ctx, &format!("{}#members", Owner::Group.page(group))),
        (Err(e), Owner::User) => {
            super::users::render_detail(ctx, user, error_box(ctx, &e), &none).await
        }
        (Err(e), _) => render_detail(ctx, group, error_box(ctx, &e), &none).await,
    }
}

pub async fn delete(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    match ctx.iam("DeleteGroup", &[("GroupName", &name)]).await {
        Ok(_) => see_other(&ctx, "/console/groups"),
        Err(e) => render_detail(&ctx, &name, error_box(&ctx, &e), &Form::default()).await,
    }
}
