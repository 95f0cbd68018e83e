//! Roles: the list (search, paging), "Create role" (AWS service → EC2 or a custom trust policy,
//! a permissions policy, and for EC2 the instance profile of the same name, as AWS's console
//! does), and the role page (trust policy, policies, instance profiles, the instances using it,
//! and a diagram of role → instance profiles → instances).

use super::owner::{self, Owner};
use super::{Posted, Signed, search};
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{
    csrf_field, description_field, error_box, page, policy_block, policy_text, radio, see_other,
    seg, table, text,
};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

const ROLES: search::Listing = search::Listing {
    action: "ListRoles",
    members: "Roles",
    name: "RoleName",
    base: "/console/roles",
};

pub const EC2_TRUST_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Service": "ec2.amazonaws.com" },
      "Action": "sts:AssumeRole"
    }
  ]
}"#;

pub async fn list(Signed(ctx): Signed) -> Response {
    let (roles, next) = match search::find(&ctx, &ROLES).await {
        Ok(found) => found,
        Err(e) => return page(&ctx, ctx.t("Roles"), error_box(&ctx, &e)),
    };
    let body = html! {
        div.actions { a.button href="/console/roles/new" { (ctx.t("Create role")) } }
        (search::form(&ctx, &ROLES, "Search roles by name"))
        @if roles.is_empty() {
            p { (ctx.t("No roles.")) }
        } @else {
            (table(&ctx, "roles", &["Role name", "Path", "Description", "Created"], html! {
                @for r in &roles {
                    tr {
                        td { a href=(format!("/console/roles/{}", seg(text(r, "RoleName")))) { (text(r, "RoleName")) } }
                        td { (text(r, "Path")) }
                        td { (text(r, "Description")) }
                        td { time datetime=(text(r, "CreateDate")) { (text(r, "CreateDate")) } }
                    }
                }
            }))
        }
        (search::pager(&ctx, &ROLES, next.as_deref()))
    };
    page(&ctx, ctx.t("Roles"), body)
}

pub async fn new_form(Signed(ctx): Signed) -> Response {
    render_new(&ctx, &Form::default(), None).await
}

async fn render_new(ctx: &Ctx, form: &Form, error: Option<Markup>) -> Response {
    let managed = ctx
        .iam("ListPolicies", &[("Scope", "Local"), ("MaxItems", "100")])
        .await;
    let custom = form.get("trusted") == "custom";
    let trust = match form.get("trust_policy") {
        "" => EC2_TRUST_POLICY,
        t => t,
    };
    let body = html! {
        @if let Some(e) = error { (e) }
        form.stack method="post" action="/console/roles/new" {
            (csrf_field(ctx))
            fieldset {
                legend { (ctx.t("Trusted entity type")) }
                (radio(ctx, ("trusted", "ec2"), "AWS service: EC2", Some("Allows EC2 instances to call AWS services on your behalf."), !custom))
                (radio(ctx, ("trusted", "custom"), "Custom trust policy", None, custom))
                (super::policy::labelled_editor(ctx, ("trust_policy", "Trust policy"), trust, "trust"))
            }
            label for="role_name" { (ctx.t("Role name")) }
            input #role_name name="role_name" required maxlength="64" pattern="[\\w+=,.@-]+" value=(form.get("role_name"));
            (description_field(ctx, form.get("description")))
            fieldset {
                legend { (ctx.t("Permissions policy")) }
                label for="managed_policy" { (ctx.t("Attach a managed policy")) }
                @match &managed {
                    Ok(resp) => {
                        select #managed_policy name="managed_policy" {
                            option value="" { (ctx.t("None")) }
                            @for p in resp.find("Policies").map(|p| p.children.as_slice()).unwrap_or_default() {
                                option value=(text(p, "Arn")) selected[form.get("managed_policy") == text(p, "Arn")] { (text(p, "PolicyName")) }
                            }
                        }
                    }
                    Err(e) => { (error_box(ctx, e)) }
                }
                label for="inline_name" { (ctx.t("Inline policy name")) }
                input #inline_name name="inline_name" maxlength="128" value=(form.get("inline_name"));
                (super::policy::labelled_editor(ctx, ("inline_policy", "Inline policy (JSON)"), form.get("inline_policy"), "identity"))
            }
            button type="submit" { (ctx.t("Create role")) }
        }
    };
    page(ctx, ctx.t("Create role"), body)
}

