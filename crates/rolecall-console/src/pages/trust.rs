//! Editing a role's trust policy (IAM console: role → Trust relationships → Edit trust policy):
//! the validating editor, then UpdateAssumeRolePolicy as the signed-in principal. A refused
//! document comes back with IAM's error and the editor's position of it.

use super::Signed;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, policy_text, see_other, seg};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::html;
use rolecall_api::error::ApiError;

pub async fn form(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    match ctx.iam("GetRole", &[("RoleName", &name)]).await {
        Ok(r) => {
            let current = r
                .find("AssumeRolePolicyDocument")
                .map(|d| policy_text(&d.text))
                .unwrap_or_default();
            render(&ctx, &name, &current, None)
        }
        Err(e) => page(&ctx, ctx.t("Edit trust policy"), error_box(&ctx, &e)),
    }
}

fn render(ctx: &Ctx, role: &str, document: &str, error: Option<&ApiError>) -> Response {
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        p { (ctx.t("Role")) ": " a href=(format!("/console/roles/{}", seg(role))) { (role) } }
        form.stack method="post" action=(format!("/console/roles/{}/trust", seg(role))) {
            (csrf_field(ctx))
            label for="trust_policy" { (ctx.t("Trust policy")) }
            (super::policy::checked_editor(ctx, "trust_policy", document, "trust"))
            button #update-trust type="submit" { (ctx.t("Update policy")) }
        }
    };
    page(ctx, ctx.t("Edit trust policy"), body)
}

pub async fn update(
    Signed(ctx): Signed,
    Path(name): Path<String>,
    Extension(form): Extension<Form>,
) -> Response {
    let document = form.get("trust_policy");
    let r = ctx
        .iam(
            "UpdateAssumeRolePolicy",
            &[("RoleName", &name), ("PolicyDocument", document)],
        )
        .await;
    match r {
        Ok(_) => see_other(&ctx, &format!("/console/roles/{}#trust", seg(&name))),
        Err(e) => render(&ctx, &name, document, Some(&e)),
    }
}
