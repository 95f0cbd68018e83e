//! What IAM units share: the entity an operation acts on (its ARN, and for roles and users the
//! tags behind `iam:ResourceTag/*`), the condition keys a typed input carries, tags and paging.

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::cache::Kind;
use crate::context::{Api, Call};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::generated::iam::Tag;
use crate::principal::PrincipalKind;
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
                arn: e.arn.clone(),
                tags: match kind {
                    Kind::Role | Kind::User => e.tags.clone(),
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

/// `MaxItems` as the in-memory pager takes it.
pub(crate) fn max_items_str(max_items: Option<i64>) -> Option<String> {
    max_items.map(|n| n.to_string())
}

/// A unit acting on one named IAM entity: resolves `Target::of(Kind::$kind, input.$field)`
/// (`User(caller or user_name)`: the calling user when the name is omitted), checks
/// `iam:$unit` on it with the keys `$keys(input)` plus its resource tags, and handles with
/// `$handle(call, input)`.
macro_rules! on_entity {
    // `UserName` omitted: the calling user acts on itself (authorized on the caller's ARN).
    ($unit:ident, $input:ident, User(caller or $field:ident), $keys:expr, $handle:expr) => {
        $crate::units::iam_common::on_entity!(@unit $unit, $input, $keys, $handle, |call, input| {
            match &input.$field {
                Some(name) => {
                    $crate::units::iam_common::Target::of(
                        call.api,
                        $crate::cache::Kind::User,
                        name,
                    )
                    .await
                }
                None => $crate::units::iam_common::Target {
                    arn: call.principal.arn.clone(),
                    tags: vec![],
                },
            }
        });
    };
    ($unit:ident, $input:ident, $kind:ident($field:ident), $keys:expr, $handle:expr) => {
        $crate::units::iam_common::on_entity!(@unit $unit, $input, $keys, $handle, |call, input| {
            $crate::units::iam_common::Target::of(call.api, $crate::cache::Kind::$kind, &input.$field)
                .await
        });
    };
    (@unit $unit:ident, $input:ident, $keys:expr, $handle:expr, |$call:ident, $in:ident| $resolve:block) => {
        pub(crate) struct $unit;

        impl $crate::units::Unit for $unit {
            const OP: $crate::generated::Operation = $crate::generated::Operation::$unit;
            type Input = $crate::generated::iam::$input;
            type Resolved = $crate::units::iam_common::Target;

            async fn resolve(
                $call: &$crate::context::Call<'_>,
                $in: &Self::Input,
            ) -> Result<Self::Resolved, $crate::error::ApiError> {
                Ok($resolve)
            }

            fn checks(
                _: &$crate::context::Call<'_>,
                input: &Self::Input,
                target: &Self::Resolved,
            ) -> Vec<$crate::authz::Check> {
                let keys: fn(&Self::Input) -> $crate::authz::Keys = $keys;
                let mut keys = keys(input);
                keys.extend(target.resource_tag_keys());
                vec![$crate::units::iam_common::iam_check(
                    Self::OP,
                    target.arn.clone(),
                    keys,
                )]
            }

            async fn handle(
                call: &$crate::context::Call<'_>,
                input: Self::Input,
                _: Self::Resolved,
            ) -> Result<String, $crate::error::ApiError> {
                $handle(call, input).await
            }
        }
    };
}
pub(crate) use on_entity;

/// A unit whose resource is fixed by its input alone (`$resource(call, input)`), with keys
/// `$keys(input)`: creations (the new entity's ARN), lists (the listed path), managed-policy
/// operations (the policy ARN).
macro_rules! on_resource {
    ($unit:ident, $input:ident, $resource:expr, $keys:expr, $handle:expr) => {
        pub(crate) struct $unit;

        impl $crate::units::Unit for $unit {
            const OP: $crate::generated::Operation = $crate::generated::Operation::$unit;
            type Input = $crate::generated::iam::$input;
            type Resolved = ();

            async fn resolve(
                _: &$crate::context::Call<'_>,
                _: &Self::Input,
            ) -> Result<(), $crate::error::ApiError> {
                Ok(())
            }

            fn checks(
                call: &$crate::context::Call<'_>,
                input: &Self::Input,
                _: &(),
            ) -> Vec<$crate::authz::Check> {
                let resource: fn(&$crate::context::Call<'_>, &Self::Input) -> String = $resource;
                let keys: fn(&Self::Input) -> $crate::authz::Keys = $keys;
                vec![$crate::units::iam_common::iam_check(
                    Self::OP,
                    resource(call, input),
                    keys(input),
                )]
            }

            async fn handle(
                call: &$crate::context::Call<'_>,
                input: Self::Input,
                _: (),
            ) -> Result<String, $crate::error::ApiError> {
                $handle(call, input).await
            }
        }
    };
}
pub(crate) use on_resource;

/// The seven policy units of one owner kind (roles, users, groups: core's owner-keyed model):
/// `Put/Get/List/Delete{Owner}Policy` (inline) and `Attach/Detach/ListAttached{Owner}Policies`
/// (managed), each on the owner named by `input.$field`, written in the same order as `units`.
macro_rules! owner_policies {
    ($kind:ident($field:ident, $element:literal), units [
        $put:ident($put_in:ident),
        $get:ident($get_in:ident),
        $list:ident($list_in:ident),
        $delete:ident($delete_in:ident),
        $attach:ident($attach_in:ident),
        $detach:ident($detach_in:ident),
        $list_attached:ident($list_attached_in:ident)$(,)?
    ]) => {
        use rolecall_core::OwnerKind;
        use $crate::context::Call;
        use $crate::generated::iam;
        use $crate::iam_xml::{encode_policy, respond, respond_empty, truncation};
        use $crate::units::iam_common::{on_entity, page_of, policy_arn_key};

        on_entity!(
            $put,
            $put_in,
            $kind($field),
            |_| vec![],
            async |call: &Call<'_>, input: iam::$put_in| {
                let iam = &call.api.iam;
                iam.put_owner_policy(
                    OwnerKind::$kind,
                    &input.$field,
                    &input.policy_name,
                    &input.policy_document,
                )
                .await?;
                Ok(respond_empty(call))
            }
        );

        on_entity!(
            $get,
            $get_in,
            $kind($field),
            |_| vec![],
            async |call: &Call<'_>, input: iam::$get_in| {
                let (owner, name, doc) = call
                    .api
                    .iam
                    .get_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_name)
                    .await?;
                Ok(respond(call, |x| {
                    x.leaf($element, &owner);
                    x.leaf("PolicyName", &name);
                    x.leaf("PolicyDocument", encode_policy(&doc));
                }))
            }
        );

        on_entity!(
            $list,
            $list_in,
            $kind($field),
            |_| vec![],
            async |call: &Call<'_>, input: iam::$list_in| {
                let page = page_of(input.marker.as_deref(), input.max_items)?;
                let page = call
                    .api
                    .iam
                    .list_owner_policies(OwnerKind::$kind, &input.$field, &page)
                    .await?;
                Ok(respond(call, |x| {
                    // List members of strings are bare text in the Query protocol.
                    x.list("PolicyNames", "member", &page.items, |x, n| {
                        x.leaf_text(n);
                    });
                    truncation(x, &page);
                }))
            }
        );

        on_entity!(
            $delete,
            $delete_in,
            $kind($field),
            |_| vec![],
            async |call: &Call<'_>, input: iam::$delete_in| {
                let iam = &call.api.iam;
                iam.delete_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_name)
                    .await?;
                Ok(respond_empty(call))
            }
        );

        on_entity!(
            $attach,
            $attach_in,
            $kind($field),
            |input| policy_arn_key(&input.policy_arn),
            async |call: &Call<'_>, input: iam::$attach_in| {
                let iam = &call.api.iam;
                iam.attach_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_arn)
                    .await?;
                Ok(respond_empty(call))
            }
        );

        on_entity!(
            $detach,
            $detach_in,
            $kind($field),
            |input| policy_arn_key(&input.policy_arn),
            async |call: &Call<'_>, input: iam::$detach_in| {
                let iam = &call.api.iam;
                iam.detach_owner_policy(OwnerKind::$kind, &input.$field, &input.policy_arn)
                    .await?;
                Ok(respond_empty(call))
            }
        );

        on_entity!(
            $list_attached,
            $list_attached_in,
            $kind($field),
            |_| vec![],
            async |call: &Call<'_>, input: iam::$list_attached_in| {
                let page = page_of(input.marker.as_deref(), input.max_items)?;
                let prefix = input.path_prefix.as_deref();
                let page = call
                    .api
                    .iam
                    .list_attached_owner_policies(OwnerKind::$kind, &input.$field, prefix, &page)
                    .await?;
                Ok(respond(call, |x| {
                    x.list("AttachedPolicies", "member", &page.items, |x, p| {
                        x.leaf("PolicyName", &p.name);
                        x.leaf("PolicyArn", &p.arn);
                    });
                    truncation(x, &page);
                }))
            }
        );
    };
}
pub(crate) use owner_policies;
