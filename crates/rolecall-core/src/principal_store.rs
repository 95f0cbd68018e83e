//! Storage of IAM roles, users, groups and access keys, and the policies of every owner (roles,
//! users, groups) keyed by [`Owner`] (a separate trait so each aggregate's storage reads on its
//! own; [`Store`](crate::Store) requires it).
//!
//! Roles, users and groups are stored and found the same way, so the trait has one method per
//! operation taking the kind, on [`StoredPrincipal`] documents; callers use the typed face of
//! those methods, [`Principals`] (`store.get_principal::<Role>(name)`).

use crate::model::*;
use crate::store_error::{Owner, OwnerKind, StoreError, StoreResult as Result};
use crate::{Edit, PageRequest};
use async_trait::async_trait;
use serde::Serialize;

#[async_trait]
pub trait PrincipalStore: Send + Sync + 'static {
    // --- roles, users and groups (see [`Principals`] for the typed methods) ---
    /// Conflict when one of its kind has that name (any case).
    async fn insert_principal_doc(&self, principal: &StoredPrincipal) -> Result<()>;
    async fn get_principal_doc(
        &self,
        kind: OwnerKind,
        name: &str,
    ) -> Result<Option<StoredPrincipal>>;
    async fn list_principal_docs(
        &self,
        kind: OwnerKind,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<StoredPrincipal>>;
    /// Applies `edit` in one transaction (no lost updates; a new name must still be unique:
    /// Conflict; a user's access keys follow its rename); NotFound if absent.
    async fn modify_principal_doc(
        &self,
        kind: OwnerKind,
        name: &str,
        edit: Edit<StoredPrincipal>,
    ) -> Result<StoredPrincipal>;
    /// NotFound, or InUse while something refers to it: a role's policies or instance
    /// profiles; a user's login profile, access keys, policies or group memberships; a group's
    /// members or policies.
    async fn delete_principal(&self, kind: OwnerKind, name: &str) -> Result<()>;

    // --- group membership ---
    /// Adding a member twice is a no-op, as in IAM.
    async fn add_user_to_group(&self, group_id: &str, user_id: &str) -> Result<()>;
    /// NotFound when the user is not a member.
    async fn remove_user_from_group(&self, group_id: &str, user_id: &str) -> Result<()>;
    async fn list_group_members(&self, group_id: &str) -> Result<Vec<User>>;
    async fn list_groups_for_user(&self, user_id: &str, page: &PageRequest) -> Result<Vec<Group>>;

    // --- inline and attached policies of roles, users and groups ---
    /// Inserts or replaces; NotFound(Owner) when the owner is gone.
    async fn put_owner_policy(&self, owner: Owner<'_>, name: &str, document: &str) -> Result<()>;
    async fn get_owner_policy(
        &self,
        owner: Owner<'_>,
        name: &str,
    ) -> Result<Option<(String, String)>>;
    async fn list_owner_policies(
        &self,
        owner: Owner<'_>,
        page: &PageRequest,
    ) -> Result<Vec<String>>;
    async fn delete_owner_policy(&self, owner: Owner<'_>, name: &str) -> Result<bool>;
    /// NotFound for an unknown policy; attaching twice is a no-op.
    async fn attach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()>;
    /// NotFound(Attachment) when not attached.
    async fn detach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()>;
    async fn list_attached_owner_policies(
        &self,
        owner: Owner<'_>,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<AttachedPolicy>>;

    // --- access keys ---
    /// LimitExceeded past two keys per user.
    async fn insert_access_key(&self, user_id: &str, key: &AccessKey) -> Result<()>;
    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>>;
    async fn list_access_keys(&self, user_id: &str) -> Result<Vec<AccessKey>>;
    /// Applies `edit` (status, last-used record) in one transaction; NotFound if absent.
    async fn modify_access_key(&self, id: &str, edit: Edit<AccessKey>) -> Result<AccessKey>;
    /// Returns whether a key was deleted.
    async fn delete_access_key(&self, user_id: &str, id: &str) -> Result<bool>;
}

/// A role, user or group as the store keeps it (serialized as the entity itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StoredPrincipal {
    Role(Role),
    User(User),
    Group(Group),
}

impl StoredPrincipal {
    pub fn kind(&self) -> OwnerKind {
        match self {
            StoredPrincipal::Role(_) => OwnerKind::Role,
            StoredPrincipal::User(_) => OwnerKind::User,
            StoredPrincipal::Group(_) => OwnerKind::Group,
        }
    }

    pub fn entity(&self) -> &IamEntity {
        match self {
            StoredPrincipal::Role(r) => &r.entity,
            StoredPrincipal::User(u) => &u.entity,
            StoredPrincipal::Group(g) => &g.entity,
        }
    }
}

/// [`Role`], [`User`] and [`Group`]: one type per [`OwnerKind`], as a [`StoredPrincipal`].
pub trait PrincipalEntity: Clone + Send + Sync + 'static {
    const KIND: OwnerKind;
    fn into_stored(self) -> StoredPrincipal;
    /// `None` for another kind.
    fn from_stored(stored: StoredPrincipal) -> Option<Self>;
    fn in_stored(stored: &mut StoredPrincipal) -> Option<&mut Self>;
}

macro_rules! principal_entities {
    ($($entity:ident)*) => {$(
        impl PrincipalEntity for $entity {
            const KIND: OwnerKind = OwnerKind::$entity;

            fn into_stored(self) -> StoredPrincipal {
                StoredPrincipal::$entity(self)
            }

            fn from_stored(stored: StoredPrincipal) -> Option<Self> {
                match stored {
                    StoredPrincipal::$entity(e) => Some(e),
                    _ => None,
                }
            }

            fn in_stored(stored: &mut StoredPrincipal) -> Option<&mut Self> {
                match stored {
                    StoredPrincipal::$entity(e) => Some(e),
                    _ => None,
                }
            }
        }
    )*};
}

principal_entities! { Role User Group }

/// A store answered with another kind than asked (a bug in the store).
fn other_kind(kind: OwnerKind) -> StoreError {
    StoreError::Backend(format!(
        "the store returned a principal that is not a {}",
        kind.name()
    ))
}

/// The typed face of [`PrincipalStore`]'s role, user and group methods.
#[async_trait]
pub trait Principals: PrincipalStore {
    async fn insert_principal<P: PrincipalEntity>(&self, principal: &P) -> Result<()> {
        self.insert_principal_doc(&principal.clone().into_stored())
            .await
    }

    async fn get_principal<P: PrincipalEntity>(&self, name: &str) -> Result<Option<P>> {
        match self.get_principal_doc(P::KIND, name).await? {
            Some(found) => P::from_stored(found)
                .map(Some)
                .ok_or_else(|| other_kind(P::KIND)),
            None => Ok(None),
        }
    }

    async fn list_principals<P: PrincipalEntity>(
        &self,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<P>> {
        let found = self.list_principal_docs(P::KIND, path_prefix, page).await?;
        found
            .into_iter()
            .map(|p| P::from_stored(p).ok_or_else(|| other_kind(P::KIND)))
            .collect()
    }

    async fn modify_principal<P: PrincipalEntity>(&self, name: &str, edit: Edit<P>) -> Result<P> {
        let edit: Edit<StoredPrincipal> = Box::new(move |stored| match P::in_stored(stored) {
            Some(p) => edit(p),
            None => Err(crate::Error::Internal(
                other_kind(P::KIND).to_string().into(),
            )),
        });
        let stored = self.modify_principal_doc(P::KIND, name, edit).await?;
        P::from_stored(stored).ok_or_else(|| other_kind(P::KIND))
    }
}

impl<S: PrincipalStore + ?Sized> Principals for S {}
