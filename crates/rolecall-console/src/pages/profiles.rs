//! Instance profiles: the list with each profile's role, create a profile, add a role to an
//! empty profile or remove its role.

use super::{Posted, Signed};
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, iam_pager, page, see_other, seg, table, text};
use axum::Extension;
use axum::response::Response;
use maud::html;
use rolecall_api::error::ApiError;

pub async fn list(Signed(ctx): Signed) -> Response {
    render(&ctx, None).await
}

async fn render(ctx: &Ctx, error: Option<&ApiError>) -> Response {
    let title = ctx.t("Instance profiles");
    let resp = match ctx.iam_page("ListInstanceProfiles").await {
        Ok(r) => r,
        Err(e) => return page(ctx, title, error_box(ctx, &e)),
    };
    let profiles = resp
        .find("InstanceProfiles")
        .map(|p| p.children.clone())
        .unwrap_or_default();
    // Roles to offer for an empty profile (the first 100).
    let roles = ctx
        .iam("ListRoles", &[("MaxItems", "100")])
        .await
        .map(|r| {
            r.find("Roles")
                .map(|p| p.children.clone())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        form.search method="post" action="/console/instance-profiles" {
            (csrf_field(ctx))
            label for="profile_name" { (ctx.t("Instance profile name")) }
            input #profile_name name="profile_name" required maxlength="128";
            button type="submit" { (ctx.t("Create instance profile")) }
        }
        @if profiles.is_empty() {
            p { (ctx.t("No instance profiles.")) }
        } @else {
            (table(ctx, "profiles", &["Instance profile", "Role", "Actions"], html! {
                @for p in &profiles {
                    @let name = text(p, "InstanceProfileName");
                    @let role = p.find("RoleName").map(|n| n.text.as_str()).unwrap_or_default();
                    tr {
                        td { (name) br; code { (text(p, "Arn")) } }
                        td { @if role.is_empty() { "–" } @else { a href=(format!("/console/roles/{}", seg(role))) { (role) } } }
                        td {
                            @if role.is_empty() {
                                form.inline method="post" action=(format!("/console/instance-profiles/{}/add-role", seg(name))) {
                                    (csrf_field(ctx))
                                    label.visually-hidden for=(format!("role-for-{name}")) { (ctx.t("Role")) }
                                    select id=(format!("role-for-{name}")) name="role" {
                                        @for r in &roles { option value=(text(r, "RoleName")) { (text(r, "RoleName")) } }
                                    }
                                    " "
                                    button type="submit" { (ctx.t("Add role")) }
                                }
                            } @else {
                                form.inline method="post" action=(format!("/console/instance-profiles/{}/remove-role", seg(name))) {
                                    (csrf_field(ctx))
                                    input type="hidden" name="role" value=(role);
                                    button type="submit" { (ctx.t("Remove role")) }
                                }
                            }
                        }
                    }
                }
            }))
        }
        (iam_pager(ctx, "/console/instance-profiles", &resp))
    };
    page(ctx, title, body)
}

async fn after(ctx: Ctx, result: Result<rolecall_wire::xml_read::Node, ApiError>) -> Response {
    match result {
        Ok(_) => see_other(&ctx, "/console/instance-profiles"),
        Err(e) => render(&ctx, Some(&e)).await,
    }
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let name = form.get("profile_name").trim();
    let r = ctx
        .iam("CreateInstanceProfile", &[("InstanceProfileName", name)])
        .await;
    after(ctx, r).await
}

/// `add-role` or `remove-role` of the profile (the role from the form).
pub async fn change_role(Posted(ctx, (name, change), form): Posted<(String, String)>) -> Response {
    let action = match change.as_str() {
        "add-role" => "AddRoleToInstanceProfile",
        "remove-role" => "RemoveRoleFromInstanceProfile",
        _ => return super::not_found(ctx).await,
    };
    let r = ctx
        .iam(
            action,
            &[
                ("InstanceProfileName", &name),
                ("RoleName", form.get("role")),
            ],
        )
        .await;
    after(ctx, r).await
}
