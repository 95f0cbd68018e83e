//! The upgrade test each dialect runs (from its own test module, on its own database): rows
//! written under schema version 2 survive migration 3 and read back through core as before.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::{Dialect, SqlStore, migrate, migration_sql};
use rolecall_core::iam::Iam;
use rolecall_core::model::{Group, IamEntity, ManagedPolicy, Role, User};
use rolecall_core::{Dependents, DynStore, Error, OwnerKind, PageRequest, Store, StoreResult};
use rolecall_sql_bounds::sql_bounds;
use serde::Serialize;
use sqlx::Pool;
use std::future::Future;
use std::sync::Arc;

const DOC: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
const ACCOUNT: &str = "123456789012";

/// A SQL string literal of `v`'s JSON.
fn lit<T: Serialize>(v: &T) -> String {
    let json = serde_json::to_string(v).unwrap_or_default();
    format!("'{}'", json.replace('\'', "''"))
}

/// An entity's own fields: `id`, and `name` at the root path of `kind`'s ARNs.
fn entity(id: &str, kind: &str, name: &str, now: chrono::DateTime<chrono::Utc>) -> IamEntity {
    IamEntity {
        id: id.into(),
        name: name.into(),
        path: "/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}"),
        create_date: now,
    }
}

/// Schema-2 rows: a role with an inline and an attached policy, a user with both, a group with
/// an inline policy.
fn version_2_rows() -> String {
    let now = chrono::Utc::now();
    let role = Role {
        entity: entity("AROAUPGRADE", "role", "Upgraded", now),
        assume_role_policy_document: DOC.into(),
        description: None,
        max_session_duration: 3600,
        tags: vec![],
        permissions_boundary: None,
    };
    let user = User {
        entity: entity("AIDAUPGRADE", "user", "upgraded-user", now),
        tags: vec![],
        permissions_boundary: None,
    };
    let group = Group {
        entity: entity("AGPAUPGRADE", "group", "upgraded-group", now),
    };
    let policy = ManagedPolicy {
        entity: entity("ANPAUPGRADE", "policy", "kept", now),
        default_version_id: "v1".into(),
        attachment_count: 0,
        description: None,
        update_date: now,
        tags: vec![],
    };
    let doc = format!("'{DOC}'");
    let date = format!("'{}'", now.to_rfc3339());
    format!(
        "INSERT INTO roles (id, name_key, path, data) VALUES ('AROAUPGRADE', 'upgraded', '/', {});
         INSERT INTO users (id, name_key, path, data) VALUES ('AIDAUPGRADE', 'upgraded-user', '/', {});
         INSERT INTO groups (id, name_key, path, data) VALUES ('AGPAUPGRADE', 'upgraded-group', '/', {});
         INSERT INTO policies (id, arn, name_key, path, data) VALUES ('ANPAUPGRADE', '{}', 'kept', '/', {});
         INSERT INTO policy_versions (policy_id, version_id, document, is_default, create_date)
           VALUES ('ANPAUPGRADE', 'v1', {doc}, TRUE, {date});
         INSERT INTO role_policies (role_id, name, document) VALUES ('AROAUPGRADE', 'role-inline', {doc});
         INSERT INTO role_attached_policies (role_id, policy_id) VALUES ('AROAUPGRADE', 'ANPAUPGRADE');
         INSERT INTO principal_policies (owner_kind, owner_id, name, document)
           VALUES ('user', 'AIDAUPGRADE', 'user-inline', {doc});
         INSERT INTO principal_policies (owner_kind, owner_id, name, document)
           VALUES ('group', 'AGPAUPGRADE', 'group-inline', {doc});
         INSERT INTO principal_attached_policies (owner_kind, owner_id, policy_id)
           VALUES ('user', 'AIDAUPGRADE', 'ANPAUPGRADE');",
        lit(&role),
        lit(&user),
        lit(&group),
        policy.arn,
        lit(&policy),
    )
}

/// The upgrades each dialect checks: the schema version rows are written under, the rows, and
/// what core must read after the remaining migrations.
#[derive(Debug, Clone, Copy)]
pub enum Upgrade {
    /// Policies written under schema 2 survive migration 3.
    Version2Policies,
    /// Associations written under schema 9 get their end time (migration 11).
    Version9AssociationEnds,
    /// Audit events written under schema 9 move to migration 10's log and lookup table.
    Version9AuditEvents,
    /// Instances written under schema 11 get their state-change time (migration 13).
    Version11InstanceStates,
}

