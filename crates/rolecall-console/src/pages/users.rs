//! IAM users: list (search, pages) and create users; a user's page: access keys (activate,
//! deactivate, delete; a new key's secret is shown once, on the page that created it), groups
//! (add, remove), policies (`owner`) and tags.

use super::groups::{membership_adder, membership_button};
use super::owner::{self, Owner};
use super::tags;
use super::{Posted, Signed};
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, see_other, seg, table, text};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

pub async fn list(Signed(ctx): Signed) -> Response {
    render_list(&ctx, None).await
}

async fn render_list(ctx: &Ctx, error: Option<&ApiError>) -> Response {
    owner::list_page(ctx, Owner::User, error).await
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    owner::create(&ctx, Owner::User, &form).await
}

pub async fn detail(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    render_detail(&ctx, &name, html! {}, &Form::default()).await
}

/// The user page, with `notice` (an error, or a new key's secret) on top; `draft` is a refused
/// inline policy to show again.
pub async fn render_detail(ctx: &Ctx, name: &str, notice: Markup, draft: &Form) -> Response {
    let user = match ctx.iam("GetUser", &[("UserName", name)]).await {
        Ok(r) => r.find("User").cloned().unwrap_or_default(),
        Err(e) => return page(ctx, name, error_box(ctx, &e)),
    };
    let keys = ctx.iam("ListAccessKeys", &[("UserName", name)]).await;
    let groups = ctx
        .iam(
            "ListGroupsForUser",
            &[("UserName", name), ("MaxItems", "100")],
        )
        .await
        .map(|r| names(&r, "Groups", "GroupName"));
    // Groups to offer (the first 100 the user is not in).
    let all_groups = ctx
        .iam("ListGroups", &[("MaxItems", "100")])
        .await
        .map(|r| names(&r, "Groups", "GroupName"))
        .unwrap_or_default();
    let tags = ctx.iam("ListUserTags", &[("UserName", name)]).await;
    let tag_list = tags
        .as_ref()
        .map(|r| tags::pairs(r.find("Tags"), "Key", "Value"));
    let permissions = owner::sections(ctx, Owner::User, name, draft).await;
    let key_action = |id: &str, action: &str, label: &'static str, status: &str| {
        html! {
            form.inline method="post" action=(format!("/console/users/{}/access-keys/{}", seg(name), seg(id))) {
                (csrf_field(ctx))
                input type="hidden" name="action" value=(action);
                input type="hidden" name="status" value=(status);
                button type="submit" { (ctx.t(label)) }
            }
        }
    };
    let body = html! {
        (notice)
        dl.summary {
            dt { "ARN" } dd { code { (text(&user, "Arn")) } }
            dt { (ctx.t("Created")) } dd { (text(&user, "CreateDate")) }
        }
        section aria-labelledby="keys" {
            h2 #keys { (ctx.t("Access keys")) }
            form method="post" action=(format!("/console/users/{}/access-keys", seg(name))) {
                (csrf_field(ctx))
                button #create-key type="submit" { (ctx.t("Create access key")) }
            }
            @match &keys {
                Ok(r) => {
                    (table(ctx, "access-keys", &["Access key ID", "Status", "Created", "Actions"], html! {
                        @for k in r.find("AccessKeyMetadata").map(|m| m.children.as_slice()).unwrap_or_default() {
                            @let id = text(k, "AccessKeyId");
                            tr {
                                td { code { (id) } }
                                td { (text(k, "Status")) }
                                td { (text(k, "CreateDate")) }
                                td {
                                    @if text(k, "Status") == "Active" {
                                        (key_action(id, "status", "Make inactive", "Inactive"))
                                    } @else {
                                        (key_action(id, "status", "Make active", "Active"))
                                    }
                                    " "
                                    (key_action(id, "delete", "Delete", ""))
                                }
                            }
                        }
                    }))
                }
                Err(e) => (error_box(ctx, e)),
            }
        }
        section aria-labelledby="groups" {
            h2 #groups { (ctx.t("Groups")) }
            @match &groups {
                Ok(list) => {
                    @if list.is_empty() {
                        p { (ctx.t("None")) }
                    } @else {
                        (table(ctx, "user-groups", &["Group name", "Actions"], html! {
                            @for g in list {
                                tr {
                                    td { a href=(Owner::Group.page(g)) { (g) } }
                                    td { (membership_button(ctx, g, name, Owner::User)) }
                                }
                            }
                        }))
                    }
                    @let candidates: Vec<&String> = all_groups.iter().filter(|g| !list.contains(g)).collect();
                    (membership_adder(ctx, &format!("{}/groups", Owner::User.page(name)), ("add-to-group", "group", "group"), "Add user to group", &candidates))
                }
                Err(e) => (error_box(ctx, e)),
            }
        }
        (permissions)
        (tags::section(ctx, &format!("{}/tags", Owner::User.page(name)), tag_list))
    };
    page(ctx, name, body)
}

/// CreateAccessKey: the secret is in this response only (no-store), never again.
pub async fn create_key(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    let notice = match ctx.iam("CreateAccessKey", &[("UserName", &name)]).await {
        Ok(r) => {
            let k = r.find("AccessKey").cloned().unwrap_or_default();
            html! {
                div.notice role="status" #new-key {
                    p { strong { (ctx.t("This is the only time the secret access key can be viewed or downloaded. You cannot recover it later.")) } }
                    dl.summary {
                        dt { (ctx.t("Access key ID")) } dd { code #new-key-id { (text(&k, "AccessKeyId")) } }
                        dt { (ctx.t("Secret access key")) } dd { code #new-key-secret { (text(&k, "SecretAccessKey")) } }
                    }
                }
            }
        }
        Err(e) => error_box(&ctx, &e),
    };
    render_detail(&ctx, &name, notice, &Form::default()).await
}

pub async fn key_action(Posted(ctx, (name, key), form): Posted<(String, String)>) -> Response {
    let r = if form.get("action") == "delete" {
        ctx.iam(
            "DeleteAccessKey",
            &[("UserName", &name), ("AccessKeyId", &key)],
        )
        .await
    } else {
        ctx.iam(
            "UpdateAccessKey",
            &[
                ("UserName", &name),
                ("AccessKeyId", &key),
                ("Status", form.get("status")),
            ],
        )
        .await
    };
    match r {
        Ok(_) => see_other(&ctx, &format!("/console/users/{}", seg(&name))),
        Err(e) => render_detail(&ctx, &name, error_box(&ctx, &e), &Form::default()).await,
    }
}

/// POST on a user's groups: the group from the form.
pub async fn groups(Posted(ctx, name, form): Posted) -> Response {
    let (group, change) = (form.get("group"), form.get("change"));
    super::groups::change_membership(&ctx, group, &name, change, Owner::User).await
}

/// TagUser / UntagUser.
pub async fn tag(Posted(ctx, name, form): Posted) -> Response {
    match tags::apply(&ctx, &form, &tags::IAM_USER, ("UserName", &name)).await {
        Err(unknown) => unknown,
        Ok(Ok(_)) => see_other(&ctx, &format!("{}#tags-h", Owner::User.page(&name))),
        Ok(Err(e)) => render_detail(&ctx, &name, error_box(&ctx, &e), &Form::default()).await,
    }
}

/// The `name` of every member of `list` in `resp`.
fn names(resp: &Node, list: &str, name: &str) -> Vec<String> {
    resp.find(list)
        .map(|l| {
            l.children
                .iter()
                .map(|m| text(m, name).to_string())
                .collect()
        })
        .unwrap_or_default()
}
