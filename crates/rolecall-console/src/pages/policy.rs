//! The policy JSON editor: a textarea that, with JavaScript, asks the server to validate the
//! document as you type (htmx) with the policy engine IAM's operations use; errors come with
//! IAM's code and message and the line and column they are at. Without JavaScript the form is
//! validated when submitted, by the operation itself.

use crate::ctx::Ctx;
use crate::guard::Form;
use axum::Extension;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use rolecall_policy::{Policy, PolicyKind, statement_span};
use serde_json::Value;

/// A document the policy engine refused: IAM's code and message, and where.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

fn kind_of(s: &str) -> PolicyKind {
    match s {
        "trust" => PolicyKind::Trust,
        "managed" => PolicyKind::Managed,
        _ => PolicyKind::Identity,
    }
}

/// Validates `doc` as a policy of `kind`. The position is the JSON syntax error's, else the
/// start of the first statement the engine refuses on its own, else the document's start.
pub fn check(doc: &str, kind: PolicyKind) -> Result<(), Invalid> {
    let Err(e) = Policy::parse(doc, kind) else {
        return Ok(());
    };
    let invalid = |(line, column)| Invalid {
        code: e.code(),
        message: e.message().to_string(),
        line,
        column,
    };
    let value: Value = match serde_json::from_str(doc) {
        Ok(v) => v,
        Err(j) => return Err(invalid((j.line().max(1), j.column().max(1)))),
    };
    let statements = match value.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let version = value.get("Version").cloned().unwrap_or(Value::Null);
    for (n, statement) in statements.into_iter().enumerate() {
        let alone = serde_json::json!({ "Version": version, "Statement": [statement] });
        if Policy::parse(&alone.to_string(), kind).is_err()
            && let Some((start, _)) = statement_span(doc, n)
        {
            return Err(invalid(start));
        }
    }
    Err(invalid((1, 1)))
}

/// A textarea validated as you type; the result is announced (`aria-live`).
/// An [`editor`] under its label.
pub fn labelled_editor(
    ctx: &Ctx,
    (name, label): (&str, &'static str),
    value: &str,
    kind: &str,
) -> Markup {
    html! {
        label for=(name) { (ctx.t(label)) }
        (editor(name, value, kind))
    }
}

pub fn editor(name: &str, value: &str, kind: &str) -> Markup {
    textarea(name, value, kind, "input changed delay:400ms, load", None)
}

/// An [`editor`] whose validation is already shown (a form sent back with its error), so the
/// position is there without JavaScript too.
pub fn checked_editor(ctx: &Ctx, name: &str, value: &str, kind: &str) -> Markup {
    let verdict = verdict(ctx, value, kind);
    textarea(
        name,
        value,
        kind,
        "input changed delay:400ms",
        Some(verdict),
    )
}

/// The editor's textarea (validated on `trigger`) and its announced result.
fn textarea(name: &str, value: &str, kind: &str, trigger: &str, shown: Option<Markup>) -> Markup {
    let out = format!("{name}-validation");
    html! {
        textarea.code #(name) name=(name) rows="12" spellcheck="false"
            aria-describedby=(out)
            hx-post="/console/policy/validate"
            hx-trigger=(trigger)
            hx-target=(format!("#{out}"))
            hx-vals=(format!(r#"{{"kind": "{kind}", "field": "{name}"}}"#)) { (value) }
        output.validation #(out) for=(name) aria-live="polite" { @if let Some(v) = shown { (v) } }
    }
}

/// The validation of `doc` as a policy of `kind` (nothing for an empty document).
fn verdict(ctx: &Ctx, doc: &str, kind: &str) -> Markup {
    if doc.trim().is_empty() {
        return html! {};
    }
    match check(doc, kind_of(kind)) {
        Ok(()) => html! { span.valid { (ctx.t("The policy is valid.")) } },
        Err(e) => html! {
            span.invalid role="alert" {
                strong.code { (e.code) } ": " span.message { (e.message) } " "
                span.position { "(" (ctx.t("line")) " " (e.line) ", " (ctx.t("column")) " " (e.column) ")" }
            }
        },
    }
}

pub async fn validate(ctx: Ctx, Extension(form): Extension<Form>) -> Response {
    let doc = form.get(form.get("field"));
    let fragment = if ctx.user.is_none() {
        html! {}
    } else {
        verdict(&ctx, doc, form.get("kind"))
    };
    let mut r = (StatusCode::OK, fragment.into_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_errors_are_placed_where_the_json_breaks() {
        let e = check(
            "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n}",
            PolicyKind::Identity,
        )
        .unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        assert_eq!(e.message, "Syntax errors in policy.");
        assert_eq!((e.line, e.column), (4, 1));
    }

    #[test]
    fn a_bad_statement_is_placed_at_its_start() {
        let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"},\n    {\"Effect\": \"Allow\", \"Resource\": \"*\"}\n  ]\n}";
        let e = check(doc, PolicyKind::Identity).unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        assert_eq!(e.line, 5);
        assert!(
            check(
                &doc.replace(",\n    {\"Effect\": \"Allow\", \"Resource\": \"*\"}", ""),
                PolicyKind::Identity
            )
            .is_ok()
        );
    }
}
