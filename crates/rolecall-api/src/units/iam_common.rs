//! What IAM units share: the entity an operation acts on (its ARN, and for roles and users the
//! tags behind `iam:ResourceTag/*`), the condition keys a typed input carries, tags and paging.

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::cache::Kind;
use crate::context::{Api, Call};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::generated::iam::Tag;
use crate::iam_xml::paged;
use crate::principal::PrincipalKind;
use rolecall_core::Page;
use rolecall_core::iam::page;
use rolecall_core::model;

/// The IAM entity an operation acts on, as authorization sees it.
pub(crate) struct Target {
    /// Its ARN with its path when it exists, else the path-less form.
    pub arn: String,
    /// Its tags (roles and users: `iam:ResourceTag/*` / `aws:ResourceTag/*`).
    pub tags: Vec<model::Tag>,
}

impl Target {
    /// The entity of `kind` named `name` (from the entity cache: no database read when cached).
    pub async fn of(api: &Api, kind: Kind, name: &str) -> Target {
        let kind_name = match kind {
            Kind::Role => "role",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::InstanceProfile => "instance-profile",
        };
        match authz::entity(api, kind, name).await {
            Some(e) => Target {
                arn: e.arn().to_string(),
                tags: match kind {
                    Kind::Role | Kind::User => e.tags().to_vec(),
                    _ => vec![],
                },
            },
            None => Target {
                arn: authz::iam_arn(api, kind_name, name),
                tags: vec![],
            },
        }
    }

    pub fn resource_tag_keys(&self) -> Keys {
        self.tags
            .iter()
            .flat_map(|t| {
                [
                    key(&format!("iam:ResourceTag/{}", t.key), t.value.clone()),
                    key(&format!("aws:ResourceTag/{}", t.key), t.value.clone()),
                ]
            })
            .collect()
    }
}

/// `UserName`, or the calling user's own name when omitted (as IAM does for users).
pub(crate) fn user_or_caller<'a>(
    call: &'a Call<'_>,
    name: &'a Option<String>,
) -> Result<&'a str, ApiError> {
    match (name, &call.principal.kind) {
        (Some(n), _) => Ok(n),
        (None, PrincipalKind::User { name, .. }) => Ok(name),
        (None, _) => Err(ApiError::missing_parameter(Protocol::Iam, "UserName")),
    }
}

pub(crate) fn iam_check(op: Operation, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("iam:{}", op.name()),
        resource,
        keys,
    }
}

/// `aws:RequestTag/*` and `aws:TagKeys` of tags a request sets.
pub(crate) fn tag_keys_of(tags: &[Tag]) -> Keys {
    let pairs: Vec<(String, String)> = tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    request_tag_keys(&pairs)
}

/// `aws:TagKeys` of tag keys a request removes.
pub(crate) fn removed_tag_keys(keys: &[String]) -> Keys {
    if keys.is_empty() {
        return vec![];
    }
    vec![("aws:TagKeys".to_string(), keys.to_vec())]
}

pub(crate) fn policy_arn_key(arn: &str) -> Keys {
    vec![key("iam:PolicyARN", arn)]
}

pub(crate) fn boundary_key(arn: Option<&str>) -> Keys {
    arn.map(|a| key("iam:PermissionsBoundary", a))
        .into_iter()
        .collect()
}

