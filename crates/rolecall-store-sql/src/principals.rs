//! [`PrincipalStore`]: roles, users, groups, access keys, and the policies of roles, users and
//! groups.

use crate::store::{owner_table, principal_dependents};
use crate::{
    Dialect, RowLock, SqlStore, Write, all_from_json, backend, from_json, is_raised, key,
    known_errors, taken_if_unique, to_json,
};
use async_trait::async_trait;
use rolecall_core::model::*;
use rolecall_core::{
    Edit, EntityKind, Existing, Limit, Missing, Named, Owner, OwnerKind, PageRequest,
    PrincipalStore, StoreError, StoreResult as Result, StoredPrincipal, Taken,
};
use rolecall_sql_bounds::sql_bounds;

/// The feed's name for the policies of an owner: a role's are `RolePolicy` (nothing IMDS serves
/// depends on them); a user's or group's count as the user or group.
fn owner_entity(kind: OwnerKind) -> EntityKind {
    match kind {
        OwnerKind::Role => EntityKind::RolePolicy,
        OwnerKind::User => EntityKind::User,
        OwnerKind::Group => EntityKind::Group,
    }
}

/// A role's, user's or group's entity in the change feed.
fn principal_entity(kind: OwnerKind) -> EntityKind {
    match kind {
        OwnerKind::Role => EntityKind::Role,
        OwnerKind::User => EntityKind::User,
        OwnerKind::Group => EntityKind::Group,
    }
}

fn missing(kind: OwnerKind, name: &str) -> Missing {
    match kind {
        OwnerKind::Role => Missing::Role(name.into()),
        OwnerKind::User => Missing::User(name.into()),
        OwnerKind::Group => Missing::Group(name.into()),
    }
}

fn taken(kind: OwnerKind, name: &str) -> Taken {
    let kind = match kind {
        OwnerKind::Role => Named::Role,
        OwnerKind::User => Named::User,
        OwnerKind::Group => Named::Group,
    };
    Taken::Entity(Existing::new(kind, name))
}

/// A stored document read as the role, user or group it is (straight from its text: no
/// intermediate JSON tree).
fn parse_principal(kind: OwnerKind, data: &str) -> Result<StoredPrincipal> {
    let parsed = match kind {
        OwnerKind::Role => serde_json::from_str(data).map(StoredPrincipal::Role),
        OwnerKind::User => serde_json::from_str(data).map(StoredPrincipal::User),
        OwnerKind::Group => serde_json::from_str(data).map(StoredPrincipal::Group),
    };
    parsed.map_err(|e| StoreError::Backend(format!("stored {} unreadable: {e}", kind.name())))
}

#[sql_bounds(D::Db)]
impl<D: Dialect> SqlStore<D> {
    /// Access keys name their user: follows a rename (in the rename's transaction).
    async fn rename_access_keys(w: &mut Write<'_, D::Db>, user: &User) -> Result<()> {
        let sql = "SELECT data FROM access_keys WHERE user_id = $1";
        let keys: Vec<(String,)> = Self::rows_on(&mut *w.tx, sql, &[&user.id]).await?;
        for (data,) in keys {
            let mut k: AccessKey = from_json(&data)?;
            if k.user_name != user.name {
                k.user_name = user.name.clone();
                let sql = "UPDATE access_keys SET data = $1 WHERE id = $2";
                w.execute(sql, &[&to_json(&k)?, &k.id]).await?;
            }
        }
        Ok(())
    }

    /// Begins a write and runs `sql` on one owner's policies in it (`$1`, `$2` are the owner,
    /// `rest` the parameters after), the owner's row locked first when `lock` (a write that adds
    /// a policy: see [`lock_owner`](Self::lock_owner)). The owner is recorded as changed when
    /// the statement changed rows. Returns the write, to commit, and that count.
    async fn owner_write(
        &self,
        owner: Owner<'_>,
        lock: bool,
        sql: &str,
        rest: &[&str],
    ) -> Result<(Write<'_, D::Db>, u64)> {
        let mut w = self.begin().await?;
        if lock {
            Self::lock_owner(&mut w.tx, owner).await?;
        }
        let params: Vec<&str> = [owner.kind().name(), owner.id()]
            .into_iter()
            .chain(rest.iter().copied())
            .collect();
        let changed = w.execute(sql, &params).await?;
        if changed > 0 {
            w.record(owner_entity(owner.kind()), owner.id());
        }
        Ok((w, changed))
    }
}

#[sql_bounds(D::Db)]
#[async_trait]
impl<D: Dialect> PrincipalStore for SqlStore<D> {
    // ----- roles, users and groups -----

    async fn insert_principal_doc(&self, principal: &StoredPrincipal) -> Result<()> {
        let (kind, e) = (principal.kind(), principal.entity());
        let row = (e.id.as_str(), e.name.as_str(), e.path.as_str());
        let taken = || taken(kind, &e.name);
        let table = owner_table(kind);
        self.insert_named(
            table,
            row,
            principal,
            taken,
            (principal_entity(kind), &e.id),
        )
        .await
    }

