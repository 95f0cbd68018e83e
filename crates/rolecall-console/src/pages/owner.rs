//! The permissions of a policy owner (an IAM user, group or role), one component for the three
//! pages: its inline policies (add or edit with the validating editor, delete) and its attached
//! managed policies (attach, detach). Every change is the owner's own IAM action
//! (`PutUserPolicy`, `AttachGroupPolicy`, ...), run as the signed-in principal.

use super::{Posted, search};
use crate::Shared;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{
    csrf_field, error_box, page, policy_block, policy_text, see_other, seg, table, text,
};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User,
    Group,
    Role,
}

impl Owner {
    /// The word IAM's action names use (`PutUserPolicy`, `ListAttachedGroupPolicies`).
    fn noun(self) -> &'static str {
        match self {
            Owner::User => "User",
            Owner::Group => "Group",
            Owner::Role => "Role",
        }
    }

    /// The owner's name parameter.
    fn param(self) -> &'static str {
        match self {
            Owner::User => "UserName",
            Owner::Group => "GroupName",
            Owner::Role => "RoleName",
        }
    }

    fn action(self, verb: &str, suffix: &str) -> String {
        format!("{verb}{}{suffix}", self.noun())
    }

    /// The owner's page.
    pub fn page(self, name: &str) -> String {
        let area = match self {
            Owner::User => "users",
            Owner::Group => "groups",
            Owner::Role => "roles",
        };
        format!("/console/{area}/{}", seg(name))
    }
}

/// What a user or group list page says (roles have their own list, `roles::list`).
struct ListWords {
    listing: search::Listing,
    title: &'static str,
    /// The create form's field (its name and id).
    input: &'static str,
    field: &'static str,
    create: &'static str,
    search: &'static str,
    empty: &'static str,
    heading: &'static str,
    max_len: &'static str,
}

fn list_words(owner: Owner) -> ListWords {
    match owner {
        Owner::User | Owner::Role => ListWords {
            listing: search::Listing {
                action: "ListUsers",
                members: "Users",
                name: "UserName",
                base: "/console/users",
            },
            title: "Users",
            input: "user_name",
            field: "User name",
            create: "Create user",
            search: "Search users by name",
            empty: "No users.",
            heading: "User name",
            max_len: "64",
        },
        Owner::Group => ListWords {
            listing: search::Listing {
                action: "ListGroups",
                members: "Groups",
                name: "GroupName",
                base: "/console/groups",
            },
            title: "Groups",
            input: "group_name",
            field: "Group name",
            create: "Create group",
            search: "Search groups by name",
            empty: "No groups.",
            heading: "Group name",
            max_len: "128",
        },
    }
}

/// The list of users or groups (search, pages) with a create form, `error` on top.
pub async fn list_page(ctx: &Ctx, owner: Owner, error: Option<&ApiError>) -> Response {
    let w = list_words(owner);
    let title = ctx.t(w.title);
    let (members, next) = match search::find(ctx, &w.listing).await {
        Ok(found) => found,
        Err(e) => return page(ctx, title, error_box(ctx, &e)),
    };
    let id = &w.listing.base["/console/".len()..];
    let body = html! {
        @if let Some(e) = error { (error_box(ctx, e)) }
        form.search id=(format!("create-{}", owner.noun().to_lowercase())) method="post" action=(w.listing.base) {
            (csrf_field(ctx))
            label for=(w.input) { (ctx.t(w.field)) }
            input id=(w.input) name=(w.input) required maxlength=(w.max_len);
            button type="submit" { (ctx.t(w.create)) }
        }
        (search::form(ctx, &w.listing, w.search))
        @if members.is_empty() {
            p { (ctx.t(w.empty)) }
        } @else {
            (table(ctx, id, &[w.heading, "Path", "Created"], html! {
                @for m in &members {
                    @let name = text(m, w.listing.name);
                    tr {
                        td { a href=(owner.page(name)) { (name) } }
                        td { (text(m, "Path")) }
                        td { (text(m, "CreateDate")) }
                    }
                }
            }))
        }
        (search::pager(ctx, &w.listing, next.as_deref()))
    };
    page(ctx, title, body)
}