pub(crate) fn model_tags(tags: Vec<Tag>) -> Vec<model::Tag> {
    tags.into_iter()
        .map(|t| model::Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

pub(crate) fn page_of(
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<rolecall_core::PageRequest, ApiError> {
    Ok(page(marker, max_items.map(|n| n.to_string()).as_deref())?)
}

/// A page of `items` held in memory, found by `key` from the input's `Marker` and `MaxItems`.
pub(crate) fn page_in_memory<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<i64>,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, ApiError> {
    paged(
        items,
        marker,
        max_items.map(|n| n.to_string()).as_deref(),
        key,
    )
}

/// The page of an entity's `tags` a ListXTags input asks for (by key).
pub(crate) fn tags_page(
    tags: Vec<model::Tag>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<model::Tag>, ApiError> {
    page_in_memory(tags, marker, max_items, |t| t.key.clone())
}

/// The optional `keys(|input| ...)` argument of the unit macros: the condition keys the
/// request's input carries (none when omitted).
macro_rules! input_keys {
    ($input:ident) => {{
        let _ = $input;
        $crate::authz::Keys::new()
    }};
    ($input:ident, $keys:expr) => {{
        let keys: fn(&Self::Input) -> $crate::authz::Keys = $keys;
        keys($input)
    }};
}
pub(crate) use input_keys;

/// The handler shapes most IAM units take, as a unit macro's last argument instead of
/// `|call, input| { ... }`: `empty(|iam, input| core_call)`, a core call answered with the
/// operation's empty output (a delete, an update), and `output(|found| value, |iam, input|
/// core_call)`, the operation's output `value` built from what core returns (`found`). `iam`
/// is `call.api.iam`; the core call is awaited and its error answered.
macro_rules! answer {
    ($call:ident, $input:ident, $unit:ident, empty(|$iam:ident, $in:ident| $core:expr)) => {{
        let ($iam, $in) = (&$call.api.iam, $input);
        $core.await?;
        let out = $crate::generated::outputs::$unit::default();
        Ok(out)
    }};
    ($call:ident, $input:ident, $unit:ident, output(|$found:ident| $out:expr, |$iam:ident, $in:ident| $core:expr$(,)?)) => {{
        let ($iam, $in) = (&$call.api.iam, $input);
        let $found = $core.await?;
        Ok($out)
    }};
}
pub(crate) use answer;

/// A unit acting on one named IAM entity: resolves `Target::of(Kind::$kind, input.$field)`
/// (`UserOrCaller(user_name)`: the calling user when the name is omitted), checks `iam:$unit`
/// on it with the input's keys (`keys(|input| ...)`, optional) plus its resource tags. The
/// handler is `|call, input| { ... }` or a shape of `answer!` (`empty(...)`, `output(...)`).
macro_rules! on_entity {
    ($unit:ident, $kind:ident($field:ident), $(keys($keys:expr),)? empty($($answer:tt)+)) => {
        $crate::units::iam_common::on_entity!($unit, $kind($field), $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, empty($($answer)+))
        });
    };
    ($unit:ident, $kind:ident($field:ident), $(keys($keys:expr),)? output($($answer:tt)+)) => {
        $crate::units::iam_common::on_entity!($unit, $kind($field), $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, output($($answer)+))
        });
    };
    ($unit:ident, UserOrCaller($field:ident), $(keys($keys:expr),)? |$call:tt, $in:tt| $body:block) => {
        $crate::units::iam_common::on_entity!(@unit $unit, $($keys)?, |$call, $in| $body, |call, input| {
            match &input.$field {
                Some(name) => {
                    $crate::units::iam_common::Target::of(call.api, $crate::cache::Kind::User, name)
                        .await
                }
                // `UserName` omitted: the calling user acts on itself (its own ARN).
                None => $crate::units::iam_common::Target {
                    arn: call.principal.arn.clone(),
                    tags: vec![],
                },
            }
        });
    };
    ($unit:ident, $kind:ident($field:ident), $(keys($keys:expr),)? |$call:tt, $in:tt| $body:block) => {
        $crate::units::iam_common::on_entity!(@unit $unit, $($keys)?, |$call, $in| $body, |call, input| {
            $crate::units::iam_common::Target::of(call.api, $crate::cache::Kind::$kind, &input.$field)
                .await
        });
    };
    (@unit $unit:ident, $($keys:expr)?, |$call:tt, $in:tt| $body:block, |$rc:ident, $ri:ident| $resolve:block) => {
        $crate::units::unit!(
            $unit,
            resolve |$rc, $ri| -> $crate::units::iam_common::Target $resolve,
            checks |_, input, target| {
                let mut keys = $crate::units::iam_common::input_keys!(input $(, $keys)?);
                keys.extend(target.resource_tag_keys());
                vec![$crate::units::iam_common::iam_check(Self::OP, target.arn.clone(), keys)]
            },
            handle |$call, $in, _| $body
        );
    };
}
pub(crate) use on_entity;

