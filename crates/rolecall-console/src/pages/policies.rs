//! Customer managed policies: the list, create one (validated as you type), and a policy's
//! page: its default version's document, its versions (set one as default) and a new version.

use super::Signed;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{
    csrf_field, description_field, error_box, iam_pager, page, policy_block, policy_text,
    see_other, seg, table, text,
};
use axum::Extension;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;

pub async fn list(Signed(ctx): Signed) -> Response {
    let title = ctx.t("Policies");
    let resp = match ctx.iam_page("ListPolicies").await {
        Ok(r) => r,
        Err(e) => return page(&ctx, title, error_box(&ctx, &e)),
    };
    let body = html! {
        div.actions { a.button href="/console/policies/new" { (ctx.t("Create policy")) } }
        (table(&ctx, "policies", &["Policy name", "Default version", "Attachments"], html! {
            @for p in resp.find("Policies").map(|p| p.children.as_slice()).unwrap_or_default() {
                tr {
                    td { a href=(view_href(text(p, "Arn"))) { (text(p, "PolicyName")) } }
                    td { (text(p, "DefaultVersionId")) }
                    td { (text(p, "AttachmentCount")) }
                }
            }
        }))
        (iam_pager(&ctx, "/console/policies", &resp))
    };
    page(&ctx, title, body)
}

fn view_href(arn: &str) -> String {
    format!("/console/policies/view?arn={}", seg(arn))
}

pub async fn new_form(Signed(ctx): Signed) -> Response {
    render_new(&ctx, &Form::default(), None)
}

fn render_new(ctx: &Ctx, form: &Form, error: Option<&ApiError>) -> Response {
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        form.stack method="post" action="/console/policies/new" {
            (csrf_field(ctx))
            label for="policy_name" { (ctx.t("Policy name")) }
            input #policy_name name="policy_name" required maxlength="128" value=(form.get("policy_name"));
            (description_field(ctx, form.get("description")))
            (super::policy::labelled_editor(ctx, ("document", "Policy document"), form.get("document"), "managed"))
            button type="submit" { (ctx.t("Create policy")) }
        }
    };
    page(ctx, ctx.t("Create policy"), body)
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let mut params = vec![
        ("PolicyName", form.get("policy_name").trim()),
        ("PolicyDocument", form.get("document")),
    ];
    if !form.get("description").trim().is_empty() {
        params.push(("Description", form.get("description").trim()));
    }
    match ctx.iam("CreatePolicy", &params).await {
        Ok(r) => see_other(
            &ctx,
            &view_href(r.find("Arn").map(|n| n.text.as_str()).unwrap_or_default()),
        ),
        Err(e) => render_new(&ctx, &form, Some(&e)),
    }
}

pub async fn view(Signed(ctx): Signed) -> Response {
    let arn = ctx.query("arn").to_string();
    render_view(&ctx, &arn, html! {}, "").await
}

async fn render_view(ctx: &Ctx, arn: &str, notice: Markup, draft: &str) -> Response {
    let policy = match ctx.iam("GetPolicy", &[("PolicyArn", arn)]).await {
        Ok(r) => r.find("Policy").cloned().unwrap_or_default(),
        Err(e) => return page(ctx, ctx.t("Policies"), error_box(ctx, &e)),
    };
    let name = text(&policy, "PolicyName");
    let default = text(&policy, "DefaultVersionId");
    let document = ctx
        .iam(
            "GetPolicyVersion",
            &[("PolicyArn", arn), ("VersionId", default)],
        )
        .await
        .map(|r| {
            policy_text(
                r.find("Document")
                    .map(|d| d.text.as_str())
                    .unwrap_or_default(),
            )
        });
    let versions = ctx.iam("ListPolicyVersions", &[("PolicyArn", arn)]).await;
    let draft = match (draft, &document) {
        ("", Ok(d)) => d.as_str(),
        (d, _) => d,
    };
    let body = html! {
        (notice)
        dl.summary {
            dt { "ARN" } dd { code { (arn) } }
            dt { (ctx.t("Description")) } dd { (text(&policy, "Description")) }
            dt { (ctx.t("Default version")) } dd { (default) }
            dt { (ctx.t("Attachments")) } dd { (text(&policy, "AttachmentCount")) }
        }
        section aria-labelledby="document-h" {
            h2 #document-h { (ctx.t("Policy document")) }
            @match &document { Ok(d) => (policy_block(d)), Err(e) => (error_box(ctx, e)) }
        }
        section aria-labelledby="versions-h" {
            h2 #versions-h { (ctx.t("Policy versions")) }
            @match &versions {
                Ok(r) => (table(ctx, "versions", &["Version", "Default version", "Created", "Actions"], html! {
                    @for v in r.find("Versions").map(|p| p.children.as_slice()).unwrap_or_default() {
                        @let id = text(v, "VersionId");
                        tr {
                            td { (id) }
                            td { (text(v, "IsDefaultVersion")) }
                            td { (text(v, "CreateDate")) }
                            td {
                                @if text(v, "IsDefaultVersion") != "true" {
                                    form.inline method="post" action="/console/policies/default" {
                                        (csrf_field(ctx))
                                        input type="hidden" name="arn" value=(arn);
                                        input type="hidden" name="version" value=(id);
                                        button type="submit" { (ctx.t("Set as default")) }
                                    }
                                }
                            }
                        }
                    }
                })),
                Err(e) => (error_box(ctx, e)),
            }
            h3 { (ctx.t("Create a new version")) }
            form.stack method="post" action="/console/policies/version" {
                (csrf_field(ctx))
                input type="hidden" name="arn" value=(arn);
                (super::policy::labelled_editor(ctx, ("document", "Policy document"), draft, "managed"))
                div.choice {
                    input #set_default type="checkbox" name="set_default" value="true" checked;
                    label for="set_default" { (ctx.t("Set as default")) }
                }
                button type="submit" { (ctx.t("Save")) }
            }
        }
    };
    page(ctx, name, body)
}

pub async fn new_version(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let arn = form.get("arn");
    let set_default = if form.get("set_default") == "true" {
        "true"
    } else {
        "false"
    };
    let r = ctx
        .iam(
            "CreatePolicyVersion",
            &[
                ("PolicyArn", arn),
                ("PolicyDocument", form.get("document")),
                ("SetAsDefault", set_default),
            ],
        )
        .await;
    match r {
        Ok(_) => see_other(&ctx, &view_href(arn)),
        Err(e) => render_view(&ctx, arn, error_box(&ctx, &e), form.get("document")).await,
    }
}

pub async fn set_default(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let arn = form.get("arn");
    let r = ctx
        .iam(
            "SetDefaultPolicyVersion",
            &[("PolicyArn", arn), ("VersionId", form.get("version"))],
        )
        .await;
    match r {
        Ok(_) => see_other(&ctx, &view_href(arn)),
        Err(e) => render_view(&ctx, arn, error_box(&ctx, &e), "").await,
    }
}
