//! The console's pages, one module per area.

pub mod instances;
pub mod policy;
pub mod roles;
pub mod signin;

use crate::ctx::Ctx;
use crate::layout::{page_with_status, see_other};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

pub async fn home(ctx: Ctx) -> Response {
    if ctx.user.is_some() {
        see_other(&ctx, "/console/roles")
    } else {
        see_other(&ctx, "/console/signin")
    }
}

pub async fn not_found(ctx: Ctx) -> Response {
    let title = ctx.t("Not found.");
    page_with_status(
        &ctx,
        StatusCode::NOT_FOUND,
        title,
        html! { p { a href="/console/" { (ctx.t("rolecall console")) } } },
    )
}

/// A redirect to the sign-in page when no one is signed in.
pub fn sign_in_first(ctx: &Ctx) -> Option<Response> {
    ctx.user
        .is_none()
        .then(|| see_other(ctx, "/console/signin"))
}