/// A unit whose resource is fixed by its input alone (`$resource(call, input)`), with the
/// input's keys (`keys(|input| ...)`, optional): creations (the new entity's ARN), lists (the
/// listed path), managed-policy operations (`on_policy!`).
macro_rules! on_resource {
    ($unit:ident, $resource:expr, $(keys($keys:expr),)? empty($($answer:tt)+)) => {
        $crate::units::iam_common::on_resource!($unit, $resource, $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, empty($($answer)+))
        });
    };
    ($unit:ident, $resource:expr, $(keys($keys:expr),)? output($($answer:tt)+)) => {
        $crate::units::iam_common::on_resource!($unit, $resource, $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, output($($answer)+))
        });
    };
    ($unit:ident, $resource:expr, $(keys($keys:expr),)? |$call:tt, $in:tt| $body:block) => {
        $crate::units::unit!(
            $unit,
            resolve |_, _| -> () {},
            checks |call, input, _| {
                let resource: fn(&$crate::context::Call<'_>, &Self::Input) -> String = $resource;
                let keys = $crate::units::iam_common::input_keys!(input $(, $keys)?);
                vec![$crate::units::iam_common::iam_check(Self::OP, resource(call, input), keys)]
            },
            handle |$call, $in, _| $body
        );
    };
}
pub(crate) use on_resource;

/// A managed-policy unit: on the policy ARN the request names, with `iam:PolicyARN` (unless
/// other `keys(...)` are given).
macro_rules! on_policy {
    ($unit:ident, $(keys($keys:expr),)? empty($($answer:tt)+)) => {
        $crate::units::iam_common::on_policy!($unit, $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, empty($($answer)+))
        });
    };
    ($unit:ident, $(keys($keys:expr),)? output($($answer:tt)+)) => {
        $crate::units::iam_common::on_policy!($unit, $(keys($keys),)? |call, input| {
            $crate::units::iam_common::answer!(call, input, $unit, output($($answer)+))
        });
    };
    ($unit:ident, $(keys($keys:expr),)? |$call:tt, $in:tt| $body:block) => {
        $crate::units::iam_common::on_resource!(
            $unit,
            |_, input| input.policy_arn.clone(),
            keys($crate::units::iam_common::on_policy!(@keys $($keys)?)),
            |$call, $in| $body
        );
    };
    (@keys) => {
        |input| $crate::units::iam_common::policy_arn_key(&input.policy_arn)
    };
    (@keys $keys:expr) => {
        $keys
    };
}
pub(crate) use on_policy;

/// The tag units of one entity kind named by `input.$field` (roles, users, instance profiles):
/// `Tag…` (`aws:RequestTag/*`, `aws:TagKeys`), `Untag…` (`aws:TagKeys`) and `List…Tags`, through
/// core's `$tag` / `$untag` / `$get` of that kind, written in that order in `units`.
macro_rules! tag_units {
    ($kind:ident($field:ident), $tag:ident, $untag:ident, $get:ident, units [
        $tag_unit:ident,
        $untag_unit:ident,
        $list_unit:ident$(,)?
    ]$(,)?) => {
        $crate::units::iam_common::on_entity!(
            $tag_unit,
            $kind($field),
            keys(|input| $crate::units::iam_common::tag_keys_of(&input.tags)),
            empty(|iam, input| {
                iam.$tag(
                    &input.$field,
                    $crate::units::iam_common::model_tags(input.tags),
                )
            })
        );

        $crate::units::iam_common::on_entity!(
            $untag_unit,
            $kind($field),
            keys(|input| $crate::units::iam_common::removed_tag_keys(&input.tag_keys)),
            |call, input| {
                let keys: Vec<&str> = input.tag_keys.iter().map(String::as_str).collect();
                call.api.iam.$untag(&input.$field, &keys).await?;
                let out = $crate::generated::outputs::$untag_unit::default();
                Ok(out)
            }
        );

        $crate::units::iam_common::on_entity!($list_unit, $kind($field), |call, input| {
            let entity = call.api.iam.$get(&input.$field).await?;
            let marker = input.marker.as_deref();
            let page = $crate::units::iam_common::tags_page(entity.tags, marker, input.max_items)?;
            let out =
                $crate::iam_xml::page_output!($list_unit { tags }, page, $crate::iam_xml::tag);
            Ok(out)
        });
    };
}
pub(crate) use tag_units;

