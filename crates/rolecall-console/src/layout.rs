//! The page shell (header, navigation, language switch, sign-out) and fragments pages share.

use crate::ctx::Ctx;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

/// A whole page: `title` is also its `<h1>`.
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    page_with_status(ctx, StatusCode::OK, title, body)
}

pub fn page_with_status(ctx: &Ctx, status: StatusCode, title: &str, body: Markup) -> Response {
    let other = ctx.lang.other();
    let doc = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // htmx must not inject its indicator styles (the CSP allows no inline style).
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                title { (title) " · " (ctx.t("rolecall console")) }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/htmx.min.js" defer {}
            }
            body hx-headers=(format!(r#"{{"X-CSRF-Token": "{}"}}"#, ctx.csrf())) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/" { (ctx.t("rolecall console")) }
                    @if ctx.user.is_some() {
                        nav aria-label=(ctx.t("Main navigation")) {
                            ul {
                                li { a href="/console/roles" aria-current=[current(ctx, "/console/roles")] { (ctx.t("Roles")) } }
                                li { a href="/console/policies" aria-current=[current(ctx, "/console/policies")] { (ctx.t("Policies")) } }
                                li { a href="/console/instance-profiles" aria-current=[current(ctx, "/console/instance-profiles")] { (ctx.t("Instance profiles")) } }
                                li { a href="/console/users" aria-current=[current(ctx, "/console/users")] { (ctx.t("Users")) } }
                                li { a href="/console/groups" aria-current=[current(ctx, "/console/groups")] { (ctx.t("Groups")) } }
                                li { a href="/console/simulator" aria-current=[current(ctx, "/console/simulator")] { (ctx.t("Policy simulator")) } }
                                li { a href="/console/instances" aria-current=[current(ctx, "/console/instances")] { (ctx.t("Instances")) } }
                            }
                        }
                    }
                    div.tools {
                        a href=(format!("{}?lang={}", ctx.path, other.code())) lang=(other.code()) hreflang=(other.code()) { (other.name()) }
                        @if let Some(u) = &ctx.user {
                            span.who { (ctx.t("Signed in as")) " " code { (u.principal.arn) } }
                            form method="post" action="/console/signout" {
                                (csrf_field(ctx))
                                button type="submit" { (ctx.t("Sign out")) }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut resp = (status, doc.into_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    ctx.finish(resp)
}

fn current(ctx: &Ctx, prefix: &str) -> Option<&'static str> {
    ctx.path.starts_with(prefix).then_some("page")
}

/// A table with an id and column headings (translated), its rows given.
pub fn table(ctx: &Ctx, id: &str, headings: &[&'static str], rows: Markup) -> Markup {
    html! {
        table #(id) {
            thead { tr { @for h in headings { th scope="col" { (ctx.t(h)) } } } }
            tbody { (rows) }
        }
    }
}

/// First/next page links of an IAM list page at `base` (its `marker` parameter).
pub fn iam_pager(ctx: &Ctx, base: &str, resp: &Node) -> Markup {
    let next = (resp.find("IsTruncated").map(|n| n.text.as_str()) == Some("true")).then(|| {
        resp.find("Marker")
            .map(|n| n.text.as_str())
            .unwrap_or_default()
    });
    html! {
        nav.pager aria-label="Pages" {
            @if !ctx.query("marker").is_empty() { a href=(base) { (ctx.t("First page")) } }
            @if let Some(m) = next { a rel="next" href=(format!("{base}?marker={}", seg(m))) { (ctx.t("Next page")) } }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf()); }
}

/// An API error as AWS words it (code and message untranslated), announced to screen readers.
pub fn error_box(ctx: &Ctx, err: &ApiError) -> Markup {
    html! {
        div.alert role="alert" {
            strong { (ctx.t("Error")) ": " span.code { (err.code) } }
            p.message { (err.message) }
        }
    }
}

/// The Description field of IAM's create forms (at most 1,000 characters).
pub fn description_field(ctx: &Ctx, value: &str) -> Markup {
    html! {
        label for="description" { (ctx.t("Description")) }
        input #description name="description" maxlength="1000" value=(value);
    }
}

/// One choice of a radio group `name` (its id `<name>_<value>`), with an optional hint.
pub fn radio(
    ctx: &Ctx,
    (name, value): (&str, &str),
    label: &'static str,
    hint: Option<&'static str>,
    checked: bool,
) -> Markup {
    let id = format!("{name}_{value}");
    html! {
        div.choice {
            input #(id) type="radio" name=(name) value=(value) checked[checked];
            label for=(id) { (ctx.t(label)) }
            @if let Some(h) = hint { p.hint { (ctx.t(h)) } }
        }
    }
}

/// A page editing one thing with one form: the refusal (if any) on top, a link back to the
/// thing (`back`: its kind, page and name), then the form posting `fields` to `action`.
pub fn edit_page(
    ctx: &Ctx,
    title: &str,
    error: Option<&ApiError>,
    back: (&'static str, &str, &str),
    action: &str,
    fields: Markup,
) -> Response {
    let (kind, href, name) = back;
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        p { (ctx.t(kind)) ": " a href=(href) { (name) } }
        form.stack method="post" action=(action) {
            (csrf_field(ctx))
            (fields)
        }
    };
    page(ctx, title, body)
}

/// A 303 to `location` (after a POST), with this request's cookies.
pub fn see_other(ctx: &Ctx, location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    ctx.finish(resp)
}

/// What a path segment or query value keeps as is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment or query value (names may hold `+`, `=`, `,`, `@`).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// A policy document as IAM returns it (URL-encoded), decoded and indented for reading.
pub fn policy_text(encoded: &str) -> String {
    let doc = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned();
    match serde_json::from_str::<serde_json::Value>(&doc) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or(doc),
        Err(_) => doc,
    }
}

/// A `<pre>` holding a policy document.
pub fn policy_block(text: &str) -> Markup {
    html! { pre.policy tabindex="0" { code { (text) } } }
}

/// `name` of `node`, or "".
pub fn text<'a>(node: &'a Node, name: &str) -> &'a str {
    node.text_of(name).unwrap_or_default()
}
