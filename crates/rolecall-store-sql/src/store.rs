//! [`Store`]: metadata, roles, managed policies, instance profiles, instances, associations.

use crate::ec2_query::{Query, association_target, instance_target};
use crate::{
    Args, Dialect, RowLock, SqlStore, Write, all_from_json, backend, execute_text, from, from_json,
    is_raised, is_unique_violation, key, known_errors, limit, taken_if_unique, to_json, version,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolecall_core::audit::{AuditEvent, AuditQuery, AuditTail};
use rolecall_core::ec2::Filter;
use rolecall_core::login_profiles::LOGIN_PROFILE_META_PREFIX;
use rolecall_core::model::*;
use rolecall_core::{
    ChangesSince, Dependents, Edit, EntityKind, Existing, InstanceDoc, Limit, Missing, Named,
    Owner, OwnerKind, PageRequest, Store, StoreError, StoreResult as Result, Taken,
};
use rolecall_sql_bounds::sql_bounds;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Database;
use sqlx::query::QueryAs;

type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// What must be gone before a row may be deleted: a count of rows referring to it (`$1` is the
/// row's id), and what a nonzero count means.
type Check = (String, Dependents);

fn check(count: &str, dependents: Dependents) -> Check {
    (count.to_string(), dependents)
}

/// The policies (inline, then attached) that must be gone before a role, user or group is.
fn policy_checks(kind: OwnerKind) -> [Check; 2] {
    let where_owner = format!("WHERE owner_kind = '{}' AND owner_id = $1", kind.name());
    [
        (
            format!("SELECT COUNT(*) FROM principal_policies {where_owner}"),
            Dependents::InlinePolicies,
        ),
        (
            format!("SELECT COUNT(*) FROM principal_attached_policies {where_owner}"),
            Dependents::AttachedPolicies,
        ),
    ]
}

/// What must be gone before a role, user or group is deleted, in the order IAM reports it (the
/// first found), and what a refusing foreign key (the backstop) means.
pub(crate) fn principal_dependents(kind: OwnerKind) -> (Vec<Check>, Dependents) {
    let [inline, attached] = policy_checks(kind);
    match kind {
        OwnerKind::Role => {
            let profiles = check(
                "SELECT COUNT(*) FROM instance_profile_roles WHERE role_id = $1",
                Dependents::InstanceProfileRoles,
            );
            (
                vec![inline, attached, profiles],
                Dependents::InstanceProfileRoles,
            )
        }
        OwnerKind::User => {
            // A login profile first (a document "" = none).
            let profile = format!(
                "SELECT COUNT(*) FROM meta WHERE key = '{LOGIN_PROFILE_META_PREFIX}' || $1 \
                 AND value <> ''"
            );
            let checks = vec![
                check(&profile, Dependents::LoginProfile),
                check(
                    "SELECT COUNT(*) FROM access_keys WHERE user_id = $1",
                    Dependents::AccessKeys,
                ),
                inline,
                attached,
                check(
                    "SELECT COUNT(*) FROM group_members WHERE user_id = $1",
                    Dependents::GroupMembers,
                ),
            ];
            (checks, Dependents::AccessKeys)
        }
        OwnerKind::Group => {
            let members = check(
                "SELECT COUNT(*) FROM group_members WHERE group_id = $1",
                Dependents::GroupMembers,
            );
            (vec![members, inline, attached], Dependents::GroupMembers)
        }
    }
}

pub(crate) fn owner_table(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::Role => "roles",
        OwnerKind::User => "users",
        OwnerKind::Group => "groups",
    }
}

/// The `ended_at` column of an association's row from two parameters (ended? and its
/// timestamp): when it ended (unix milliseconds), NULL while it is active.
fn ended_at(ended: &str, timestamp: &str) -> String {
    format!("CASE WHEN {ended} THEN {timestamp} END")
}

/// The partial unique index that keeps live instances' private IPs unique.
const LIVE_PRIVATE_IP: &str = "instances_live_private_ip";
/// Separators of a page of documents returned as one string (see `query_instance_docs`); chars,
/// so splitting is a byte search.
const UNIT_SEPARATOR: char = '\u{1f}';
const RECORD_SEPARATOR: char = '\u{1e}';

#[sql_bounds(D::Db)]
impl<D: Dialect> SqlStore<D> {
    /// Inserts a name-keyed document (`table(id, name_key, path, data)`); a name taken in any
    /// case is `taken`.
    pub(crate) async fn insert_named<T: Serialize + Sync>(
        &self,
        table: &str,
        (id, name, path): (&str, &str, &str),
        doc: &T,
        taken: impl FnOnce() -> Taken,
        (kind, entity): (EntityKind, &str),
    ) -> Result<()> {
        let mut w = self.begin().await?;
        let res = sqlx::query(&format!(
            "INSERT INTO {table} (id, name_key, path, data) VALUES ($1, $2, $3, $4)"
        ))
        .bind(id)
        .bind(key(name))
        .bind(path)
        .bind(to_json(doc)?)
        .execute(&mut *w.tx)
        .await;
        taken_if_unique(res, taken)?;
        w.record(kind, entity);
        w.commit().await
    }

    /// Policies have no foreign key to their (role, user or group) owner, so writers take a KEY
    /// SHARE lock on the owner's row (the writer mutex in SQLite): it conflicts with the FOR
    /// UPDATE lock the owner's delete holds while it checks for policies, so no policy outlives
    /// its owner.
    pub(crate) async fn lock_owner(tx: &mut Conn<D>, owner: Owner<'_>) -> Result<()> {
        let (table, missing) = (owner_table(owner.kind()), || Missing::Owner(owner.kind()));
        Self::locked_id(tx, table, "id", owner.id(), RowLock::KeyShare, missing)
            .await
            .map(drop)
    }

