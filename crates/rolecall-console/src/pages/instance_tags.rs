//! An instance's tags on its page: the list with a remove button per tag, and a form adding (or
//! overwriting) one, through CreateTags / DeleteTags as the signed-in principal.

use super::Signed;
use crate::ctx::Ctx;
use crate::guard::Form;
use crate::layout::{csrf_field, error_box, page, see_other, seg, text};
use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use rolecall_wire::xml_read::Node;

/// The tags section of the instance page (`i`: its DescribeInstances item).
pub fn section(ctx: &Ctx, id: &str, i: &Node) -> Markup {
    let tags = i
        .child("tagSet")
        .map(|s| s.children.as_slice())
        .unwrap_or_default();
    let action = format!("/console/instances/{}/tags", seg(id));
    html! {
        section aria-labelledby="tags-h" {
            h2 #tags-h { (ctx.t("Tags")) }
            @if tags.is_empty() {
                p { (ctx.t("No tags.")) }
            } @else {
                table #tags {
                    thead { tr {
                        th scope="col" { (ctx.t("Key")) }
                        th scope="col" { (ctx.t("Value")) }
                        th scope="col" { span.visually-hidden { (ctx.t("Actions")) } }
                    } }
                    tbody { @for t in tags {
                        @let key = text(t, "key");
                        tr {
                            td { code { (key) } }
                            td { (text(t, "value")) }
                            td { form method="post" action=(action) {
                                (csrf_field(ctx))
                                input type="hidden" name="op" value="remove";
                                input type="hidden" name="key" value=(key);
                                button.secondary type="submit" aria-label=(format!("{} {key}", ctx.t("Remove tag"))) { (ctx.t("Remove tag")) }
                            } }
                        }
                    } }
                }
            }
            form.row #add-tag method="post" action=(action) {
                (csrf_field(ctx))
                input type="hidden" name="op" value="add";
                label for="tag_key" { (ctx.t("Key")) }
                input #tag_key name="key" required maxlength="128";
                label for="tag_value" { (ctx.t("Value")) }
                input #tag_value name="value" maxlength="256";
                button type="submit" { (ctx.t("Add tag")) }
            }
        }
    }
}

pub async fn change(
    Signed(ctx): Signed,
    Path(id): Path<String>,
    Extension(form): Extension<Form>,
) -> Response {
    let key = form.get("key");
    let r = match form.get("op") {
        "remove" => {
            ctx.ec2("DeleteTags", &[("ResourceId.1", &id), ("Tag.1.Key", key)])
                .await
        }
        _ => {
            ctx.ec2(
                "CreateTags",
                &[
                    ("ResourceId.1", &id),
                    ("Tag.1.Key", key),
                    ("Tag.1.Value", form.get("value")),
                ],
            )
            .await
        }
    };
    match r {
        Ok(_) => see_other(&ctx, &format!("/console/instances/{}#tags-h", seg(&id))),
        Err(e) => page(
            &ctx,
            ctx.t("Tags"),
            html! {
                (error_box(&ctx, &e))
                p { a href=(format!("/console/instances/{}", seg(&id))) { (id) } }
            },
        ),
    }
}
