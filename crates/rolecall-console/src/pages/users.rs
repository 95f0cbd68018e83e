//! IAM users and their access keys: list and create users; a user's keys (activate, deactivate,
//! delete) and a new key, whose secret is shown once, on the page that created it.

use super::Signed;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, iam_pager, page, see_other, seg, table, text};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;

pub async fn list(Signed(ctx): Signed) -> Response {
    render_list(&ctx, None).await
}

async fn render_list(ctx: &Ctx, error: Option<&ApiError>) -> Response {
    let title = ctx.t("Users");
    let resp = match ctx.iam_page("ListUsers").await {
        Ok(r) => r,
        Err(e) => return page(ctx, title, error_box(ctx, &e)),
    };
    let users = resp
        .find("Users")
        .map(|p| p.children.clone())
        .unwrap_or_default();
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        form.search method="post" action="/console/users" {
            (csrf_field(ctx))
            label for="user_name" { (ctx.t("User name")) }
            input #user_name name="user_name" required maxlength="64";
            button type="submit" { (ctx.t("Create user")) }
        }
        @if users.is_empty() {
            p { (ctx.t("No users.")) }
        } @else {
            (table(ctx, "users", &["User name", "Path", "Created"], html! {
                @for u in &users {
                    tr {
                        td { a href=(format!("/console/users/{}", seg(text(u, "UserName")))) { (text(u, "UserName")) } }
                        td { (text(u, "Path")) }
                        td { (text(u, "CreateDate")) }
                    }
                }
            }))
        }
        (iam_pager(ctx, "/console/users", &resp))
    };
    page(ctx, title, body)
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let name = form.get("user_name").trim();
    match ctx.iam("CreateUser", &[("UserName", name)]).await {
        Ok(_) => see_other(&ctx, &format!("/console/users/{}", seg(name))),
        Err(e) => render_list(&ctx, Some(&e)).await,
    }
}

pub async fn detail(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    render_detail(&ctx, &name, html! {}).await
}

/// The user page, with `notice` (an error, or a new key's secret) on top.
async fn render_detail(ctx: &Ctx, name: &str, notice: Markup) -> Response {
    let user = match ctx.iam("GetUser", &[("UserName", name)]).await {
        Ok(r) => r.find("User").cloned().unwrap_or_default(),
        Err(e) => return page(ctx, name, error_box(ctx, &e)),
    };
    let keys = ctx.iam("ListAccessKeys", &[("UserName", name)]).await;
    let groups = ctx.iam("ListGroupsForUser", &[("UserName", name)]).await;
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
                Ok(r) => ul { @for g in r.find("Groups").map(|m| m.children.as_slice()).unwrap_or_default() { li { (text(g, "GroupName")) } } },
                Err(e) => (error_box(ctx, e)),
            }
        }
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
    render_detail(&ctx, &name, notice).await
}

pub async fn key_action(
    Signed(ctx): Signed,
    Path((name, key)): Path<(String, String)>,
    Extension(form): Extension<Form>,
) -> Response {
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
        Err(e) => render_detail(&ctx, &name, error_box(&ctx, &e)).await,
    }
}
