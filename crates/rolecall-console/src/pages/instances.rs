//! Instances: the list (state, private IP, IAM role), "Launch instance" with an instance
//! profile, the instance page (metadata options, its profile associations), and Actions →
//! Modify IAM role (associate, replace or remove, as the association calls of the API).

use super::roles::instances_in;
use super::{Posted, Signed};
use crate::Shared;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, edit_page, error_box, page, see_other, seg, table, text};
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;
use std::collections::HashMap;

pub async fn list(Signed(ctx): Signed) -> Response {
    let token = ctx.query("next").to_string();
    let mut params = vec![("MaxResults", "20")];
    if !token.is_empty() {
        params.push(("NextToken", token.as_str()));
    }
    let resp = match ctx.ec2("DescribeInstances", &params).await {
        Ok(r) => r,
        Err(e) => return page(&ctx, ctx.t("Instances"), error_box(&ctx, &e)),
    };
    let instances = instances_in(&resp);
    let roles = roles_of_profiles(&ctx, &instances).await;
    let next = text(&resp, "nextToken");
    let body = html! {
        div.actions { a.button href="/console/instances/launch" { (ctx.t("Launch instance")) } }
        @if instances.is_empty() {
            p { (ctx.t("No instances.")) }
        } @else {
            (table(&ctx, "instances", &["Instance ID", "Instance state", "Instance type", "Private IP address", "IAM role"], html! {
                @for i in &instances {
                    tr {
                        td { a href=(format!("/console/instances/{}", seg(text(i, "instanceId")))) { (text(i, "instanceId")) } }
                        td { span.state { (state_of(i)) } }
                        td { (text(i, "instanceType")) }
                        td { (text(i, "privateIpAddress")) }
                        td.role { (role_cell(&roles, i)) }
                    }
                }
            }))
        }
        nav.pager aria-label="Pages" {
            @if !token.is_empty() { a href="/console/instances" { (ctx.t("First page")) } }
            @if !next.is_empty() { a rel="next" href=(format!("/console/instances?next={}", seg(next))) { (ctx.t("Next page")) } }
        }
    };
    page(&ctx, ctx.t("Instances"), body)
}

fn state_of(i: &Node) -> &str {
    i.child("instanceState")
        .map(|s| text(s, "name"))
        .unwrap_or_default()
}

fn profile_arn(i: &Node) -> &str {
    i.child("iamInstanceProfile")
        .map(|p| text(p, "arn"))
        .unwrap_or_default()
}

/// The profile's name from its ARN (`arn:aws:iam::ACCOUNT:instance-profile/PATH/NAME`).
fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What each distinct instance profile on the page holds: its role's name (or the error of
/// reading it), one GetInstanceProfile per profile.
async fn roles_of_profiles(
    ctx: &Ctx,
    instances: &[Node],
) -> HashMap<String, Result<Option<String>, ApiError>> {
    let mut roles = HashMap::new();
    for i in instances {
        let arn = profile_arn(i);
        if arn.is_empty() || roles.contains_key(arn) {
            continue;
        }
        let role = ctx
            .iam(
                "GetInstanceProfile",
                &[("InstanceProfileName", profile_name(arn))],
            )
            .await
            .map(|r| r.find("RoleName").map(|n| n.text.clone()));
        roles.insert(arn.to_string(), role);
    }
    roles
}

fn role_cell(roles: &HashMap<String, Result<Option<String>, ApiError>>, i: &Node) -> Markup {
    let arn = profile_arn(i);
    html! {
        @match roles.get(arn) {
            None => { "–" }
            Some(Ok(Some(role))) => { a href=(format!("/console/roles/{}", seg(role))) { (role) } }
            // The profile holds no role, or the caller may not read it: show the profile.
            Some(_) => { (profile_name(arn)) }
        }
    }
}