    async fn get_principal_doc(
        &self,
        kind: OwnerKind,
        name: &str,
    ) -> Result<Option<StoredPrincipal>> {
        let sql = format!("SELECT data FROM {} WHERE name_key = $1", owner_table(kind));
        let data: Option<(String,)> = self.row(&sql, &[&key(name)]).await?;
        data.map(|(d,)| parse_principal(kind, &d)).transpose()
    }

    async fn list_principal_docs(
        &self,
        kind: OwnerKind,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<StoredPrincipal>> {
        let docs = self
            .list_named(owner_table(kind), path_prefix, page)
            .await?;
        docs.iter().map(|(d,)| parse_principal(kind, d)).collect()
    }

    async fn modify_principal_doc(
        &self,
        kind: OwnerKind,
        name: &str,
        edit: Edit<StoredPrincipal>,
    ) -> Result<StoredPrincipal> {
        let mut w = self.begin().await?;
        let (table, name_key) = (owner_table(kind), key(name));
        let missing = || missing(kind, name);
        let doc = Self::locked_text(&mut w.tx, (table, "name_key", &name_key), missing).await?;
        let mut principal = parse_principal(kind, &doc)?;
        edit(&mut principal).map_err(StoreError::Rejected)?;
        let e = principal.entity();
        let sql = format!("UPDATE {table} SET name_key = $1, path = $2, data = $3 WHERE id = $4");
        let res = sqlx::query(&sql)
            .bind(key(&e.name))
            .bind(&e.path)
            .bind(to_json(&principal)?)
            .bind(&e.id)
            .execute(&mut *w.tx)
            .await;
        taken_if_unique(res, || taken(kind, &e.name))?;
        if let StoredPrincipal::User(user) = &principal {
            Self::rename_access_keys(&mut w, user).await?;
        }
        w.record(principal_entity(kind), &e.id);
        w.commit().await?;
        Ok(principal)
    }

    async fn delete_principal(&self, kind: OwnerKind, name: &str) -> Result<()> {
        let (checks, backstop) = principal_dependents(kind);
        let (table, entity) = (owner_table(kind), principal_entity(kind));
        self.delete_named(
            table,
            name,
            || missing(kind, name),
            &checks,
            backstop,
            entity,
        )
        .await
    }

    // ----- group membership -----

    async fn add_user_to_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        let mut w = self.begin().await?;
        let res = sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await;
        // A foreign-key violation: the user or the group was deleted since the caller looked it
        // up.
        known_errors(res, |e| {
            Self::is_fk_violation(e).then_some(StoreError::NotFound(Missing::UserOrGroup))
        })?;
        w.record(EntityKind::Group, group_id);
        w.record(EntityKind::User, user_id);
        w.commit().await
    }

