//! The tags section of a resource's page (an instance's, a user's): the list with a remove
//! button per tag, and a form adding (or overwriting) one. Its POST's `change` is `tag` (with
//! `key` and `value`) or `untag` (with `key`); each page makes that its own service's action.

use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::text;
use crate::layout::{csrf_field, error_box, page_with_status};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_api::Service;
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

/// What a tags form asks for.
pub enum TagChange<'a> {
    Tag { key: &'a str, value: &'a str },
    Untag { key: &'a str },
}

/// How a service spells tagging: its actions and their parameters (one tag a request).
pub struct Tagging {
    pub service: Service,
    pub tag: &'static str,
    pub untag: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub untag_key: &'static str,
}

pub const EC2: Tagging = Tagging {
    service: Service::Ec2,
    tag: "CreateTags",
    untag: "DeleteTags",
    key: "Tag.1.Key",
    value: "Tag.1.Value",
    untag_key: "Tag.1.Key",
};

pub const IAM_USER: Tagging = Tagging {
    service: Service::Iam,
    tag: "TagUser",
    untag: "UntagUser",
    key: "Tags.member.1.Key",
    value: "Tags.member.1.Value",
    untag_key: "TagKeys.member.1",
};

impl<'a> TagChange<'a> {
    /// The action and parameters making this change to the tags of `resource` (its parameter
    /// and value) in a service spelling tagging as `api` does.
    pub fn request(
        &self,
        api: &Tagging,
        resource: (&'static str, &'a str),
    ) -> (&'static str, Vec<(&'static str, &'a str)>) {
        match *self {
            TagChange::Untag { key } => (api.untag, vec![resource, (api.untag_key, key)]),
            TagChange::Tag { key, value } => {
                (api.tag, vec![resource, (api.key, key), (api.value, value)])
            }
        }
    }

    /// The change a form asks for; `None` for anything but `tag` or `untag` (an unknown change
    /// must not be taken for a tag: a stale "remove" form would set the tag instead).
    pub fn of(form: &'a Form) -> Option<TagChange<'a>> {
        match form.get("change") {
            // The key of a listed tag, exactly as listed.
            "untag" => Some(TagChange::Untag {
                key: form.get("key"),
            }),
            "tag" => Some(TagChange::Tag {
                key: form.get("key").trim(),
                value: form.get("value"),
            }),
            _ => None,
        }
    }
}

/// Makes the change a tags form asks for to the tags of `resource` (its parameter and value),
/// as the signed-in principal, through `api`'s service; `Err` is the answer to a form asking
/// for no known change.
pub async fn apply(
    ctx: &Ctx,
    form: &Form,
    api: &Tagging,
    resource: (&'static str, &str),
) -> Result<Result<Node, ApiError>, Response> {
    let Some(change) = TagChange::of(form) else {
        return Err(unknown_change(ctx));
    };
    let (action, params) = change.request(api, resource);
    Ok(ctx.call(api.service, action, &params).await)
}

/// The (key, value) pairs of a response's tag list (`list`, absent when there are none); IAM
/// and EC2 spell the fields differently (`Key`, `key`).
pub fn pairs<'a>(list: Option<&'a Node>, key: &str, value: &str) -> Vec<(&'a str, &'a str)> {
    let tags = list.map(|l| l.children.as_slice()).unwrap_or_default();
    tags.iter()
        .map(|t| (text(t, key), text(t, value)))
        .collect()
}

/// The section: `tags` as (key, value) pairs, or why they could not be listed; the forms post
/// to `action`.
pub fn section(ctx: &Ctx, action: &str, tags: Result<Vec<(&str, &str)>, &ApiError>) -> Markup {
    let hidden = |change: &str| {
        html! {
            (csrf_field(ctx))
            input type="hidden" name="change" value=(change);
        }
    };
    html! {
        section aria-labelledby="tags-h" {
            h2 #tags-h { (ctx.t("Tags")) }
            @match tags {
                Err(e) => (error_box(ctx, e)),
                Ok(tags) => {
                    @if tags.is_empty() {
                        p { (ctx.t("No tags.")) }
                    } @else {
                        table #tags {
                            thead { tr {
                                th scope="col" { (ctx.t("Key")) }
                                th scope="col" { (ctx.t("Value")) }
                                th scope="col" { span.visually-hidden { (ctx.t("Actions")) } }
                            } }
                            tbody { @for (key, value) in tags {
                                tr {
                                    td { code { (key) } }
                                    td { (value) }
                                    td { form method="post" action=(action) {
                                        (hidden("untag"))
                                        input type="hidden" name="key" value=(key);
                                        button.secondary type="submit" aria-label=(format!("{} {key}", ctx.t("Remove tag"))) { (ctx.t("Remove tag")) }
                                    } }
                                }
                            } }
                        }
                    }
                }
            }
            form.row #add-tag method="post" action=(action) {
                (hidden("tag"))
                label for="tag_key" { (ctx.t("Key")) }
                input #tag_key name="key" required maxlength="128";
                label for="tag_value" { (ctx.t("Value")) }
                input #tag_value name="value" maxlength="256";
                button type="submit" { (ctx.t("Add tag")) }
            }
        }
    }
}

/// The answer to a tag form whose change is neither `tag` nor `untag`.
pub fn unknown_change(ctx: &Ctx) -> Response {
    let title = ctx.t("Tags");
    page_with_status(ctx, StatusCode::BAD_REQUEST, title, html! {})
}

#[cfg(test)]
mod tests {
    use super::TagChange;
    use crate::guard::Form;

    #[test]
    fn only_tag_and_untag_are_changes() {
        let untag = Form::parse(b"change=untag&key=+k+");
        assert!(matches!(
            TagChange::of(&untag),
            Some(TagChange::Untag { key: " k " })
        ));
        let tag = Form::parse(b"change=tag&key=+k+&value=v");
        assert!(matches!(
            TagChange::of(&tag),
            Some(TagChange::Tag {
                key: "k",
                value: "v"
            })
        ));
        // A stale form's `op=remove`, or any other change, is refused rather than taken as a tag.
        for body in [
            &b"op=remove&key=k"[..],
            b"change=remove&key=k",
            b"key=k&value=v",
        ] {
            assert!(TagChange::of(&Form::parse(body)).is_none());
        }
    }
}
