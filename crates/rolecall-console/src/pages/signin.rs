//! Sign-in, two ways: an IAM user's name and console password (its login profile, verified by
//! the API's `sign_in_with_password`, recorded as CloudTrail's `ConsoleLogin`), or an access key
//! pair (the account root's, an IAM user's, or a role session's keys with their token),
//! verified as the API verifies a signature's key; sign-out. A refused password sign-in says
//! only that it failed, never why (no user enumeration). Password attempts are throttled per
//! source and per user name before the password is checked (429, "try again later").

use crate::Shared;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, page_with_status, see_other};
use crate::session::{SESSION_COOKIE, SESSION_SECONDS, Session, set_cookie};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::{PasswordSignIn, Principal};

pub async fn form(ctx: Ctx) -> Response {
    if ctx.user.is_some() {
        return see_other(&ctx, "/console/roles");
    }
    let note = ctx
        .session_ended
        .then(|| ctx.t("Your session has ended. Sign in again."));
    render(&ctx, note, &Form::default())
}

fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            div.alert role="alert" { p.message { (m) } }
        }
    }
}

fn render(ctx: &Ctx, error: Option<&str>, form: &Form) -> Response {
    render_with_status(ctx, StatusCode::OK, error, form)
}

fn render_with_status(ctx: &Ctx, status: StatusCode, error: Option<&str>, form: &Form) -> Response {
    let body = html! {
        (alert(error))
        div.signin {
            section aria-labelledby="password-h" {
                h2 #password-h { (ctx.t("IAM user")) }
                form.stack #password-signin method="post" action="/console/signin" {
                    (csrf_field(ctx))
                    input type="hidden" name="method" value="password";
                    label for="account" { (ctx.t("Account ID (optional)")) }
                    input #account name="account" spellcheck="false" inputmode="numeric" value=(form.get("account"));
                    label for="user_name" { (ctx.t("IAM user name")) }
                    input #user_name name="user_name" required autocomplete="username" spellcheck="false" value=(form.get("user_name"));
                    label for="password" { (ctx.t("Password")) }
                    input #password name="password" type="password" required autocomplete="current-password";
                    button type="submit" { (ctx.t("Sign in")) }
                }
            }
            section aria-labelledby="keys-h" {
                h2 #keys-h { (ctx.t("Access keys")) }
                p.hint { (ctx.t("Sign in with the access key pair of the account root, an IAM user or a role session.")) }
                form.stack #key-signin method="post" action="/console/signin" {
                    (csrf_field(ctx))
                    label for="access_key_id" { (ctx.t("Access key ID")) }
                    input #access_key_id name="access_key_id" required autocomplete="off" spellcheck="false" value=(form.get("access_key_id"));
                    label for="secret_access_key" { (ctx.t("Secret access key")) }
                    input #secret_access_key name="secret_access_key" type="password" required autocomplete="off";
                    label for="session_token" { (ctx.t("Session token (for temporary credentials)")) }
                    textarea #session_token name="session_token" rows="2" spellcheck="false" {}
                    button type="submit" { (ctx.t("Sign in")) }
                }
            }
        }
    };
    page_with_status(ctx, status, ctx.t("Sign in"), body)
}

pub async fn submit(
    ctx: Ctx,
    State(console): State<Shared>,
    Extension(form): Extension<Form>,
) -> Response {
    if form.get("method") == "password" {
        let (source, now) = (ctx.origin().source_ip, std::time::Instant::now());
        if !console
            .signin_throttle
            .allow(source, form.get("user_name").trim(), now)
        {
            let user: String = form.get("user_name").trim().chars().take(64).collect();
            tracing::info!(target: "rolecall::console", source = ?source, user = %user, "password sign-in throttled");
            rolecall_api::sign_in_throttled(&ctx.api, ctx.origin(), &ctx.user_agent).await;
            let busy = ctx.t("Too many sign-in attempts. Try again later.");
            return render_with_status(&ctx, StatusCode::TOO_MANY_REQUESTS, Some(busy), &form);
        }
        return password(ctx, form).await;
    }
    let key_id = form.get("access_key_id").trim();
    let secret = form.get("secret_access_key").trim();
    let token = Some(form.get("session_token").trim()).filter(|t| !t.is_empty());
    match rolecall_api::sign_in(&ctx.api, key_id, secret, token).await {
        Some(principal) => {
            let now = ctx.api.clock.now().timestamp();
            start_session(&ctx, &principal, Session::new(key_id, token, now))
        }
        None => render(
            &ctx,
            Some(ctx.t("The access key pair is not valid.")),
            &form,
        ),
    }
}

/// The IAM user name and password form (and, from its reset page, a new password).
async fn password(ctx: Ctx, form: Form) -> Response {
    let user_name = form.get("user_name").trim();
    let account = form.get("account").trim();
    let failed = ctx.t("Your authentication information is incorrect. Please try again.");
    let outcome = rolecall_api::sign_in_with_password(
        &ctx.api,
        account,
        user_name,
        form.get("password"),
        ctx.origin(),
        &ctx.user_agent,
    )
    .await;
    match outcome {
        PasswordSignIn::SignedIn(p) => password_session(&ctx, &p),
        PasswordSignIn::ResetRequired(_) => render(
            &ctx,
            Some(ctx.t("Your password must be reset before you can sign in. Ask your administrator to set a new password.")),
            &form,
        ),
        PasswordSignIn::Refused => render(&ctx, Some(failed), &form),
    }
}

fn password_session(ctx: &Ctx, p: &Principal) -> Response {
    let now = ctx.api.clock.now().timestamp();
    let name = match &p.kind {
        rolecall_api::PrincipalKind::User { name, .. } => name.as_str(),
        _ => "",
    };
    start_session(ctx, p, Session::for_password_user(name, &p.user_id, now))
}

fn start_session(ctx: &Ctx, principal: &Principal, session: Session) -> Response {
    tracing::info!(target: "rolecall::console", principal = %principal.arn, "console sign-in");
    let mut resp = see_other(ctx, "/console/roles");
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

pub async fn signout(ctx: Ctx) -> Response {
    let mut resp = see_other(&ctx, "/console/signin");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0, ctx.secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
