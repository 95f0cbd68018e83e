//! The EC2 network (VPCs, subnets, security groups), EC2 tag rows, client tokens, and the
//! instance queries done in the database (DescribeInstanceStatus, DescribeTags).

use crate::{
    Dialect, RowLock, SqlStore, all_from_json, backend, from, from_json, is_unique_violation,
    known_errors, limit, taken_if_unique, to_json,
};
use rolecall_core::model::*;
use rolecall_core::{
    EntityKind, Error, Missing, PageRequest, StoreError, StoreResult as Result, Taken,
};
use rolecall_sql_bounds::sql_bounds;
use sqlx::Database;

type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// At most this many tags on one resource, as EC2.
const MAX_TAGS: usize = 50;

fn tag_limit() -> StoreError {
    StoreError::Rejected(Error::TagLimitExceeded(MAX_TAGS))
}

/// `value` as a LIKE pattern (`\` escapes), with EC2's `*` and `?` as wildcards when `wild`.
fn like_pattern(value: &str, wild: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' if wild => out.push('%'),
            '?' if wild => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// One filter dimension as SQL: any of `values` (exact with `=`, wildcards with LIKE), binding
/// from `$n` on; nothing when `values` is empty.
fn any_of(column: &str, values: &[String], binds: &mut Vec<String>) -> String {
    if values.is_empty() {
        return "TRUE".into();
    }
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        let wild = v.contains(['*', '?']);
        binds.push(if wild {
            like_pattern(v, true)
        } else {
            v.clone()
        });
        let n = binds.len();
        parts.push(if wild {
            format!("{column} LIKE ${n} ESCAPE '\\'")
        } else {
            format!("{column} = ${n}")
        });
    }
    format!("({})", parts.join(" OR "))
}

#[sql_bounds(D::Db)]
impl<D: Dialect> SqlStore<D> {
    /// Rewrites the instance's tag rows from its document (last value of a key wins).
    pub(crate) async fn sync_instance_tags(tx: &mut Conn<D>, i: &Instance) -> Result<()> {
        Self::replace_tags(tx, &i.id, "instance", &i.tags).await
    }

    /// Replaces the resource's tag rows with `tags` (last value of a key wins).
    async fn replace_tags(tx: &mut Conn<D>, id: &str, rtype: &str, tags: &[Tag]) -> Result<()> {
        sqlx::query("DELETE FROM ec2_tags WHERE resource_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(&e))?;
        for t in tags {
            Self::upsert_tag(tx, id, rtype, t).await?;
        }
        Ok(())
    }

    async fn upsert_tag(tx: &mut Conn<D>, id: &str, rtype: &str, t: &Tag) -> Result<()> {
        sqlx::query(
            "INSERT INTO ec2_tags (resource_id, resource_type, tag_key, tag_value) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
        )
        .bind(id)
        .bind(rtype)
        .bind(&t.key)
        .bind(&t.value)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(&e))?;
        Ok(())
    }

