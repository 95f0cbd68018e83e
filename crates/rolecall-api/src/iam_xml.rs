//! What IAM's handlers share: the Query response envelope, policy-document encoding, tags,
//! truncation and in-memory paging.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolecall_core::Page;
use rolecall_core::iam::page;
use rolecall_core::model::{
    AccessKey, Group, InstanceProfile, ManagedPolicy, PolicyVersion, Role, Tag, User,
};
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

/// A list answer: the page's items as members of `element` (each written by `write`), then
/// whether the list is truncated.
pub(crate) fn respond_page<T>(
    call: &Call<'_>,
    element: &str,
    page: &Page<T>,
    write: impl Fn(&mut Xml, &T),
) -> String {
    respond(call, |x| {
        x.list(element, "member", &page.items, &write);
        truncation(x, page);
    })
}

/// What the shapes of roles, users, groups and instance profiles begin with: `Path`,
/// `{kind}Name`, `{kind}Id`, `Arn`, `CreateDate`.
fn named_xml(
    x: &mut Xml,
    kind: &str,
    [path, name, id, arn]: [&str; 4],
    created: chrono::DateTime<chrono::Utc>,
) {
    x.leaf("Path", path);
    x.leaf(&format!("{kind}Name"), name);
    x.leaf(&format!("{kind}Id"), id);
    x.leaf("Arn", arn);
    x.leaf("CreateDate", iso8601(created));
}

/// The Role shape. `full` adds what only GetRole/CreateRole return (tags, last used).
pub(crate) fn role_xml(x: &mut Xml, r: &Role, full: bool) {
    named_xml(x, "Role", [&r.path, &r.name, &r.id, &r.arn], r.create_date);
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
    named_xml(
        x,
        "InstanceProfile",
        [&p.path, &p.name, &p.id, &p.arn],
        p.create_date,
    );
    x.list("Roles", "member", &p.roles, |x, r| role_xml(x, r, false));
    if !p.tags.is_empty() {
        tags_xml(x, &p.tags);
    }
}

pub(crate) fn policy_xml(x: &mut Xml, p: &ManagedPolicy, full: bool) {
    x.leaf("PolicyName", &p.name);
    x.leaf("PolicyId", &p.id);
    x.leaf("Arn", &p.arn);
    x.leaf("Path", &p.path);
    x.leaf("DefaultVersionId", &p.default_version_id);
    x.leaf("AttachmentCount", p.attachment_count.to_string());
    x.leaf("PermissionsBoundaryUsageCount", "0");
    x.leaf("IsAttachable", "true");
    if full {
        x.leaf_opt("Description", p.description.as_deref());
    }
    x.leaf("CreateDate", iso8601(p.create_date));
    x.leaf("UpdateDate", iso8601(p.update_date));
    if full && !p.tags.is_empty() {
        tags_xml(x, &p.tags);
    }
}

pub(crate) fn version_xml(x: &mut Xml, v: &PolicyVersion, with_document: bool) {
    if with_document {
        x.leaf("Document", encode_policy(&v.document));
    }
    x.leaf("VersionId", &v.version_id);
    x.leaf("IsDefaultVersion", v.is_default.to_string());
    x.leaf("CreateDate", iso8601(v.create_date));
}

pub(crate) fn user_xml(x: &mut Xml, u: &User, full: bool) {
    named_xml(x, "User", [&u.path, &u.name, &u.id, &u.arn], u.create_date);
    if full {
        boundary_xml(x, u.permissions_boundary.as_deref());
        if !u.tags.is_empty() {
            tags_xml(x, &u.tags);
        }
    }
}

pub(crate) fn group_xml(x: &mut Xml, g: &Group) {
    named_xml(x, "Group", [&g.path, &g.name, &g.id, &g.arn], g.create_date);
}

/// An access key's metadata; the root's keys have no user name (and AWS sends none).
pub(crate) fn key_metadata_xml(x: &mut Xml, k: &AccessKey) {
    if !k.user_name.is_empty() {
        x.leaf("UserName", &k.user_name);
    }
    x.leaf("AccessKeyId", &k.id);
    x.leaf("Status", &k.status);
    x.leaf("CreateDate", iso8601(k.create_date));
}