async fn profile_options(ctx: &Ctx, selected: &str) -> Markup {
    match ctx
        .iam("ListInstanceProfiles", &[("MaxItems", "100")])
        .await
    {
        Ok(r) => html! {
            select #profile name="profile" {
                option value="" { (ctx.t("No IAM role")) }
                @for p in r.find("InstanceProfiles").map(|p| p.children.as_slice()).unwrap_or_default() {
                    @let name = text(p, "InstanceProfileName");
                    @let role = p.find("RoleName").map(|n| n.text.as_str()).unwrap_or_default();
                    option value=(name) selected[selected == name] {
                        (name) @if !role.is_empty() && role != name { " (" (role) ")" }
                    }
                }
            }
        },
        Err(e) => html! {
            (error_box(ctx, &e))
            input #profile name="profile" value=(selected);
        },
    }
}

pub async fn launch_form(Signed(ctx): Signed) -> Response {
    render_launch(&ctx, &Form::default(), None).await
}

async fn render_launch(ctx: &Ctx, form: &Form, error: Option<&ApiError>) -> Response {
    let image = match form.get("image_id") {
        "" => "ami-11aa22bb",
        i => i,
    };
    let itype = match form.get("instance_type") {
        "" => "t3.micro",
        t => t,
    };
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        form.stack method="post" action="/console/instances/launch" {
            (csrf_field(ctx))
            label for="image_id" { (ctx.t("AMI ID")) }
            input #image_id name="image_id" required value=(image);
            label for="instance_type" { (ctx.t("Instance type")) }
            input #instance_type name="instance_type" required value=(itype);
            label for="profile" { (ctx.t("IAM instance profile")) }
            (profile_options(ctx, form.get("profile")).await)
            button type="submit" { (ctx.t("Launch")) }
        }
    };
    page(ctx, ctx.t("Launch instance"), body)
}

pub async fn launch(Signed(ctx): Signed, Extension(form): Extension<Form>) -> Response {
    let mut params = vec![
        ("ImageId", form.get("image_id").trim()),
        ("InstanceType", form.get("instance_type").trim()),
        ("MinCount", "1"),
        ("MaxCount", "1"),
    ];
    if !form.get("profile").is_empty() {
        params.push(("IamInstanceProfile.Name", form.get("profile")));
    }
    match ctx.ec2("RunInstances", &params).await {
        Ok(r) => {
            let id = r
                .find("instanceId")
                .map(|n| n.text.clone())
                .unwrap_or_default();
            see_other(&ctx, &page_of(&id))
        }
        Err(e) => render_launch(&ctx, &form, Some(&e)).await,
    }
}

async fn describe_one(ctx: &Ctx, id: &str) -> Result<Node, ApiError> {
    let r = ctx
        .ec2("DescribeInstances", &[("InstanceId.1", id)])
        .await?;
    Ok(instances_in(&r).into_iter().next().unwrap_or_default())
}

async fn associations(ctx: &Ctx, id: &str) -> Result<Vec<Node>, ApiError> {
    let r = ctx
        .ec2(
            "DescribeIamInstanceProfileAssociations",
            &[
                ("Filter.1.Name", "instance-id"),
                ("Filter.1.Value.1", id),
                // Every state, so that the page shows the instance's association history.
                ("Filter.2.Name", "state"),
                ("Filter.2.Value.1", "associating"),
                ("Filter.2.Value.2", "associated"),
                ("Filter.2.Value.3", "disassociating"),
                ("Filter.2.Value.4", "disassociated"),
            ],
        )
        .await?;
    Ok(r.child("iamInstanceProfileAssociationSet")
        .map(|s| s.children.clone())
        .unwrap_or_default())
}