    /// Inserts instances (their zone column and tag rows with them), in `tx`.
    pub(crate) async fn insert_instance_rows(
        tx: &mut Conn<D>,
        i: &Instance,
        live_ip_index: &str,
    ) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO instances (id, state, private_ip, availability_zone, data) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&i.id)
        .bind(i.state.name())
        .bind(&i.private_ip)
        .bind(&i.availability_zone)
        .bind(to_json(i)?)
        .execute(&mut *tx)
        .await;
        known_errors(res, |e| {
            is_unique_violation(e, Some(live_ip_index))
                .then(|| StoreError::Conflict(Taken::PrivateIp(i.private_ip.clone())))
        })?;
        Self::sync_instance_tags(tx, i).await
    }

    pub(crate) async fn insert_client_token(tx: &mut Conn<D>, t: &ClientToken) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO ec2_client_tokens (token, request, instance_ids) VALUES ($1, $2, $3)",
        )
        .bind(&t.token)
        .bind(&t.request)
        .bind(to_json(&t.instance_ids)?)
        .execute(&mut *tx)
        .await;
        taken_if_unique(res, || Taken::ClientToken(t.token.clone())).map(drop)
    }

    pub(crate) async fn client_token_row(&self, token: &str) -> Result<Option<ClientToken>> {
        let sql = "SELECT request, instance_ids FROM ec2_client_tokens WHERE token = $1";
        let row: Option<(String, String)> = self.row(sql, &[token]).await?;
        row.map(|(request, ids)| {
            Ok(ClientToken {
                token: token.to_string(),
                request,
                instance_ids: from_json(&ids)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn instances_where(
        &self,
        q: &InstanceQuery,
        page: &PageRequest,
    ) -> Result<Vec<Instance>> {
        let sql = format!(
            "SELECT data FROM instances WHERE ($2 OR {}) AND ($4 OR {}) AND ($6 OR {}) \
             AND id >= $7 ORDER BY id LIMIT $8",
            D::in_list("id", 1),
            D::in_list("state", 3),
            D::in_list("availability_zone", 5),
        );
        let query = D::bind_list(sqlx::query_scalar(&sql), &q.ids).bind(q.ids.is_empty());
        let query = D::bind_list(query, &q.states).bind(q.states.is_empty());
        let query = D::bind_list(query, &q.availability_zones)
            .bind(q.availability_zones.is_empty())
            .bind(from(page))
            .bind(limit(page));
        let rows = query.fetch_all(&self.pool).await.map_err(|e| backend(&e))?;
        all_from_json(&rows)
    }

    pub(crate) async fn insert_network_rows(&self, items: &[NetworkResource]) -> Result<()> {
        let mut w = self.begin().await?;
        for item in items {
            let key = item.default_key();
            let res = sqlx::query(
                "INSERT INTO ec2_network (id, kind, default_key, data) \
                 VALUES ($1, $2, NULLIF($3, ''), $4)",
            )
            .bind(item.id())
            .bind(item.kind().name())
            .bind(key.clone().unwrap_or_default())
            .bind(to_json(item)?)
            .execute(&mut *w.tx)
            .await;
            known_errors(res, |e| {
                is_unique_violation(e, None).then(|| {
                    StoreError::Conflict(Taken::DefaultNetwork(
                        key.unwrap_or_else(|| item.id().to_string()),
                    ))
                })
            })?;
        }
        w.commit().await
    }

    /// Fills in each resource's tags from the tag rows (one query per kind present).
    async fn with_tags(&self, mut items: Vec<NetworkResource>) -> Result<Vec<NetworkResource>> {
        let mut kinds: Vec<NetworkKind> = items.iter().map(NetworkResource::kind).collect();
        kinds.dedup();
        let mut tags: Vec<(String, Tag)> = Vec::new();
        for kind in kinds {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT resource_id, tag_key, tag_value FROM ec2_tags WHERE resource_type = $1 \
                 ORDER BY resource_id, tag_key",
            )
            .bind(kind.name())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
            tags.extend(
                rows.into_iter()
                    .map(|(id, key, value)| (id, Tag { key, value })),
            );
        }
        for item in &mut items {
            let mine = tags
                .iter()
                .filter(|(id, _)| id == item.id())
                .map(|(_, t)| t.clone())
                .collect();
            item.set_tags(mine);
        }
        Ok(items)
    }

    pub(crate) async fn network_of_kind(&self, kind: NetworkKind) -> Result<Vec<NetworkResource>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT data FROM ec2_network WHERE kind = $1 ORDER BY id")
                .bind(kind.name())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend(&e))?;
        self.with_tags(all_from_json(&rows)?).await
    }

    pub(crate) async fn network_by_ids(&self, ids: &[String]) -> Result<Vec<NetworkResource>> {
        let items = self
            .docs_in("ec2_network", "id", ids, " ORDER BY id")
            .await?;
        self.with_tags(items).await
    }

    pub(crate) async fn delete_network_row(&self, id: &str) -> Result<bool> {
        let mut w = self.begin().await?;
        let gone = w
            .execute("DELETE FROM ec2_network WHERE id = $1", &[id])
            .await?
            > 0;
        // No tags left: its tag rows go.
        Self::replace_tags(&mut w.tx, id, "", &[]).await?;
        w.commit().await?;
        Ok(gone)
    }

    async fn count_tags(tx: &mut Conn<D>, id: &str) -> Result<usize> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ec2_tags WHERE resource_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend(&e))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Applies `change` to the tags of each resource: an instance's document (locked) and tag
    /// rows, or another resource's tag rows.
    pub(crate) async fn change_tags(
        &self,
        resources: &[(String, String)],
        change: &(dyn Fn(&mut Vec<Tag>) + Sync),
    ) -> Result<()> {
        let mut w = self.begin().await?;
        for (id, rtype) in resources {
            let mut tags: Vec<Tag> = if rtype == "instance" {
                let missing = || Missing::Instance(id.clone());
                let inst: Instance =
                    Self::locked_doc(&mut w.tx, ("instances", "id", id), missing).await?;
                inst.tags
            } else {
                let sql = format!(
                    "SELECT tag_key FROM ec2_tags WHERE resource_id = $1 ORDER BY tag_key{}",
                    D::row_lock(RowLock::Update)
                );
                let keys: Vec<String> = sqlx::query_scalar(&sql)
                    .bind(id)
                    .fetch_all(&mut *w.tx)
                    .await
                    .map_err(|e| backend(&e))?;
                let values: Vec<String> = sqlx::query_scalar(
                    "SELECT tag_value FROM ec2_tags WHERE resource_id = $1 ORDER BY tag_key",
                )
                .bind(id)
                .fetch_all(&mut *w.tx)
                .await
                .map_err(|e| backend(&e))?;
                keys.into_iter()
                    .zip(values)
                    .map(|(key, value)| Tag { key, value })
                    .collect()
            };
            change(&mut tags);
            if tags.len() > MAX_TAGS {
                return Err(tag_limit());
            }
            if rtype == "instance" {
                let missing = || Missing::Instance(id.clone());
                let mut inst: Instance =
                    Self::locked_doc(&mut w.tx, ("instances", "id", id), missing).await?;
                inst.tags = tags;
                let sql = "UPDATE instances SET data = $1 WHERE id = $2";
                w.execute(sql, &[&to_json(&inst)?, id]).await?;
                Self::sync_instance_tags(&mut w.tx, &inst).await?;
                w.record(EntityKind::Instance, id);
            } else {
                Self::replace_tags(&mut w.tx, id, rtype, &tags).await?;
                if Self::count_tags(&mut w.tx, id).await? > MAX_TAGS {
                    return Err(tag_limit());
                }
            }
        }
        w.commit().await
    }

    pub(crate) async fn tags_where(
        &self,
        q: &TagQuery,
        page: &PageRequest,
    ) -> Result<Vec<ResourceTag>> {
        let mut binds = Vec::new();
        let ids = any_of("resource_id", &q.resource_ids, &mut binds);
        let types = any_of("resource_type", &q.resource_types, &mut binds);
        let keys = any_of("tag_key", &q.keys, &mut binds);
        let values = any_of("tag_value", &q.values, &mut binds);
        let (from_id, from_key) = from(page)
            .split_once('\t')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap_or_default();
        let n = binds.len();
        let sql = format!(
            "SELECT resource_id, resource_type, tag_key, tag_value FROM ec2_tags \
             WHERE {ids} AND {types} AND {keys} AND {values} \
             AND (resource_id > ${a} OR (resource_id = ${a} AND tag_key >= ${b})) \
             ORDER BY resource_id, tag_key LIMIT ${c}",
            a = n + 1,
            b = n + 2,
            c = n + 3
        );
        let mut query = sqlx::query_as::<_, (String, String, String, String)>(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(from_id)
            .bind(from_key)
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e))?;
        Ok(rows
            .into_iter()
            .map(|(resource_id, resource_type, key, value)| ResourceTag {
                resource_id,
                resource_type,
                key,
                value,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_sql_wildcards() {
        assert_eq!(like_pattern("a%b_c\\", false), "a\\%b\\_c\\\\");
        assert_eq!(like_pattern("web-*?", true), "web-%_");
        assert_eq!(like_pattern("web-*", false), "web-*");
    }
}