/// CreateUser / CreateGroup from a list page's form: to the new page, or the list with the error.
pub async fn create(ctx: &Ctx, owner: Owner, form: &Form) -> Response {
    let name = form.get(list_words(owner).input).trim();
    let action = owner.action("Create", "");
    match ctx.iam(&action, &[(owner.param(), name)]).await {
        Ok(_) => see_other(ctx, &owner.page(name)),
        Err(e) => list_page(ctx, owner, Some(&e)).await,
    }
}

/// The inline and attached policy sections of `name`'s page. `draft` is a form to show again
/// (an inline policy that was refused); else the `edit` query parameter names the inline
/// policy to load into the editor.
pub async fn sections(ctx: &Ctx, owner: Owner, name: &str, draft: &Form) -> Markup {
    let inline = inline_policies(ctx, owner, name).await;
    let attached = ctx
        .iam(
            &owner.action("ListAttached", "Policies"),
            &[(owner.param(), name)],
        )
        .await;
    let attached: Result<Vec<Node>, ApiError> = attached.map(|r| children(&r, "AttachedPolicies"));
    let managed = ctx
        .iam("ListPolicies", &[("MaxItems", "100")])
        .await
        .map(|r| children(&r, "Policies"));
    let (edit_name, edit_doc) = match (draft.get("policy_name"), &inline) {
        ("", Ok(list)) => {
            let wanted = ctx.query("edit");
            list.iter()
                .find(|(n, _)| !wanted.is_empty() && n == wanted)
                .map(|(n, d)| (n.clone(), d.as_ref().cloned().unwrap_or_default()))
                .unwrap_or_default()
        }
        (n, _) => (n.to_string(), draft.get("policy_document").to_string()),
    };
    let action = format!("{}/policies", owner.page(name));
    let change = |change: &str, field: &str, value: &str, label: &'static str| {
        html! {
            form.inline method="post" action=(action) {
                (csrf_field(ctx))
                input type="hidden" name="change" value=(change);
                input type="hidden" name=(field) value=(value);
                button type="submit" { (ctx.t(label)) }
            }
        }
    };
    html! {
        section aria-labelledby="inline" {
            h2 #inline { (ctx.t("Inline policies")) }
            @match &inline {
                Ok(list) if list.is_empty() => p { (ctx.t("None")) },
                Ok(list) => {
                    ul.policies #inline-policies {
                        @for (policy_name, doc) in list {
                            li {
                                details open {
                                    summary { (policy_name) }
                                    @match doc {
                                        Ok(d) => (policy_block(d)),
                                        Err(e) => (error_box(ctx, e)),
                                    }
                                }
                                a href=(format!("{}?edit={}#inline-editor", owner.page(name), seg(policy_name))) { (ctx.t("Edit")) }
                                " "
                                (change("delete", "policy_name", policy_name, "Delete"))
                            }
                        }
                    }
                }
                Err(e) => (error_box(ctx, e)),
            }
            h3 #inline-editor { (ctx.t("Add or replace an inline policy")) }
            form.stack #inline-form method="post" action=(action) {
                (csrf_field(ctx))
                input type="hidden" name="change" value="put";
                label for="policy_name" { (ctx.t("Policy name")) }
                input #policy_name name="policy_name" required maxlength="128" value=(edit_name);
                (super::policy::labelled_editor(ctx, ("policy_document", "Policy document"), &edit_doc, "identity"))
                button type="submit" { (ctx.t("Save")) }
            }
        }
        section aria-labelledby="attached" {
            h2 #attached { (ctx.t("Attached policies")) }
            @match &attached {
                Ok(list) if list.is_empty() => p { (ctx.t("None")) },
                Ok(list) => (table(ctx, "attached-policies", &["Policy name", "ARN", "Actions"], html! {
                    @for p in list {
                        tr {
                            td { a href=(format!("/console/policies/view?arn={}", seg(text(p, "PolicyArn")))) { (text(p, "PolicyName")) } }
                            td { code { (text(p, "PolicyArn")) } }
                            td { (change("detach", "policy_arn", text(p, "PolicyArn"), "Detach")) }
                        }
                    }
                })),
                Err(e) => (error_box(ctx, e)),
            }
            @if let Ok(policies) = &managed {
                form.search #attach-form method="post" action=(action) {
                    (csrf_field(ctx))
                    input type="hidden" name="change" value="attach";
                    label for="attach_arn" { (ctx.t("Attach a managed policy")) }
                    select #attach_arn name="policy_arn" required {
                        @for p in policies {
                            option value=(text(p, "Arn")) { (text(p, "PolicyName")) }
                        }
                    }
                    button type="submit" { (ctx.t("Attach")) }
                }
            }
        }
    }
}

