//! The console's pages, one module per area.

pub mod credential;
pub mod groups;
pub mod instance_tags;
pub mod instances;
pub mod owner;
pub mod policies;
pub mod policy;
pub mod profiles;
pub mod roles;
pub mod search;
pub mod signin;
pub mod sim_documents;
pub mod simulator;
pub mod tags;
pub mod trust;
pub mod users;

use crate::Shared;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{page_with_status, see_other};
use axum::Extension;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::de::DeserializeOwned;

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

/// The context of a request by someone signed in; anyone else is sent to the sign-in page.
pub struct Signed(pub Ctx);

impl FromRequestParts<Shared> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Signed, Response> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        if ctx.user.is_some() {
            Ok(Signed(ctx))
        } else {
            Err(see_other(&ctx, "/console/signin"))
        }
    }
}

/// A signed-in POST on one console entity: the context, the entity's path segment(s) (`P`, the
/// name by default) and the form (checked by the CSRF guard).
pub struct Posted<P = String>(pub Ctx, pub P, pub Form);

impl<P: DeserializeOwned + Send> FromRequestParts<Shared> for Posted<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Posted<P>, Response> {
        let Signed(ctx) = Signed::from_request_parts(parts, state).await?;
        let Path(path) = Path::<P>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Extension(form) = Extension::<Form>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Posted(ctx, path, form))
    }
}
