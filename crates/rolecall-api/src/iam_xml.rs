//! What IAM's handlers share: the Query response envelope, policy-document encoding, tags,
//! truncation and in-memory paging.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::params::Args;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolecall_core::Page;
use rolecall_core::iam::page;
use rolecall_core::model::Tag;
use rolecall_wire::{Xml, query_response};

/// AWS returns policy documents URL-encoded (RFC 3986: all but unreserved characters).
const POLICY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn encode_policy(doc: &str) -> String {
    utf8_percent_encode(doc, POLICY_ENCODE).to_string()
}

pub(crate) fn respond(call: &Call<'_>, body: impl Fn(&mut Xml)) -> String {
    query_response(
        call.op.name(),
        Protocol::Iam.namespace(),
        call.request_id,
        Some(&body),
    )
}

pub(crate) fn respond_empty(call: &Call<'_>) -> String {
    query_response(
        call.op.name(),
        Protocol::Iam.namespace(),
        call.request_id,
        None,
    )
}

pub(crate) fn tags_xml(x: &mut Xml, tags: &[Tag]) {
    x.list("Tags", "member", tags, |x, t| {
        x.leaf("Key", &t.key);
        x.leaf("Value", &t.value);
    });
}

pub(crate) fn truncation<T>(x: &mut Xml, page: &Page<T>) {
    x.leaf("IsTruncated", page.next.is_some().to_string());
    x.leaf_opt(
        "Marker",
        page.next
            .as_deref()
            .map(rolecall_core::paging::encode_token),
    );
}

pub(crate) fn tag_keys<'a>(args: &Args<'a>) -> Result<Vec<&'a str>, ApiError> {
    let keys = args.params.list("TagKeys.member");
    if keys.is_empty() {
        return Err(ApiError::missing_parameter(Protocol::Iam, "TagKeys"));
    }
    Ok(keys)
}

pub(crate) fn boundary_xml(x: &mut Xml, arn: Option<&str>) {
    if let Some(arn) = arn {
        x.elem("PermissionsBoundary", |x| {
            x.leaf("PermissionsBoundaryType", "PermissionsBoundaryPolicy");
            x.leaf("PermissionsBoundaryArn", arn);
        });
    }
}

/// Pages an in-memory list by a key (markers are the key of the first item not returned).
pub(crate) fn paged<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<&str>,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, ApiError> {
    let req = page(marker, max_items)?;
    let start = match &req.from {
        Some(m) => items
            .iter()
            .position(|i| &key(i) == m)
            .unwrap_or(items.len()),
        None => 0,
    };
    let rest: Vec<T> = items.into_iter().skip(start).take(req.limit + 1).collect();
    Ok(Page::from_overfetch(rest, req.limit, key))
}

pub(crate) fn paged_tags(
    tags: Vec<Tag>,
    marker: Option<&str>,
    max_items: Option<&str>,
) -> Result<Page<Tag>, ApiError> {
    paged(tags, marker, max_items, |t| t.key.clone())
}
