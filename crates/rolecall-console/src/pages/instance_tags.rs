//! An instance's tags on its page (the shared `tags` section), changed through CreateTags /
//! DeleteTags as the signed-in principal.

use super::Posted;
use super::instances::page_of;
use super::tags;
use crate::ctx::Ctx;
use crate::layout::{error_box, page, see_other, seg};
use axum::response::Response;
use maud::{Markup, html};
use rolecall_wire::xml_read::Node;

/// The tags section of the instance page (`i`: its DescribeInstances item).
pub fn section(ctx: &Ctx, id: &str, i: &Node) -> Markup {
    let tags = tags::pairs(i.child("tagSet"), "key", "value");
    tags::section(
        ctx,
        &format!("/console/instances/{}/tags", seg(id)),
        Ok(tags),
    )
}

pub async fn change(Posted(ctx, id, form): Posted) -> Response {
    match tags::apply(&ctx, &form, &tags::EC2, ("ResourceId.1", &id)).await {
        Err(unknown) => unknown,
        Ok(Ok(_)) => see_other(&ctx, &format!("{}#tags-h", page_of(&id))),
        Ok(Err(e)) => page(
            &ctx,
            ctx.t("Tags"),
            html! {
                (error_box(&ctx, &e))
                p { a href=(page_of(&id)) { (id) } }
            },
        ),
    }
}
