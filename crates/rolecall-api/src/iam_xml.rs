//! What IAM's handlers share: policy-document encoding, tags,
//! truncation and in-memory paging, and the entities as the generated outputs' structures
//! (`generated::iam_outputs`).

use crate::error::ApiError;
use crate::generated::iam_outputs as out;
use crate::output::non_empty;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rolecall_core::Page;
use rolecall_core::iam::page;
use rolecall_core::model::{
    AccessKey, Group, InstanceProfile, ManagedPolicy, PolicyVersion, Role, Tag, User,
};

/// AWS returns policy documents URL-encoded (RFC 3986: all but unreserved characters).
const POLICY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn encode_policy(doc: &str) -> String {
    utf8_percent_encode(doc, POLICY_ENCODE).to_string()
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

/// A list output's `IsTruncated` and `Marker` for `page`.
pub(crate) fn truncated<T>(page: &Page<T>) -> (Option<bool>, Option<String>) {
    let marker = page.next.as_deref();
    (
        Some(page.next.is_some()),
        marker.map(rolecall_core::paging::encode_token),
    )
}

/// A list operation's output (`outputs::$unit`): `page`'s items, each made an output member by
/// `$convert`, as `$field`, with `IsTruncated` and `Marker`.
macro_rules! page_output {
    ($unit:ident { $field:ident }, $page:expr, $convert:expr) => {{
        let page = $page;
        let (is_truncated, marker) = $crate::iam_xml::truncated(&page);
        let items: Vec<_> = page.items.iter().map($convert).collect();
        $crate::generated::outputs::$unit {
            $field: items.into(),
            is_truncated,
            marker,
        }
    }};
}
pub(crate) use page_output;

pub(crate) fn tag(t: &Tag) -> out::Tag {
    out::Tag {
        key: t.key.clone(),
        value: t.value.clone(),
    }
}

/// An entity's tags, left out when it has none (as AWS does).
fn tags(tags: &[Tag]) -> Option<Vec<out::Tag>> {
    non_empty(tags.iter().map(tag).collect())
}

fn boundary(arn: Option<&str>) -> Option<out::AttachedPermissionsBoundary> {
    arn.map(|arn| out::AttachedPermissionsBoundary {
        permissions_boundary_type: Some("PermissionsBoundaryPolicy".into()),
        permissions_boundary_arn: Some(arn.into()),
    })
}

/// The Role structure. `full` adds what only GetRole/CreateRole return (boundary, tags, last
/// used).
pub(crate) fn role(r: &Role, full: bool) -> out::Role {
    out::Role {
        path: r.path.clone(),
        role_name: r.name.clone(),
        role_id: r.id.clone(),
        arn: r.arn.clone(),
        create_date: r.create_date,
        assume_role_policy_document: Some(encode_policy(&r.assume_role_policy_document)),
        description: r.description.clone(),
        max_session_duration: Some(r.max_session_duration.into()),
        permissions_boundary: full
            .then(|| boundary(r.permissions_boundary.as_deref()))
            .flatten(),
        tags: full.then(|| tags(&r.tags)).flatten(),
        role_last_used: full.then(out::RoleLastUsed::default),
    }
}

pub(crate) fn profile(p: &InstanceProfile) -> out::InstanceProfile {
    out::InstanceProfile {
        path: p.path.clone(),
        instance_profile_name: p.name.clone(),
        instance_profile_id: p.id.clone(),
        arn: p.arn.clone(),
        create_date: p.create_date,
        roles: p.roles.iter().map(|r| role(r, false)).collect(),
        tags: tags(&p.tags),
    }
}

/// The Policy structure. `full` adds what only GetPolicy/CreatePolicy return (description,
/// tags).
pub(crate) fn policy(p: &ManagedPolicy, full: bool) -> out::Policy {
    out::Policy {
        policy_name: Some(p.name.clone()),
        policy_id: Some(p.id.clone()),
        arn: Some(p.arn.clone()),
        path: Some(p.path.clone()),
        default_version_id: Some(p.default_version_id.clone()),
        attachment_count: Some(p.attachment_count.into()),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: full.then(|| p.description.clone()).flatten(),
        create_date: Some(p.create_date),
        update_date: Some(p.update_date),
        tags: full.then(|| tags(&p.tags)).flatten(),
    }
}

/// A PolicyVersion structure, with its (URL-encoded) document when `with_document`.
pub(crate) fn version(v: &PolicyVersion, with_document: bool) -> out::PolicyVersion {
    out::PolicyVersion {
        document: with_document.then(|| encode_policy(&v.document)),
        version_id: Some(v.version_id.clone()),
        is_default_version: Some(v.is_default),
        create_date: Some(v.create_date),
    }
}

/// The User structure. `full` adds what only GetUser/CreateUser return (boundary, tags).
pub(crate) fn user(u: &User, full: bool) -> out::User {
    out::User {
        path: Some(u.path.clone()),
        user_name: Some(u.name.clone()),
        user_id: u.id.clone(),
        arn: u.arn.clone(),
        create_date: u.create_date,
        password_last_used: None,
        permissions_boundary: full
            .then(|| boundary(u.permissions_boundary.as_deref()))
            .flatten(),
        tags: full.then(|| tags(&u.tags)).flatten(),
    }
}

pub(crate) fn group(g: &Group) -> out::Group {
    out::Group {
        path: g.path.clone(),
        group_name: g.name.clone(),
        group_id: g.id.clone(),
        arn: g.arn.clone(),
        create_date: g.create_date,
    }
}

/// An access key's metadata; the root's keys have no user name (and AWS sends none).
pub(crate) fn key_metadata(k: &AccessKey) -> out::AccessKeyMetadata {
    out::AccessKeyMetadata {
        user_name: Some(k.user_name.clone()).filter(|n| !n.is_empty()),
        access_key_id: Some(k.id.clone()),
        status: Some(k.status.clone()),
        create_date: Some(k.create_date),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Value;
    use rolecall_core::model::IamEntity;

    fn written(v: &impl Value) -> String {
        let mut x = rolecall_wire::Xml::new();
        v.write(&mut x);
        x.finish()
            .split_once('\n')
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// A role as GetRole writes it: the model's member order, absent members left out, the
    /// boundary and an empty RoleLastUsed only in the full form, no Tags element without tags.
    #[test]
    fn a_role_in_awss_order_and_form() {
        let r = Role {
            entity: IamEntity {
                id: "AROAEXAMPLE".into(),
                name: "r".into(),
                path: "/".into(),
                arn: "arn:aws:iam::123456789012:role/r".into(),
                create_date: chrono::DateTime::UNIX_EPOCH,
            },
            assume_role_policy_document: "{\"a\": 1}".into(),
            description: None,
            max_session_duration: 3600,
            tags: vec![],
            permissions_boundary: Some("arn:aws:iam::aws:policy/B".into()),
        };
        let head = "<Path>/</Path><RoleName>r</RoleName><RoleId>AROAEXAMPLE</RoleId>\
            <Arn>arn:aws:iam::123456789012:role/r</Arn><CreateDate>1970-01-01T00:00:00Z</CreateDate>\
            <AssumeRolePolicyDocument>%7B%22a%22%3A%201%7D</AssumeRolePolicyDocument>\
            <MaxSessionDuration>3600</MaxSessionDuration>";
        assert_eq!(written(&role(&r, false)), head);
        assert_eq!(
            written(&role(&r, true)),
            format!(
                "{head}<PermissionsBoundary><PermissionsBoundaryType>PermissionsBoundaryPolicy\
                 </PermissionsBoundaryType><PermissionsBoundaryArn>arn:aws:iam::aws:policy/B\
                 </PermissionsBoundaryArn></PermissionsBoundary><RoleLastUsed></RoleLastUsed>"
            )
        );
    }
}
