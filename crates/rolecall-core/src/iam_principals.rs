//! IAM operations on users, groups and access keys.

use crate::iam::{DocumentKind, Iam, check_policy, no_such_policy};
use crate::model::*;
use crate::validate;
use crate::{
    Error, Limit, Missing, Owner, OwnerKind, Page, PageRequest, Principals, Result, StoreError,
};
use rolecall_crypto::{IdPrefix, KeyRing, access_key_id_for, secret_access_key};

/// Associated data binding a sealed access-key secret to its key id.
fn secret_aad(access_key_id: &str) -> Vec<u8> {
    format!("rolecall/access-key-secret/v1/{access_key_id}").into_bytes()
}

/// Seals a user's secret access key for storage.
pub fn seal_secret(ring: &KeyRing, access_key_id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(ring.seal(secret.as_bytes(), &secret_aad(access_key_id)))
}

/// Opens a stored secret access key (None if the key ring cannot).
pub fn open_secret(ring: &KeyRing, key: &AccessKey) -> Option<String> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&key.secret_sealed)
        .ok()?;
    String::from_utf8(ring.open(&sealed, &secret_aad(&key.id)).ok()?).ok()
}

pub(crate) fn user_name(v: &str) -> Result<()> {
    validate::name("userName", v, 64)
}

pub(crate) fn group_name(v: &str) -> Result<()> {
    validate::name("groupName", v, 128)
}

pub(crate) fn no_such_access_key(id: &str) -> Error {
    StoreError::NotFound(Missing::AccessKey(id.into())).into()
}

pub(crate) fn check_status(v: &str) -> Result<()> {
    if !matches!(v, "Active" | "Inactive") {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{v}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
        )));
    }
    Ok(())
}

impl Iam {
    // ----- users -----