/// The list of one entity kind under a path prefix (ListRoles, ListUsers, ...): authorized on
/// the listed path (`arn:aws:iam::ACCOUNT:$arn_kind/`), paged in the store by `$list`, answered
/// with the page's items made output members of `$field` by `$convert`.
macro_rules! list_by_path {
    ($unit:ident, $arn_kind:literal, $list:ident, $field:ident, $convert:expr) => {
        $crate::units::iam_common::on_resource!(
            $unit,
            |call, input| {
                let path = input.path_prefix.as_deref();
                $crate::authz::with_path(call.api, $arn_kind, path, "")
            },
            |call, input| {
                let page =
                    $crate::units::iam_common::page_of(input.marker.as_deref(), input.max_items)?;
                let page = call
                    .api
                    .iam
                    .$list(input.path_prefix.as_deref(), &page)
                    .await?;
                let out = $crate::iam_xml::page_output!($unit { $field }, page, $convert);
                Ok(out)
            }
        );
    };
}
pub(crate) use list_by_path;

/// The seven policy units of one owner kind (roles, users, groups: core's owner-keyed model):
/// `Put/Get/List/Delete{Owner}Policy` (inline) and `Attach/Detach/ListAttached{Owner}Policies`
/// (managed), each on the owner named by `input.$field`, written in the same order as `units`.
macro_rules! owner_policies {
    // Attach and Detach: core's `$change` of the managed policy on the owner, `iam:PolicyARN`.
    (@managed $unit:ident, $kind:ident($field:ident), $change:ident) => {
        $crate::units::iam_common::on_entity!(
            $unit,
            $kind($field),
            keys(|input| $crate::units::iam_common::policy_arn_key(&input.policy_arn)),
            empty(|iam, input| {
                let owner = rolecall_core::OwnerKind::$kind;
                iam.$change(owner, &input.$field, &input.policy_arn)
            })
        );
    };
    ($kind:ident($field:ident), units [
        $put:ident,
        $get:ident,
        $list:ident,
        $delete:ident,
        $attach:ident,
        $detach:ident,
        $list_attached:ident$(,)?
    ]) => {
        use rolecall_core::OwnerKind;
        use $crate::iam_xml::{encode_policy, page_output};
        use $crate::units::iam_common::{on_entity, page_of};

        on_entity!(
            $put,
            $kind($field),
            empty(|iam, input| {
                let (name, doc) = (&input.policy_name, &input.policy_document);
                iam.put_owner_policy(OwnerKind::$kind, &input.$field, name, doc)
            })
        );

        on_entity!($get, $kind($field), |call, input| {
            let iam = &call.api.iam;
            let (owner, name, doc) = iam
                .get_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_name)
                .await?;
            let out = $crate::generated::outputs::$get {
                $field: owner,
                policy_name: name,
                policy_document: encode_policy(&doc),
            };
            Ok(out)
        });

        on_entity!($list, $kind($field), |call, input| {
            let page = page_of(input.marker.as_deref(), input.max_items)?;
            let page = call
                .api
                .iam
                .list_owner_policies(OwnerKind::$kind, &input.$field, &page)
                .await?;
            Ok(page_output!($list { policy_names }, page, String::clone))
        });

        on_entity!(
            $delete,
            $kind($field),
            empty(|iam, input| {
                iam.delete_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_name)
            })
        );

        $crate::units::iam_common::owner_policies!(@managed $attach, $kind($field), attach_owner_policy);
        $crate::units::iam_common::owner_policies!(@managed $detach, $kind($field), detach_owner_policy);

        on_entity!($list_attached, $kind($field), |call, input| {
            let page = page_of(input.marker.as_deref(), input.max_items)?;
            let prefix = input.path_prefix.as_deref();
            let page = call
                .api
                .iam
                .list_attached_owner_policies(OwnerKind::$kind, &input.$field, prefix, &page)
                .await?;
            let out = page_output!($list_attached { attached_policies }, page, |p| {
                $crate::generated::iam_outputs::AttachedPolicy {
                    policy_name: Some(p.name.clone()),
                    policy_arn: Some(p.arn.clone()),
                }
            });
            Ok(out)
        });
    };
}
pub(crate) use owner_policies;

