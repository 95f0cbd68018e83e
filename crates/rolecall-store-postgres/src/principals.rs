//! [`PrincipalStore`] on PostgreSQL: users, groups, access keys, and their policies.

use crate::store::{
    PostgresStore, from, from_json, internal, is_fk_violation, is_raised, is_unique_violation, key,
    limit, policy_exists, to_json,
};
use async_trait::async_trait;
use rolecall_core::model::*;
use rolecall_core::{Edit, Error, Owner, PageRequest, PrincipalStore, Result};
use sqlx::PgConnection;

fn no_such_user(name: &str) -> Error {
    Error::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn no_such_group(name: &str) -> Error {
    Error::NoSuchEntity(format!("The group with name {name} cannot be found."))
}

const KEY_LIMIT: &str = "Cannot exceed quota for AccessKeysPerUser: 2";

fn owner_table(owner: Owner<'_>) -> &'static str {
    match owner {
        Owner::User(_) => "users",
        Owner::Group(_) => "groups",
    }
}

/// Principal policies have no foreign key to their (user or group) owner, so writers take a
/// KEY SHARE lock on the owner's row: it conflicts with the FOR UPDATE lock the owner's delete
/// holds while it checks for policies, so no policy outlives its owner.
async fn lock_owner(tx: &mut PgConnection, owner: Owner<'_>) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM {} WHERE id = $1 FOR KEY SHARE",
        owner_table(owner)
    ))
    .bind(owner.id())
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal)?;
    if found.is_none() {
        return Err(Error::NoSuchEntity(format!(
            "The {} cannot be found.",
            owner.kind()
        )));
    }
    Ok(())
}

#[async_trait]
impl PrincipalStore for PostgresStore {
    // ----- users -----