pub async fn create(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let name = form.get("role_name").trim();
    match create_role(&ctx, &form, name).await {
        Ok(()) => see_other(&ctx, &format!("/console/roles/{}", seg(name))),
        Err((done, e)) => {
            let note = html! {
                (error_box(&ctx, &e))
                @if !done.is_empty() {
                    p.partial { "Done before the error: " (done.join(", ")) }
                }
            };
            render_new(&ctx, &form, Some(note)).await
        }
    }
}

/// The AWS console's steps: CreateRole, the permissions policy, and for EC2 the instance
/// profile of the same name holding the role. On error: the steps done, and the error.
async fn create_role(ctx: &Ctx, form: &Form, name: &str) -> Result<(), (Vec<String>, ApiError)> {
    let mut steps = Steps {
        ctx,
        done: Vec::new(),
    };
    let ec2 = form.get("trusted") != "custom";
    let trust = if ec2 {
        EC2_TRUST_POLICY
    } else {
        form.get("trust_policy")
    };
    let mut params = vec![("RoleName", name), ("AssumeRolePolicyDocument", trust)];
    let description = form.get("description").trim();
    if !description.is_empty() {
        params.push(("Description", description));
    }
    steps.run("CreateRole", &params).await?;
    let managed = form.get("managed_policy");
    if !managed.is_empty() {
        let params = [("RoleName", name), ("PolicyArn", managed)];
        steps.run("AttachRolePolicy", &params).await?;
    }
    let inline = form.get("inline_policy").trim();
    if !inline.is_empty() {
        let policy_name = match form.get("inline_name").trim() {
            "" => format!("{name}-policy"),
            n => n.to_string(),
        };
        let params = [
            ("RoleName", name),
            ("PolicyName", &policy_name),
            ("PolicyDocument", inline),
        ];
        steps.run("PutRolePolicy", &params).await?;
    }
    if ec2 {
        let params = [("InstanceProfileName", name)];
        steps.run("CreateInstanceProfile", &params).await?;
        let params = [("InstanceProfileName", name), ("RoleName", name)];
        steps.run("AddRoleToInstanceProfile", &params).await?;
    }
    Ok(())
}

/// IAM actions run one after another, each named in `done` once it succeeded.
struct Steps<'a> {
    ctx: &'a Ctx,
    done: Vec<String>,
}

impl Steps<'_> {
    /// Runs `action`; on its error, the error and the actions done before it.
    async fn run(
        &mut self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<(), (Vec<String>, ApiError)> {
        match self.ctx.iam(action, params).await {
            Ok(_) => {
                self.done.push(action.to_string());
                Ok(())
            }
            Err(e) => Err((std::mem::take(&mut self.done), e)),
        }
    }
}