    pub async fn create_user(
        &self,
        name: &str,
        path: Option<&str>,
        boundary: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<User> {
        user_name(name)?;
        let path = validate::path_or_root(path)?;
        validate::tags(&tags)?;
        let permissions_boundary = match boundary {
            Some(arn) => Some(self.boundary_policy(arn).await?),
            None => None,
        };
        let user = User {
            entity: self.new_entity(IdPrefix::User, "user", path, name),
            tags,
            permissions_boundary,
        };
        self.store().insert_principal(&user).await?;
        Ok(user)
    }

    pub(crate) async fn modify_user(
        &self,
        name: &str,
        edit: impl FnOnce(&mut User) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        user_name(name)?;
        self.store()
            .modify_principal(name, Box::new(edit))
            .await
            .map(drop)
            .map_err(Error::from)
    }

    pub async fn update_user(
        &self,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        if let Some(n) = new_name {
            user_name(n)?;
        }
        if let Some(p) = new_path {
            validate::path(p)?;
        }
        let (new_name, new_path) = (new_name.map(str::to_string), new_path.map(str::to_string));
        let account = self.account_id().to_string();
        self.modify_user(name, move |user| {
            if let Some(n) = new_name {
                user.name = n;
            }
            if let Some(p) = new_path {
                user.path = p;
            }
            user.arn = format!("arn:aws:iam::{account}:user{}{}", user.path, user.name);
            Ok(())
        })
        .await
    }

    pub async fn delete_user(&self, name: &str) -> Result<()> {
        user_name(name)?;
        // The login profile is counted in the delete's transaction (first, as AWS reports it).
        Ok(self.store().delete_principal(OwnerKind::User, name).await?)
    }

    // ----- access keys -----

    /// Creates a key; returns it with its secret in clear (the only time it is shown).
    pub async fn create_access_key(
        &self,
        ring: &KeyRing,
        user: &str,
    ) -> Result<(AccessKey, String)> {
        let user = self.get_user(user).await?;
        let id = access_key_id_for(IdPrefix::AccessKey, self.account_id());
        let secret = secret_access_key();
        let key = AccessKey {
            secret_sealed: seal_secret(ring, &id, &secret),
            id,
            user_name: user.name.clone(),
            status: "Active".into(),
            create_date: self.now(),
            last_used: None,
        };
        self.store().insert_access_key(&user.id, &key).await?;
        Ok((key, secret))
    }

    pub async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKey>> {
        let user = self.get_user(user).await?;
        Ok(self.store().list_access_keys(&user.id).await?)
    }

    async fn users_key(&self, user: &str, id: &str) -> Result<(User, AccessKey)> {
        let user = self.get_user(user).await?;
        match self.store().get_access_key(id).await? {
            Some(k) if k.user_name.eq_ignore_ascii_case(&user.name) => Ok((user, k)),
            _ => Err(no_such_access_key(id)),
        }
    }

    pub async fn update_access_key(&self, user: &str, id: &str, status: &str) -> Result<()> {
        check_status(status)?;
        let (_, key) = self.users_key(user, id).await?;
        let status = status.to_string();
        self.store()
            .modify_access_key(
                &key.id,
                Box::new(move |k| {
                    k.status = status;
                    Ok(())
                }),
            )
            .await
            .map(drop)
            .map_err(Error::from)
    }

    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<()> {
        let (user, key) = self.users_key(user, id).await?;
        self.store().delete_access_key(&user.id, &key.id).await?;
        Ok(())
    }

    /// The key (any user's) and its owner's name, for GetAccessKeyLastUsed.
    pub async fn get_access_key(&self, id: &str) -> Result<AccessKey> {
        self.store()
            .get_access_key(id)
            .await?
            .ok_or_else(|| no_such_access_key(id))
    }

    // ----- groups -----

    pub async fn create_group(&self, name: &str, path: Option<&str>) -> Result<Group> {
        group_name(name)?;
        let path = validate::path_or_root(path)?;
        let group = Group {
            entity: self.new_entity(IdPrefix::Group, "group", path, name),
        };
        self.store().insert_principal(&group).await?;
        Ok(group)
    }

    pub async fn group_members(&self, group: &Group) -> Result<Vec<User>> {
        Ok(self.store().list_group_members(&group.id).await?)
    }

    pub async fn delete_group(&self, name: &str) -> Result<()> {
        group_name(name)?;
        Ok(self
            .store()
            .delete_principal(OwnerKind::Group, name)
            .await?)
    }

    pub async fn add_user_to_group(&self, group: &str, user: &str) -> Result<()> {
        let g = self.get_group(group).await?;
        let u = self.get_user(user).await?;
        Ok(self.store().add_user_to_group(&g.id, &u.id).await?)
    }

    pub async fn remove_user_from_group(&self, group: &str, user: &str) -> Result<()> {
        let g = self.get_group(group).await?;
        let u = self.get_user(user).await?;
        Ok(self.store().remove_user_from_group(&g.id, &u.id).await?)
    }

    // ----- policies of roles, users and groups -----

    /// The owner (role, user or group) named `name`: its id and its name as stored.
    async fn owner_named(&self, kind: OwnerKind, name: &str) -> Result<(String, String)> {
        let entity = match kind {
            OwnerKind::Role => self.get_role(name).await?.entity,
            OwnerKind::User => self.get_user(name).await?.entity,
            OwnerKind::Group => self.get_group(name).await?.entity,
        };
        Ok((entity.id, entity.name))
    }

    pub async fn put_owner_policy(
        &self,
        kind: OwnerKind,
        name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<()> {
        validate::policy_name(policy_name)?;
        validate::policy_document("policyDocument", document)?;
        let (id, owner_name) = self.owner_named(kind, name).await?;
        check_policy(document, DocumentKind::Inline)?;
        // IAM's quota is on all of an owner's inline policies together: 10,240 characters for a
        // role, 2,048 for a user, 5,120 for a group.
        let limit = match kind {
            OwnerKind::Role => rolecall_policy::PolicyKind::Identity.size_limit(),
            OwnerKind::User => 2_048,
            OwnerKind::Group => 5_120,
        };
        let owner = Owner::new(kind, &id);
        let all = PageRequest {
            from: None,
            limit: usize::MAX - 1,
        };
        let mut total = rolecall_policy::policy_size(document);
        for other in self.store().list_owner_policies(owner, &all).await? {
            if other != policy_name
                && let Some((_, doc)) = self.store().get_owner_policy(owner, &other).await?
            {
                total += rolecall_policy::policy_size(&doc);
            }
        }
        if total > limit {
            return Err(Error::LimitExceeded(Limit::InlinePolicySize {
                owner: kind,
                name: owner_name,
                max: limit,
            }));
        }
        Ok(self
            .store()
            .put_owner_policy(owner, policy_name, document)
            .await?)
    }

    /// Returns (owner name, policy name, document).
    pub async fn get_owner_policy(
        &self,
        kind: OwnerKind,
        name: &str,
        policy_name: &str,
    ) -> Result<(String, String, String)> {
        validate::policy_name(policy_name)?;
        let (id, owner_name) = self.owner_named(kind, name).await?;
        let (policy_name, doc) = self
            .store()
            .get_owner_policy(Owner::new(kind, &id), policy_name)
            .await?
            .ok_or_else(|| no_such_inline_policy(kind, policy_name))?;
        Ok((owner_name, policy_name, doc))
    }

    pub async fn list_owner_policies(
        &self,
        kind: OwnerKind,
        name: &str,
        page: &PageRequest,
    ) -> Result<Page<String>> {
        let (id, _) = self.owner_named(kind, name).await?;
        let items = self
            .store()
            .list_owner_policies(Owner::new(kind, &id), page)
            .await?;
        Ok(Page::from_overfetch(items, page.limit, |n| n.clone()))
    }

    pub async fn delete_owner_policy(
        &self,
        kind: OwnerKind,
        name: &str,
        policy_name: &str,
    ) -> Result<()> {
        validate::policy_name(policy_name)?;
        let (id, _) = self.owner_named(kind, name).await?;
        if !self
            .store()
            .delete_owner_policy(Owner::new(kind, &id), policy_name)
            .await?
        {
            return Err(no_such_inline_policy(kind, policy_name));
        }
        Ok(())
    }

    pub async fn attach_owner_policy(&self, kind: OwnerKind, name: &str, arn: &str) -> Result<()> {
        Self::check_policy_arn(arn)?;
        let (id, _) = self.owner_named(kind, name).await?;
        match self
            .store()
            .attach_owner_policy(Owner::new(kind, &id), arn)
            .await
        {
            Err(StoreError::NotFound(Missing::Policy(_))) => Err(no_such_policy(arn)),
            other => Ok(other?),
        }
    }

    pub async fn detach_owner_policy(&self, kind: OwnerKind, name: &str, arn: &str) -> Result<()> {
        Self::check_policy_arn(arn)?;
        let (id, _) = self.owner_named(kind, name).await?;
        Ok(self
            .store()
            .detach_owner_policy(Owner::new(kind, &id), arn)
            .await?)
    }

    pub async fn list_attached_owner_policies(
        &self,
        kind: OwnerKind,
        name: &str,
        path_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<AttachedPolicy>> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let (id, _) = self.owner_named(kind, name).await?;
        let items = self
            .store()
            .list_attached_owner_policies(Owner::new(kind, &id), prefix, page)
            .await?;
        Ok(Page::by_name(items, page))
    }
}

fn no_such_inline_policy(kind: OwnerKind, policy_name: &str) -> Error {
    Error::NoSuchEntity(Missing::InlinePolicy {
        owner: kind,
        name: policy_name.into(),
    })
}