    async fn insert_user(&self, user: &User) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO users (id, name_key, path, data) VALUES ($1, $2, $3, $4)")
                .bind(&user.id)
                .bind(key(&user.name))
                .bind(&user.path)
                .bind(to_json(user)?)
                .execute(&self.pool)
                .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(Error::EntityAlreadyExists(format!(
                "User with name {} already exists.",
                user.name
            ))),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM users WHERE name_key = $1")
            .bind(key(name))
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_users(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<User>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM users WHERE starts_with(path, $1) AND name_key >= $2 ORDER BY name_key LIMIT $3",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn modify_user(&self, name: &str, edit: Edit<User>) -> Result<User> {
        let mut tx = self.begin().await?;
        let data: Option<String> =
            sqlx::query_scalar("SELECT data FROM users WHERE name_key = $1 FOR UPDATE")
                .bind(key(name))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let mut user: User = from_json(&data.ok_or_else(|| no_such_user(name))?)?;
        edit(&mut user)?;
        let res = sqlx::query("UPDATE users SET name_key = $1, path = $2, data = $3 WHERE id = $4")
            .bind(key(&user.name))
            .bind(&user.path)
            .bind(to_json(&user)?)
            .bind(&user.id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::EntityAlreadyExists(format!(
                    "User with name {} already exists.",
                    user.name
                )));
            }
            other => other.map_err(internal)?,
        };
        // Access keys name their user: follow a rename.
        sqlx::query(
            "UPDATE access_keys SET data = jsonb_set(data::jsonb, '{user_name}', to_jsonb($1::text))::text WHERE user_id = $2",
        )
        .bind(&user.name)
        .bind(&user.id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(user)
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE name_key = $1 FOR UPDATE")
                .bind(key(name))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let id = id.ok_or_else(|| no_such_user(name))?;
        let (keys, inline, attached, groups): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM access_keys WHERE user_id = $1), \
                    (SELECT COUNT(*) FROM principal_policies WHERE owner_kind = 'user' AND owner_id = $1), \
                    (SELECT COUNT(*) FROM principal_attached_policies WHERE owner_kind = 'user' AND owner_id = $1), \
                    (SELECT COUNT(*) FROM group_members WHERE user_id = $1)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let conflict = |m: &str| {
            Err(Error::DeleteConflict(format!(
                "Cannot delete entity, must {m} first."
            )))
        };
        if keys > 0 {
            return conflict("delete access keys");
        }
        if inline > 0 {
            return conflict("delete policies");
        }
        if attached > 0 {
            return conflict("detach all policies");
        }
        if groups > 0 {
            return conflict("remove users from group");
        }
        let res = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_fk_violation(&e) => return conflict("delete access keys"),
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    // ----- groups -----

    async fn insert_group(&self, group: &Group) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO groups (id, name_key, path, data) VALUES ($1, $2, $3, $4)")
                .bind(&group.id)
                .bind(key(&group.name))
                .bind(&group.path)
                .bind(to_json(group)?)
                .execute(&self.pool)
                .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(Error::EntityAlreadyExists(format!(
                "Group with name {} already exists.",
                group.name
            ))),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn get_group(&self, name: &str) -> Result<Option<Group>> {
        let data: Option<String> =
            sqlx::query_scalar("SELECT data FROM groups WHERE name_key = $1")
                .bind(key(name))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_groups(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<Group>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM groups WHERE starts_with(path, $1) AND name_key >= $2 ORDER BY name_key LIMIT $3",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn delete_group(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM groups WHERE name_key = $1 FOR UPDATE")
                .bind(key(name))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let id = id.ok_or_else(|| no_such_group(name))?;
        let (members, inline, attached): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM group_members WHERE group_id = $1), \
                    (SELECT COUNT(*) FROM principal_policies WHERE owner_kind = 'group' AND owner_id = $1), \
                    (SELECT COUNT(*) FROM principal_attached_policies WHERE owner_kind = 'group' AND owner_id = $1)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let conflict = |m: &str| {
            Err(Error::DeleteConflict(format!(
                "Cannot delete entity, must {m} first."
            )))
        };
        if members > 0 {
            return conflict("remove users from group");
        }
        if inline > 0 {
            return conflict("delete policies");
        }
        if attached > 0 {
            return conflict("detach all policies");
        }
        let res = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_fk_violation(&e) => return conflict("remove users from group"),
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    async fn add_user_to_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                // The user or the group was deleted since the caller looked it up.
                Error::NoSuchEntity("The user or group cannot be found.".into())
            } else {
                internal(e)
            }
        })?;
        Ok(())
    }

    async fn remove_user_from_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        let res = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchEntity("The user is not in the group.".into()));
        }
        Ok(())
    }

    async fn list_group_members(&self, group_id: &str) -> Result<Vec<User>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT u.data FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.name_key",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn list_groups_for_user(&self, user_id: &str, page: &PageRequest) -> Result<Vec<Group>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT g.data FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 AND g.name_key >= $2 ORDER BY g.name_key LIMIT $3",
        )
        .bind(user_id)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    // ----- policies of users and groups -----

    async fn put_owner_policy(&self, owner: Owner<'_>, name: &str, document: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_owner(&mut tx, owner).await?;
        sqlx::query(
            "INSERT INTO principal_policies (owner_kind, owner_id, name, document) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(name)
        .bind(document)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    async fn get_owner_policy(
        &self,
        owner: Owner<'_>,
        name: &str,
    ) -> Result<Option<(String, String)>> {
        sqlx::query_as(
            "SELECT name, document FROM principal_policies WHERE owner_kind = $1 AND owner_id = $2 AND name = $3",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)
    }

    async fn list_owner_policies(
        &self,
        owner: Owner<'_>,
        page: &PageRequest,
    ) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM principal_policies WHERE owner_kind = $1 AND owner_id = $2 AND name >= $3 ORDER BY name LIMIT $4",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)
    }

    async fn delete_owner_policy(&self, owner: Owner<'_>, name: &str) -> Result<bool> {
        let res = sqlx::query(
            "DELETE FROM principal_policies WHERE owner_kind = $1 AND owner_id = $2 AND name = $3",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(res.rows_affected() > 0)
    }

    async fn attach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_owner(&mut tx, owner).await?;
        let res = sqlx::query(
            "INSERT INTO principal_attached_policies (owner_kind, owner_id, policy_id) \
             SELECT $1, $2, id FROM policies WHERE arn = $3 ON CONFLICT DO NOTHING",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(policy_arn)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        if res.rows_affected() == 0 && !policy_exists(&self.pool, policy_arn).await? {
            return Err(Error::NoSuchEntity(format!(
                "Policy {policy_arn} does not exist or is not attachable."
            )));
        }
        Ok(())
    }

    async fn detach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()> {
        let res = sqlx::query(
            "DELETE FROM principal_attached_policies WHERE owner_kind = $1 AND owner_id = $2 AND policy_id = (SELECT id FROM policies WHERE arn = $3)",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(policy_arn)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchEntity(format!(
                "Policy {policy_arn} was not found."
            )));
        }
        Ok(())
    }

    async fn list_attached_owner_policies(
        &self,
        owner: Owner<'_>,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<AttachedPolicy>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT p.data FROM principal_attached_policies a JOIN policies p ON p.id = a.policy_id \
             WHERE a.owner_kind = $1 AND a.owner_id = $2 AND starts_with(p.path, $3) AND p.name_key >= $4 \
             ORDER BY p.name_key LIMIT $5",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(|d| {
                from_json::<ManagedPolicy>(d).map(|p| AttachedPolicy {
                    name: p.name,
                    arn: p.arn,
                })
            })
            .collect()
    }

    // ----- access keys -----

    async fn insert_access_key(&self, user_id: &str, k: &AccessKey) -> Result<()> {
        let mut tx = self.begin().await?;
        // The user's row lock serializes key creation for this user across nodes, so the count
        // cannot go stale before the insert commits.
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
        if found.is_none() {
            return Err(no_such_user(&k.user_name));
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
        if count >= 2 {
            return Err(Error::LimitExceeded(KEY_LIMIT.into()));
        }
        let res = sqlx::query("INSERT INTO access_keys (id, user_id, data) VALUES ($1, $2, $3)")
            .bind(&k.id)
            .bind(user_id)
            .bind(to_json(k)?)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_raised(&e, "access key limit") => {
                return Err(Error::LimitExceeded(KEY_LIMIT.into()));
            }
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM access_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_access_keys(&self, user_id: &str) -> Result<Vec<AccessKey>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT data FROM access_keys WHERE user_id = $1 ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn modify_access_key(&self, id: &str, edit: Edit<AccessKey>) -> Result<AccessKey> {
        let missing = Error::NoSuchEntity(format!("The Access Key with id {id} cannot be found"));
        self.modify_doc("access_keys", "id", id.to_string(), missing, edit)
            .await
    }

    async fn delete_access_key(&self, user_id: &str, id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM access_keys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(res.rows_affected() > 0)
    }
}