    /// The rows a query with text parameters (`$1`, `$2`, ... in order) finds on `on` (the
    /// pool, or a transaction's connection).
    pub(crate) async fn rows_on<'e, R>(
        on: impl sqlx::Executor<'e, Database = D::Db>,
        sql: &str,
        params: &[&str],
    ) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        Self::text_query(sql, params)
            .fetch_all(on)
            .await
            .map_err(|e| backend(&e))
    }

    /// The row a query by a unique key finds, if any.
    pub(crate) async fn row<R>(&self, sql: &str, params: &[&str]) -> Result<Option<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        Ok(Self::rows_on(&self.pool, sql, params).await?.pop())
    }

    /// [`row`](Self::row) in a transaction.
    pub(crate) async fn row_in<R>(tx: &mut Conn<D>, sql: &str, params: &[&str]) -> Result<Option<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        Ok(Self::rows_on(tx, sql, params).await?.pop())
    }

    /// What a `SELECT COUNT(*)` with text parameters counts, in a transaction.
    pub(crate) async fn count_in(tx: &mut Conn<D>, sql: &str, params: &[&str]) -> Result<i64> {
        let counts: Vec<(i64,)> = Self::rows_on(tx, sql, params).await?;
        Ok(counts.first().map_or(0, |(n,)| *n))
    }

    /// The rows of one column `sql` finds: `q`'s parameters, then the page's limit, bound in
    /// order (`sql` ends with [`Query::page_clause`]).
    async fn query_page<O>(&self, sql: &str, q: &Query, page: &PageRequest) -> Result<Vec<O>>
    where
        O: for<'r> sqlx::Decode<'r, D::Db> + sqlx::Type<D::Db> + Send + Unpin,
    {
        let query = q
            .params
            .iter()
            .fold(sqlx::query_scalar(sql), |query, p| query.bind(p.as_str()));
        query
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))
    }

    /// `sql` with its text parameters (`$1`, `$2`, ... in order) bound.
    fn text_query<'q, R>(sql: &'q str, params: &[&'q str]) -> QueryAs<'q, D::Db, R, Args<'q, D>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row>,
    {
        params.iter().fold(sqlx::query_as(sql), |q, p| q.bind(*p))
    }

    /// The document whose `column` is `value`.
    pub(crate) async fn get_doc<T: DeserializeOwned>(
        &self,
        table: &str,
        column: &str,
        value: &str,
    ) -> Result<Option<T>> {
        let sql = format!("SELECT data FROM {table} WHERE {column} = $1");
        let data: Option<(String,)> = self.row(&sql, &[value]).await?;
        data.map(|(d,)| from_json(&d)).transpose()
    }

    /// The documents of `table` whose `column` is one of `list`, with `rest` (more conditions,
    /// an order) after.
    pub(crate) async fn docs_in<T: DeserializeOwned>(
        &self,
        table: &str,
        column: &str,
        list: &[String],
        rest: &str,
    ) -> Result<Vec<T>> {
        let sql = format!(
            "SELECT data FROM {table} WHERE {}{rest}",
            D::in_list(column, 1)
        );
        let rows = D::bind_list(sqlx::query_scalar(&sql), list)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        all_from_json(&rows)
    }

    /// A page of a name-keyed table under a path prefix, ordered by name: its documents as
    /// their stored text.
    pub(crate) async fn list_named(
        &self,
        table: &str,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<(String,)>> {
        let sql = format!(
            "SELECT data FROM {table} WHERE substr(path, 1, length($1)) = $1 AND name_key >= $2 \
             ORDER BY name_key LIMIT $3"
        );
        self.page_rows(&sql, &[path_prefix], page).await
    }

    /// A page of rows: `sql`'s parameters are `keys` (text, from `$1`), then the page's first
    /// key and its limit.
    pub(crate) async fn page_rows<R>(
        &self,
        sql: &str,
        keys: &[&str],
        page: &PageRequest,
    ) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    {
        Self::text_query(sql, keys)
            .bind(from(page))
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))
    }

    /// [`page_rows`](Self::page_rows) of one column of JSON documents.
    pub(crate) async fn page_docs<T: DeserializeOwned>(
        &self,
        sql: &str,
        keys: &[&str],
        page: &PageRequest,
    ) -> Result<Vec<T>> {
        let rows: Vec<(String,)> = self.page_rows(sql, keys, page).await?;
        rows.iter().map(|(doc,)| from_json(doc)).collect()
    }

    /// Read-modify-write of one row's JSON document (`table.data` where `column = value`) under
    /// the row's lock, so concurrent edits never lose each other's changes.
    pub(crate) async fn modify_doc<T>(
        &self,
        table: &str,
        column: &str,
        value: &str,
        missing: impl FnOnce() -> Missing,
        edit: Edit<T>,
        entity: impl FnOnce(&T) -> (EntityKind, String),
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut w = self.begin().await?;
        let mut doc: T = Self::locked_doc(&mut w.tx, (table, column, value), missing).await?;
        edit(&mut doc).map_err(StoreError::Rejected)?;
        let sql = format!("UPDATE {table} SET data = $1 WHERE {column} = $2");
        w.execute(&sql, &[&to_json(&doc)?, value]).await?;
        let (kind, id) = entity(&doc);
        w.record(kind, id);
        w.commit().await?;
        Ok(doc)
    }

    /// The document of `table` whose `column` is `value`, its row locked for update; `missing` if
    /// there is none.
    pub(crate) async fn locked_doc<T: DeserializeOwned>(
        tx: &mut Conn<D>,
        row: (&str, &str, &str),
        missing: impl FnOnce() -> Missing,
    ) -> Result<T> {
        from_json(&Self::locked_text(tx, row, missing).await?)
    }

    /// [`locked_doc`](Self::locked_doc)'s document as its stored text.
    pub(crate) async fn locked_text(
        tx: &mut Conn<D>,
        (table, column, value): (&str, &str, &str),
        missing: impl FnOnce() -> Missing,
    ) -> Result<String> {
        let row = ("data", table, column);
        let data: Option<(String,)> = Self::locked_row(tx, row, value, RowLock::Update).await?;
        Ok(data.ok_or_else(|| StoreError::NotFound(missing()))?.0)
    }

    /// Deletes the row of `table` whose `column` is `value` unless something still refers to
    /// it. The row's lock conflicts with the KEY SHARE lock every child insert takes on its
    /// parent, so nothing can appear between the checks and the delete; a RESTRICT foreign key
    /// is the backstop (`backstop`).
    pub(crate) async fn delete_checked(
        &self,
        (table, column, value): (&str, &str, &str),
        missing: impl FnOnce() -> Missing,
        checks: &[Check],
        backstop: Dependents,
        kind: EntityKind,
    ) -> Result<()> {
        let mut w = self.begin().await?;
        let row = ("id, data", table, column);
        let row: Option<(String, String)> =
            Self::locked_row(&mut w.tx, row, value, RowLock::Update).await?;
        let (id, data) = row.ok_or_else(|| StoreError::NotFound(missing()))?;
        // Instance profiles are named in the feed by their ARN (what associations hold).
        let entity = match kind {
            EntityKind::InstanceProfile => from_json::<InstanceProfile>(&data)?.entity.arn,
            _ => id.clone(),
        };
        for (count, dependents) in checks {
            if Self::count_in(&mut w.tx, count, &[&id]).await? > 0 {
                return Err(StoreError::InUse(*dependents));
            }
        }
        let res = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
            .bind(&id)
            .execute(&mut *w.tx)
            .await;
        known_errors(res, |e| {
            Self::is_fk_violation(e).then_some(StoreError::InUse(backstop))
        })?;
        w.record(kind, entity);
        w.commit().await
    }

    /// [`delete_checked`](Self::delete_checked) of a name-keyed row.
    pub(crate) async fn delete_named(
        &self,
        table: &str,
        name: &str,
        missing: impl FnOnce() -> Missing,
        checks: &[Check],
        backstop: Dependents,
        kind: EntityKind,
    ) -> Result<()> {
        let row = (table, "name_key", key(name));
        self.delete_checked((row.0, row.1, &row.2), missing, checks, backstop, kind)
            .await
    }

    /// The policy's id and document, its row locked for the rest of the transaction.
    async fn lock_policy(tx: &mut Conn<D>, arn: &str) -> Result<(String, ManagedPolicy)> {
        let row = ("id, data", "policies", "arn");
        let row: Option<(String, String)> = Self::locked_row(tx, row, arn, RowLock::Update).await?;
        let (id, data) = row.ok_or_else(|| StoreError::NotFound(Missing::Policy(arn.into())))?;
        Ok((id, from_json(&data)?))
    }

    /// Whether the policy's version exists (in the transaction).
    async fn version_exists(tx: &mut Conn<D>, policy_id: &str, version_id: &str) -> Result<bool> {
        let sql = "SELECT is_default FROM policy_versions WHERE policy_id = $1 AND version_id = $2";
        let found: Option<(bool,)> = Self::row_in(tx, sql, &[policy_id, version_id]).await?;
        Ok(found.is_some())
    }

    /// Makes `version_id` the policy's only default version and records the policy's update.
    async fn set_default(
        tx: &mut Conn<D>,
        id: &str,
        policy: &mut ManagedPolicy,
        version_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(version_id) = version_id {
            let unset =
                "UPDATE policy_versions SET is_default = FALSE WHERE policy_id = $1 AND is_default";
            execute_text(tx, unset, &[id]).await?;
            let set = "UPDATE policy_versions SET is_default = TRUE WHERE policy_id = $1 AND version_id = $2";
            execute_text(tx, set, &[id, version_id]).await?;
        }
        policy.update_date = now;
        sqlx::query("UPDATE policies SET data = $1 WHERE id = $2")
            .bind(to_json(policy)?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(&e))?;
        Ok(())
    }

    async fn fill_policy(&self, id: &str, data: &str) -> Result<ManagedPolicy> {
        let mut p: ManagedPolicy = from_json(data)?;
        let (count, default): (i64, Option<String>) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = $1), \
                    (SELECT version_id FROM policy_versions WHERE policy_id = $1 AND is_default)",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        p.attachment_count = u32::try_from(count).unwrap_or(u32::MAX);
        if let Some(d) = default {
            p.default_version_id = d;
        }
        Ok(p)
    }

    /// Instance profiles from `(id, data)` rows, each with its role filled in.
    async fn profiles(&self, rows: Vec<(String, String)>) -> Result<Vec<InstanceProfile>> {
        let mut out = Vec::with_capacity(rows.len());
        for (id, data) in rows {
            let mut p: InstanceProfile = from_json(&data)?;
            let roles: Vec<String> = sqlx::query_scalar(
                "SELECT r.data FROM instance_profile_roles ipr JOIN roles r ON r.id = ipr.role_id \
                 WHERE ipr.profile_id = $1",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
            p.roles = all_from_json(&roles)?;
            out.push(p);
        }
        Ok(out)
    }

    /// A page of instance profiles: `sql` selects `(id, data)` rows by `key` (`$1`) as
    /// [`page_rows`](Self::page_rows) binds it.
    async fn profiles_page(
        &self,
        sql: &str,
        key: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>> {
        let rows = self.page_rows(sql, &[key], page).await?;
        self.profiles(rows).await
    }

    /// Share-locks the instance row and refuses an instance that holds no association, so a
    /// concurrent termination (which updates the row) either waits for this transaction and
    /// then ends the new association too, or commits first and is seen here.
    async fn lock_instance_for_association(tx: &mut Conn<D>, instance_id: &str) -> Result<()> {
        let row = ("state", "instances", "id");
        let state: Option<(String,)> =
            Self::locked_row(tx, row, instance_id, RowLock::Share).await?;
        let state = state.and_then(|(s,)| InstanceState::parse(&s));
        if let Some(state) = state.filter(|s| !s.holds_association()) {
            let instance_id = instance_id.into();
            return Err(StoreError::CannotAssociate { instance_id, state });
        }
        Ok(())
    }

    async fn insert_association(tx: &mut Conn<D>, a: &Association) -> Result<()> {
        Self::lock_instance_for_association(tx, &a.instance_id).await?;
        let res = sqlx::query(&format!(
            "INSERT INTO associations \
             (id, instance_id, state, data, profile_arn, profile_id, ended_at) \
             VALUES ($1, $2, $3, $4, $5, $6, {})",
            ended_at("$7", "$8")
        ))
        .bind(&a.id)
        .bind(&a.instance_id)
        .bind(a.state.name())
        .bind(to_json(a)?)
        .bind(&a.profile_arn)
        .bind(&a.profile_id)
        .bind(!a.state.is_active())
        .bind(a.timestamp.timestamp_millis())
        .execute(&mut *tx)
        .await;
        known_errors(res, |e| {
            is_unique_violation(e, Some("associations_one_active"))
                .then(|| StoreError::Conflict(Taken::ActiveAssociation(a.instance_id.clone())))
        })
        .map(drop)
    }

    async fn set_association(tx: &mut Conn<D>, a: &Association) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE associations SET state = $1, data = $2, ended_at = {} WHERE id = $5",
            ended_at("$3", "$4")
        ))
        .bind(a.state.name())
        .bind(to_json(a)?)
        .bind(!a.state.is_active())
        .bind(a.timestamp.timestamp_millis())
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(&e))?;
        Ok(())
    }

    /// Edits a metadata value ("" when absent) under its row lock, in `tx`; returns the value
    /// stored.
    async fn edit_meta_in(tx: &mut Conn<D>, k: &str, edit: Edit<String>) -> Result<String> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING")
            .bind(k)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(&e))?;
        // The row exists: inserted above if it was not.
        let row = ("value", "meta", "key");
        let value: Option<(String,)> = Self::locked_row(tx, row, k, RowLock::Update).await?;
        let (mut value,) = value.ok_or_else(|| StoreError::Backend(format!("meta {k}: no row")))?;
        edit(&mut value).map_err(StoreError::Rejected)?;
        sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
            .bind(&value)
            .bind(k)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(&e))?;
        Ok(value)
    }

    /// Marks an active association disassociated and returns it as it was ended. The row lock
    /// makes a concurrent replace or disassociate of the same association wait and then see it
    /// ended.
    async fn end_active(tx: &mut Conn<D>, id: &str, now: DateTime<Utc>) -> Result<Association> {
        let row = ("associations", "id", id);
        let mut a: Association =
            Self::locked_doc(tx, row, || Missing::Association(id.into())).await?;
        if !a.state.is_active() {
            return Err(StoreError::NotActive(id.into()));
        }
        a.state = AssociationState::Disassociated;
        a.timestamp = now;
        Self::set_association(tx, &a).await?;
        Ok(a)
    }

    /// Records the instance profile `profile_id` (by its ARN) as touched by the transaction.
    async fn record_profile(w: &mut Write<'_, D::Db>, profile_id: &str) -> Result<()> {
        let sql = "SELECT data FROM instance_profiles WHERE id = $1";
        let data: Option<(String,)> = Self::row_in(&mut w.tx, sql, &[profile_id]).await?;
        let (data,) = data.ok_or(StoreError::NotFound(Missing::RoleOrInstanceProfile))?;
        let profile: InstanceProfile = from_json(&data)?;
        w.record(EntityKind::InstanceProfile, profile.entity.arn);
        Ok(())
    }

    /// The feed's newest sequence and how far it was pruned.
    async fn feed_state(&self) -> Result<(i64, i64)> {
        sqlx::query_as("SELECT last_seq, pruned_through FROM change_feed WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend(&e))
    }

    /// Documents of `table` whose id is in `ids` (all when `ids` is empty), by id.
    async fn list_by_ids<T: DeserializeOwned>(
        &self,
        table: &str,
        ids: &[String],
        page: &PageRequest,
    ) -> Result<Vec<T>> {
        // Two statements, not `($2 OR id IN ...)`: SQLite cannot use the primary key through
        // the OR, and would scan the table for a lookup by id.
        let ids_only = if ids.is_empty() {
            // Every parameter is still referenced (PostgreSQL refuses unused ones).
            "$2 AND $1 IS NOT NULL".to_string()
        } else {
            format!("NOT $2 AND {}", D::in_list("id", 1))
        };
        let sql =
            format!("SELECT data FROM {table} WHERE {ids_only} AND id >= $3 ORDER BY id LIMIT $4");
        let rows = D::bind_list(sqlx::query_scalar(&sql), ids)
            .bind(ids.is_empty())
            .bind(from(page))
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        all_from_json(&rows)
    }
}