fn children(node: &Node, name: &str) -> Vec<Node> {
    node.find(name)
        .map(|p| p.children.clone())
        .unwrap_or_default()
}

type Inline = Vec<(String, Result<String, ApiError>)>;

/// Every inline policy of the owner with its document.
async fn inline_policies(ctx: &Ctx, owner: Owner, name: &str) -> Result<Inline, ApiError> {
    let names = ctx
        .iam(&owner.action("List", "Policies"), &[(owner.param(), name)])
        .await?;
    let mut out = Vec::new();
    for n in children(&names, "PolicyNames") {
        let doc = ctx
            .iam(
                &owner.action("Get", "Policy"),
                &[(owner.param(), name), ("PolicyName", &n.text)],
            )
            .await
            .map(|r| policy_text(r.find("PolicyDocument").map_or("", |d| d.text.as_str())));
        out.push((n.text, doc));
    }
    Ok(out)
}

/// Runs the change a policy form asks for: `put`, `delete`, `attach` or `detach`.
async fn apply(ctx: &Ctx, owner: Owner, name: &str, form: &Form) -> Result<(), ApiError> {
    let who = (owner.param(), name);
    let policy_name = ("PolicyName", form.get("policy_name").trim());
    let arn = ("PolicyArn", form.get("policy_arn"));
    let (action, params) = match form.get("change") {
        "put" => (
            owner.action("Put", "Policy"),
            vec![
                who,
                policy_name,
                ("PolicyDocument", form.get("policy_document")),
            ],
        ),
        "delete" => (owner.action("Delete", "Policy"), vec![who, policy_name]),
        "attach" => (owner.action("Attach", "Policy"), vec![who, arn]),
        "detach" => (owner.action("Detach", "Policy"), vec![who, arn]),
        _ => {
            return Err(ApiError::new(
                400,
                "ValidationError",
                "Unknown policy change.",
            ));
        }
    };
    ctx.iam(&action, &params).await.map(drop)
}

/// POST of a policy form on `owner`'s page: back to the page, or the page again with the error
/// (and the refused draft).
pub async fn change(owner: Owner, ctx: Ctx, name: String, form: Form) -> Response {
    let section = if matches!(form.get("change"), "attach" | "detach") {
        "#attached"
    } else {
        "#inline"
    };
    let Err(e) = apply(&ctx, owner, &name, &form).await else {
        return see_other(&ctx, &format!("{}{section}", owner.page(&name)));
    };
    let notice = error_box(&ctx, &e);
    match owner {
        Owner::User => super::users::render_detail(&ctx, &name, notice, &form).await,
        Owner::Group => super::groups::render_detail(&ctx, &name, notice, &form).await,
        // The role page is not re-rendered with a draft: the error, and the way back.
        Owner::Role => page(
            &ctx,
            &name,
            html! { (notice) p { a href=(owner.page(&name)) { (ctx.t("Back")) } } },
        ),
    }
}

/// The route of `owner`'s policy forms (`POST /console/{users,groups,roles}/{name}/policies`).
pub fn route(owner: Owner) -> MethodRouter<Shared> {
    post(move |Posted(ctx, name, form): Posted| change(owner, ctx, name, form))
}