impl Upgrade {
    /// Every upgrade, for a dialect's test to run each on a fresh database.
    pub const ALL: [Upgrade; 4] = [
        Upgrade::Version2Policies,
        Upgrade::Version9AssociationEnds,
        Upgrade::Version9AuditEvents,
        Upgrade::Version11InstanceStates,
    ];
}

/// Migrates `pool`'s fresh database to the upgrade's version, writes its rows, closes the pool,
/// opens the store with `reopen` (which applies the remaining migrations) and checks what core
/// reads.
#[sql_bounds(D::Db)]
pub async fn check<D, F>(upgrade: Upgrade, pool: Pool<D::Db>, reopen: F)
where
    D: Dialect,
    F: Future<Output = StoreResult<SqlStore<D>>>,
    SqlStore<D>: Store,
{
    // Shown with a failure: which upgrade it was.
    eprintln!("upgrade: {upgrade:?}");
    let (version, rows) = match upgrade {
        Upgrade::Version2Policies => (2, version_2_rows()),
        Upgrade::Version9AssociationEnds => (9, version_9_rows()),
        Upgrade::Version9AuditEvents => (9, version_9_audit_rows()),
        Upgrade::Version11InstanceStates => (11, version_11_instance_rows()),
    };
    migrate::<D>(&pool, Some(version))
        .await
        .expect("migrate to the old version");
    sqlx::raw_sql(&rows).execute(&pool).await.expect("old rows");
    pool.close().await;
    let store: DynStore = Arc::new(reopen.await.expect("reopen and migrate"));
    match upgrade {
        Upgrade::Version2Policies => version_2_policies_survive(store).await,
        Upgrade::Version9AssociationEnds => version_9_associations_get_their_end(store).await,
        Upgrade::Version9AuditEvents => audit_events_survive_migration_10(store).await,
        Upgrade::Version11InstanceStates => version_11_instances_get_state_times(store).await,
    }
}

/// What core reads of [`version_2_rows`] after migration 3.
async fn version_2_policies_survive(store: DynStore) {
    let iam = Iam::new(store, ACCOUNT);
    let all = PageRequest {
        from: None,
        limit: 100,
    };
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/kept");

    let names = iam
        .list_role_policies("upgraded", &all)
        .await
        .expect("list");
    assert_eq!(names.items, vec!["role-inline".to_string()]);
    let (role, name, doc) = iam
        .get_role_policy("UPGRADED", "role-inline")
        .await
        .expect("get");
    assert_eq!(
        (role.as_str(), name.as_str(), doc.as_str()),
        ("Upgraded", "role-inline", DOC)
    );
    let attached = iam
        .list_attached_role_policies("upgraded", None, &all)
        .await
        .expect("attached");
    assert_eq!(attached.items.len(), 1);
    assert_eq!(attached.items[0].arn, arn);

    let (_, _, doc) = iam
        .get_owner_policy(OwnerKind::User, "upgraded-user", "user-inline")
        .await
        .expect("user policy");
    assert_eq!(doc, DOC);
    let (_, _, doc) = iam
        .get_owner_policy(OwnerKind::Group, "upgraded-group", "group-inline")
        .await
        .expect("group policy");
    assert_eq!(doc, DOC);
    assert_eq!(
        iam.get_policy(&arn).await.expect("policy").attachment_count,
        2
    );

    // The moved rows still hold their owners and policy back.
    assert_eq!(
        iam.delete_role("upgraded").await,
        Err(Error::DeleteConflict(Dependents::InlinePolicies))
    );
    iam.delete_role_policy("upgraded", "role-inline")
        .await
        .expect("delete inline");
    assert_eq!(
        iam.delete_role("upgraded").await,
        Err(Error::DeleteConflict(Dependents::AttachedPolicies))
    );
    assert_eq!(
        iam.delete_policy(&arn).await,
        Err(Error::DeleteConflict(Dependents::PolicyAttachments))
    );
    iam.detach_role_policy("upgraded", &arn)
        .await
        .expect("detach");
    iam.delete_role("upgraded").await.expect("delete role");
}

