//! What IAM's handlers share: the Query response envelope, policy-document encoding, tags,
//! truncation and in-memory paging.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::params::Args;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolecall_core::Page;
use rolecall_core::iam::page;
use rolecall_core::model::{InstanceProfile, Role, Tag};
use rolecall_wire::{Xml, iso8601, query_response};

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

/// The Role shape. `full` adds what only GetRole/CreateRole return (tags, last used).
pub(crate) fn role_xml(x: &mut Xml, r: &Role, full: bool) {
    x.leaf("Path", &r.path);
    x.leaf("RoleName", &r.name);
    x.leaf("RoleId", &r.id);
    x.leaf("Arn", &r.arn);
    x.leaf("CreateDate", iso8601(r.create_date));
    x.leaf(
        "AssumeRolePolicyDocument",
        encode_policy(&r.assume_role_policy_document),
    );
    x.leaf_opt("Description", r.description.as_deref());
    x.leaf("MaxSessionDuration", r.max_session_duration.to_string());
    if full {
        boundary_xml(x, r.permissions_boundary.as_deref());
        if !r.tags.is_empty() {
            tags_xml(x, &r.tags);
        }
        x.elem("RoleLastUsed", |_| {});
    }
}

pub(crate) fn profile_xml(x: &mut Xml, p: &InstanceProfile) {
    x.leaf("Path", &p.path);
    x.leaf("InstanceProfileName", &p.name);
    x.leaf("InstanceProfileId", &p.id);
    x.leaf("Arn", &p.arn);
    x.leaf("CreateDate", iso8601(p.create_date));
    x.list("Roles", "member", &p.roles, |x, r| role_xml(x, r, false));
    if !p.tags.is_empty() {
        tags_xml(x, &p.tags);
    }
}
