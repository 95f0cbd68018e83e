//! The policy simulator: a principal (user, group or role ARN) × actions × resources →
//! SimulatePrincipalPolicy's decision per pair, with the statements that decided it (policy and
//! position in its document).

use super::Signed;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, table, text};
use axum::Extension;
use axum::response::Response;
use maud::html;
use rolecall_wire::xml_read::Node;

pub async fn form(Signed(ctx): Signed) -> Response {
    render(&ctx, &Form::default(), None)
}

pub async fn run(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let actions: Vec<String> = lines(form.get("actions"));
    let resources: Vec<String> = lines(form.get("resources"));
    let keys: Vec<(String, String)> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("ActionNames.member.{}", i + 1), a.clone()))
        .chain(
            resources
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("ResourceArns.member.{}", i + 1), r.clone())),
        )
        .collect();
    let mut params: Vec<(&str, &str)> = vec![("PolicySourceArn", form.get("principal").trim())];
    params.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let result = ctx.iam("SimulatePrincipalPolicy", &params).await;
    render(&ctx, &form, Some(result))
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn render(
    ctx: &Ctx,
    form: &Form,
    result: Option<Result<Node, rolecall_api::error::ApiError>>,
) -> Response {
    let principal = match form.get("principal") {
        "" => ctx
            .user
            .as_ref()
            .map(|u| u.principal.arn.as_str())
            .unwrap_or_default(),
        p => p,
    };
    let body = html! {
        form.stack method="post" action="/console/simulator" {
            (csrf_field(ctx))
            label for="principal" { (ctx.t("Principal (user, group or role ARN)")) }
            input #principal name="principal" required value=(principal);
            label for="actions" { (ctx.t("Actions (one per line)")) }
            textarea.code #actions name="actions" rows="4" required { (form.get("actions")) }
            label for="resources" { (ctx.t("Resources (one per line; empty: *)")) }
            textarea.code #resources name="resources" rows="3" { (form.get("resources")) }
            button type="submit" { (ctx.t("Run simulation")) }
        }
        @match &result {
            None => {}
            Some(Err(e)) => (error_box(ctx, e)),
            Some(Ok(r)) => {
                (table(ctx, "results", &["Action", "Resource", "Decision", "Matched statements"], html! {
                    @for m in r.find("EvaluationResults").map(|p| p.children.as_slice()).unwrap_or_default() {
                        @let decision = text(m, "EvalDecision");
                        tr {
                            td { code { (text(m, "EvalActionName")) } }
                            td { code { (text(m, "EvalResourceName")) } }
                            td { strong class=(if decision == "allowed" { "valid" } else { "invalid" }) { (decision) } }
                            td { ul { @for s in m.child("MatchedStatements").map(|p| p.children.as_slice()).unwrap_or_default() {
                                li {
                                    (text(s, "SourcePolicyId")) " (" (text(s, "SourcePolicyType")) ") "
                                    (ctx.t("line")) " " (s.child("StartPosition").map(|p| text(p, "Line")).unwrap_or_default())
                                    ", " (ctx.t("column")) " " (s.child("StartPosition").map(|p| text(p, "Column")).unwrap_or_default())
                                }
                            } } }
                        }
                    }
                }))
            }
        }
    };
    page(ctx, ctx.t("Policy simulator"), body)
}