/// Schema-9 associations, as their documents only: one active, one ended an hour ago, one ended
/// ten hours ago.
fn version_9_rows() -> String {
    use rolecall_core::model::{Association, AssociationState};
    let now = chrono::Utc::now();
    let association = |id: &str, state, hours_ago| Association {
        id: id.into(),
        instance_id: "i-0upgrade".into(),
        profile_arn: format!("arn:aws:iam::{ACCOUNT}:instance-profile/p"),
        profile_id: "AIPAUPGRADE".into(),
        state,
        timestamp: now - chrono::Duration::hours(hours_ago),
    };
    let rows = [
        association("iip-assoc-active", AssociationState::Associated, 20),
        association("iip-assoc-recent", AssociationState::Disassociated, 1),
        association("iip-assoc-old", AssociationState::Disassociated, 10),
    ];
    let mut sql = String::from(
        "INSERT INTO instances (id, state, private_ip, data) VALUES ('i-0upgrade', 'running', '10.0.0.9', '{}');",
    );
    for a in &rows {
        sql.push_str(&format!(
            "INSERT INTO associations (id, instance_id, state, data) VALUES ('{}', 'i-0upgrade', '{}', {});",
            a.id,
            a.state.name(),
            lit(a)
        ));
    }
    sql
}

/// After migration 11 the ended-since read finds [`version_9_rows`]' ends by time.
async fn version_9_associations_get_their_end(store: DynStore) {
    let now = chrono::Utc::now();
    let ended_ids = |hours| {
        let store = store.clone();
        async move {
            let ended = store
                .associations_ended_since(now - chrono::Duration::hours(hours))
                .await
                .expect("ended since");
            assert!(ended.iter().all(|a| !a.state.is_active()));
            ended.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ended_ids(6).await, vec!["iip-assoc-recent"]);
    assert_eq!(
        ended_ids(24).await,
        vec!["iip-assoc-old", "iip-assoc-recent"]
    );
}

/// Schema-11 instances, as their documents only: running since 10 hours and since 1 hour ago,
/// stopped (when is not recorded), terminated.
fn version_11_instance_rows() -> String {
    use rolecall_core::model::{Instance, InstanceState, MetadataOptions};
    let now = chrono::Utc::now();
    let instance = |n: u8, state, hours_ago| Instance {
        id: format!("i-0upgrade{n}"),
        reservation_id: format!("r-0upgrade{n}"),
        image_id: "ami-11aa22bb".into(),
        instance_type: "t3.micro".into(),
        key_name: None,
        state,
        state_reason: String::new(),
        private_ip: format!("10.0.0.{n}"),
        subnet_id: None,
        vpc_id: None,
        availability_zone: "us-east-1a".into(),
        security_groups: vec![],
        user_data: None,
        tags: vec![],
        metadata_options: MetadataOptions::default(),
        launch_time: now - chrono::Duration::hours(hours_ago),
        ami_launch_index: 0,
        client_token: None,
        disable_api_termination: false,
        disable_api_stop: false,
        shutdown_behavior: "stop".into(),
    };
    [
        instance(1, InstanceState::Running, 10),
        instance(2, InstanceState::Running, 1),
        instance(3, InstanceState::Stopped, 20),
        instance(4, InstanceState::Terminated, 2),
    ]
    .iter()
    .map(|i| {
        format!(
            "INSERT INTO instances (id, state, private_ip, data) VALUES ('{}', '{}', '{}', {});",
            i.id,
            i.state.name(),
            i.private_ip,
            lit(i)
        )
    })
    .collect()
}

/// After migration 13 the changed-state read finds [`version_11_instance_rows`] by their launch
/// (running) or the migration (stopped: when it stopped is unknown, so at the latest then);
/// never the terminated one (its association's end is what counts).
async fn version_11_instances_get_state_times(store: DynStore) {
    let now = chrono::Utc::now();
    let changed = |hours| {
        let store = store.clone();
        async move {
            store
                .instances_changed_state_since(now - chrono::Duration::hours(hours))
                .await
                .expect("changed since")
                .into_iter()
                .map(|(i, _)| i.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(changed(6).await, vec!["i-0upgrade2", "i-0upgrade3"]);
    assert_eq!(
        changed(24).await,
        vec!["i-0upgrade1", "i-0upgrade2", "i-0upgrade3"]
    );
}

/// Schema-9 rows: audit events in migration 7's tables (one with a resource).
fn version_9_audit_rows() -> String {
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/kept");
    format!(
        "INSERT INTO audit_events (event_id, event_time, event_name, event_source, username,
           access_key_id, read_only, resources, record) VALUES
           ('0b2bb0f3-5a87-4b7e-9f56-2b4d5b4c3e1a', 1000, 'CreateRole', 'iam.amazonaws.com',
            'alice', 'AKIAALICE', FALSE,
            '[{{\"type\":\"AWS::IAM::Role\",\"name\":\"kept\",\"arn\":\"{arn}\"}}]', '{{\"old\":1}}'),
           ('1c3cc1f4-6b98-4c8f-8a67-3c5e6c5d4f2b', 2000, 'GetRole', 'iam.amazonaws.com',
            '', '', TRUE, '[]', '{{\"old\":2}}');
         INSERT INTO audit_event_resources (event_id, resource_type, resource_name, resource_arn)
           VALUES ('0b2bb0f3-5a87-4b7e-9f56-2b4d5b4c3e1a', 'AWS::IAM::Role', 'kept', '{arn}');"
    )
}

/// What core reads of [`version_9_audit_rows`] after migration 10: every event is found by each
/// of its attributes, then retention removes it.
async fn audit_events_survive_migration_10(store: DynStore) {
    use rolecall_core::audit::{AuditQuery, LookupKey};
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/kept");
    let q = |k: LookupKey, v: &str| AuditQuery {
        filter: Some((k, v.to_string())),
        start: None,
        end: None,
        before: None,
        limit: 10,
    };
    let created = "0b2bb0f3-5a87-4b7e-9f56-2b4d5b4c3e1a";
    for (k, v) in [
        (LookupKey::EventId, created),
        (LookupKey::EventName, "CreateRole"),
        (LookupKey::EventSource, "iam.amazonaws.com"),
        (LookupKey::Username, "alice"),
        (LookupKey::AccessKeyId, "AKIAALICE"),
        (LookupKey::ReadOnly, "false"),
        (LookupKey::ResourceType, "AWS::IAM::Role"),
        (LookupKey::ResourceName, "kept"),
        (LookupKey::ResourceName, &arn),
    ] {
        let got = store.lookup_audit_events(&q(k, v)).await.expect("lookup");
        let ids: Vec<&str> = got.iter().map(|e| e.event_id.as_str()).collect();
        let want = if k == LookupKey::EventSource {
            vec!["1c3cc1f4-6b98-4c8f-8a67-3c5e6c5d4f2b", created]
        } else {
            vec![created]
        };
        assert_eq!(ids, want, "{k:?}={v}");
    }
    let got = store
        .lookup_audit_events(&q(LookupKey::EventId, created))
        .await
        .expect("lookup");
    assert_eq!(
        (got[0].record().as_str(), got[0].resources[0].arn.as_str()),
        ("{\"old\":1}", arn.as_str())
    );
    let cut = chrono::DateTime::from_timestamp_millis(3_000).expect("time");
    assert_eq!(store.prune_audit_events(cut, 10).await.expect("prune"), 2);
    assert!(
        store
            .lookup_audit_events(&q(LookupKey::ResourceName, "kept"))
            .await
            .expect("lookup")
            .is_empty()
    );
}

/// Checks that the shared migrations with the dialect's markers run, statement for statement,
/// the SQL of the dialect's own files they replaced (each given as the SHA-256 of its text
/// without comment lines, white space folded): a database that ran the old file and one that runs
/// the shared file get the same schema.
pub fn shared_migrations_unchanged<D: Dialect>(versions: &[(i64, &str)]) {
    use sha2::{Digest, Sha256};
    for (version, digest) in versions {
        let (_, parts) = D::MIGRATIONS
            .iter()
            .find(|(v, _)| v == version)
            .expect("version");
        let ran: Vec<String> = parts.iter().map(|sql| migration_sql::<D>(sql)).collect();
        let part = ran
            .iter()
            .find(|sql| hex::encode(Sha256::digest(statements(sql))) == *digest);
        assert!(part.is_some(), "migration {version} changed: {ran:?}");
        assert!(ran.iter().all(|sql| !sql.contains("{")), "a marker left");
    }
}

/// The statements of `sql`: without comment lines, white space folded to one space.
fn statements(sql: &str) -> String {
    let code: Vec<&str> = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    code.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