/// The creation of a role or user (`Create…`, the core call `|iam, input| ...`): on the new
/// principal's ARN (its path and name), with `iam:PermissionsBoundary` and the request's tags as
/// condition keys, answered with its output (`role` / `user`: the new principal in full).
macro_rules! create_principal {
    ($unit:ident, Role(role_name), $($create:tt)+) => {
        $crate::units::iam_common::create_principal!(
            @unit $unit, "role"(role_name),
            |created| $crate::generated::outputs::$unit {
                role: $crate::iam_xml::role(&created, true)
            },
            $($create)+
        );
    };
    ($unit:ident, User(user_name), $($create:tt)+) => {
        $crate::units::iam_common::create_principal!(
            @unit $unit, "user"(user_name),
            |created| $crate::generated::outputs::$unit {
                user: Some($crate::iam_xml::user(&created, true))
            },
            $($create)+
        );
    };
    (@unit $unit:ident, $arn_kind:literal($field:ident), |$found:ident| $out:expr, $($create:tt)+) => {
        $crate::units::iam_common::on_resource!(
            $unit,
            |call, input| {
                let path = input.path.as_deref();
                $crate::authz::with_path(call.api, $arn_kind, path, &input.$field)
            },
            keys(|input| {
                let boundary = input.permissions_boundary.as_deref();
                let mut keys = $crate::units::iam_common::boundary_key(boundary);
                keys.extend($crate::units::iam_common::tag_keys_of(&input.tags));
                keys
            }),
            output(|$found| $out, $($create)+)
        );
    };
}
pub(crate) use create_principal;

/// What roles and users (IAM's principals with tags and a permissions boundary) share beyond
/// creation, reading and listing, each unit named with core's method of that kind behind it, in
/// this order: `Delete…`, `Tag…`/`Untag…`/`List…Tags` (`tag_units!`, the last through core's
/// getter), and `Put…PermissionsBoundary` (`iam:PermissionsBoundary`) /
/// `Delete…PermissionsBoundary`.
macro_rules! principal_units {
    ($kind:ident($field:ident), units [
        $delete_unit:ident($delete:ident),
        $tag_unit:ident($tag:ident),
        $untag_unit:ident($untag:ident),
        $list_tags_unit:ident($get:ident),
        $put_boundary_unit:ident($put_boundary:ident),
        $delete_boundary_unit:ident($delete_boundary:ident)$(,)?
    ]$(,)?) => {
        $crate::units::iam_common::on_entity!(
            $delete_unit,
            $kind($field),
            empty(|iam, input| iam.$delete(&input.$field))
        );

        $crate::units::iam_common::tag_units!($kind($field), $tag, $untag, $get, units [
            $tag_unit,
            $untag_unit,
            $list_tags_unit,
        ]);

        $crate::units::iam_common::on_entity!(
            $put_boundary_unit,
            $kind($field),
            keys(|input| $crate::units::iam_common::boundary_key(Some(
                &input.permissions_boundary
            ))),
            empty(|iam, input| iam.$put_boundary(&input.$field, &input.permissions_boundary))
        );

        $crate::units::iam_common::on_entity!(
            $delete_boundary_unit,
            $kind($field),
            empty(|iam, input| iam.$delete_boundary(&input.$field))
        );
    };
}
pub(crate) use principal_units;
