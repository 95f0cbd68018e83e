//! Every console request passes here: a POST must carry the CSRF token of its session (the
//! sign-in form: of the visitor's pre-session cookie) in its `csrf` field or `X-CSRF-Token`
//! header, or it is refused with 403 before any handler runs; its parsed form is handed on.
//! Every response gets the console's security headers.

use crate::Shared;
use crate::session::{PRE_CSRF_COOKIE, SESSION_COOKIE, Session, cookie, tokens_match};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest form accepted (policy documents are at most 10,240 characters before encoding).
const MAX_FORM: usize = 256 * 1024;

/// A POST's fields, in order.
#[derive(Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The field's value ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

pub async fn guard(State(console): State<Shared>, req: Request, next: Next) -> Response {
    let mut resp = if req.method() == Method::GET || req.method() == Method::HEAD {
        next.run(req).await
    } else {
        checked(console, req, next).await
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn checked(console: Shared, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large.\n",
        )
            .into_response();
    };
    let form = Form::parse(&bytes);
    let cookies = parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let given = match form.get("csrf") {
        "" => parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        f => f,
    };
    let now = console.api.clock.now().timestamp();
    let session_token = cookie(cookies, SESSION_COOKIE)
        .and_then(|c| Session::open(&console.api.keyring, c, now))
        .map(|s| s.csrf);
    let allowed = match session_token {
        Some(expected) => tokens_match(&expected, given),
        None => false,
    } || (parts.uri.path() == "/console/signin"
        && cookie(cookies, PRE_CSRF_COOKIE).is_some_and(|expected| tokens_match(expected, given)));
    if !allowed {
        let mut r = (
            StatusCode::FORBIDDEN,
            "Forbidden: the request has no valid CSRF token.\n",
        )
            .into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