    async fn remove_user_from_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        let mut w = self.begin().await?;
        let sql = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
        if w.execute(sql, &[group_id, user_id]).await? == 0 {
            return Err(StoreError::NotFound(Missing::UserInGroup));
        }
        w.record(EntityKind::Group, group_id);
        w.record(EntityKind::User, user_id);
        w.commit().await
    }

    async fn list_group_members(&self, group_id: &str) -> Result<Vec<User>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT u.data FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.name_key",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        all_from_json(&rows)
    }

    async fn list_groups_for_user(&self, user_id: &str, page: &PageRequest) -> Result<Vec<Group>> {
        let sql = "SELECT g.data FROM group_members m JOIN groups g ON g.id = m.group_id \
                   WHERE m.user_id = $1 AND g.name_key >= $2 ORDER BY g.name_key LIMIT $3";
        self.page_docs(sql, &[user_id], page).await
    }

    // ----- policies of roles, users and groups -----

    async fn put_owner_policy(&self, owner: Owner<'_>, name: &str, document: &str) -> Result<()> {
        let sql = "INSERT INTO principal_policies (owner_kind, owner_id, name, document) \
                   VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET document = excluded.document";
        let (w, _) = self
            .owner_write(owner, true, sql, &[name, document])
            .await?;
        w.commit().await
    }

    async fn get_owner_policy(
        &self,
        owner: Owner<'_>,
        name: &str,
    ) -> Result<Option<(String, String)>> {
        let sql = "SELECT name, document FROM principal_policies \
                   WHERE owner_kind = $1 AND owner_id = $2 AND name = $3";
        self.row(sql, &[owner.kind().name(), owner.id(), name])
            .await
    }

    async fn list_owner_policies(
        &self,
        owner: Owner<'_>,
        page: &PageRequest,
    ) -> Result<Vec<String>> {
        let sql = "SELECT name FROM principal_policies WHERE owner_kind = $1 AND owner_id = $2 \
                   AND name >= $3 ORDER BY name LIMIT $4";
        let names: Vec<(String,)> = self
            .page_rows(sql, &[owner.kind().name(), owner.id()], page)
            .await?;
        Ok(names.into_iter().map(|(name,)| name).collect())
    }

    async fn delete_owner_policy(&self, owner: Owner<'_>, name: &str) -> Result<bool> {
        let sql =
            "DELETE FROM principal_policies WHERE owner_kind = $1 AND owner_id = $2 AND name = $3";
        let (w, deleted) = self.owner_write(owner, false, sql, &[name]).await?;
        w.commit().await?;
        Ok(deleted > 0)
    }

    async fn attach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()> {
        // The policy's foreign key locks its row (KEY SHARE): a concurrent delete of the policy
        // either waits for this or makes it find nothing.
        let sql = "INSERT INTO principal_attached_policies (owner_kind, owner_id, policy_id) \
                   SELECT $1, $2, id FROM policies WHERE arn = $3 ON CONFLICT DO NOTHING";
        let (mut w, attached) = self.owner_write(owner, true, sql, &[policy_arn]).await?;
        if attached == 0 {
            // Attached already, or no such policy.
            let sql = "SELECT id FROM policies WHERE arn = $1";
            let exists: Option<(String,)> = Self::row_in(&mut w.tx, sql, &[policy_arn]).await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(Missing::Policy(policy_arn.into())));
            }
        }
        w.commit().await
    }

    async fn detach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()> {
        let sql = "DELETE FROM principal_attached_policies WHERE owner_kind = $1 AND owner_id = $2 \
                   AND policy_id = (SELECT id FROM policies WHERE arn = $3)";
        let (w, detached) = self.owner_write(owner, false, sql, &[policy_arn]).await?;
        if detached == 0 {
            return Err(StoreError::NotFound(Missing::Attachment(policy_arn.into())));
        }
        w.commit().await
    }

    async fn list_attached_owner_policies(
        &self,
        owner: Owner<'_>,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<AttachedPolicy>> {
        let sql = "SELECT p.data FROM principal_attached_policies a \
                   JOIN policies p ON p.id = a.policy_id \
                   WHERE a.owner_kind = $1 AND a.owner_id = $2 AND substr(p.path, 1, length($3)) = $3 \
                   AND p.name_key >= $4 ORDER BY p.name_key LIMIT $5";
        let keys = [owner.kind().name(), owner.id(), path_prefix];
        let policies: Vec<ManagedPolicy> = self.page_docs(sql, &keys, page).await?;
        Ok(policies
            .into_iter()
            .map(|p| AttachedPolicy {
                name: p.entity.name,
                arn: p.entity.arn,
            })
            .collect())
    }

    // ----- access keys -----

    async fn insert_access_key(&self, user_id: &str, k: &AccessKey) -> Result<()> {
        let mut w = self.begin().await?;
        // The user's row lock serializes key creation for this user, so the count cannot go
        // stale before the insert commits.
        let missing = || Missing::User(k.user_name.clone());
        Self::locked_id(&mut w.tx, "users", "id", user_id, RowLock::Update, missing).await?;
        let sql = "SELECT COUNT(*) FROM access_keys WHERE user_id = $1";
        let count = Self::count_in(&mut w.tx, sql, &[user_id]).await?;
        let limit_reached = StoreError::LimitExceeded(Limit::AccessKeysPerUser);
        if count >= 2 {
            return Err(limit_reached);
        }
        let res = sqlx::query("INSERT INTO access_keys (id, user_id, data) VALUES ($1, $2, $3)")
            .bind(&k.id)
            .bind(user_id)
            .bind(to_json(k)?)
            .execute(&mut *w.tx)
            .await;
        known_errors(res, |e| {
            is_raised(e, "access key limit").then_some(limit_reached)
        })?;
        w.record(EntityKind::AccessKey, &k.id);
        w.commit().await
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        self.get_doc("access_keys", "id", id).await
    }

    async fn list_access_keys(&self, user_id: &str) -> Result<Vec<AccessKey>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT data FROM access_keys WHERE user_id = $1 ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend(&e))?;
        all_from_json(&rows)
    }

    async fn modify_access_key(&self, id: &str, edit: Edit<AccessKey>) -> Result<AccessKey> {
        let missing = || Missing::AccessKey(id.into());
        let entity = |k: &AccessKey| (EntityKind::AccessKey, k.id.clone());
        self.modify_doc("access_keys", "id", id, missing, edit, entity)
            .await
    }

    async fn delete_access_key(&self, user_id: &str, id: &str) -> Result<bool> {
        let mut w = self.begin().await?;
        let sql = "DELETE FROM access_keys WHERE user_id = $1 AND id = $2";
        let deleted = w.execute(sql, &[user_id, id]).await? > 0;
        if deleted {
            w.record(EntityKind::AccessKey, id);
        }
        w.commit().await?;
        Ok(deleted)
    }
}
