//! What IAM's roles, users, groups and instance profiles share: found by name (the name checked
//! first, IAM's NoSuchEntity when absent), listed under a path prefix in name order, and (all but
//! groups) tagged and untagged inside one store transaction; roles and users have a permissions
//! boundary.

use crate::iam::Iam;
use crate::iam_principals::{group_name, user_name};
use crate::model::*;
use crate::validate;
use crate::{Missing, Page, PageRequest, Principals, Result, StoreError};

/// One row per kind: `Kind { name check, what is missing, getter: store getter, lister: store
/// lister }`; each row makes the `Iam` getter and lister (`get_role`, `list_roles`, ...).
macro_rules! named_entities {
    ($($entity:ident {
        $check:path, $missing:path,
        $get:ident: $sget:ident $(::<$gt:ty>)?,
        $list:ident: $slist:ident $(::<$lt:ty>)?
    })*) => {
        impl Iam {$(
            pub async fn $get(&self, name: &str) -> Result<$entity> {
                $check(name)?;
                match self.store().$sget $(::<$gt>)? (name).await? {
                    Some(found) => Ok(found),
                    None => Err(StoreError::NotFound($missing(name.into())).into()),
                }
            }

            /// Those under `path_prefix` ("/" when none), in IAM's order: by name.
            pub async fn $list(
                &self,
                path_prefix: Option<&str>,
                page: &PageRequest,
            ) -> Result<Page<$entity>> {
                let prefix = path_prefix.unwrap_or("/");
                validate::path_prefix(prefix)?;
                let items = self.store().$slist $(::<$lt>)? (prefix, page).await?;
                Ok(Page::by_name(items, page))
            }
        )*}
    };
}

/// One row per listing of entities related to another: `method: Listed of Owner { owner's
/// getter, store lister by the owner's id }`, in name order.
macro_rules! related_entities {
    ($($method:ident: $listed:ident of $owner:ident { $get:ident, $list:ident })*) => {
        impl Iam {$(
            pub async fn $method(&self, name: &str, page: &PageRequest) -> Result<Page<$listed>> {
                let owner: $owner = self.$get(name).await?;
                let items = self.store().$list(&owner.id, page).await?;
                Ok(Page::by_name(items, page))
            }
        )*}
    };
}

related_entities! {
    list_instance_profiles_for_role: InstanceProfile of Role {
        get_role, list_instance_profiles_for_role
    }
    list_groups_for_user: Group of User { get_user, list_groups_for_user }
}

named_entities! {
    Role {
        validate::role_name, Missing::Role,
        get_role: get_principal::<Role>, list_roles: list_principals::<Role>
    }
    User {
        user_name, Missing::User,
        get_user: get_principal::<User>, list_users: list_principals::<User>
    }
    Group {
        group_name, Missing::Group,
        get_group: get_principal::<Group>, list_groups: list_principals::<Group>
    }
    InstanceProfile {
        validate::instance_profile_name, Missing::InstanceProfile,
        get_instance_profile: get_instance_profile, list_instance_profiles: list_instance_profiles
    }
}

/// One row per kind: `Kind { name check, store editor, tag method, untag method }`. Tags merge
/// as [`validate::merge_tags`] says; untagging drops the keys given (any case).
macro_rules! tagged_entities {
    ($($entity:ident {
        $check:path, $modify:ident $(::<$mt:ty>)?, $tag:ident, $untag:ident
    })*) => {
        impl Iam {$(
            pub async fn $tag(&self, name: &str, tags: Vec<Tag>) -> Result<()> {
                validate::tags(&tags)?;
                $check(name)?;
                let edit = move |e: &mut $entity| validate::merge_tags(&mut e.tags, tags);
                self.store().$modify $(::<$mt>)? (name, Box::new(edit)).await?;
                Ok(())
            }

            pub async fn $untag(&self, name: &str, keys: &[&str]) -> Result<()> {
                $check(name)?;
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                let edit = move |e: &mut $entity| {
                    e.tags.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
                    Ok(())
                };
                self.store().$modify $(::<$mt>)? (name, Box::new(edit)).await?;
                Ok(())
            }
        )*}
    };
}

tagged_entities! {
    Role { validate::role_name, modify_principal::<Role>, tag_role, untag_role }
    User { user_name, modify_principal::<User>, tag_user, untag_user }
    InstanceProfile {
        validate::instance_profile_name, modify_instance_profile,
        tag_instance_profile, untag_instance_profile
    }
}

/// One row per kind: `Kind { store editor, put method, delete method }` of its permissions
/// boundary (a managed policy's ARN, checked to exist).
macro_rules! bounded_entities {
    ($($entity:ident { $modify:ident, $put:ident, $delete:ident })*) => {
        impl Iam {$(
            pub async fn $put(&self, name: &str, arn: &str) -> Result<()> {
                let arn = self.boundary_policy(arn).await?;
                self.$modify(name, move |e: &mut $entity| {
                    e.permissions_boundary = Some(arn);
                    Ok(())
                })
                .await?;
                Ok(())
            }

            pub async fn $delete(&self, name: &str) -> Result<()> {
                self.$modify(name, |e: &mut $entity| {
                    e.permissions_boundary = None;
                    Ok(())
                })
                .await?;
                Ok(())
            }
        )*}
    };
}

bounded_entities! {
    Role { modify_role, put_role_permissions_boundary, delete_role_permissions_boundary }
    User { modify_user, put_user_permissions_boundary, delete_user_permissions_boundary }
}
