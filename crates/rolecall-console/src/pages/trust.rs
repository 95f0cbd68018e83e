//! Editing a role's trust policy (IAM console: role → Trust relationships → Edit trust policy):
//! the validating editor, then UpdateAssumeRolePolicy as the signed-in principal. A refused
//! document comes back with IAM's error and the editor's position of it.

use super::{Posted, Signed};
use crate::ctx::Ctx;
use crate::layout::{edit_page, error_box, page, policy_text, see_other, seg};
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
    let fields = html! {
        label for="trust_policy" { (ctx.t("Trust policy")) }
        (super::policy::checked_editor(ctx, "trust_policy", document, "trust"))
        button #update-trust type="submit" { (ctx.t("Update policy")) }
    };
    let (href, action) = (
        format!("/console/roles/{}", seg(role)),
        format!("/console/roles/{}/trust", seg(role)),
    );
    let title = ctx.t("Edit trust policy");
    edit_page(ctx, title, error, ("Role", &href, role), &action, fields)
}

pub async fn update(Posted(ctx, name, form): Posted) -> Response {
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