pub async fn detail(Signed(ctx): Signed, Path(name): Path<String>) -> Response {
    let role = match ctx.iam("GetRole", &[("RoleName", &name)]).await {
        Ok(r) => r.find("Role").cloned().unwrap_or_default(),
        Err(e) => return page(&ctx, &name, error_box(&ctx, &e)),
    };
    let permissions = owner::sections(&ctx, Owner::Role, &name, &Form::default()).await;
    let profiles = ctx
        .iam("ListInstanceProfilesForRole", &[("RoleName", &name)])
        .await
        .map(|r| {
            r.find("InstanceProfiles")
                .map(|p| p.children.clone())
                .unwrap_or_default()
        });
    // The instances each profile is associated with.
    let mut using = Vec::new();
    if let Ok(profiles) = &profiles {
        for p in profiles {
            using.push((p.clone(), instances_of_profile(&ctx, text(p, "Arn")).await));
        }
    }
    let body = html! {
        section aria-labelledby="summary" {
            h2 #summary { (ctx.t("Summary")) }
            dl.summary {
                dt { "ARN" } dd { code { (text(&role, "Arn")) } }
                dt { (ctx.t("Description")) } dd { (text(&role, "Description")) }
                dt { (ctx.t("Created")) } dd { (text(&role, "CreateDate")) }
                dt { (ctx.t("Path")) } dd { (text(&role, "Path")) }
            }
        }
        section aria-labelledby="diagram" {
            h2 #diagram { (ctx.t("Role, instance profiles and instances")) }
            (diagram(&ctx, &name, &using))
        }
        section aria-labelledby="revoke" {
            h2 #revoke { (ctx.t("Revoke active sessions")) }
            p.hint { (ctx.t("Denies every action to credentials of this role issued before now (instance credentials included), with the inline policy AWSRevokeOlderSessions and aws:TokenIssueTime, as AWS's console does. New credentials are not affected.")) }
            form method="post" action=(format!("/console/roles/{}/revoke-sessions", seg(&name))) {
                (csrf_field(&ctx))
                input #revoke-ack type="checkbox" name="ack" value="yes" required;
                " "
                label for="revoke-ack" { (ctx.t("I acknowledge that I am revoking all active sessions for this role.")) }
                " "
                button #revoke-sessions type="submit" { (ctx.t("Revoke active sessions")) }
            }
        }
        section aria-labelledby="trust" {
            h2 #trust { (ctx.t("Trust policy")) }
            div.actions { a.button #edit-trust href=(format!("/console/roles/{}/trust", seg(&name))) { (ctx.t("Edit trust policy")) } }
            (policy_block(&policy_text(text(&role, "AssumeRolePolicyDocument"))))
        }
        (permissions)
        section aria-labelledby="profiles" {
            h2 #profiles { (ctx.t("Instance profiles")) }
            @match &profiles {
                Ok(list) => {
                    ul { @for p in list { li { (text(p, "InstanceProfileName")) " " code { (text(p, "Arn")) } } } }
                }
                Err(e) => (error_box(&ctx, e)),
            }
        }
        section aria-labelledby="instances" {
            h2 #instances { (ctx.t("Instances using this role")) }
            ul.instances {
                @for (p, insts) in &using {
                    @match insts {
                        Ok(list) => {
                            @for i in list {
                                li { a href=(format!("/console/instances/{}", seg(text(i, "instanceId")))) { (text(i, "instanceId")) } " (" (text(p, "InstanceProfileName")) ")" }
                            }
                        }
                        Err(e) => li { (error_box(&ctx, e)) },
                    }
                }
            }
        }
    };
    page(&ctx, &name, body)
}

/// The running or stopped instances associated with the profile (one page of 100).
pub async fn instances_of_profile(ctx: &Ctx, arn: &str) -> Result<Vec<Node>, ApiError> {
    let r = ctx
        .ec2(
            "DescribeInstances",
            &[
                ("Filter.1.Name", "iam-instance-profile.arn"),
                ("Filter.1.Value.1", arn),
                ("MaxResults", "100"),
            ],
        )
        .await?;
    Ok(instances_in(&r))
}

/// Every `instancesSet` item of a DescribeInstances response.
pub fn instances_in(resp: &Node) -> Vec<Node> {
    let mut out = Vec::new();
    for reservation in resp
        .child("reservationSet")
        .map(|s| s.children.as_slice())
        .unwrap_or_default()
    {
        out.extend(
            reservation
                .child("instancesSet")
                .map(|s| s.children.clone())
                .unwrap_or_default(),
        );
    }
    out
}

/// Role → instance profiles → instances, as nested lists drawn as boxes and arrows (readable
/// as lists without CSS).
fn diagram(ctx: &Ctx, role: &str, using: &[(Node, Result<Vec<Node>, ApiError>)]) -> Markup {
    html! {
        figure.diagram {
            ul.tree {
                li {
                    span.node.role { (ctx.t("Role")) ": " strong { (role) } }
                    @if !using.is_empty() {
                        ul {
                            @for (p, insts) in using {
                                li {
                                    span.node.profile { (ctx.t("Instance profile")) ": " strong { (text(p, "InstanceProfileName")) } }
                                    @if let Ok(list) = insts {
                                        @if !list.is_empty() {
                                            ul {
                                                @for i in list {
                                                    li { a.node.instance href=(format!("/console/instances/{}", seg(text(i, "instanceId")))) {
                                                        (text(i, "instanceId")) " "
                                                        span.state { (i.find("instanceState").map(|s| text(s, "name")).unwrap_or_default()) }
                                                    } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// AWS's "Revoke active sessions": the inline policy `AWSRevokeOlderSessions` denying everything
/// to sessions whose token was issued before now.
pub async fn revoke_sessions(Posted(ctx, name, form): Posted) -> Response {
    if form.get("ack") != "yes" {
        return see_other(&ctx, &format!("/console/roles/{}#revoke", seg(&name)));
    }
    let now = ctx
        .api
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let policy = revoke_policy(&now);
    let put = ctx
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", &name),
                ("PolicyName", "AWSRevokeOlderSessions"),
                ("PolicyDocument", &policy),
            ],
        )
        .await;
    match put {
        Ok(_) => see_other(&ctx, &format!("/console/roles/{}", seg(&name))),
        Err(e) => page(&ctx, ctx.t("Revoke active sessions"), error_box(&ctx, &e)),
    }
}

/// The policy AWS's console writes (`DateLessThan` on `aws:TokenIssueTime`).
fn revoke_policy(now: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": { "DateLessThan": { "aws:TokenIssueTime": now } }
        }]
    })
    .to_string()
}
