//! Lists with a name search and pages, for IAM lists that have no name filter (AWS's console
//! filters the pages it reads, too): roles, groups and users.

use crate::ctx::Ctx;
use crate::layout::{seg, text};
use maud::{Markup, html};
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;

const PAGE: &str = "20";
/// A search reads at most this many pages of 100 before offering to search further.
const SEARCH_PAGES: usize = 5;

/// An IAM list: its action, the element holding its members and the member's name element.
pub struct Listing {
    pub action: &'static str,
    pub members: &'static str,
    pub name: &'static str,
    /// The list page (`/console/roles`).
    pub base: &'static str,
}

/// One page of the list from the `marker` query parameter; with a search (`q`), the members
/// whose name contains it (case-insensitively) among at most `SEARCH_PAGES` pages of 100. The
/// members and the marker to continue from.
pub async fn find(ctx: &Ctx, list: &Listing) -> Result<(Vec<Node>, Option<String>), ApiError> {
    let needle = ctx.query("q").trim().to_lowercase();
    let mut marker = ctx.query("marker").to_string();
    let mut found = Vec::new();
    for _ in 0..(if needle.is_empty() { 1 } else { SEARCH_PAGES }) {
        let max = if needle.is_empty() { PAGE } else { "100" };
        let mut params = vec![("MaxItems", max)];
        if !marker.is_empty() {
            params.push(("Marker", marker.as_str()));
        }
        let resp = ctx.iam(list.action, &params).await?;
        let next = (resp.find("IsTruncated").map(|n| n.text.as_str()) == Some("true")).then(|| {
            resp.find("Marker")
                .map(|n| n.text.clone())
                .unwrap_or_default()
        });
        for m in resp
            .find(list.members)
            .map(|c| c.children.clone())
            .unwrap_or_default()
        {
            if needle.is_empty() || text(&m, list.name).to_lowercase().contains(&needle) {
                found.push(m);
            }
        }
        match next {
            Some(m) => marker = m,
            None => return Ok((found, None)),
        }
    }
    Ok((found, Some(marker)))
}

/// The search form of a list page.
pub fn form(ctx: &Ctx, list: &Listing, label: &'static str) -> Markup {
    html! {
        form.search role="search" method="get" action=(list.base) {
            label for="q" { (ctx.t(label)) }
            input #q type="search" name="q" value=(ctx.query("q").trim());
            button type="submit" { (ctx.t("Search")) }
        }
    }
}

/// First/next page links keeping the search.
pub fn pager(ctx: &Ctx, list: &Listing, next: Option<&str>) -> Markup {
    let q = ctx.query("q").trim();
    html! {
        nav.pager aria-label="Pages" {
            @if !ctx.query("marker").is_empty() {
                a href=(format!("{}?q={}", list.base, seg(q))) { (ctx.t("First page")) }
            }
            @if let Some(m) = next {
                a rel="next" href=(format!("{}?q={}&marker={}", list.base, seg(q), seg(m))) {
                    @if q.is_empty() { (ctx.t("Next page")) } @else { (ctx.t("Search further")) }
                }
            }
        }
    }
}
