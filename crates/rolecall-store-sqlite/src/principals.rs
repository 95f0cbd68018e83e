//! [`PrincipalStore`] on SQLite: users, groups, access keys, and their policies.

use crate::store::{
    SqliteStore, from, from_json, internal, is_unique_violation, key, limit, to_json,
};
use async_trait::async_trait;
use rolecall_core::model::*;
use rolecall_core::{Edit, Error, Owner, PageRequest, PrincipalStore, Result};

fn no_such_user(name: &str) -> Error {
    Error::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn no_such_group(name: &str) -> Error {
    Error::NoSuchEntity(format!("The group with name {name} cannot be found."))
}

#[async_trait]
impl PrincipalStore for SqliteStore {
    // ----- users -----

    async fn insert_user(&self, user: &User) -> Result<()> {
        let conflict =
            Error::EntityAlreadyExists(format!("User with name {} already exists.", user.name));
        self.insert_named("users", &user.id, &user.name, &user.path, user, conflict)
            .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        self.get_named("users", name).await
    }

    async fn list_users(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<User>> {
        self.list_named("users", path_prefix, page).await
    }

    async fn modify_user(&self, name: &str, edit: Edit<User>) -> Result<User> {
        let name = name.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let data: Option<String> =
                    sqlx::query_scalar("SELECT data FROM users WHERE name_key = ?").bind(key(&name)).fetch_optional(&mut **tx).await.map_err(internal)?;
                let mut user: User = from_json(&data.ok_or_else(|| no_such_user(&name))?)?;
                edit(&mut user)?;
                let res = sqlx::query("UPDATE users SET name_key = ?, path = ?, data = ? WHERE id = ?")
                    .bind(key(&user.name))
                    .bind(&user.path)
                    .bind(to_json(&user)?)
                    .bind(&user.id)
                    .execute(&mut **tx)
                    .await;
                match res {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::EntityAlreadyExists(format!("User with name {} already exists.", user.name)));
                    }
                    other => other.map_err(internal)?,
                };
                // Access keys name their user: follow a rename.
                sqlx::query("UPDATE access_keys SET data = json_set(data, '$.user_name', ?) WHERE user_id = ?")
                    .bind(&user.name)
                    .bind(&user.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                Ok(user)
            })
        })
        .await
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM users WHERE name_key = ?").bind(key(&name)).fetch_optional(&mut **tx).await.map_err(internal)?;
                let id = id.ok_or_else(|| no_such_user(&name))?;
                let (keys, inline, attached, groups): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM access_keys WHERE user_id = ?1), \
                            (SELECT COUNT(*) FROM principal_policies WHERE owner_kind = 'user' AND owner_id = ?1), \
                            (SELECT COUNT(*) FROM principal_attached_policies WHERE owner_kind = 'user' AND owner_id = ?1), \
                            (SELECT COUNT(*) FROM group_members WHERE user_id = ?1)",
                )
                .bind(&id)
                .fetch_one(&mut **tx)
                .await
                .map_err(internal)?;
                let conflict = |m: &str| Err(Error::DeleteConflict(format!("Cannot delete entity, must {m} first.")));
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
                sqlx::query("DELETE FROM users WHERE id = ?").bind(&id).execute(&mut **tx).await.map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    // ----- groups -----

    async fn insert_group(&self, group: &Group) -> Result<()> {
        let conflict =
            Error::EntityAlreadyExists(format!("Group with name {} already exists.", group.name));
        self.insert_named(
            "groups",
            &group.id,
            &group.name,
            &group.path,
            group,
            conflict,
        )
        .await
    }

    async fn get_group(&self, name: &str) -> Result<Option<Group>> {
        self.get_named("groups", name).await
    }

    async fn list_groups(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<Group>> {
        self.list_named("groups", path_prefix, page).await
    }

    async fn delete_group(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM groups WHERE name_key = ?").bind(key(&name)).fetch_optional(&mut **tx).await.map_err(internal)?;
                let id = id.ok_or_else(|| no_such_group(&name))?;
                let (members, inline, attached): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM group_members WHERE group_id = ?1), \
                            (SELECT COUNT(*) FROM principal_policies WHERE owner_kind = 'group' AND owner_id = ?1), \
                            (SELECT COUNT(*) FROM principal_attached_policies WHERE owner_kind = 'group' AND owner_id = ?1)",
                )
                .bind(&id)
                .fetch_one(&mut **tx)
                .await
                .map_err(internal)?;
                let conflict = |m: &str| Err(Error::DeleteConflict(format!("Cannot delete entity, must {m} first.")));
                if members > 0 {
                    return conflict("remove users from group");
                }
                if inline > 0 {
                    return conflict("delete policies");
                }
                if attached > 0 {
                    return conflict("detach all policies");
                }
                sqlx::query("DELETE FROM groups WHERE id = ?").bind(&id).execute(&mut **tx).await.map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    async fn add_user_to_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn remove_user_from_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        let res = sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
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
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT u.data FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.name_key")
                .bind(group_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn list_groups_for_user(&self, user_id: &str, page: &PageRequest) -> Result<Vec<Group>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT g.data FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ? AND g.name_key >= ? ORDER BY g.name_key LIMIT ?",
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
        sqlx::query(
            "INSERT INTO principal_policies (owner_kind, owner_id, name, document) VALUES (?, ?, ?, ?) \
             ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(name)
        .bind(document)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn get_owner_policy(
        &self,
        owner: Owner<'_>,
        name: &str,
    ) -> Result<Option<(String, String)>> {
        sqlx::query_as("SELECT name, document FROM principal_policies WHERE owner_kind = ? AND owner_id = ? AND name = ?")
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
        sqlx::query_scalar("SELECT name FROM principal_policies WHERE owner_kind = ? AND owner_id = ? AND name >= ? ORDER BY name LIMIT ?")
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
            "DELETE FROM principal_policies WHERE owner_kind = ? AND owner_id = ? AND name = ?",
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
        let res = sqlx::query(
            "INSERT INTO principal_attached_policies (owner_kind, owner_id, policy_id) \
             SELECT ?, ?, id FROM policies WHERE arn = ? ON CONFLICT DO NOTHING",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .bind(policy_arn)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if res.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM policies WHERE arn = ?")
                .bind(policy_arn)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
            if exists.is_none() {
                return Err(Error::NoSuchEntity(format!(
                    "Policy {policy_arn} does not exist or is not attachable."
                )));
            }
        }
        Ok(())
    }

    async fn detach_owner_policy(&self, owner: Owner<'_>, policy_arn: &str) -> Result<()> {
        let res = sqlx::query(
            "DELETE FROM principal_attached_policies WHERE owner_kind = ? AND owner_id = ? AND policy_id = (SELECT id FROM policies WHERE arn = ?)",
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
             WHERE a.owner_kind = ?1 AND a.owner_id = ?2 AND substr(p.path, 1, length(?3)) = ?3 AND p.name_key >= ?4 \
             ORDER BY p.name_key LIMIT ?5",
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
        let res = sqlx::query("INSERT INTO access_keys (id, user_id, data) VALUES (?, ?, ?)")
            .bind(&k.id)
            .bind(user_id)
            .bind(to_json(k)?)
            .execute(&self.pool)
            .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.message().contains("access key limit") => Err(
                Error::LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2".into()),
            ),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM access_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_access_keys(&self, user_id: &str) -> Result<Vec<AccessKey>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT data FROM access_keys WHERE user_id = ? ORDER BY id")
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
        let res = sqlx::query("DELETE FROM access_keys WHERE user_id = ? AND id = ?")
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(res.rows_affected() > 0)
    }
}
