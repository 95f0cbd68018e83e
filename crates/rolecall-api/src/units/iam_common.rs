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

            fn parse(p: &rolecall_wire::Params) -> Result<Self::Input, $crate::error::ApiError> {
                Self::Input::parse(p)
            }

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

            fn parse(p: &rolecall_wire::Params) -> Result<Self::Input, $crate::error::ApiError> {
                Self::Input::parse(p)
            }

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