pub async fn detail(
    State(console): State<Shared>,
    Signed(ctx): Signed,
    Path(id): Path<String>,
) -> Response {
    let i = match describe_one(&ctx, &id).await {
        Ok(i) => i,
        Err(e) => return page(&ctx, &id, error_box(&ctx, &e)),
    };
    // Only now, DescribeInstances having answered for it as the signed-in principal.
    let credential = super::credential::State::of(
        console.imds.as_deref(),
        text(&i, "instanceId"),
        !profile_arn(&i).is_empty(),
    );
    let roles = roles_of_profiles(&ctx, std::slice::from_ref(&i)).await;
    let assocs = associations(&ctx, &id).await;
    let md = i.child("metadataOptions").cloned().unwrap_or_default();
    let body = html! {
        div.actions {
            details.menu {
                summary { (ctx.t("Actions")) }
                ul {
                    li { a #modify-role href=(format!("/console/instances/{}/modify-role", seg(&id))) { (ctx.t("Modify IAM role")) } }
                    li { a #modify-metadata href=(format!("/console/instances/{}/metadata", seg(&id))) { (ctx.t("Modify instance metadata options")) } }
                }
            }
        }
        section aria-labelledby="summary" {
            h2 #summary { (ctx.t("Summary")) }
            dl.summary {
                dt { (ctx.t("Instance ID")) } dd { (text(&i, "instanceId")) }
                dt { (ctx.t("Instance state")) } dd { span.state { (state_of(&i)) } }
                dt { (ctx.t("Instance type")) } dd { (text(&i, "instanceType")) }
                dt { (ctx.t("Private IP address")) } dd { (text(&i, "privateIpAddress")) }
                dt { (ctx.t("AMI ID")) } dd { (text(&i, "imageId")) }
                dt { (ctx.t("Launch time")) } dd { (text(&i, "launchTime")) }
                dt { (ctx.t("IAM role")) } dd #iam-role { (role_cell(&roles, &i)) }
            }
        }
        section aria-labelledby="metadata" {
            h2 #metadata { (ctx.t("Metadata options")) }
            dl.summary {
                dt { "HttpTokens" } dd { (text(&md, "httpTokens")) }
                dt { "HttpPutResponseHopLimit" } dd { (text(&md, "httpPutResponseHopLimit")) }
                dt { "HttpEndpoint" } dd { (text(&md, "httpEndpoint")) }
                dt { "InstanceMetadataTags" } dd { (text(&md, "instanceMetadataTags")) }
            }
        }
        (super::credential::section(&ctx, &credential, ctx.api.clock.now()))
        (super::instance_tags::section(&ctx, &id, &i))
        section aria-labelledby="associations" {
            h2 #associations { (ctx.t("IAM instance profile associations")) }
            @match &assocs {
                Ok(list) if list.is_empty() => p { (ctx.t("None")) },
                Ok(list) => table {
                    thead { tr {
                        th scope="col" { (ctx.t("Association ID")) }
                        th scope="col" { (ctx.t("IAM instance profile")) }
                        th scope="col" { (ctx.t("State")) }
                        th scope="col" { (ctx.t("Time")) }
                    } }
                    tbody { @for a in list { tr {
                        td { (text(a, "associationId")) }
                        td { code { (a.child("iamInstanceProfile").map(|p| text(p, "arn")).unwrap_or_default()) } }
                        td { (text(a, "state")) }
                        td { (text(a, "timestamp")) }
                    } } }
                },
                Err(e) => (error_box(&ctx, e)),
            }
        }
    };
    page(&ctx, &id, body)
}

pub async fn modify_role_form(Signed(ctx): Signed, Path(id): Path<String>) -> Response {
    let current = match describe_one(&ctx, &id).await {
        Ok(i) => profile_name(profile_arn(&i)).to_string(),
        Err(e) => return page(&ctx, ctx.t("Modify IAM role"), error_box(&ctx, &e)),
    };
    render_modify(&ctx, &id, &current, None).await
}

async fn render_modify(ctx: &Ctx, id: &str, selected: &str, error: Option<&ApiError>) -> Response {
    let fields = html! {
        label for="profile" { (ctx.t("IAM role")) }
        p.hint { (ctx.t("Choose an IAM role (instance profile) to attach to your instance, or none to remove it.")) }
        (profile_options(ctx, selected).await)
        button type="submit" { (ctx.t("Update IAM role")) }
    };
    instance_form(
        ctx,
        ctx.t("Modify IAM role"),
        id,
        "modify-role",
        error,
        fields,
    )
}

pub async fn modify_role(Posted(ctx, id, form): Posted) -> Response {
    let profile = form.get("profile");
    match change_association(&ctx, &id, profile).await {
        Ok(()) => see_other(&ctx, &page_of(&id)),
        Err(e) => render_modify(&ctx, &id, profile, Some(&e)).await,
    }
}

/// Associate when the instance has no active association, replace when it has one, remove it
/// when no profile is chosen (as the EC2 console does).
async fn change_association(ctx: &Ctx, id: &str, profile: &str) -> Result<(), ApiError> {
    let active = associations(ctx, id)
        .await?
        .into_iter()
        .find(|a| matches!(text(a, "state"), "associated" | "associating"));
    let active_id = active.as_ref().map(|a| text(a, "associationId"));
    match (active_id, profile.is_empty()) {
        (None, true) => Ok(()),
        (Some(assoc), true) => ctx
            .ec2(
                "DisassociateIamInstanceProfile",
                &[("AssociationId", assoc)],
            )
            .await
            .map(drop),
        (Some(assoc), false) => ctx
            .ec2(
                "ReplaceIamInstanceProfileAssociation",
                &[
                    ("AssociationId", assoc),
                    ("IamInstanceProfile.Name", profile),
                ],
            )
            .await
            .map(drop),
        (None, false) => ctx
            .ec2(
                "AssociateIamInstanceProfile",
                &[("InstanceId", id), ("IamInstanceProfile.Name", profile)],
            )
            .await
            .map(drop),
    }
}

pub async fn metadata_form(Signed(ctx): Signed, Path(id): Path<String>) -> Response {
    match describe_one(&ctx, &id).await {
        Ok(i) => {
            let md = i.child("metadataOptions").cloned().unwrap_or_default();
            let current = Form(
                [
                    ("http_tokens", "httpTokens"),
                    ("hop_limit", "httpPutResponseHopLimit"),
                    ("http_endpoint", "httpEndpoint"),
                    ("metadata_tags", "instanceMetadataTags"),
                ]
                .iter()
                .map(|(field, name)| (field.to_string(), text(&md, name).to_string()))
                .collect(),
            );
            render_metadata(&ctx, &id, &current, None)
        }
        Err(e) => page(
            &ctx,
            ctx.t("Modify instance metadata options"),
            error_box(&ctx, &e),
        ),
    }
}

fn choice(ctx: &Ctx, id: &str, label: &'static str, options: &[&str], current: &str) -> Markup {
    html! {
        label for=(id) { (ctx.t(label)) }
        select #(id) name=(id) {
            @for o in options { option value=(o) selected[*o == current] { (o) } }
        }
    }
}

fn render_metadata(ctx: &Ctx, id: &str, form: &Form, error: Option<&ApiError>) -> Response {
    let fields = html! {
        (choice(ctx, "http_endpoint", "Instance metadata service", &["enabled", "disabled"], form.get("http_endpoint")))
        (choice(ctx, "http_tokens", "IMDSv2 (HttpTokens)", &["optional", "required"], form.get("http_tokens")))
        label for="hop_limit" { (ctx.t("Metadata response hop limit")) }
        input #hop_limit name="hop_limit" type="number" min="1" max="64" required value=(form.get("hop_limit"));
        (choice(ctx, "metadata_tags", "Allow tags in instance metadata", &["disabled", "enabled"], form.get("metadata_tags")))
        button type="submit" { (ctx.t("Save")) }
    };
    instance_form(
        ctx,
        ctx.t("Modify instance metadata options"),
        id,
        "metadata",
        error,
        fields,
    )
}

/// An instance's form page (`form`: the path below the instance's page it posts to).
fn instance_form(
    ctx: &Ctx,
    title: &str,
    id: &str,
    form: &str,
    error: Option<&ApiError>,
    fields: Markup,
) -> Response {
    let (href, action) = (page_of(id), format!("{}/{form}", page_of(id)));
    edit_page(
        ctx,
        title,
        error,
        ("Instance ID", &href, id),
        &action,
        fields,
    )
}

/// An instance's page.
pub fn page_of(id: &str) -> String {
    format!("/console/instances/{}", seg(id))
}

pub async fn modify_metadata(Posted(ctx, id, form): Posted) -> Response {
    let r = ctx
        .ec2(
            "ModifyInstanceMetadataOptions",
            &[
                ("InstanceId", &id),
                ("HttpEndpoint", form.get("http_endpoint")),
                ("HttpTokens", form.get("http_tokens")),
                ("HttpPutResponseHopLimit", form.get("hop_limit")),
                ("InstanceMetadataTags", form.get("metadata_tags")),
            ],
        )
        .await;
    match r {
        Ok(_) => see_other(&ctx, &page_of(&id)),
        Err(e) => render_metadata(&ctx, &id, &form, Some(&e)),
    }
}
