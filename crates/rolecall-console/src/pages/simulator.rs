//! The policy simulator: a principal's policies (user, group or role ARN:
//! SimulatePrincipalPolicy) or custom policy documents (SimulateCustomPolicy) × actions ×
//! resources × context keys (`ContextEntries`) → the decision per pair, each matched statement
//! highlighted (`<mark>`) in its policy's text at the positions the simulation reports.
//! Documents of a principal's policies are read through the API as the signed-in principal.

use super::Signed;
use super::sim_documents::{Documents, documents, matched, results};
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, radio, table, text};
use axum::Extension;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

/// `ContextKeyTypeEnum` of the IAM model.
const KEY_TYPES: [&str; 12] = [
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// One `ContextEntries` member as the form gives it.
struct ContextEntry {
    key: String,
    ty: String,
    values: Vec<String>,
}

/// What the form asks.
struct Input {
    custom: bool,
    principal: String,
    /// The non-empty custom documents, in order (`PolicyInputList.N` is the N-th).
    policies: Vec<String>,
    actions: Vec<String>,
    resources: Vec<String>,
    context: Vec<ContextEntry>,
}

impl Input {
    fn read(form: &Form) -> Input {
        let policies = numbered(form, "policy_")
            .map(|(_, d)| d.to_string())
            .filter(|d| !d.trim().is_empty())
            .collect();
        let context = numbered(form, "ctx_key_")
            .filter(|(_, k)| !k.trim().is_empty())
            .map(|(n, k)| {
                let ty = match form.get(&format!("ctx_type_{n}")) {
                    t if KEY_TYPES.contains(&t) => t,
                    _ => "string",
                };
                let raw = form.get(&format!("ctx_values_{n}"));
                // A list type's values are separated by commas; a single value is kept whole.
                let values = if ty.ends_with("List") {
                    raw.split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect()
                } else {
                    vec![raw.trim().to_string()]
                };
                ContextEntry {
                    key: k.trim().to_string(),
                    ty: ty.to_string(),
                    values,
                }
            })
            .collect();
        Input {
            custom: form.get("mode") == "custom",
            principal: form.get("principal").trim().to_string(),
            policies,
            actions: lines(form.get("actions")),
            resources: lines(form.get("resources")),
            context,
        }
    }

    /// The operation and its parameters.
    fn call(&self) -> (&'static str, Vec<(String, String)>) {
        let mut p: Vec<(String, String)> = Vec::new();
        let op = if self.custom {
            for (i, d) in self.policies.iter().enumerate() {
                p.push((format!("PolicyInputList.member.{}", i + 1), d.clone()));
            }
            "SimulateCustomPolicy"
        } else {
            p.push(("PolicySourceArn".into(), self.principal.clone()));
            "SimulatePrincipalPolicy"
        };
        for (i, a) in self.actions.iter().enumerate() {
            p.push((format!("ActionNames.member.{}", i + 1), a.clone()));
        }
        for (i, r) in self.resources.iter().enumerate() {
            p.push((format!("ResourceArns.member.{}", i + 1), r.clone()));
        }
        for (i, e) in self.context.iter().enumerate() {
            let m = format!("ContextEntries.member.{}", i + 1);
            p.push((format!("{m}.ContextKeyName"), e.key.clone()));
            p.push((format!("{m}.ContextKeyType"), e.ty.clone()));
            for (j, v) in e.values.iter().enumerate() {
                p.push((format!("{m}.ContextKeyValues.member.{}", j + 1), v.clone()));
            }
        }
        (op, p)
    }
}

/// The form's fields `{prefix}N` (N = 1, 2, ...) with their N, in the form's order.
fn numbered<'a>(form: &'a Form, prefix: &'a str) -> impl Iterator<Item = (usize, &'a str)> {
    form.0.iter().filter_map(move |(k, v)| {
        let n = k.strip_prefix(prefix)?.parse::<usize>().ok()?;
        Some((n, v.as_str()))
    })
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn form(Signed(ctx): Signed) -> Response {
    render(&ctx, &Form::default(), None)
}

pub async fn run(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let input = Input::read(&form);
    let (op, params) = input.call();
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let result = match ctx.iam(op, &refs).await {
        Ok(r) => {
            let custom = input.custom.then_some(input.policies.as_slice());
            let docs = documents(&ctx, &input.principal, custom, &r).await;
            Ok((r, docs))
        }
        Err(e) => Err(e),
    };
    render(&ctx, &form, Some(result))
}

/// The char index of the character at 1-based `line` and `column` of `doc`.
fn char_index(doc: &str, line: usize, column: usize) -> Option<usize> {
    let (mut l, mut c) = (1, 1);
    for (i, ch) in doc.chars().enumerate() {
        if (l, c) == (line, column) {
            return Some(i);
        }
        if ch == '\n' {
            l += 1;
            c = 1;
        } else {
            c += 1;
        }
    }
    None
}

/// The chars of `doc` a statement spans: the simulator's `StartPosition` is just after its
/// `{`, `EndPosition` just after its `}`.
fn statement_range(
    doc: &str,
    start: (usize, usize),
    end: (usize, usize),
) -> Option<std::ops::Range<usize>> {
    let from = char_index(doc, start.0, start.1.checked_sub(1)?)?;
    let to = char_index(doc, end.0, end.1.checked_sub(1)?)? + 1;
    (from < to).then_some(from..to)
}

/// `doc` with the statement marked; the document unmarked if the positions do not fit it.
fn highlighted(doc: &str, start: (usize, usize), end: (usize, usize)) -> Markup {
    let chars: Vec<char> = doc.chars().collect();
    let part = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    html! {
        pre.policy.matched tabindex="0" { code {
            @match statement_range(doc, start, end) {
                Some(r) => {
                    (part(0..r.start)) mark { (part(r.clone())) } (part(r.end..chars.len()))
                }
                None => (doc),
            }
        } }
    }
}

fn position(m: &Node, which: &str) -> (usize, usize) {
    let p = m.child(which);
    let n = |f| {
        p.map(|p| text(p, f))
            .unwrap_or_default()
            .parse()
            .unwrap_or(0)
    };
    (n("Line"), n("Column"))
}

fn result_rows(ctx: &Ctx, r: &Node, docs: &Documents) -> Markup {
    html! {
        @for m in results(r) {
            @let decision = text(m, "EvalDecision");
            tr {
                td { code { (text(m, "EvalActionName")) } }
                td { code { (text(m, "EvalResourceName")) } }
                td {
                    strong.decision class=(if decision == "allowed" { "valid" } else { "invalid" }) { (decision) }
                    @let missing = m.child("MissingContextValues").map(|p| p.children.as_slice()).unwrap_or_default();
                    @if !missing.is_empty() {
                        p.hint { (ctx.t("Missing context values")) ": "
                            @for k in missing { code { (k.text) } " " } }
                    }
                }
                td { @for s in matched(m) {
                    @let key = (text(s, "SourcePolicyType").to_string(), text(s, "SourcePolicyId").to_string());
                    @let (start, end) = (position(s, "StartPosition"), position(s, "EndPosition"));
                    div.statement {
                        p { (key.1) " (" (key.0) ") " (ctx.t("line")) " " (start.0) ", " (ctx.t("column")) " " (start.1) }
                        @match docs.get(&key) {
                            Some(Ok(doc)) => (highlighted(doc, start, end)),
                            Some(Err(e)) => (error_box(ctx, e)),
                            None => {}
                        }
                    }
                } }
            }
        }
    }
}

/// Rows shown: the ones given and one more, at least `min`.
fn slots(given: usize, min: usize) -> usize {
    (given + 1).max(min)
}

fn render(ctx: &Ctx, form: &Form, result: Option<Result<(Node, Documents), ApiError>>) -> Response {
    let custom = form.get("mode") == "custom";
    let principal = match form.get("principal") {
        "" if !custom => ctx
            .user
            .as_ref()
            .map(|u| u.principal.arn.as_str())
            .unwrap_or_default(),
        p => p,
    };
    let policies: Vec<&str> = numbered(form, "policy_")
        .map(|(_, d)| d)
        .filter(|d| !d.trim().is_empty())
        .collect();
    let keys: Vec<usize> = numbered(form, "ctx_key_")
        .filter(|(_, k)| !k.trim().is_empty())
        .map(|(n, _)| n)
        .collect();
    // Results first (the form, kept as sent, follows to ask again).
    let body = html! {
        @match &result {
            None => {}
            Some(Err(e)) => (error_box(ctx, e)),
            Some(Ok((r, docs))) => {
                section aria-labelledby="results-h" {
                    h2 #results-h { (ctx.t("Results")) }
                    (table(ctx, "results", &["Action", "Resource", "Decision", "Matched statements"], result_rows(ctx, r, docs)))
                }
            }
        }
        form.stack method="post" action="/console/simulator" {
            (csrf_field(ctx))
            fieldset {
                legend { (ctx.t("Policies to simulate")) }
                (radio(ctx, ("mode", "principal"), "The policies of a principal", None, !custom))
                label for="principal" { (ctx.t("Principal (user, group or role ARN)")) }
                input #principal name="principal" value=(principal);
                (radio(ctx, ("mode", "custom"), "Custom policies", None, custom))
                @for n in 1..=slots(policies.len(), 1) {
                    @let name = format!("policy_{n}");
                    label for=(name) { (ctx.t("Policy document")) " " (n) }
                    (super::policy::editor(&name, policies.get(n - 1).copied().unwrap_or_default(), "identity"))
                }
                p.hint { (ctx.t("Another empty document appears after each run.")) }
            }
            label for="actions" { (ctx.t("Actions (one per line)")) }
            textarea.code #actions name="actions" rows="4" required { (form.get("actions")) }
            label for="resources" { (ctx.t("Resources (one per line; empty: *)")) }
            textarea.code #resources name="resources" rows="3" { (form.get("resources")) }
            fieldset {
                legend { (ctx.t("Context keys")) }
                p.hint { (ctx.t("Values of a list type are separated by commas.")) }
                table.context-keys {
                    thead { tr {
                        th scope="col" { (ctx.t("Key")) }
                        th scope="col" { (ctx.t("Type")) }
                        th scope="col" { (ctx.t("Values")) }
                    } }
                    tbody { @for row in 1..=slots(keys.len(), 2) {
                        @let given = keys.get(row - 1).copied();
                        @let field = |f: &str| given.map(|n| form.get(&format!("{f}{n}"))).unwrap_or_default();
                        tr {
                            td {
                                label.visually-hidden for=(format!("ctx_key_{row}")) { (ctx.t("Context key")) " " (row) }
                                input.code id=(format!("ctx_key_{row}")) name=(format!("ctx_key_{row}")) placeholder="aws:ResourceTag/team" value=(field("ctx_key_"));
                            }
                            td {
                                label.visually-hidden for=(format!("ctx_type_{row}")) { (ctx.t("Type")) " " (row) }
                                select id=(format!("ctx_type_{row}")) name=(format!("ctx_type_{row}")) {
                                    @for t in KEY_TYPES { option value=(t) selected[field("ctx_type_") == t] { (t) } }
                                }
                            }
                            td {
                                label.visually-hidden for=(format!("ctx_values_{row}")) { (ctx.t("Values")) " " (row) }
                                input id=(format!("ctx_values_{row}")) name=(format!("ctx_values_{row}")) value=(field("ctx_values_"));
                            }
                        }
                    } }
                }
            }
            button #run type="submit" { (ctx.t("Run simulation")) }
        }
    };
    page(ctx, ctx.t("Policy simulator"), body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rolecall_policy::statement_span;

    #[test]
    fn the_marked_range_is_the_statement_the_scanner_located() {
        let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"A\", \"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n    {\n      \"Sid\": \"B\", \"Effect\": \"Deny\", \"Action\": \"s3:DeleteObject\", \"Resource\": \"*\"\n    }\n  ]\n}";
        for (n, sid) in [(0, "\"A\""), (1, "\"B\"")] {
            let (start, end) = statement_span(doc, n).unwrap();
            let r = statement_range(doc, start, end).unwrap();
            let marked: String = doc.chars().skip(r.start).take(r.len()).collect();
            assert!(marked.starts_with('{') && marked.ends_with('}'), "{marked}");
            assert!(
                marked.contains(sid) && serde_json::from_str::<serde_json::Value>(&marked).is_ok()
            );
        }
        // Positions outside the document mark nothing.
        assert_eq!(statement_range(doc, (40, 2), (41, 2)), None);
        assert_eq!(statement_range(doc, (4, 0), (4, 3)), None);
    }

    #[test]
    fn context_entries_follow_the_key_type() {
        let form = Form(
            [
                ("mode", "custom"),
                ("policy_1", "{}"),
                ("policy_2", " "),
                ("actions", "s3:GetObject\n\ns3:PutObject"),
                ("ctx_key_1", "aws:ResourceTag/team"),
                ("ctx_type_1", "string"),
                ("ctx_values_1", "blue, green"),
                ("ctx_key_2", "aws:SourceIp"),
                ("ctx_type_2", "ipList"),
                ("ctx_values_2", "10.0.0.1, 10.0.0.2"),
                ("ctx_key_3", ""),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let (op, p) = Input::read(&form).call();
        assert_eq!(op, "SimulateCustomPolicy");
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PolicyInputList.member.1"), Some("{}"));
        assert_eq!(get("PolicyInputList.member.2"), None);
        assert_eq!(get("ActionNames.member.2"), Some("s3:PutObject"));
        assert_eq!(
            get("ContextEntries.member.1.ContextKeyValues.member.1"),
            Some("blue, green")
        );
        assert_eq!(
            get("ContextEntries.member.2.ContextKeyType"),
            Some("ipList")
        );
        assert_eq!(
            get("ContextEntries.member.2.ContextKeyValues.member.2"),
            Some("10.0.0.2")
        );
        assert_eq!(get("ContextEntries.member.3.ContextKeyName"), None);
    }
}
