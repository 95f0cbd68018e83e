//! Storage of IAM users, groups and access keys, and the policies of every owner (roles, users,
//! groups) keyed by [`Owner`] (a separate trait so each aggregate's storage reads on its own;
//! [`Store`](crate::Store) requires it).

use crate::model::*;
use crate::store_error::{Owner, StoreResult as Result};
use crate::{Edit, PageRequest};
use async_trait::async_trait;

#[async_trait]
pub trait PrincipalStore: Send + Sync + 'static {
    // --- users ---
    async fn insert_user(&self, user: &User) -> Result<()>;
    async fn get_user(&self, name: &str) -> Result<Option<User>>;
    async fn list_users(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<User>>;
    /// Applies `edit` in one transaction (a new name must still be unique: Conflict).
    async fn modify_user(&self, name: &str, edit: Edit<User>) -> Result<User>;
    /// InUse while it has access keys, policies or group memberships.
    async fn delete_user(&self, name: &str) -> Result<()>;

    // --- groups ---
    async fn insert_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, name: &str) -> Result<Option<Group>>;
    async fn list_groups(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<Group>>;
    /// InUse while it has members or policies.
    async fn delete_group(&self, name: &str) -> Result<()>;
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
