use async_trait::async_trait;
use rolecall_core::model::*;
use rolecall_core::{Edit, Error, PageRequest, Result, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Mutex;

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    write: Mutex<()>,
}

pub(crate) fn internal(e: sqlx::Error) -> Error {
    Error::Internal(format!("sqlite: {e}"))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// SQLite reports RESTRICT foreign keys as SQLITE_CONSTRAINT_TRIGGER (1811), not 787, so match
/// on the message, which both share.
pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation() || d.message().contains("FOREIGN KEY constraint failed"))
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

pub(crate) type Tx<'a> = Transaction<'a, Sqlite>;
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::with_options(opts, 8).await
    }

    /// A private in-memory database (for tests).
    pub async fn in_memory() -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(internal)?
            .foreign_keys(true);
        // One connection: every connection to ":memory:" is its own database.
        Self::with_options(opts, 1).await
    }

    async fn with_options(opts: SqliteConnectOptions, max: u32) -> Result<SqliteStore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            // A local file cannot drop the connection: skip the ping before every query.
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(internal)?;
        crate::migrate::run(&pool).await.map_err(internal)?;
        Ok(SqliteStore {
            pool,
            write: Mutex::new(()),
        })
    }

    /// Inserts a name-keyed document (`table(id, name_key, path, data)`); a name taken in any
    /// case is `conflict`.
    pub(crate) async fn insert_named<T: Serialize>(
        &self,
        table: &'static str,
        id: &str,
        name: &str,
        path: &str,
        doc: &T,
        conflict: Error,
    ) -> Result<()> {
        let res = sqlx::query(&format!(
            "INSERT INTO {table} (id, name_key, path, data) VALUES (?, ?, ?, ?)"
        ))
        .bind(id)
        .bind(key(name))
        .bind(path)
        .bind(to_json(doc)?)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(conflict),
            other => other.map(|_| ()).map_err(internal),
        }
    }

    /// The document named `name` (any case) in a name-keyed table.
    pub(crate) async fn get_named<T: DeserializeOwned>(
        &self,
        table: &'static str,
        name: &str,
    ) -> Result<Option<T>> {
        let data: Option<String> =
            sqlx::query_scalar(&format!("SELECT data FROM {table} WHERE name_key = ?"))
                .bind(key(name))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    /// A page of a name-keyed table under a path prefix, ordered by name.
    pub(crate) async fn list_named<T: DeserializeOwned>(
        &self,
        table: &'static str,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<T>> {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT data FROM {table} WHERE substr(path, 1, length(?1)) = ?1 AND name_key >= ?2 ORDER BY name_key LIMIT ?3"
        ))
        .bind(path_prefix)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    /// Read-modify-write of one row's JSON document (`table.data` where `column = value`) in a
    /// single write transaction, so concurrent edits never lose each other's changes.
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
        self.write(move |tx| {
            Box::pin(async move {
                let data: Option<String> =
                    sqlx::query_scalar(&format!("SELECT data FROM {table} WHERE {column} = ?"))
                        .bind(&value)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(internal)?;
                let mut doc: T = from_json(&data.ok_or(missing)?)?;
                edit(&mut doc)?;
                sqlx::query(&format!("UPDATE {table} SET data = ? WHERE {column} = ?"))
                    .bind(to_json(&doc)?)
                    .bind(&value)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                Ok(doc)
            })
        })
        .await
    }

    /// Runs `f` in a write transaction, committing on Ok.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut Tx<'static>) -> BoxFuture<'c, Result<T>>,
    {
        let _guard = self.write.lock().await;
        // IMMEDIATE takes the write lock up front (waiting out other writers with the busy
        // timeout); a deferred transaction that reads first fails with SQLITE_BUSY when it has to
        // upgrade after another connection has written.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(internal)?;
        let out = f(&mut tx).await?;
        tx.commit().await.map_err(internal)?;
        Ok(out)
    }

    async fn role_id_by_name(tx: &mut Tx<'_>, name: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT id FROM roles WHERE name_key = ?")
            .bind(key(name))
            .fetch_optional(&mut **tx)
            .await
            .map_err(internal)
    }

    async fn policy_row(tx: &mut Tx<'_>, arn: &str) -> Result<(String, ManagedPolicy)> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM policies WHERE arn = ?")
                .bind(arn)
                .fetch_optional(&mut **tx)
                .await
                .map_err(internal)?;
        let (id, data) =
            row.ok_or_else(|| Error::NoSuchEntity(format!("Policy {arn} was not found.")))?;
        Ok((id, from_json(&data)?))
    }

    async fn fill_policy(&self, id: &str, data: &str) -> Result<ManagedPolicy> {
        let mut p: ManagedPolicy = from_json(data)?;
        let (count, default): (i64, Option<String>) = sqlx::query_as(
            "SELECT ((SELECT COUNT(*) FROM role_attached_policies WHERE policy_id = ?1) + (SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = ?1)), \
                    (SELECT version_id FROM policy_versions WHERE policy_id = ?1 AND is_default = 1)",
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
        let roles: Vec<(String,)> = sqlx::query_as(
            "SELECT r.data FROM instance_profile_roles ipr JOIN roles r ON r.id = ipr.role_id WHERE ipr.profile_id = ?",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        p.roles = roles
            .iter()
            .map(|(d,)| from_json(d))
            .collect::<Result<_>>()?;
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
impl Store for SqliteStore {
    async fn get_meta(&self, k: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(k)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)
    }

    async fn set_meta(&self, k: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(k)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(())
    }

    async fn init_meta(&self, k: &str, value: &str) -> Result<String> {
        let (k, value) = (k.to_string(), value.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&k)
                .bind(&value)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
                sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
                    .bind(&k)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(internal)
            })
        })
        .await
    }

    // ----- roles -----

    async fn insert_role(&self, role: &Role) -> Result<()> {
        let conflict =
            Error::EntityAlreadyExists(format!("Role with name {} already exists.", role.name));
        self.insert_named("roles", &role.id, &role.name, &role.path, role, conflict)
            .await
    }

    async fn get_role(&self, name: &str) -> Result<Option<Role>> {
        self.get_named("roles", name).await
    }

    async fn list_roles(&self, path_prefix: &str, page: &PageRequest) -> Result<Vec<Role>> {
        self.list_named("roles", path_prefix, page).await
    }

    async fn modify_role(&self, name: &str, edit: Edit<Role>) -> Result<Role> {
        let missing = Error::NoSuchEntity(format!("The role with name {name} cannot be found."));
        self.modify_doc("roles", "name_key", key(name), missing, edit)
            .await
    }

    async fn delete_role(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let id = Self::role_id_by_name(tx, &name).await?.ok_or_else(|| {
                    Error::NoSuchEntity(format!("The role with name {name} cannot be found."))
                })?;
                let (inline, attached, profiles): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM role_policies WHERE role_id = ?1), \
                            (SELECT COUNT(*) FROM role_attached_policies WHERE role_id = ?1), \
                            (SELECT COUNT(*) FROM instance_profile_roles WHERE role_id = ?1)",
                )
                .bind(&id)
                .fetch_one(&mut **tx)
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
                        "Cannot delete entity, must remove roles from instance profile first."
                            .into(),
                    ));
                }
                sqlx::query("DELETE FROM roles WHERE id = ?")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    // ----- inline role policies -----

    async fn put_role_policy(&self, role_id: &str, name: &str, document: &str) -> Result<()> {
        sqlx::query("INSERT INTO role_policies (role_id, name, document) VALUES (?, ?, ?) ON CONFLICT (role_id, name) DO UPDATE SET document = excluded.document")
            .bind(role_id)
            .bind(name)
            .bind(document)
            .execute(&self.pool)
            .await
            .map_err(|e| if is_fk_violation(&e) { Error::NoSuchEntity("The role cannot be found.".into()) } else { internal(e) })?;
        Ok(())
    }

    async fn get_role_policy(&self, role_id: &str, name: &str) -> Result<Option<(String, String)>> {
        sqlx::query_as("SELECT name, document FROM role_policies WHERE role_id = ? AND name = ?")
            .bind(role_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)
    }

    async fn list_role_policies(&self, role_id: &str, page: &PageRequest) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM role_policies WHERE role_id = ? AND name >= ? ORDER BY name LIMIT ?",
        )
        .bind(role_id)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)
    }

    async fn delete_role_policy(&self, role_id: &str, name: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM role_policies WHERE role_id = ? AND name = ?")
            .bind(role_id)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(res.rows_affected() > 0)
    }

    // ----- managed policies -----

    async fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()> {
        let (policy, first) = (policy.clone(), first.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let res = sqlx::query("INSERT INTO policies (id, arn, name_key, path, data) VALUES (?, ?, ?, ?, ?)")
                    .bind(&policy.id)
                    .bind(&policy.arn)
                    .bind(key(&policy.name))
                    .bind(&policy.path)
                    .bind(to_json(&policy)?)
                    .execute(&mut **tx)
                    .await;
                match res {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::EntityAlreadyExists(format!("A policy called {} already exists. Duplicate names are not allowed.", policy.name)));
                    }
                    other => other.map_err(internal)?,
                };
                sqlx::query("INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) VALUES (?, ?, ?, 1, ?)")
                    .bind(&policy.id)
                    .bind(&first.version_id)
                    .bind(&first.document)
                    .bind(first.create_date.to_rfc3339())
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    async fn get_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM policies WHERE arn = ?")
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
            "SELECT id, data FROM policies p WHERE substr(path, 1, length(?1)) = ?1 AND name_key >= ?2 \
             AND (?3 = 0 OR (EXISTS (SELECT 1 FROM role_attached_policies a WHERE a.policy_id = p.id) OR EXISTS (SELECT 1 FROM principal_attached_policies b WHERE b.policy_id = p.id))) ORDER BY name_key LIMIT ?4",
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
        let arn = arn.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let (id, _) = Self::policy_row(tx, &arn).await?;
                let (attached, others): (i64, i64) = sqlx::query_as(
                    "SELECT ((SELECT COUNT(*) FROM role_attached_policies WHERE policy_id = ?1) + (SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = ?1)), \
                            (SELECT COUNT(*) FROM policy_versions WHERE policy_id = ?1 AND is_default = 0)",
                )
                .bind(&id)
                .fetch_one(&mut **tx)
                .await
                .map_err(internal)?;
                if attached > 0 {
                    return Err(Error::DeleteConflict("Cannot delete a policy attached to entities.".into()));
                }
                if others > 0 {
                    return Err(Error::DeleteConflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into()));
                }
                sqlx::query("DELETE FROM policies WHERE id = ?").bind(&id).execute(&mut **tx).await.map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    async fn insert_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<PolicyVersion> {
        let (arn, document) = (arn.to_string(), document.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let (id, mut policy) = Self::policy_row(tx, &arn).await?;
                let n: i64 = sqlx::query_scalar("UPDATE policies SET next_version = next_version + 1 WHERE id = ? RETURNING next_version - 1")
                    .bind(&id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(internal)?;
                let now = chrono::Utc::now();
                let version = PolicyVersion { version_id: format!("v{n}"), document, is_default: set_default, create_date: now };
                if set_default {
                    sqlx::query("UPDATE policy_versions SET is_default = 0 WHERE policy_id = ?").bind(&id).execute(&mut **tx).await.map_err(internal)?;
                }
                let res = sqlx::query("INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) VALUES (?, ?, ?, ?, ?)")
                    .bind(&id)
                    .bind(&version.version_id)
                    .bind(&version.document)
                    .bind(set_default)
                    .bind(now.to_rfc3339())
                    .execute(&mut **tx)
                    .await;
                match res {
                    Err(sqlx::Error::Database(d)) if d.message().contains("policy version limit") => {
                        return Err(Error::LimitExceeded("A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.".to_string()));
                    }
                    other => other.map_err(internal)?,
                };
                policy.update_date = now;
                sqlx::query("UPDATE policies SET data = ? WHERE id = ?").bind(to_json(&policy)?).bind(&id).execute(&mut **tx).await.map_err(internal)?;
                Ok(version)
            })
        })
        .await
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        let row: Option<(String, bool, String)> = sqlx::query_as(
            "SELECT v.document, v.is_default, v.create_date FROM policy_versions v JOIN policies p ON p.id = v.policy_id WHERE p.arn = ? AND v.version_id = ?",
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
             WHERE p.arn = ? ORDER BY CAST(substr(v.version_id, 2) AS INTEGER) DESC",
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
        let (arn, version_id) = (arn.to_string(), version_id.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let (id, _) = Self::policy_row(tx, &arn).await?;
                let is_default: Option<bool> = sqlx::query_scalar(
                    "SELECT is_default FROM policy_versions WHERE policy_id = ? AND version_id = ?",
                )
                .bind(&id)
                .bind(&version_id)
                .fetch_optional(&mut **tx)
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
                        sqlx::query(
                            "DELETE FROM policy_versions WHERE policy_id = ? AND version_id = ?",
                        )
                        .bind(&id)
                        .bind(&version_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                        Ok(())
                    }
                }
            })
        })
        .await
    }

    async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let (arn, version_id) = (arn.to_string(), version_id.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let (id, mut policy) = Self::policy_row(tx, &arn).await?;
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM policy_versions WHERE policy_id = ? AND version_id = ?")
                    .bind(&id)
                    .bind(&version_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(internal)?;
                if exists.is_none() {
                    return Err(Error::NoSuchEntity(format!("Policy {arn} version {version_id} does not exist or is not attachable.")));
                }
                sqlx::query("UPDATE policy_versions SET is_default = 0 WHERE policy_id = ?").bind(&id).execute(&mut **tx).await.map_err(internal)?;
                sqlx::query("UPDATE policy_versions SET is_default = 1 WHERE policy_id = ? AND version_id = ?")
                    .bind(&id)
                    .bind(&version_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                policy.update_date = chrono::Utc::now();
                sqlx::query("UPDATE policies SET data = ? WHERE id = ?").bind(to_json(&policy)?).bind(&id).execute(&mut **tx).await.map_err(internal)?;
                Ok(())
            })
        })
        .await
    }

    async fn attach_role_policy(&self, role_id: &str, policy_arn: &str) -> Result<()> {
        let (role_id, arn) = (role_id.to_string(), policy_arn.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let (pid, _) = Self::policy_row(tx, &arn)
                    .await
                    .map_err(|_| Error::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable.")))?;
                sqlx::query("INSERT INTO role_attached_policies (role_id, policy_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
                    .bind(&role_id)
                    .bind(&pid)
                    .execute(&mut **tx)
                    .await
                    // The role was deleted since the caller looked it up.
                    .map_err(|e| if is_fk_violation(&e) { Error::NoSuchEntity("The role cannot be found.".into()) } else { internal(e) })?;
                Ok(())
            })
        })
        .await
    }

    async fn detach_role_policy(&self, role_id: &str, policy_arn: &str) -> Result<()> {
        let res = sqlx::query("DELETE FROM role_attached_policies WHERE role_id = ? AND policy_id = (SELECT id FROM policies WHERE arn = ?)")
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
             WHERE a.role_id = ?1 AND substr(p.path, 1, length(?2)) = ?2 AND p.name_key >= ?3 ORDER BY p.name_key LIMIT ?4",
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
        let conflict = Error::EntityAlreadyExists(format!(
            "Instance Profile {} already exists.",
            profile.name
        ));
        self.insert_named(
            "instance_profiles",
            &profile.id,
            &profile.name,
            &profile.path,
            profile,
            conflict,
        )
        .await
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<InstanceProfile>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, data FROM instance_profiles WHERE name_key = ?")
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
            "SELECT id, data FROM instance_profiles WHERE substr(path, 1, length(?1)) = ?1 AND name_key >= ?2 ORDER BY name_key LIMIT ?3",
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
             WHERE ipr.role_id = ? AND p.name_key >= ? ORDER BY p.name_key LIMIT ?",
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
        let name = name.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM instance_profiles WHERE name_key = ?")
                        .bind(key(&name))
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(internal)?;
                let id = id.ok_or_else(|| {
                    Error::NoSuchEntity(format!("Instance Profile {name} cannot be found."))
                })?;
                let res = sqlx::query("DELETE FROM instance_profiles WHERE id = ?")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await;
                match res {
                    Err(e) if is_fk_violation(&e) => Err(Error::DeleteConflict(
                        "Cannot delete entity, must remove roles from instance profile first."
                            .into(),
                    )),
                    other => other.map(|_| ()).map_err(internal),
                }
            })
        })
        .await
    }

    async fn add_role_to_instance_profile(&self, profile_id: &str, role_id: &str) -> Result<()> {
        let res =
            sqlx::query("INSERT INTO instance_profile_roles (profile_id, role_id) VALUES (?, ?)")
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
        let res =
            sqlx::query("DELETE FROM instance_profile_roles WHERE profile_id = ? AND role_id = ?")
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
        let (instances, associations) = (instances.to_vec(), associations.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                for i in &instances {
                    let res = sqlx::query(
                        "INSERT INTO instances (id, state, private_ip, data) VALUES (?, ?, ?, ?)",
                    )
                    .bind(&i.id)
                    .bind(i.state.name())
                    .bind(&i.private_ip)
                    .bind(to_json(i)?)
                    .execute(&mut **tx)
                    .await;
                    match res {
                        Err(e) if is_unique_violation(&e) => {
                            return Err(Error::InvalidParameterValue(format!(
                                "Address {} is in use.",
                                i.private_ip
                            )));
                        }
                        other => other.map_err(internal)?,
                    };
                }
                for a in &associations {
                    insert_association(tx, a).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM instances WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        data.map(|d| from_json(&d)).transpose()
    }

    async fn list_instances(&self, ids: &[String], page: &PageRequest) -> Result<Vec<Instance>> {
        let ids_json = to_json(&ids)?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM instances WHERE (?1 = '[]' OR id IN (SELECT value FROM json_each(?1))) AND id >= ?2 ORDER BY id LIMIT ?3",
        )
        .bind(ids_json)
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
        let id = id.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let data: Option<String> = sqlx::query_scalar("SELECT data FROM instances WHERE id = ?")
                    .bind(&id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(internal)?;
                let missing = || Error::InvalidInstanceIdNotFound(format!("The instance ID '{id}' does not exist"));
                let mut instance: Instance = from_json(&data.ok_or_else(missing)?)?;
                let was_terminated = instance.state == InstanceState::Terminated;
                edit(&mut instance)?;
                sqlx::query("UPDATE instances SET state = ?, data = ? WHERE id = ?")
                    .bind(instance.state.name())
                    .bind(to_json(&instance)?)
                    .bind(&instance.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                if instance.state == InstanceState::Terminated && !was_terminated {
                    let active: Vec<String> = sqlx::query_scalar(
                        "SELECT data FROM associations WHERE instance_id = ? AND state IN ('associating', 'associated')",
                    )
                    .bind(&instance.id)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(internal)?;
                    for d in active {
                        let mut a: Association = from_json(&d)?;
                        a.state = AssociationState::Disassociated;
                        set_association(tx, &a).await?;
                    }
                }
                Ok(instance)
            })
        })
        .await
    }

    // ----- associations -----

    async fn insert_association(&self, association: &Association) -> Result<()> {
        let a = association.clone();
        self.write(move |tx| Box::pin(async move { insert_association(tx, &a).await }))
            .await
    }

    async fn get_association(&self, id: &str) -> Result<Option<Association>> {
        let data: Option<String> = sqlx::query_scalar("SELECT data FROM associations WHERE id = ?")
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
            "SELECT data FROM associations WHERE (?1 = '[]' OR id IN (SELECT value FROM json_each(?1))) AND id >= ?2 ORDER BY id LIMIT ?3",
        )
        .bind(to_json(&ids)?)
        .bind(from(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn active_associations(&self, instance_ids: &[String]) -> Result<Vec<Association>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM associations WHERE instance_id IN (SELECT value FROM json_each(?)) AND state IN ('associating', 'associated')",
        )
        .bind(to_json(&instance_ids)?)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(|d| from_json(d)).collect()
    }

    async fn replace_association(&self, old_id: &str, new: &Association) -> Result<()> {
        let (old_id, new) = (old_id.to_string(), new.clone());
        self.write(move |tx| {
            Box::pin(async move {
                end_active(tx, &old_id).await?;
                insert_association(tx, &new).await
            })
        })
        .await
    }

    async fn end_association(&self, id: &str) -> Result<Association> {
        let id = id.to_string();
        self.write(move |tx| Box::pin(async move { end_active(tx, &id).await }))
            .await
    }
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

async fn insert_association(tx: &mut Tx<'_>, a: &Association) -> Result<()> {
    let res =
        sqlx::query("INSERT INTO associations (id, instance_id, state, data) VALUES (?, ?, ?, ?)")
            .bind(&a.id)
            .bind(&a.instance_id)
            .bind(a.state.name())
            .bind(to_json(a)?)
            .execute(&mut **tx)
            .await;
    match res {
        Err(e) if is_unique_violation(&e) => Err(Error::IncorrectState(format!(
            "There is an existing association for instance {}",
            a.instance_id
        ))),
        other => other.map(|_| ()).map_err(internal),
    }
}

async fn set_association(tx: &mut Tx<'_>, a: &Association) -> Result<()> {
    sqlx::query("UPDATE associations SET state = ?, data = ? WHERE id = ?")
        .bind(a.state.name())
        .bind(to_json(a)?)
        .bind(&a.id)
        .execute(&mut **tx)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Marks an active association disassociated and returns it as it was ended.
async fn end_active(tx: &mut Tx<'_>, id: &str) -> Result<Association> {
    let data: Option<String> = sqlx::query_scalar("SELECT data FROM associations WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
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
