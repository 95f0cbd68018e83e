//! Sign-in with an access key pair (the account root's, an IAM user's, or a role session's keys
//! with their token), verified as the API verifies a signature's key; sign-out.

use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, page, see_other};
use crate::session::{SESSION_COOKIE, SESSION_SECONDS, Session, set_cookie};
use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use maud::html;

pub async fn form(ctx: Ctx) -> Response {
    if ctx.user.is_some() {
        return see_other(&ctx, "/console/roles");
    }
    let note = ctx
        .session_ended
        .then(|| ctx.t("Your session has ended. Sign in again."));
    render(&ctx, note, "")
}

fn render(ctx: &Ctx, error: Option<&str>, access_key_id: &str) -> Response {
    let body = html! {
        p { (ctx.t("Sign in with the access key pair of the account root, an IAM user or a role session.")) }
        @if let Some(e) = error {
            div.alert role="alert" { p.message { (e) } }
        }
        form.stack method="post" action="/console/signin" {
            (csrf_field(ctx))
            label for="access_key_id" { (ctx.t("Access key ID")) }
            input #access_key_id name="access_key_id" required autocomplete="username" spellcheck="false" value=(access_key_id);
            label for="secret_access_key" { (ctx.t("Secret access key")) }
            input #secret_access_key name="secret_access_key" type="password" required autocomplete="current-password";
            label for="session_token" { (ctx.t("Session token (for temporary credentials)")) }
            textarea #session_token name="session_token" rows="2" spellcheck="false" {}
            button type="submit" { (ctx.t("Sign in")) }
        }
    };
    page(ctx, ctx.t("Sign in"), body)
}

pub async fn submit(ctx: Ctx, Extension(form): Extension<Form>) -> Response {
    let key_id = form.get("access_key_id").trim();
    let secret = form.get("secret_access_key").trim();
    let token = Some(form.get("session_token").trim()).filter(|t| !t.is_empty());
    match rolecall_api::sign_in(&ctx.api, key_id, secret, token).await {
        Some(principal) => {
            let now = ctx.api.clock.now().timestamp();
            let session = Session::new(key_id, token, now);
            tracing::info!(target: "rolecall::console", principal = %principal.arn, "console sign-in");
            let mut resp = see_other(&ctx, "/console/roles");
            let cookie = set_cookie(
                SESSION_COOKIE,
                &session.seal(&ctx.api.keyring),
                SESSION_SECONDS,
                ctx.secure,
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        None => render(
            &ctx,
            Some(ctx.t("The access key pair is not valid.")),
            key_id,
        ),
    }
}

pub async fn signout(ctx: Ctx) -> Response {
    let mut resp = see_other(&ctx, "/console/signin");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0, ctx.secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