#[sql_bounds(D::Db)]
#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn get_meta(&self, k: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(k)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend(&e))
    }

    async fn set_meta(&self, k: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(k)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        Ok(())
    }

    async fn modify_meta(
        &self,
        k: &str,
        edit: Edit<String>,
        (kind, id): (EntityKind, String),
    ) -> Result<String> {
        let mut w = self.begin().await?;
        let value = Self::edit_meta_in(&mut w.tx, k, edit).await?;
        w.record(kind, id);
        w.commit().await?;
        Ok(value)
    }

    async fn modify_user_meta(&self, user_id: &str, k: &str, edit: Edit<String>) -> Result<String> {
        let mut w = self.begin().await?;
        // KEY SHARE conflicts with the FOR UPDATE DeleteUser holds while it counts the user's
        // documents (the writer mutex in SQLite): either the edit sees no user, or the delete
        // sees the document.
        let missing = || Missing::User(user_id.into());
        Self::locked_id(
            &mut w.tx,
            "users",
            "id",
            user_id,
            RowLock::KeyShare,
            missing,
        )
        .await?;
        let value = Self::edit_meta_in(&mut w.tx, k, edit).await?;
        w.record(EntityKind::User, user_id);
        w.commit().await?;
        Ok(value)
    }

    async fn init_meta(&self, k: &str, value: &str) -> Result<String> {
        // A concurrent inserter of the same key makes this INSERT wait for its commit and then
        // do nothing; the SELECT (a new snapshot under READ COMMITTED) then sees its value.
        let mut w = self.begin().await?;
        let sql = "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
        w.execute(sql, &[k, value]).await?;
        let sql = "SELECT value FROM meta WHERE key = $1";
        let stored: Option<(String,)> = Self::row_in(&mut w.tx, sql, &[k]).await?;
        let (stored,) =
            stored.ok_or_else(|| StoreError::Backend(format!("meta {k} not stored")))?;
        w.commit().await?;
        Ok(stored)
    }

    // ----- managed policies -----

    async fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()> {
        let mut w = self.begin().await?;
        let res = sqlx::query(
            "INSERT INTO policies (id, arn, name_key, path, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&policy.id)
        .bind(&policy.arn)
        .bind(key(&policy.name))
        .bind(&policy.path)
        .bind(to_json(policy)?)
        .execute(&mut *w.tx)
        .await;
        taken_if_unique(res, || {
            Taken::Entity(Existing::new(Named::Policy, &policy.name))
        })?;
        sqlx::query(
            "INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) \
             VALUES ($1, $2, $3, TRUE, $4)",
        )
        .bind(&policy.id)
        .bind(&first.version_id)
        .bind(&first.document)
        .bind(first.create_date.to_rfc3339())
        .execute(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        w.record(EntityKind::Policy, &policy.id);
        w.commit().await
    }

    async fn get_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        let sql = "SELECT id, data FROM policies WHERE arn = $1";
        match self.row::<(String, String)>(sql, &[arn]).await? {
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
            "SELECT id, data FROM policies p WHERE substr(path, 1, length($1)) = $1 AND name_key >= $2 \
             AND (NOT $3 OR EXISTS (SELECT 1 FROM principal_attached_policies a WHERE a.policy_id = p.id)) \
             ORDER BY name_key LIMIT $4",
        )
        .bind(path_prefix)
        .bind(from(page))
        .bind(only_attached)
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, data) in rows {
            out.push(self.fill_policy(&id, &data).await?);
        }
        Ok(out)
    }

    async fn delete_policy(&self, arn: &str) -> Result<()> {
        let checks = [
            check(
                "SELECT COUNT(*) FROM principal_attached_policies WHERE policy_id = $1",
                Dependents::PolicyAttachments,
            ),
            check(
                "SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1 AND NOT is_default",
                Dependents::PolicyVersions,
            ),
        ];
        let missing = || Missing::Policy(arn.into());
        let row = ("policies", "arn", arn);
        let backstop = Dependents::PolicyAttachments;
        self.delete_checked(row, missing, &checks, backstop, EntityKind::Policy)
            .await
    }

    async fn modify_policy(&self, arn: &str, edit: Edit<ManagedPolicy>) -> Result<ManagedPolicy> {
        let missing = || Missing::Policy(arn.into());
        let entity = |p: &ManagedPolicy| (EntityKind::Policy, p.id.clone());
        self.modify_doc("policies", "arn", arn, missing, edit, entity)
            .await
    }

    async fn list_policy_entities(
        &self,
        arn: &str,
        kind: Option<OwnerKind>,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<PolicyEntity>> {
        // One branch per owner table; the sort key is `kind/name_key` (PolicyEntity::sort_key).
        let branch = |table: &str, kind: &str| {
            format!(
                "SELECT CAST('{kind}/' AS TEXT) || t.name_key AS sk, CAST('{kind}' AS TEXT) AS k, t.data AS data \
                 FROM principal_attached_policies a JOIN policies p ON p.id = a.policy_id \
                 JOIN {table} t ON a.owner_kind = '{kind}' AND t.id = a.owner_id \
                 WHERE p.arn = $1 AND substr(t.path, 1, length($2)) = $2"
            )
        };
        let sql = format!(
            "SELECT k, data FROM ({} UNION ALL {} UNION ALL {}) e \
             WHERE sk >= $3 AND ($4 = '' OR k = $4) ORDER BY sk LIMIT $5",
            branch("groups", "group"),
            branch("roles", "role"),
            branch("users", "user"),
        );
        let rows: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind(arn)
            .bind(path_prefix)
            .bind(from(page))
            .bind(kind.map_or("", OwnerKind::name))
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        #[derive(serde::Deserialize)]
        struct NameId {
            name: String,
            id: String,
        }
        rows.into_iter()
            .map(|(k, data)| {
                let e: NameId = from_json(&data)?;
                let kind = match k.as_str() {
                    "role" => OwnerKind::Role,
                    "user" => OwnerKind::User,
                    _ => OwnerKind::Group,
                };
                Ok(PolicyEntity {
                    kind,
                    name: e.name,
                    id: e.id,
                })
            })
            .collect()
    }

    async fn insert_policy_version(
        &self,
        arn: &str,
        new: NewPolicyVersion<'_>,
    ) -> Result<PolicyVersion> {
        let NewPolicyVersion {
            document,
            set_default,
            create_date: now,
        } = new;
        let mut w = self.begin().await?;
        // The policy's row lock serializes version changes of this policy, so the count below
        // cannot go stale before the insert commits.
        let (id, mut policy) = Self::lock_policy(&mut w.tx, arn).await?;
        let sql = "SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1";
        let count = Self::count_in(&mut w.tx, sql, &[&id]).await?;
        let limit_reached = StoreError::LimitExceeded(Limit::VersionsPerPolicy);
        if count >= 5 {
            return Err(limit_reached);
        }
        let n: i64 = sqlx::query_scalar(
            "UPDATE policies SET next_version = next_version + 1 WHERE id = $1 \
             RETURNING next_version - 1",
        )
        .bind(&id)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        let version = PolicyVersion {
            version_id: format!("v{n}"),
            document: document.to_string(),
            is_default: set_default,
            create_date: now,
        };
        let res = sqlx::query(
            "INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date) \
             VALUES ($1, $2, $3, FALSE, $4)",
        )
        .bind(&id)
        .bind(&version.version_id)
        .bind(&version.document)
        .bind(now.to_rfc3339())
        .execute(&mut *w.tx)
        .await;
        known_errors(res, |e| {
            is_raised(e, "policy version limit").then_some(limit_reached)
        })?;
        let default = set_default.then_some(version.version_id.as_str());
        Self::set_default(&mut w.tx, &id, &mut policy, default, now).await?;
        w.record(EntityKind::Policy, id);
        w.commit().await?;
        Ok(version)
    }

    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        let sql = "SELECT v.document, v.is_default, v.create_date FROM policy_versions v \
                   JOIN policies p ON p.id = v.policy_id WHERE p.arn = $1 AND v.version_id = $2";
        let row: Option<(String, bool, String)> = self.row(sql, &[arn, version_id]).await?;
        row.map(|(document, is_default, date)| {
            version(version_id.to_string(), document, is_default, &date)
        })
        .transpose()
    }

    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        let rows: Vec<(String, String, bool, String)> = sqlx::query_as(
            "SELECT v.version_id, v.document, v.is_default, v.create_date FROM policy_versions v \
             JOIN policies p ON p.id = v.policy_id \
             WHERE p.arn = $1 ORDER BY CAST(substr(v.version_id, 2) AS BIGINT) DESC",
        )
        .bind(arn)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        rows.into_iter()
            .map(|(id, doc, d, date)| version(id, doc, d, &date))
            .collect()
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let mut w = self.begin().await?;
        let (id, _) = Self::lock_policy(&mut w.tx, arn).await?;
        let is_default: Option<bool> = sqlx::query_scalar(
            "SELECT is_default FROM policy_versions WHERE policy_id = $1 AND version_id = $2",
        )
        .bind(&id)
        .bind(version_id)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        match is_default {
            None => Err(StoreError::NotFound(Missing::PolicyVersion {
                arn: arn.into(),
                version_id: version_id.into(),
            })),
            Some(true) => Err(StoreError::InUse(Dependents::DefaultVersion)),
            Some(false) => {
                let sql = "DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2";
                w.execute(sql, &[&id, version_id]).await?;
                w.record(EntityKind::Policy, id);
                w.commit().await
            }
        }
    }

    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut w = self.begin().await?;
        let (id, mut policy) = Self::lock_policy(&mut w.tx, arn).await?;
        if !Self::version_exists(&mut w.tx, &id, version_id).await? {
            return Err(StoreError::NotFound(Missing::PolicyVersion {
                arn: arn.into(),
                version_id: version_id.into(),
            }));
        }
        Self::set_default(&mut w.tx, &id, &mut policy, Some(version_id), now).await?;
        w.record(EntityKind::Policy, id);
        w.commit().await
    }

    // ----- instance profiles -----

    async fn insert_instance_profile(&self, profile: &InstanceProfile) -> Result<()> {
        let row = (
            profile.id.as_str(),
            profile.name.as_str(),
            profile.path.as_str(),
        );
        let taken = || Taken::Entity(Existing::new(Named::InstanceProfile, &profile.name));
        let entity = (EntityKind::InstanceProfile, profile.arn.as_str());
        self.insert_named("instance_profiles", row, profile, taken, entity)
            .await
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<InstanceProfile>> {
        let sql = "SELECT id, data FROM instance_profiles WHERE name_key = $1";
        let rows = Self::rows_on(&self.pool, sql, &[&key(name)]).await?;
        Ok(self.profiles(rows).await?.pop())
    }

    async fn list_instance_profiles(
        &self,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>> {
        let sql = "SELECT id, data FROM instance_profiles WHERE substr(path, 1, length($1)) = $1 \
                   AND name_key >= $2 ORDER BY name_key LIMIT $3";
        self.profiles_page(sql, path_prefix, page).await
    }

    async fn list_instance_profiles_for_role(
        &self,
        role_id: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>> {
        let sql = "SELECT p.id, p.data FROM instance_profiles p \
                   JOIN instance_profile_roles ipr ON ipr.profile_id = p.id \
                   WHERE ipr.role_id = $1 AND p.name_key >= $2 ORDER BY p.name_key LIMIT $3";
        self.profiles_page(sql, role_id, page).await
    }

    async fn modify_instance_profile(&self, name: &str, edit: Edit<InstanceProfile>) -> Result<()> {
        let missing = || Missing::InstanceProfile(name.into());
        let entity = |p: &InstanceProfile| (EntityKind::InstanceProfile, p.arn.clone());
        self.modify_doc(
            "instance_profiles",
            "name_key",
            &key(name),
            missing,
            edit,
            entity,
        )
        .await
        .map(drop)
    }

    async fn delete_instance_profile(&self, name: &str) -> Result<()> {
        let role = check(
            "SELECT COUNT(*) FROM instance_profile_roles WHERE profile_id = $1",
            Dependents::InstanceProfileRoles,
        );
        let missing = || Missing::InstanceProfile(name.into());
        let backstop = Dependents::InstanceProfileRoles;
        let kind = EntityKind::InstanceProfile;
        self.delete_named("instance_profiles", name, missing, &[role], backstop, kind)
            .await
    }

    async fn add_role_to_instance_profile(&self, profile_id: &str, role_id: &str) -> Result<()> {
        let mut w = self.begin().await?;
        // One statement: the foreign keys lock both parents (KEY SHARE), so a concurrent delete
        // of either waits for this or makes it fail.
        let res =
            sqlx::query("INSERT INTO instance_profile_roles (profile_id, role_id) VALUES ($1, $2)")
                .bind(profile_id)
                .bind(role_id)
                .execute(&mut *w.tx)
                .await;
        known_errors(res, |e| {
            if is_unique_violation(e, None) {
                Some(StoreError::LimitExceeded(Limit::RolesPerInstanceProfile))
            } else if Self::is_fk_violation(e) {
                Some(StoreError::NotFound(Missing::RoleOrInstanceProfile))
            } else {
                None
            }
        })?;
        Self::record_profile(&mut w, profile_id).await?;
        w.commit().await
    }

    async fn remove_role_from_instance_profile(
        &self,
        profile_id: &str,
        role_id: &str,
    ) -> Result<()> {
        let mut w = self.begin().await?;
        let sql = "DELETE FROM instance_profile_roles WHERE profile_id = $1 AND role_id = $2";
        if w.execute(sql, &[profile_id, role_id]).await? == 0 {
            return Err(StoreError::NotFound(Missing::RoleInInstanceProfile));
        }
        Self::record_profile(&mut w, profile_id).await?;
        w.commit().await
    }

    // ----- instances -----

    async fn insert_instances(
        &self,
        instances: &[Instance],
        associations: &[Association],
    ) -> Result<()> {
        self.insert_reservation(instances, associations, None).await
    }

    async fn insert_reservation(
        &self,
        instances: &[Instance],
        associations: &[Association],
        token: Option<&ClientToken>,
    ) -> Result<()> {
        let mut w = self.begin().await?;
        for i in instances {
            Self::insert_instance_rows(&mut w.tx, i, LIVE_PRIVATE_IP).await?;
            w.record(EntityKind::Instance, &i.id);
        }
        for a in associations {
            Self::insert_association(&mut w.tx, a).await?;
            w.record(EntityKind::Association, &a.id);
        }
        if let Some(t) = token {
            Self::insert_client_token(&mut w.tx, t).await?;
        }
        w.commit().await
    }

    async fn get_client_token(&self, token: &str) -> Result<Option<ClientToken>> {
        self.client_token_row(token).await
    }

    async fn status_instances(
        &self,
        q: &InstanceQuery,
        page: &PageRequest,
    ) -> Result<Vec<Instance>> {
        self.instances_where(q, page).await
    }

    async fn insert_network(&self, items: &[NetworkResource]) -> Result<()> {
        self.insert_network_rows(items).await
    }

    async fn list_network(&self, kind: NetworkKind) -> Result<Vec<NetworkResource>> {
        self.network_of_kind(kind).await
    }

    async fn get_network(&self, ids: &[String]) -> Result<Vec<NetworkResource>> {
        self.network_by_ids(ids).await
    }

    async fn delete_network(&self, id: &str) -> Result<bool> {
        self.delete_network_row(id).await
    }

    async fn put_tags(&self, resources: &[(String, String)], tags: &[Tag]) -> Result<()> {
        let change = |have: &mut Vec<Tag>| {
            for t in tags {
                match have.iter_mut().find(|h| h.key == t.key) {
                    Some(h) => h.value = t.value.clone(),
                    None => have.push(t.clone()),
                }
            }
        };
        self.change_tags(resources, &change).await
    }

    async fn remove_tags(
        &self,
        resources: &[(String, String)],
        tags: &[(String, Option<String>)],
    ) -> Result<()> {
        let change = |have: &mut Vec<Tag>| {
            if tags.is_empty() {
                have.clear();
            }
            have.retain(|h| {
                !tags
                    .iter()
                    .any(|(k, v)| *k == h.key && v.as_ref().is_none_or(|v| *v == h.value))
            });
        };
        self.change_tags(resources, &change).await
    }

    async fn query_tags(&self, q: &TagQuery, page: &PageRequest) -> Result<Vec<ResourceTag>> {
        self.tags_where(q, page).await
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        self.get_doc("instances", "id", id).await
    }

    async fn list_instances(&self, ids: &[String], page: &PageRequest) -> Result<Vec<Instance>> {
        self.list_by_ids("instances", ids, page).await
    }

    async fn query_instances(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &PageRequest,
    ) -> Result<Vec<(Instance, Option<Association>)>> {
        let docs = self.query_instance_docs(ids, filters, page).await?;
        docs.iter()
            .map(|d| {
                let association = (!d.association.is_empty())
                    .then(|| from_json(&d.association))
                    .transpose()?;
                Ok((from_json(&d.instance)?, association))
            })
            .collect()
    }

    async fn query_instance_docs(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &PageRequest,
    ) -> Result<Vec<InstanceDoc>> {
        let mut q = Query::by_id::<D>("i.id", ids, page, None, filters, instance_target)?;
        // The page comes back as one row: SQLite's driver hands each row over from its worker
        // thread with a wake-up of its own, which cost more than the query. Each document is
        // `id, instance, association` joined by control characters, which JSON text never holds
        // unescaped. The aggregate is not ordered (that sorted the whole page in a temporary
        // b-tree): the rows are sorted by id here.
        let unit = q.param(UNIT_SEPARATOR);
        let record = q.param(RECORD_SEPARATOR);
        let sql = format!(
            "SELECT string_agg(doc, {record}) FROM (\
             SELECT i.id || {unit} || i.data || {unit} || COALESCE(a.data, '') AS doc \
             FROM instances i LEFT JOIN associations a \
             ON a.instance_id = i.id AND a.state IN ('associating', 'associated') \
             {}) page",
            q.page_clause("i.id")
        );
        // One row, NULL when the page is empty.
        let rows: Vec<Option<String>> = self.query_page(&sql, &q, page).await?;
        let Some(page) = rows.into_iter().flatten().next() else {
            return Ok(Vec::new());
        };
        let mut docs = page
            .split(RECORD_SEPARATOR)
            .map(|row| {
                let mut parts = row.splitn(3, UNIT_SEPARATOR);
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(id), Some(instance), Some(association)) => Ok(InstanceDoc {
                        id: id.to_string(),
                        instance: instance.to_string(),
                        association: association.to_string(),
                    }),
                    _ => Err(StoreError::Backend("malformed page of instances".into())),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        docs.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    async fn live_private_ips(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT private_ip FROM instances WHERE state <> 'terminated'")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))
    }

    async fn modify_instance(
        &self,
        id: &str,
        now: DateTime<Utc>,
        edit: Edit<Instance>,
    ) -> Result<Instance> {
        let mut w = self.begin().await?;
        // Locks the instance row first (then its associations): the same order as
        // insert_association and replace_association, so they cannot deadlock.
        let row = ("instances", "id", id);
        let missing = || Missing::Instance(id.into());
        let mut instance: Instance = Self::locked_doc(&mut w.tx, row, missing).await?;
        let held = instance.state.holds_association();
        let tags_before = instance.tags.clone();
        edit(&mut instance).map_err(StoreError::Rejected)?;
        if instance.tags != tags_before {
            Self::sync_instance_tags(&mut w.tx, &instance).await?;
        }
        // `state` on the right is the row's state before the update.
        let res = sqlx::query(
            "UPDATE instances SET state = $1, private_ip = $2, data = $3, state_changed_at = \
             CASE WHEN state = $1 THEN state_changed_at ELSE $5 END WHERE id = $4",
        )
        .bind(instance.state.name())
        .bind(&instance.private_ip)
        .bind(to_json(&instance)?)
        .bind(&instance.id)
        .bind(now.timestamp_millis())
        .execute(&mut *w.tx)
        .await;
        known_errors(res, |e| {
            is_unique_violation(e, Some(LIVE_PRIVATE_IP))
                .then(|| StoreError::Conflict(Taken::PrivateIp(instance.private_ip.clone())))
        })?;
        if held && !instance.state.holds_association() {
            let sql = format!(
                "SELECT data FROM associations WHERE instance_id = $1 \
                 AND state IN ('associating', 'associated'){}",
                D::row_lock(RowLock::Update)
            );
            let active: Vec<(String,)> = Self::rows_on(&mut *w.tx, &sql, &[&instance.id]).await?;
            for (d,) in active {
                let mut a: Association = from_json(&d)?;
                a.state = AssociationState::Disassociated;
                a.timestamp = now;
                Self::set_association(&mut w.tx, &a).await?;
                w.record(EntityKind::Association, a.id);
            }
        }
        w.record(EntityKind::Instance, &instance.id);
        w.commit().await?;
        Ok(instance)
    }

    // ----- associations -----

    async fn insert_association(&self, association: &Association) -> Result<()> {
        let mut w = self.begin().await?;
        Self::insert_association(&mut w.tx, association).await?;
        w.record(EntityKind::Association, &association.id);
        w.record(EntityKind::Instance, &association.instance_id);
        w.commit().await
    }

    async fn get_association(&self, id: &str) -> Result<Option<Association>> {
        self.get_doc("associations", "id", id).await
    }

    async fn list_associations(
        &self,
        ids: &[String],
        page: &PageRequest,
    ) -> Result<Vec<Association>> {
        self.list_by_ids("associations", ids, page).await
    }

    async fn associations_ended_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Association>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM associations WHERE ended_at > $1 ORDER BY ended_at, id",
        )
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    async fn instances_changed_state_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(Instance, Option<Association>)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT i.data, a.data FROM instances i LEFT JOIN associations a \
             ON a.instance_id = i.id AND a.state IN ('associating', 'associated') \
             WHERE i.state_changed_at > $1 ORDER BY i.state_changed_at, i.id",
        )
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        rows.iter()
            .map(|(i, a)| Ok((from_json(i)?, a.as_deref().map(from_json).transpose()?)))
            .collect()
    }

    async fn query_associations(
        &self,
        q: &AssociationQuery<'_>,
        page: &PageRequest,
    ) -> Result<Vec<Association>> {
        let active = (!q.include_ended).then_some("state IN ('associating', 'associated')");
        let q = Query::by_id::<D>("id", q.ids, page, active, q.filters, association_target)?;
        let sql = format!("SELECT data FROM associations {}", q.page_clause("id"));
        let rows: Vec<String> = self.query_page(&sql, &q, page).await?;
        all_from_json(&rows)
    }

    async fn running_instances_of(
        &self,
        profile_arns: &[String],
        role_ids: &[String],
    ) -> Result<Vec<(Instance, Association)>> {
        let mut q = Query::default();
        let by_profile = q.one_of("a.profile_arn", profile_arns);
        let by_role = q.one_of("r.role_id", role_ids);
        let sql = format!(
            "SELECT i.data, a.data FROM associations a JOIN instances i ON i.id = a.instance_id \
             WHERE a.state IN ('associating', 'associated') AND i.state = 'running' \
             AND ({by_profile} OR a.profile_id IN \
             (SELECT r.profile_id FROM instance_profile_roles r WHERE {by_role}))"
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for p in &q.params {
            query = query.bind(p.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(|e| backend(&e))?;
        rows.iter()
            .map(|(i, a)| Ok((from_json(i)?, from_json(a)?)))
            .collect()
    }

    async fn active_associations(&self, instance_ids: &[String]) -> Result<Vec<Association>> {
        let active = " AND state IN ('associating', 'associated')";
        self.docs_in("associations", "instance_id", instance_ids, active)
            .await
    }

    async fn replace_association(&self, old_id: &str, new: &Association) -> Result<()> {
        let mut w = self.begin().await?;
        // Instance row first, then the association (the order modify_instance uses).
        Self::lock_instance_for_association(&mut w.tx, &new.instance_id).await?;
        let old = Self::end_active(&mut w.tx, old_id, new.timestamp).await?;
        Self::insert_association(&mut w.tx, new).await?;
        w.record(EntityKind::Association, old.id);
        w.record(EntityKind::Association, &new.id);
        w.record(EntityKind::Instance, old.instance_id);
        w.record(EntityKind::Instance, &new.instance_id);
        w.commit().await
    }

    async fn end_association(&self, id: &str, now: DateTime<Utc>) -> Result<Association> {
        let mut w = self.begin().await?;
        let a = Self::end_active(&mut w.tx, id, now).await?;
        w.record(EntityKind::Association, &a.id);
        w.record(EntityKind::Instance, &a.instance_id);
        w.commit().await?;
        Ok(a)
    }

    // ----- the change feed -----

    async fn latest_change(&self) -> Result<i64> {
        Ok(self.feed_state().await?.0)
    }

    async fn changes_since(&self, seq: i64, limit: usize) -> Result<ChangesSince> {
        // The newest sequence first: sequences commit in order, so every change up to it is
        // visible to the read below (unless pruned meanwhile, which the second read of the
        // state tells).
        let (last, _) = self.feed_state().await?;
        if seq > last {
            // Ahead of the feed: the database is not the one the consumer followed.
            return Ok(ChangesSince::Pruned { latest: last });
        }
        let span = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let until = last.min(seq.saturating_add(span));
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT seq, kind, entity_id FROM changes WHERE seq > $1 AND seq <= $2 \
             ORDER BY seq, n",
        )
        .bind(seq)
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e))?;
        let (_, pruned) = self.feed_state().await?;
        if seq < pruned {
            return Ok(ChangesSince::Pruned { latest: last });
        }
        let mut changes = Vec::with_capacity(rows.len());
        for (seq, kind, id) in rows {
            let kind = EntityKind::parse(&kind)
                .ok_or_else(|| StoreError::Backend(format!("change feed: unknown kind {kind}")))?;
            changes.push(rolecall_core::Change { seq, kind, id });
        }
        Ok(ChangesSince::Changes {
            changes,
            latest: until,
        })
    }

    async fn prune_changes(&self, keep: u64) -> Result<i64> {
        let mut w = self.begin().await?;
        let (last, pruned): (i64, i64) = sqlx::query_as(&format!(
            "SELECT last_seq, pruned_through FROM change_feed WHERE id = 1{}",
            D::row_lock(RowLock::Update)
        ))
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| backend(&e))?;
        let cut = last.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX));
        if cut <= pruned {
            return Ok(pruned);
        }
        sqlx::query("DELETE FROM changes WHERE seq <= $1")
            .bind(cut)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        sqlx::query("UPDATE change_feed SET pruned_through = $1 WHERE id = 1")
            .bind(cut)
            .execute(&mut *w.tx)
            .await
            .map_err(|e| backend(&e))?;
        w.commit().await?;
        Ok(cut)
    }

    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        self.audit_append(events).await
    }

    async fn complete_audit_event(
        &self,
        event_time: chrono::DateTime<chrono::Utc>,
        event_id: &str,
        record: &str,
    ) -> Result<()> {
        self.audit_complete(event_time, event_id, record).await
    }

    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.audit_lookup(query).await
    }

    async fn tail_audit_events(&self, tail: &AuditTail) -> Result<Vec<AuditEvent>> {
        self.audit_tail(tail).await
    }

    async fn prune_audit_events(&self, before: DateTime<Utc>, batch: usize) -> Result<u64> {
        self.audit_prune(before, batch).await
    }
}
