use async_trait::async_trait;
use rolecall_core::model::*;
use rolecall_core::{Edit, Error, PageRequest, Result, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The storage trait on PostgreSQL. Any number of these (in any number of processes) may share
/// one database.
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

pub(crate) type Tx = Transaction<'static, Postgres>;

pub(crate) fn internal(e: sqlx::Error) -> Error {
    Error::Internal(format!("postgres: {e}"))
}

/// 23505, optionally of one constraint (index) only.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn is_unique_violation_of(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation() && d.constraint() == Some(constraint))
}

/// 23503.
pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// The backstop triggers' errors (see the migrations).
pub(crate) fn is_raised(e: &sqlx::Error, what: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains(what))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("encode: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Internal(format!("decode: {e}")))
}

pub(crate) fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// `LIMIT` for an overfetching page query.
pub(crate) fn limit(page: &PageRequest) -> i64 {
    i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX)
}

pub(crate) fn from(page: &PageRequest) -> String {
    page.from.clone().unwrap_or_default()
}

const VERSION_LIMIT: &str = "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.";

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?...`, libpq's form) with
    /// a pool of 10 connections and applies pending migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let opts = PgConnectOptions::from_str(url).map_err(internal)?;
        Self::connect_with(opts, 10).await
    }

    /// As [`connect`](Self::connect), with explicit options and pool size.
    pub async fn connect_with(
        opts: PgConnectOptions,
        max_connections: u32,
    ) -> Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(internal)?;
        crate::migrate::run(&pool).await.map_err(internal)?;
        Ok(PostgresStore { pool })
    }

    /// The connection pool (for operational checks and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(internal)
    }

    /// Read-modify-write of one row's JSON document (`table.data` where `column = value`) under
    /// the row's lock, so concurrent edits on any node never lose each other's changes.
    pub(crate) async fn modify_doc<T>(
        &self,
        table: &'static str,
        column: &'static str,
        value: String,
        missing: Error,
        edit: Edit<T>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut tx = self.begin().await?;
        let data: Option<String> = sqlx::query_scalar(&format!(
            "SELECT data FROM {table} WHERE {column} = $1 FOR UPDATE"
        ))
        .bind(&value)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let mut doc: T = from_json(&data.ok_or(missing)?)?;
        edit(&mut doc)?;
        sqlx::query(&format!("UPDATE {table} SET data = $1 WHERE {column} = $2"))
            .bind(to_json(&doc)?)
            .bind(&value)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(doc)
    }

    /// The policy's id and document, its row locked for the rest of the transaction.
    async fn lock_policy(tx: &mut PgConnection, arn: &str) -> Result<(String, ManagedPolicy)> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM policies WHERE arn = $1 FOR UPDATE")
                .bind(arn)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let (id, data) =
            row.ok_or_else(|| Error::NoSuchEntity(format!("Policy {arn} was not found.")))?;
        Ok((id, from_json(&data)?))
    }

    async fn fill_policy(&self, id: &str, data: &str) -> Result<ManagedPolicy> {
        let mut p: ManagedPolicy = from_json(data)?;
        let (count, default): (i64, Option<String>) = sqlx::query_as(
            "SELECT ((SELECT COUNT(*) FROM role_attached_policies WHERE policy_id = $1) + (SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = $1)), \
                    (SELECT version_id FROM policy_versions WHERE policy_id = $1 AND is_default)",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        p.attachment_count = u32::try_from(count).unwrap_or(u32::MAX);
        if let Some(d) = default {
            p.default_version_id = d;
        }
        Ok(p)
    }

    async fn fill_profile(&self, data: &str, id: &str) -> Result<InstanceProfile> {
        let mut p: InstanceProfile = from_json(data)?;
        let roles: Vec<String> = sqlx::query_scalar(
            "SELECT r.data FROM instance_profile_roles ipr JOIN roles r ON r.id = ipr.role_id WHERE ipr.profile_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        p.roles = roles.iter().map(|d| from_json(d)).collect::<Result<_>>()?;
        Ok(p)
    }

    async fn profiles_from_rows(
        &self,
        rows: Vec<(String, String)>,
    ) -> Result<Vec<InstanceProfile>> {
        let mut out = Vec::with_capacity(rows.len());
        for (id, data) in rows {
            out.push(self.fill_profile(&data, &id).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_meta(&self, k: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(k)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)
    }

    async fn set_meta(&self, k: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(k)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn init_meta(&self, k: &str, value: &str) -> Result<String> {
        // A concurrent inserter of the same key makes this INSERT wait for its commit and then do
        // nothing; the SELECT (a new snapshot under READ COMMITTED) then sees the winner's value.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(k)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(k)
            .fetch_one(&self.pool)
            .await
            .map_err(internal)
    }

    // ----- roles -----

    async fn insert_role(&self, role: &Role) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO roles (id, name_key, path, data) VALUES ($1, $2, $3, $4)")
                .bind(&role.id)
                .bind(key(&role.name))
                .bind(&role.path)
                .bind(to_json(role)?)
                .execute(&self.pool)
                .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(Error::EntityAlreadyExists(format!(
                "Role with name {} already exists.",
                role.name
            ))),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn get_role(&self, name: &str) -> Result<Option<Role>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM roles WHERE name_key = $1")
            .bind(key(name))
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_roles(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<Role>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM roles WHERE starts_with(path, $1) AND name_key >= $2 ORDER BY name_key LIMIT $3",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn modify_role(&self, name: &str, edit: Edit<Role>) -> Result<Role> {
        let missing = Error::NoSuchEntity(format!("The role with name {name} cannot be found."));
        self.modify_doc("roles", "name_key", key(name), missing, edit)
            .await
    }

    async fn delete_role(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        // The row lock conflicts with the KEY SHARE lock every child insert takes on its parent:
        // no policy or profile link can appear between the counts and the delete.
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM roles WHERE name_key = $1 FOR UPDATE")
                .bind(key(name))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let id = id.ok_or_else(|| {
            Error::NoSuchEntity(format!("The role with name {name} cannot be found."))
        })?;
        let (inline, attached, profiles): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM role_policies WHERE role_id = $1), \
                    (SELECT COUNT(*) FROM role_attached_policies WHERE role_id = $1), \
                    (SELECT COUNT(*) FROM instance_profile_roles WHERE role_id = $1)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        if inline > 0 {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        if attached > 0 {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if profiles > 0 {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            ));
        }
        let res = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_fk_violation(&e) => {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    // ----- inline role policies -----

    async fn put_role_policy(&self, role_id: &str, name: &str, document: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO role_policies (role_id, name, document) VALUES ($1, $2, $3) \
             ON CONFLICT (role_id, name) DO UPDATE SET document = excluded.document",
        )
        .bind(role_id)
        .bind(name)
        .bind(document)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                Error::NoSuchEntity("The role cannot be found.".into())
            } else {
                internal(e)
            }
        })?;
        Ok(())
    }

    async fn get_role_policy(&self, role_id: &str, name: &str) -> Result<Option<(String, String)>> {
        sqlx::query_as("SELECT name, document FROM role_policies WHERE role_id = $1 AND name = $2")
            .bind(role_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)
    }

    async fn list_role_policies(&self, role_id: &str, page: &PageRequest) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM role_policies WHERE role_id = $1 AND name >= $2 ORDER BY name LIMIT $3",
        )
        .bind(role_id)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)
    }

    async fn delete_role_policy(&self, role_id: &str, name: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM role_policies WHERE role_id = $1 AND name = $2")
            .bind(role_id)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(res.rows_affected() > 0)
    }

    // ----- managed policies -----

    async fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "INSERT INTO policies (id, arn, name_key, path, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&policy.id)
        .bind(&policy.arn)
        .bind(key(&policy.name))
        .bind(&policy.path)
        .bind(to_json(policy)?)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::EntityAlreadyExists(format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    policy.name
                )));
            }
            other => other.map_err(internal)?,
        };
        sqlx::query(
            "INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) VALUES ($1, $2, $3, TRUE, $4)",
        )
        .bind(&policy.id)
        .bind(&first.version_id)
        .bind(&first.document)
        .bind(first.create_date.to_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    async fn get_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM policies WHERE arn = $1")
                .bind(arn)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        match row {
            Some((id, data)) => Ok(Some(self.fill_policy(&id, &data).await?)),
            None => Ok(None),
        }
    }

    async fn list_policies(
        &self,
        path_prefix: &str,
        only_attached: bool,
        page: &PageRequest,
    ) -> Result<Vec<ManagedPolicy>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, data FROM policies p WHERE starts_with(path, $1) AND name_key >= $2 \
             AND (NOT $3 OR EXISTS (SELECT 1 FROM role_attached_policies a WHERE a.policy_id = p.id) \
                         OR EXISTS (SELECT 1 FROM principal_attached_policies b WHERE b.policy_id = p.id)) \
             ORDER BY name_key LIMIT $4",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(only_attached)
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, data) in rows {
            out.push(self.fill_policy(&id, &data).await?);
        }
        Ok(out)
    }

    async fn delete_policy(&self, arn: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let (id, _) = Self::lock_policy(&mut tx, arn).await?;
        let (attached, others): (i64, i64) = sqlx::query_as(
            "SELECT ((SELECT COUNT(*) FROM role_attached_policies WHERE policy_id = $1) + (SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = $1)), \
                    (SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1 AND NOT is_default)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let attached_conflict =
            || Error::DeleteConflict("Cannot delete a policy attached to entities.".into());
        if attached > 0 {
            return Err(attached_conflict());
        }
        if others > 0 {
            return Err(Error::DeleteConflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into()));
        }
        let res = sqlx::query("DELETE FROM policies WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_fk_violation(&e) => return Err(attached_conflict()),
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    async fn insert_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<PolicyVersion> {
        let mut tx = self.begin().await?;
        // The policy's row lock serializes version changes of this policy across nodes, so the
        // count below cannot go stale before the insert commits.
        let (id, mut policy) = Self::lock_policy(&mut tx, arn).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
        if count >= 5 {
            return Err(Error::LimitExceeded(VERSION_LIMIT.into()));
        }
        let n: i64 = sqlx::query_scalar(
            "UPDATE policies SET next_version = next_version + 1 WHERE id = $1 RETURNING next_version - 1",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let now = chrono::Utc::now();
        let version = PolicyVersion {
            version_id: format!("v{n}"),
            document: document.to_string(),
            is_default: set_default,
            create_date: now,
        };
        if set_default {
            sqlx::query(
                "UPDATE policy_versions SET is_default = FALSE WHERE policy_id = $1 AND is_default",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        }
        let res = sqlx::query(
            "INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&version.version_id)
        .bind(&version.document)
        .bind(set_default)
        .bind(now.to_rfc3339())
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_raised(&e, "policy version limit") => {
                return Err(Error::LimitExceeded(VERSION_LIMIT.into()));
            }
            other => other.map_err(internal)?,
        };
        policy.update_date = now;
        sqlx::query("UPDATE policies SET data = $1 WHERE id = $2")
            .bind(to_json(&policy)?)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(version)
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        let row: Option<(String, bool, String)> = sqlx::query_as(
            "SELECT v.document, v.is_default, v.create_date FROM policy_versions v JOIN policies p ON p.id = v.policy_id WHERE p.arn = $1 AND v.version_id = $2",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.map(|(document, is_default, date)| {
            version(version_id.to_string(), document, is_default, &date)
        })
        .transpose()
    }

    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        let rows: Vec<(String, String, bool, String)> = sqlx::query_as(
            "SELECT v.version_id, v.document, v.is_default, v.create_date FROM policy_versions v JOIN policies p ON p.id = v.policy_id \
             WHERE p.arn = $1 ORDER BY CAST(substr(v.version_id, 2) AS BIGINT) DESC",
        )
        .bind(arn)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.into_iter()
            .map(|(id, doc, d, date)| version(id, doc, d, &date))
            .collect()
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let (id, _) = Self::lock_policy(&mut tx, arn).await?;
        let is_default: Option<bool> = sqlx::query_scalar(
            "SELECT is_default FROM policy_versions WHERE policy_id = $1 AND version_id = $2",
        )
        .bind(&id)
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        match is_default {
            None => Err(Error::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist or is not attachable."
            ))),
            Some(true) => Err(Error::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            )),
            Some(false) => {
                sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2")
                    .bind(&id)
                    .bind(version_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                tx.commit().await.map_err(internal)
            }
        }
    }

    async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let (id, mut policy) = Self::lock_policy(&mut tx, arn).await?;
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM policy_versions WHERE policy_id = $1 AND version_id = $2",
        )
        .bind(&id)
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        if exists.is_none() {
            return Err(Error::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist or is not attachable."
            )));
        }
        sqlx::query(
            "UPDATE policy_versions SET is_default = FALSE WHERE policy_id = $1 AND is_default",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query(
            "UPDATE policy_versions SET is_default = TRUE WHERE policy_id = $1 AND version_id = $2",
        )
        .bind(&id)
        .bind(version_id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        policy.update_date = chrono::Utc::now();
        sqlx::query("UPDATE policies SET data = $1 WHERE id = $2")
            .bind(to_json(&policy)?)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    async fn attach_role_policy(&self, role_id: &str, policy_arn: &str) -> Result<()> {
        // One statement: the foreign keys lock both parents (KEY SHARE), so a concurrent delete of
        // the role or the policy either waits for this or makes it find nothing.
        let res = sqlx::query(
            "INSERT INTO role_attached_policies (role_id, policy_id) \
             SELECT $1, id FROM policies WHERE arn = $2 ON CONFLICT DO NOTHING",
        )
        .bind(role_id)
        .bind(policy_arn)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                // The role was deleted since the caller looked it up.
                Error::NoSuchEntity("The role cannot be found.".into())
            } else {
                internal(e)
            }
        })?;
        if res.rows_affected() == 0 && !policy_exists(&self.pool, policy_arn).await? {
            return Err(Error::NoSuchEntity(format!(
                "Policy {policy_arn} does not exist or is not attachable."
            )));
        }
        Ok(())
    }

    async fn detach_role_policy(&self, role_id: &str, policy_arn: &str) -> Result<()> {
        let res = sqlx::query(
            "DELETE FROM role_attached_policies WHERE role_id = $1 AND policy_id = (SELECT id FROM policies WHERE arn = $2)",
        )
        .bind(role_id)
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

    async fn list_attached_role_policies(
        &self,
        role_id: &str,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<AttachedPolicy>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT p.data FROM role_attached_policies a JOIN policies p ON p.id = a.policy_id \
             WHERE a.role_id = $1 AND starts_with(p.path, $2) AND p.name_key >= $3 ORDER BY p.name_key LIMIT $4",
        )
        .bind(role_id)
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

    // ----- instance profiles -----

    async fn insert_instance_profile(&self, profile: &InstanceProfile) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO instance_profiles (id, name_key, path, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(&profile.id)
        .bind(key(&profile.name))
        .bind(&profile.path)
        .bind(to_json(profile)?)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(Error::EntityAlreadyExists(format!(
                "Instance Profile {} already exists.",
                profile.name
            ))),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<InstanceProfile>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM instance_profiles WHERE name_key = $1")
                .bind(key(name))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        match row {
            Some((id, data)) => Ok(Some(self.fill_profile(&data, &id).await?)),
            None => Ok(None),
        }
    }

    async fn list_instance_profiles(
        &self,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, data FROM instance_profiles WHERE starts_with(path, $1) AND name_key >= $2 ORDER BY name_key LIMIT $3",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        self.profiles_from_rows(rows).await
    }

    async fn list_instance_profiles_for_role(
        &self,
        role_id: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.id, p.data FROM instance_profiles p JOIN instance_profile_roles ipr ON ipr.profile_id = p.id \
             WHERE ipr.role_id = $1 AND p.name_key >= $2 ORDER BY p.name_key LIMIT $3",
        )
        .bind(role_id)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        self.profiles_from_rows(rows).await
    }

    async fn modify_instance_profile(&self, name: &str, edit: Edit<InstanceProfile>) -> Result<()> {
        let missing = Error::NoSuchEntity(format!("Instance Profile {name} cannot be found."));
        self.modify_doc("instance_profiles", "name_key", key(name), missing, edit)
            .await
            .map(drop)
    }

    async fn delete_instance_profile(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM instance_profiles WHERE name_key = $1 FOR UPDATE")
                .bind(key(name))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let id = id.ok_or_else(|| {
            Error::NoSuchEntity(format!("Instance Profile {name} cannot be found."))
        })?;
        let conflict = || {
            Error::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            )
        };
        let has_role: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM instance_profile_roles WHERE profile_id = $1")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
        if has_role > 0 {
            return Err(conflict());
        }
        let res = sqlx::query("DELETE FROM instance_profiles WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) if is_fk_violation(&e) => return Err(conflict()),
            other => other.map_err(internal)?,
        };
        tx.commit().await.map_err(internal)
    }

    async fn add_role_to_instance_profile(&self, profile_id: &str, role_id: &str) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO instance_profile_roles (profile_id, role_id) VALUES ($1, $2)")
                .bind(profile_id)
                .bind(role_id)
                .execute(&self.pool)
                .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(Error::LimitExceeded(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into(),
            )),
            Err(e) if is_fk_violation(&e) => Err(Error::NoSuchEntity(
                "The role or instance profile cannot be found.".into(),
            )),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    async fn remove_role_from_instance_profile(
        &self,
        profile_id: &str,
        role_id: &str,
    ) -> Result<()> {
        let res = sqlx::query(
            "DELETE FROM instance_profile_roles WHERE profile_id = $1 AND role_id = $2",
        )
        .bind(profile_id)
        .bind(role_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchEntity(
                "The role is not in the instance profile.".into(),
            ));
        }
        Ok(())
    }

    // ----- instances -----

    async fn insert_instances(
        &self,
        instances: &[Instance],
        associations: &[Association],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for i in instances {
            let res = sqlx::query(
                "INSERT INTO instances (id, state, private_ip, data) VALUES ($1, $2, $3, $4)",
            )
            .bind(&i.id)
            .bind(i.state.name())
            .bind(&i.private_ip)
            .bind(to_json(i)?)
            .execute(&mut *tx)
            .await;
            match res {
                Err(e) if is_unique_violation_of(&e, "instances_live_private_ip") => {
                    return Err(Error::InvalidParameterValue(format!(
                        "Address {} is in use.",
                        i.private_ip
                    )));
                }
                other => other.map_err(internal)?,
            };
        }
        for a in associations {
            insert_association(&mut tx, a).await?;
        }
        tx.commit().await.map_err(internal)
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_instances(&self, ids: &[String], page: &PageRequest) -> Result<Vec<Instance>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM instances WHERE (cardinality($1::text[]) = 0 OR id = ANY($1)) AND id >= $2 ORDER BY id LIMIT $3",
        )
        .bind(ids)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn live_private_ips(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT private_ip FROM instances WHERE state <> 'terminated'")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)
    }

    async fn modify_instance(&self, id: &str, edit: Edit<Instance>) -> Result<Instance> {
        let mut tx = self.begin().await?;
        // Locks the instance row first (then its associations): the same order as
        // insert_association and replace_association, so they cannot deadlock.
        let data: Option<String> =
            sqlx::query_scalar("SELECT data FROM instances WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let missing =
            || Error::InvalidInstanceIdNotFound(format!("The instance ID '{id}' does not exist"));
        let mut instance: Instance = from_json(&data.ok_or_else(missing)?)?;
        let was_terminated = instance.state == InstanceState::Terminated;
        edit(&mut instance)?;
        let res = sqlx::query(
            "UPDATE instances SET state = $1, private_ip = $2, data = $3 WHERE id = $4",
        )
        .bind(instance.state.name())
        .bind(&instance.private_ip)
        .bind(to_json(&instance)?)
        .bind(&instance.id)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation_of(&e, "instances_live_private_ip") => {
                return Err(Error::InvalidParameterValue(format!(
                    "Address {} is in use.",
                    instance.private_ip
                )));
            }
            other => other.map_err(internal)?,
        };
        if instance.state == InstanceState::Terminated && !was_terminated {
            let active: Vec<String> = sqlx::query_scalar(
                "SELECT data FROM associations WHERE instance_id = $1 AND state IN ('associating', 'associated') FOR UPDATE",
            )
            .bind(&instance.id)
            .fetch_all(&mut *tx)
            .await
            .map_err(internal)?;
            for d in active {
                let mut a: Association = from_json(&d)?;
                a.state = AssociationState::Disassociated;
                set_association(&mut tx, &a).await?;
            }
        }
        tx.commit().await.map_err(internal)?;
        Ok(instance)
    }

    // ----- associations -----

    async fn insert_association(&self, association: &Association) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_association(&mut tx, association).await?;
        tx.commit().await.map_err(internal)
    }

    async fn get_association(&self, id: &str) -> Result<Option<Association>> {
        let data: Option<String> =
            sqlx::query_scalar("SELECT data FROM associations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_associations(
        &self,
        ids: &[String],
        page: &PageRequest,
    ) -> Result<Vec<Association>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM associations WHERE (cardinality($1::text[]) = 0 OR id = ANY($1)) AND id >= $2 ORDER BY id LIMIT $3",
        )
        .bind(ids)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn active_associations(&self, instance_ids: &[String]) -> Result<Vec<Association>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM associations WHERE instance_id = ANY($1) AND state IN ('associating', 'associated')",
        )
        .bind(instance_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn replace_association(&self, old_id: &str, new: &Association) -> Result<()> {
        let mut tx = self.begin().await?;
        // Instance row first, then the association (the order update_instance uses).
        lock_instance_for_association(&mut tx, &new.instance_id).await?;
        end_active(&mut tx, old_id).await?;
        insert_association(&mut tx, new).await?;
        tx.commit().await.map_err(internal)
    }

    async fn end_association(&self, id: &str) -> Result<Association> {
        let mut tx = self.begin().await?;
        let a = end_active(&mut tx, id).await?;
        tx.commit().await.map_err(internal)?;
        Ok(a)
    }
}

pub(crate) async fn policy_exists(pool: &PgPool, arn: &str) -> Result<bool> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM policies WHERE arn = $1")
        .bind(arn)
        .fetch_optional(pool)
        .await
        .map_err(internal)?;
    Ok(exists.is_some())
}

fn version(
    version_id: String,
    document: String,
    is_default: bool,
    date: &str,
) -> Result<PolicyVersion> {
    let create_date = chrono::DateTime::parse_from_rfc3339(date)
        .map_err(|e| Error::Internal(format!("date: {e}")))?
        .to_utc();
    Ok(PolicyVersion {
        version_id,
        document,
        is_default,
        create_date,
    })
}

/// Share-locks the instance row, so a concurrent termination (which updates the row) either
/// waits for this transaction and then ends the new association too, or commits first and is
/// seen here: no active association is left on a terminated instance.
async fn lock_instance_for_association(tx: &mut PgConnection, instance_id: &str) -> Result<()> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM instances WHERE id = $1 FOR SHARE")
            .bind(instance_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
    if state.as_deref() == Some(InstanceState::Terminated.name()) {
        return Err(Error::IncorrectInstanceState(format!(
            "The instance '{instance_id}' is not in the 'running' or 'stopped' states."
        )));
    }
    Ok(())
}

async fn insert_association(tx: &mut PgConnection, a: &Association) -> Result<()> {
    lock_instance_for_association(tx, &a.instance_id).await?;
    let res = sqlx::query(
        "INSERT INTO associations (id, instance_id, state, data) VALUES ($1, $2, $3, $4)",
    )
    .bind(&a.id)
    .bind(&a.instance_id)
    .bind(a.state.name())
    .bind(to_json(a)?)
    .execute(&mut *tx)
    .await;
    match res {
        Err(e) if is_unique_violation(&e) => Err(Error::IncorrectState(format!(
            "There is an existing association for instance {}",
            a.instance_id
        ))),
        other => other.map(|_| ()).map_err(internal),
    }
}

async fn set_association(tx: &mut PgConnection, a: &Association) -> Result<()> {
    sqlx::query("UPDATE associations SET state = $1, data = $2 WHERE id = $3")
        .bind(a.state.name())
        .bind(to_json(a)?)
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Marks an active association disassociated and returns it as it was ended. The row lock makes
/// a concurrent replace or disassociate of the same association wait and then see it ended.
async fn end_active(tx: &mut PgConnection, id: &str) -> Result<Association> {
    let data: Option<String> =
        sqlx::query_scalar("SELECT data FROM associations WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
    let mut a: Association = from_json(&data.ok_or_else(|| {
        Error::InvalidAssociationIdNotFound(format!("An association with ID {id} does not exist."))
    })?)?;
    if !a.state.is_active() {
        return Err(Error::IncorrectState(format!(
            "The association {id} is not the active association."
        )));
    }
    a.state = AssociationState::Disassociated;
    a.timestamp = chrono::Utc::now();
    set_association(tx, &a).await?;
    Ok(a)
}
