//! The storage conformance suite: every `Store` implementation (SQLite, PostgreSQL) runs these
//! same tests through `conformance_tests!`, so both enforce the same invariants — including
//! under concurrent, conflicting writes, where exactly one writer must win and the others must
//! get AWS's error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::future::join_all;
use rolecall_core::audit::{
    AuditEvent, AuditQuery, AuditResource, AuditTail, LookupKey, Outcome, with_pending,
};
use rolecall_core::ec2::{
    DescribeRequest, Ec2, Ec2Config, Filter, Paging, Reservation, RunInstances, wildcard_match,
};
use rolecall_core::ec2_errors::{AssociationConflict, NeededState, WrongInstanceState};
use rolecall_core::iam::{CreatePolicy, CreateRole, Iam};
use rolecall_core::model::{
    Association, Instance, InstanceProfile, InstanceState, ManagedPolicy, MetadataOptions, Tag,
};
use rolecall_core::{
    ChangesSince, Dependents, DynStore, EntityKind, Error, Existing, Limit, ManualClock, Missing,
    Named, OwnerKind, PageRequest,
};
use std::collections::HashSet;

const ACCOUNT: &str = "123456789012";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// Expands into one `#[tokio::test]` per conformance test, each on a fresh store from `$make`.
///
/// `conformance_tests!(ignore = "reason"; make)` marks every test `#[ignore]` (for stores that
/// need an external server: a plain `cargo test` reports them as ignored, never as passed, and
/// `cargo test -- --include-ignored` runs them).
#[macro_export]
macro_rules! conformance_tests {
    (ignore = $why:literal; $make:expr) => {
        $crate::conformance_tests!(@list [$why] $make);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@list [] $make);
    };
    (@list [$($why:literal)?] $make:expr) => {
        $crate::conformance_tests!(@each [$($why)?] $make;
            roles_unique_case_insensitively, role_listing_pages, concurrent_tagging_loses_nothing,
            delete_conflicts, policy_versions_limit_under_concurrency, one_role_per_profile_under_concurrency,
            one_association_per_instance_under_concurrency, replace_and_terminate_end_associations,
            private_ips_unique_among_live_instances, access_keys_limit_under_concurrency,
            meta_initialised_once, same_role_created_concurrently, instance_changes_are_not_lost,
            storage_errors_in_aws_words, change_feed_records_every_write,
            failed_writes_record_nothing, feed_readers_skip_nothing_under_concurrency,
            pruned_feed_says_reload, describe_instances_filters_in_the_database,
            describe_associations_filters_in_the_database, audit_event_rides_with_its_write,
            audit_lookups_filter_page_tail_and_prune, audit_pages_cut_through_batches, associations_ended_since_read_only_recent_ends,
            instances_changed_state_since_reads_only_recent_changes, delete_user_counts_its_login_profile_in_its_transaction, writes_are_dated_by_the_clock);
    };
    (@each [] $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store = $make.await;
                $crate::$name(store).await;
            }
        )*
    };
    (@each [$why:literal] $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[ignore = $why]
            async fn $name() {
                let store = $make.await;
                $crate::$name(store).await;
            }
        )*
    };
}

fn iam(store: &DynStore) -> Iam {
    Iam::new(store.clone(), ACCOUNT)
}

fn ec2(store: &DynStore) -> Ec2 {
    ec2_of(store, iam(store))
}

fn ec2_of(store: &DynStore, iam: Iam) -> Ec2 {
    Ec2::new(
        store.clone(),
        iam,
        Ec2Config {
            region: "us-east-1".into(),
            instance_cidr: "10.9.0.0/24".parse().unwrap(),
            strict_ids: false,
        },
    )
}

/// A role with the suite's trust policy.
pub fn role(name: &str) -> CreateRole<'_> {
    CreateRole::new(name, TRUST)
}

/// A managed policy named `name` (allowing `s3:*`).
pub async fn managed_policy(iam: &Iam, name: &str) -> ManagedPolicy {
    let policy = CreatePolicy {
        name,
        path: None,
        document: POLICY,
        description: None,
        tags: vec![],
    };
    iam.create_policy(policy).await.unwrap()
}

/// An instance profile named `name`, at `/`, without tags.
async fn profile(iam: &Iam, name: &str) -> InstanceProfile {
    iam.create_instance_profile(name, None, vec![])
        .await
        .unwrap()
}

/// The one instance `run` launches.
async fn launched(ec2: &Ec2, run: RunInstances) -> Instance {
    ec2.run_instances(run).await.unwrap().instances.remove(0)
}

/// A lookup of up to `limit` audit events (with a filter, when given), from the newest.
fn lookup(filter: Option<(LookupKey, &str)>, limit: usize) -> AuditQuery {
    AuditQuery {
        filter: filter.map(|(k, v)| (k, v.to_string())),
        start: None,
        end: None,
        before: None,
        limit,
    }
}

/// One instance launched with the instance profile `profile`: its reservation.
async fn launched_with(ec2: &Ec2, profile: &str) -> Reservation {
    let run = RunInstances {
        profile_name: Some(profile.into()),
        ..launch()
    };
    ec2.run_instances(run).await.unwrap()
}

/// `result` is IAM's DeleteConflict.
fn delete_conflict<T: std::fmt::Debug>(result: rolecall_core::Result<T>) {
    assert!(
        matches!(result, Err(Error::DeleteConflict(_))),
        "expected DeleteConflict, got {result:?}"
    );
}

/// One instance of a fixed image.
pub fn launch() -> RunInstances {
    RunInstances {
        image_id: "ami-11aa22bb".into(),
        min_count: 1,
        max_count: 1,
        metadata_options: MetadataOptions::default(),
        ..Default::default()
    }
}

const ALL: PageRequest = PageRequest {
    from: None,
    limit: 1000,
};

/// Of concurrent attempts, exactly `n` succeeded and every other failed as `lost` says.
pub fn winners<T: std::fmt::Debug>(
    results: &[Result<T, Error>],
    n: usize,
    lost: impl Fn(&Error) -> bool,
) {
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        n,
        "{results:?}"
    );
    assert!(
        results.iter().filter_map(|r| r.as_ref().err()).all(lost),
        "{results:?}"
    );
}

pub async fn roles_unique_case_insensitively(store: DynStore) {
    let iam = iam(&store);
    let r = iam.create_role(role("Builder")).await.unwrap();
    assert_eq!(
        iam.create_role(role("builder")).await.err(),
        Some(Error::EntityAlreadyExists(Existing::new(
            Named::Role,
            "builder"
        )))
    );
    assert_eq!(iam.get_role("BUILDER").await.unwrap().id, r.id);
    assert!(matches!(
        iam.get_role("nobody").await,
        Err(Error::NoSuchEntity(_))
    ));
}

pub async fn role_listing_pages(store: DynStore) {
    let iam = iam(&store);
    for i in 0..7 {
        let name = format!("r{i}");
        iam.create_role(CreateRole {
            path: Some("/app/"),
            ..role(&name)
        })
        .await
        .unwrap();
    }
    iam.create_role(role("elsewhere")).await.unwrap();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_roles(
                Some("/app/"),
                &PageRequest {
                    from: marker.clone(),
                    limit: 3,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|r| r.name.clone()));
        match page.next {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("r{i}")).collect::<Vec<_>>());
}

pub async fn concurrent_tagging_loses_nothing(store: DynStore) {
    let iam = iam(&store);
    iam.create_role(role("tagged")).await.unwrap();
    let tasks = (0..20).map(|i| {
        let iam = iam.clone();
        async move {
            iam.tag_role(
                "tagged",
                vec![Tag {
                    key: format!("k{i}"),
                    value: "v".into(),
                }],
            )
            .await
        }
    });
    for r in join_all(tasks).await {
        r.unwrap();
    }
    assert_eq!(iam.get_role("tagged").await.unwrap().tags.len(), 20);
}

pub async fn delete_conflicts(store: DynStore) {
    let iam = iam(&store);
    iam.create_role(role("busy")).await.unwrap();
    iam.put_role_policy("busy", "inline", POLICY).await.unwrap();
    delete_conflict(iam.delete_role("busy").await);
    iam.delete_role_policy("busy", "inline").await.unwrap();
    let p = managed_policy(&iam, "m").await;
    iam.attach_role_policy("busy", &p.arn).await.unwrap();
    delete_conflict(iam.delete_role("busy").await);
    delete_conflict(iam.delete_policy(&p.arn).await);
    assert_eq!(iam.get_policy(&p.arn).await.unwrap().attachment_count, 1);
    iam.detach_role_policy("busy", &p.arn).await.unwrap();
    profile(&iam, "prof").await;
    iam.add_role_to_instance_profile("prof", "busy")
        .await
        .unwrap();
    delete_conflict(iam.delete_role("busy").await);
    delete_conflict(iam.delete_instance_profile("prof").await);
    iam.remove_role_from_instance_profile("prof", "busy")
        .await
        .unwrap();
    iam.delete_role("busy").await.unwrap();
    iam.delete_instance_profile("prof").await.unwrap();
    iam.delete_policy(&p.arn).await.unwrap();
}

pub async fn policy_versions_limit_under_concurrency(store: DynStore) {
    let iam = iam(&store);
    let p = managed_policy(&iam, "versions").await;
    let tasks = (0..8).map(|_| {
        let (iam, arn) = (iam.clone(), p.arn.clone());
        async move { iam.create_policy_version(&arn, POLICY, true).await }
    });
    let results = join_all(tasks).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 4, "v1 plus exactly four more versions");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Error::LimitExceeded(Limit::VersionsPerPolicy))))
    );
    let versions = iam.list_policy_versions(&p.arn).await.unwrap();
    assert_eq!(versions.len(), 5);
    assert_eq!(versions.iter().filter(|v| v.is_default).count(), 1);
    let ids: HashSet<_> = versions.iter().map(|v| v.version_id.clone()).collect();
    assert_eq!(ids.len(), 5);
}

pub async fn one_role_per_profile_under_concurrency(store: DynStore) {
    let iam = iam(&store);
    profile(&iam, "one").await;
    for i in 0..6 {
        iam.create_role(role(&format!("cand{i}"))).await.unwrap();
    }
    let tasks = (0..6).map(|i| {
        let iam = iam.clone();
        async move {
            iam.add_role_to_instance_profile("one", &format!("cand{i}"))
                .await
        }
    });
    let results = join_all(tasks).await;
    let full = Error::LimitExceeded(Limit::RolesPerInstanceProfile);
    winners(&results, 1, |e| *e == full);
    assert_eq!(
        iam.get_instance_profile("one").await.unwrap().roles.len(),
        1
    );
}

pub async fn one_association_per_instance_under_concurrency(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    for i in 0..6 {
        profile(&iam, &format!("p{i}")).await;
    }
    let inst = launched(&ec2, launch()).await;
    let tasks = (0..6).map(|i| {
        let (ec2, id) = (ec2.clone(), inst.id.clone());
        async move {
            ec2.associate_iam_instance_profile(&id, Some(&format!("p{i}")), None)
                .await
        }
    });
    let results = join_all(tasks).await;
    let taken = Error::IncorrectState(AssociationConflict::ActiveExists(inst.id.clone()));
    winners(&results, 1, |e| *e == taken);
    assert_eq!(
        store
            .active_associations(std::slice::from_ref(&inst.id))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn replace_and_terminate_end_associations(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    profile(&iam, "a").await;
    profile(&iam, "b").await;
    let inst = launched_with(&ec2, "a").await;
    let first = inst.associations[0].clone();
    // Two concurrent replaces of the same association: one wins, the other finds it ended.
    let tasks = (0..2).map(|_| {
        let (ec2, id) = (ec2.clone(), first.id.clone());
        async move {
            ec2.replace_iam_instance_profile_association(&id, Some("b"), None)
                .await
        }
    });
    let results = join_all(tasks).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let id = inst.instances[0].id.clone();
    let active = store
        .active_associations(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert!(active[0].profile_arn.ends_with("/b"));
    ec2.terminate_instances(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert!(store.active_associations(&[id]).await.unwrap().is_empty());
}

/// Revocation verifiers reload the associations ended within one credential lifetime: every way
/// an association ends (disassociate, replace, terminate) is found by its end time, and nothing
/// active or ended earlier.
pub async fn associations_ended_since_read_only_recent_ends(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    for p in ["a", "b"] {
        iam.create_instance_profile(p, None, vec![]).await.unwrap();
    }
    let mut launched = Vec::new();
    for _ in 0..4 {
        let r = launched_with(&ec2, "a").await;
        launched.push((r.instances[0].id.clone(), r.associations[0].id.clone()));
    }
    let (early, replaced, terminated, kept) =
        (&launched[0], &launched[1], &launched[2], &launched[3]);
    ec2.disassociate_iam_instance_profile(&early.1)
        .await
        .unwrap();
    // Ends are stored to the millisecond: the next ones end strictly after `since`.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    ec2.replace_iam_instance_profile_association(&replaced.1, Some("b"), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    ec2.terminate_instances(std::slice::from_ref(&terminated.0))
        .await
        .unwrap();

    let recent = store.associations_ended_since(since).await.unwrap();
    let ids: Vec<&str> = recent.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec![replaced.1.as_str(), terminated.1.as_str()]);
    assert!(
        recent
            .iter()
            .all(|a| !a.state.is_active() && a.timestamp > since)
    );
    let all = store
        .associations_ended_since(since - chrono::Duration::hours(1))
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![early.1.as_str(), replaced.1.as_str(), terminated.1.as_str()]
    );
    // Active associations (the kept instance's, the replacement) are never among them.
    let active = store
        .active_associations(&[kept.0.clone(), replaced.0.clone()])
        .await
        .unwrap();
    assert_eq!(active.len(), 2);
    assert!(active.iter().all(|a| !ids.contains(&a.id.as_str())));
    assert!(
        store
            .associations_ended_since(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Revocation verifiers reload the instances stopped or started within one credential lifetime,
/// each with its active association: by the time of the change (the clock's), never a launch
/// or an edit that keeps the state.
pub async fn instances_changed_state_since_reads_only_recent_changes(store: DynStore) {
    use rolecall_core::Clock;
    let clock = ManualClock::new(chrono::Utc::now());
    let iam = Iam::new(store.clone(), ACCOUNT).with_clock(clock.clone());
    let ec2 = ec2_of(&store, iam.clone());
    profile(&iam, "a").await;
    let mut ids = Vec::new();
    for name in [Some("a"), Some("a"), Some("a"), Some("a"), None] {
        let run = RunInstances {
            profile_name: name.map(str::to_string),
            ..launch()
        };
        ids.push(launched(&ec2, run).await.id);
    }
    let [early, restarted, stopped, untouched, bare] = &ids[..] else {
        unreachable!()
    };
    let one = |id: &String| std::slice::from_ref(id).to_vec();
    let tick = || clock.advance(chrono::Duration::seconds(1));
    ec2.stop_instances(&one(early)).await.unwrap();
    tick();
    let since = clock.now();
    tick();
    ec2.stop_instances(&one(restarted)).await.unwrap();
    tick();
    ec2.start_instances(&one(restarted)).await.unwrap();
    tick();
    ec2.stop_instances(&one(stopped)).await.unwrap();
    tick();
    ec2.stop_instances(&one(bare)).await.unwrap();
    tick();
    // An edit that keeps the state is no state change.
    ec2.modify_instance_metadata_options(untouched, |m| m.http_tokens = "required".into())
        .await
        .unwrap();

    let changed = |since: chrono::DateTime<chrono::Utc>| {
        let store = store.clone();
        async move {
            store
                .instances_changed_state_since(since)
                .await
                .unwrap()
                .into_iter()
                .map(|(i, a)| (i.id, i.state.name(), a.map(|a| a.instance_id)))
                .collect::<Vec<_>>()
        }
    };
    let assoc = |id: &String| Some(id.clone());
    assert_eq!(
        changed(since).await,
        vec![
            (restarted.clone(), "running", assoc(restarted)),
            (stopped.clone(), "stopped", assoc(stopped)),
            (bare.clone(), "stopped", None),
        ]
    );
    let all = changed(since - chrono::Duration::hours(1)).await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], (early.clone(), "stopped", assoc(early)));
    assert!(all.iter().all(|(id, _, _)| id != untouched));
    assert!(changed(clock.now()).await.is_empty());
}

/// DeleteUser refuses while the user has a login profile, checked in the delete's own
/// transaction: a profile created concurrently either makes the delete fail or finds the user
/// gone; no profile outlives its user.
pub async fn delete_user_counts_its_login_profile_in_its_transaction(store: DynStore) {
    const PASSWORD: &str = "Corr3ct-horse";
    let iam = iam(&store);
    iam.create_user("console", None, None, vec![])
        .await
        .unwrap();
    iam.create_login_profile("console", PASSWORD, false)
        .await
        .unwrap();
    assert_eq!(
        iam.delete_user("console").await,
        Err(Error::DeleteConflict(Dependents::LoginProfile))
    );
    iam.delete_login_profile("console").await.unwrap();
    iam.delete_user("console").await.unwrap();

    for n in 0..4 {
        let name = format!("racer{n}");
        let user = iam.create_user(&name, None, None, vec![]).await.unwrap();
        let (created, deleted) = tokio::join!(
            iam.create_login_profile(&name, PASSWORD, false),
            iam.delete_user(&name)
        );
        let profile = store
            .get_meta(&format!("login_profile/{}", user.id))
            .await
            .unwrap()
            .unwrap_or_default();
        match (created, deleted) {
            // The delete went first: the profile found no user.
            (Err(Error::NoSuchEntity(m)), Ok(())) => {
                assert_eq!(m, Missing::User(name.clone()));
                assert!(profile.is_empty(), "a profile outlived its user");
            }
            // The profile went first: the delete saw it.
            (Ok(_), Err(Error::DeleteConflict(in_the_way))) => {
                assert_eq!(in_the_way, Dependents::LoginProfile);
                assert!(!profile.is_empty());
                assert!(iam.get_user(&name).await.is_ok());
            }
            other => panic!("create and delete both won or both lost: {other:?}"),
        }
    }
}

pub async fn private_ips_unique_among_live_instances(store: DynStore) {
    let ec2 = ec2(&store);
    let tasks = (0..10).map(|_| {
        let ec2 = ec2.clone();
        async move {
            ec2.run_instances(RunInstances {
                max_count: 3,
                ..launch()
            })
            .await
        }
    });
    let mut ips = Vec::new();
    for r in join_all(tasks).await {
        ips.extend(r.unwrap().instances.into_iter().map(|i| i.private_ip));
    }
    assert_eq!(ips.len(), 30);
    assert_eq!(
        ips.iter().collect::<HashSet<_>>().len(),
        30,
        "no address handed out twice"
    );
    // A free address (allocation after a collision may land anywhere in the range).
    let free = (200..=254)
        .map(|n| format!("10.9.0.{n}"))
        .find(|ip| !ips.contains(ip))
        .unwrap();
    let fixed = ec2
        .run_instances(RunInstances {
            private_ip: Some(free.clone()),
            ..launch()
        })
        .await
        .unwrap();
    assert!(
        ec2.run_instances(RunInstances {
            private_ip: Some(free.clone()),
            ..launch()
        })
        .await
        .is_err()
    );
    ec2.terminate_instances(&[fixed.instances[0].id.clone()])
        .await
        .unwrap();
    ec2.run_instances(RunInstances {
        private_ip: Some(free),
        ..launch()
    })
    .await
    .unwrap();
}

pub async fn access_keys_limit_under_concurrency(store: DynStore) {
    let iam = iam(&store);
    iam.create_user("keyed", None, None, vec![]).await.unwrap();
    let ring = ring();
    let tasks = (0..5).map(|_| {
        let (iam, ring) = (iam.clone(), ring.clone());
        async move { iam.create_access_key(&ring, "keyed").await }
    });
    let results = join_all(tasks).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Error::LimitExceeded(Limit::AccessKeysPerUser))))
    );
    assert_eq!(iam.list_access_keys("keyed").await.unwrap().len(), 2);
}

/// What a write dates (policy versions, a policy's update, an ended association) is dated by
/// core's clock, not by the store.
pub async fn writes_are_dated_by_the_clock(store: DynStore) {
    let at = chrono::DateTime::parse_from_rfc3339("2001-02-03T04:05:06Z")
        .unwrap()
        .to_utc();
    let iam = iam(&store).with_clock(ManualClock::new(at));
    let ec2 = ec2_of(&store, iam.clone());
    let p = managed_policy(&iam, "dated").await;
    let v2 = iam
        .create_policy_version(&p.arn, POLICY, false)
        .await
        .unwrap();
    assert_eq!(v2.create_date, at);
    iam.set_default_policy_version(&p.arn, "v2").await.unwrap();
    assert_eq!(iam.get_policy(&p.arn).await.unwrap().update_date, at);
    profile(&iam, "dated").await;
    let launched = launched_with(&ec2, "dated").await;
    let (inst, association) = (&launched.instances[0], &launched.associations[0]);
    ec2.terminate_instances(std::slice::from_ref(&inst.id))
        .await
        .unwrap();
    let ended = store
        .get_association(&association.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!ended.state.is_active(), "{ended:?}");
    assert_eq!(ended.timestamp, at);
}

pub async fn instance_changes_are_not_lost(store: DynStore) {
    let ec2 = ec2(&store);
    profile(&iam(&store), "held").await;
    let id = launched_with(&ec2, "held").await.instances.remove(0).id;
    // Concurrent changes to different fields of the same instance: every one is kept (a
    // read-modify-write that lost another's update would reset a field to its old value).
    type Change = Box<dyn FnOnce(&mut MetadataOptions) + Send>;
    let changes: Vec<Change> = vec![
        Box::new(|m| m.http_tokens = "required".into()),
        Box::new(|m| m.http_put_response_hop_limit = 7),
        Box::new(|m| m.instance_metadata_tags = "enabled".into()),
        Box::new(|m| m.http_protocol_ipv6 = "enabled".into()),
    ];
    let results = join_all(changes.into_iter().map(|change| {
        let (ec2, id) = (ec2.clone(), id.clone());
        async move {
            ec2.modify_instance_metadata_options(&id, move |m| change(m))
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let kept = store
        .get_instance(&id)
        .await
        .unwrap()
        .unwrap()
        .metadata_options;
    assert_eq!(
        (
            kept.http_tokens.as_str(),
            kept.http_put_response_hop_limit,
            kept.instance_metadata_tags.as_str(),
            kept.http_protocol_ipv6.as_str(),
            kept.http_endpoint.as_str(),
        ),
        ("required", 7, "enabled", "enabled", "enabled"),
        "every acknowledged metadata change is kept"
    );
    // Metadata changes racing a termination: the termination (and its association's end)
    // stays, and the hop limit is the one a successful change set (never one whose change was
    // refused, never lost).
    let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Option<u32>> + Send>>> =
        Vec::new();
    for hop in 2..10u32 {
        let (ec2, id) = (ec2.clone(), id.clone());
        tasks.push(Box::pin(async move {
            ec2.modify_instance_metadata_options(&id, move |m| m.http_put_response_hop_limit = hop)
                .await
                .ok()
                .map(|inst| inst.metadata_options.http_put_response_hop_limit)
        }));
    }
    let (ec2t, idt) = (ec2.clone(), id.clone());
    tasks.push(Box::pin(async move {
        ec2t.terminate_instances(&[idt]).await.ok().map(|_| 0)
    }));
    let results = join_all(tasks).await;
    assert!(results.last().unwrap().is_some(), "terminate succeeds");
    let applied: Vec<u32> = results[..results.len() - 1]
        .iter()
        .flatten()
        .copied()
        .collect();
    let inst = store.get_instance(&id).await.unwrap().unwrap();
    assert_eq!(inst.state, rolecall_core::model::InstanceState::Terminated);
    let hop = inst.metadata_options.http_put_response_hop_limit;
    if applied.is_empty() {
        assert_eq!(hop, 7, "no change was acknowledged, so none was applied");
    } else {
        assert!(
            applied.contains(&hop),
            "hop limit {hop}, acknowledged {applied:?}"
        );
    }
    assert_eq!(
        inst.metadata_options.http_tokens, "required",
        "earlier changes kept"
    );
    assert!(
        store
            .active_associations(std::slice::from_ref(&id))
            .await
            .unwrap()
            .is_empty()
    );
    // Changes after termination are refused.
    let refused = WrongInstanceState {
        instance_id: id.clone(),
        state: InstanceState::Terminated,
        needs: NeededState::NotTerminated,
    };
    assert_eq!(
        ec2.modify_instance_metadata_options(&id, |m| m.http_tokens = "required".into())
            .await
            .err(),
        Some(Error::IncorrectInstanceState(refused))
    );
}

pub async fn meta_initialised_once(store: DynStore) {
    let tasks = (0..8).map(|i| {
        let store = store.clone();
        async move {
            store
                .init_meta("account_id", &format!("value-{i}"))
                .await
                .unwrap()
        }
    });
    let values: HashSet<String> = join_all(tasks).await.into_iter().collect();
    assert_eq!(values.len(), 1, "every caller sees the one stored value");
}

pub async fn same_role_created_concurrently(store: DynStore) {
    let iam = iam(&store);
    let tasks = (0..8).map(|i| {
        let iam = iam.clone();
        // Same name in different cases.
        let name = if i % 2 == 0 {
            "Twin".to_string()
        } else {
            "twin".to_string()
        };
        async move { iam.create_role(role(&name)).await }
    });
    let results = join_all(tasks).await;
    winners(&results, 1, |e| match e {
        Error::EntityAlreadyExists(Existing {
            kind: Named::Role,
            name: n,
        }) => n.eq_ignore_ascii_case("twin"),
        _ => false,
    });
    assert_eq!(iam.list_roles(None, &ALL).await.unwrap().items.len(), 1);
}

fn ring() -> rolecall_crypto::KeyRing {
    let key =
        rolecall_crypto::MasterKey::new(1, &rolecall_crypto::MasterKey::generate_bytes()).unwrap();
    rolecall_crypto::KeyRing::new(vec![key]).unwrap()
}

/// The stores report storage outcomes and core words them: each store path that can refuse
/// answers in AWS's exact words, on every store.
pub async fn storage_errors_in_aws_words(store: DynStore) {
    use rolecall_core::OwnerKind::{Group, Role, User};
    const OWNERS: [(rolecall_core::OwnerKind, &str); 3] =
        [(Role, "worded"), (User, "wuser"), (Group, "wgroup")];
    let iam = iam(&store);
    iam.create_role(role("worded")).await.unwrap();
    iam.create_user("wuser", None, None, vec![]).await.unwrap();
    iam.create_group("wgroup", None).await.unwrap();
    let p = managed_policy(&iam, "wpolicy").await;
    let missing = format!("arn:aws:iam::{ACCOUNT}:policy/absent");
    for (kind, owner) in OWNERS {
        refused_all([
            (
                iam.attach_owner_policy(kind, owner, &missing).await,
                &format!("Policy {missing} does not exist or is not attachable."),
            ),
            (
                iam.detach_owner_policy(kind, owner, &p.arn).await,
                &format!("Policy {} was not found.", p.arn),
            ),
            (
                iam.delete_owner_policy(kind, owner, "nope").await,
                &format!("The {} policy with name nope cannot be found.", kind.name()),
            ),
        ]);
        iam.put_owner_policy(kind, owner, "inline", POLICY)
            .await
            .unwrap();
        iam.attach_owner_policy(kind, owner, &p.arn).await.unwrap();
    }
    assert_eq!(iam.get_policy(&p.arn).await.unwrap().attachment_count, 3);
    let policies_first = "Cannot delete entity, must delete policies first.";
    refused_all([
        (
            iam.delete_policy(&p.arn).await,
            "Cannot delete a policy attached to entities.",
        ),
        (iam.delete_role("worded").await, policies_first),
        (iam.delete_group("wgroup").await, policies_first),
    ]);
    iam.create_access_key(&ring(), "wuser").await.unwrap();
    refused(
        iam.delete_user("wuser").await,
        "Cannot delete entity, must delete access keys first.",
    );
    iam.create_access_key(&ring(), "wuser").await.unwrap();
    refused_all([
        (
            iam.create_access_key(&ring(), "wuser").await.map(drop),
            "Cannot exceed quota for AccessKeysPerUser: 2",
        ),
        (
            iam.remove_user_from_group("wgroup", "wuser").await,
            "The user is not in the group.",
        ),
    ]);
    iam.add_user_to_group("wgroup", "wuser").await.unwrap();
    for (kind, owner) in OWNERS {
        iam.delete_owner_policy(kind, owner, "inline")
            .await
            .unwrap();
    }
    refused(
        iam.delete_group("wgroup").await,
        "Cannot delete entity, must remove users from group first.",
    );
    iam.remove_user_from_group("wgroup", "wuser").await.unwrap();
    let detach_first = "Cannot delete entity, must detach all policies first.";
    refused_all([
        (iam.delete_group("wgroup").await, detach_first),
        (iam.delete_role("worded").await, detach_first),
    ]);
    let v2 = iam
        .create_policy_version(&p.arn, POLICY, false)
        .await
        .unwrap();
    for (kind, owner) in OWNERS {
        iam.detach_owner_policy(kind, owner, &p.arn).await.unwrap();
    }
    refused_all([
        (
            iam.delete_policy(&p.arn).await,
            "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
        ),
        (
            iam.delete_policy_version(&p.arn, "v1").await,
            "Cannot delete the default version of a policy.",
        ),
        (
            iam.delete_policy_version(&p.arn, "v9").await,
            &format!(
                "Policy {} version v9 does not exist or is not attachable.",
                p.arn
            ),
        ),
    ]);
    iam.delete_policy_version(&p.arn, &v2.version_id)
        .await
        .unwrap();
    iam.delete_policy(&p.arn).await.unwrap();
    profile(&iam, "wprofile").await;
    refused(
        iam.remove_role_from_instance_profile("wprofile", "worded")
            .await,
        "The role is not in the instance profile.",
    );
    iam.add_role_to_instance_profile("wprofile", "worded")
        .await
        .unwrap();
    iam.create_role(role("other")).await.unwrap();
    let roles_first = "Cannot delete entity, must remove roles from instance profile first.";
    refused_all([
        (
            iam.add_role_to_instance_profile("wprofile", "other").await,
            "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
        ),
        (iam.delete_instance_profile("wprofile").await, roles_first),
        (iam.delete_role("worded").await, roles_first),
        (
            iam.delete_role("gone").await,
            "The role with name gone cannot be found.",
        ),
        (
            iam.create_role(role("WORDED")).await.map(drop),
            "Role with name WORDED already exists.",
        ),
        (
            iam.tag_instance_profile("absent", vec![]).await,
            "Instance Profile absent cannot be found.",
        ),
    ]);
}

/// Asserts of each `(result, message)` that the result is a refusal worded exactly so.
#[track_caller]
fn refused_all<const N: usize>(refusals: [(rolecall_core::Result<()>, &str); N]) {
    for (result, message) in refusals {
        refused(result, message);
    }
}

/// Asserts that `result` is a refusal worded exactly `message`.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: rolecall_core::Result<T>, message: &str) {
    match result {
        Err(e) => assert_eq!(e.to_string(), message),
        Ok(v) => panic!("expected {message:?}, got Ok({v:?})"),
    }
}

// ----- the change feed -----

/// The changes after `*at`: exactly one new sequence, holding at least `want`; moves `*at`.
async fn one_change(store: &DynStore, at: &mut i64, want: &[(EntityKind, &str)]) {
    let got = match store.changes_since(*at, 100).await.unwrap() {
        ChangesSince::Changes { changes, latest } => {
            assert_eq!(
                latest,
                *at + 1,
                "want one new sequence for {want:?}: {changes:?}"
            );
            assert!(changes.iter().all(|c| c.seq == latest));
            *at = latest;
            changes
        }
        p => panic!("{p:?}"),
    };
    let got: HashSet<(EntityKind, String)> = got.into_iter().map(|c| (c.kind, c.id)).collect();
    for (kind, id) in want {
        assert!(
            got.contains(&(*kind, id.to_string())),
            "{kind:?} {id} not recorded: {got:?}"
        );
    }
    assert_eq!(store.latest_change().await.unwrap(), *at);
}

/// Every write records the entities it touched, each write under its own next sequence.
pub async fn change_feed_records_every_write(store: DynStore) {
    use EntityKind::*;
    let (iam, ec2) = (iam(&store), ec2(&store));
    let mut at = store.latest_change().await.unwrap();
    let s = &store;
    let r = iam.create_role(role("fed")).await.unwrap();
    one_change(s, &mut at, &[(Role, &r.id)]).await;
    let tag = vec![Tag {
        key: "k".into(),
        value: "v".into(),
    }];
    iam.tag_role("fed", tag.clone()).await.unwrap();
    one_change(s, &mut at, &[(Role, &r.id)]).await;
    iam.update_assume_role_policy("fed", TRUST).await.unwrap();
    one_change(s, &mut at, &[(Role, &r.id)]).await;
    iam.put_role_policy("fed", "inline", POLICY).await.unwrap();
    one_change(s, &mut at, &[(RolePolicy, &r.id)]).await;
    iam.delete_role_policy("fed", "inline").await.unwrap();
    one_change(s, &mut at, &[(RolePolicy, &r.id)]).await;

    let p = managed_policy(&iam, "fedpol").await;
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    iam.tag_policy(&p.arn, tag.clone()).await.unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    assert_eq!(iam.list_policy_tags(&p.arn).await.unwrap(), tag);
    iam.untag_policy(&p.arn, vec!["K".into()]).await.unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    assert!(iam.list_policy_tags(&p.arn).await.unwrap().is_empty());
    iam.attach_role_policy("fed", &p.arn).await.unwrap();
    one_change(s, &mut at, &[(RolePolicy, &r.id)]).await;
    let page = rolecall_core::PageRequest {
        from: None,
        limit: 10,
    };
    let attached = iam
        .list_entities_for_policy(&p.arn, None, None, &page)
        .await
        .unwrap();
    assert_eq!(attached.items.len(), 1);
    assert_eq!(attached.items[0].name, "fed");
    assert_eq!(attached.items[0].id, r.id);
    let users_only = iam
        .list_entities_for_policy(&p.arn, Some("User"), None, &page)
        .await
        .unwrap();
    assert!(users_only.items.is_empty());
    let (root_key, _) = iam.create_root_key(&ring()).await.unwrap();
    one_change(s, &mut at, &[(AccessKey, &root_key.id)]).await;
    iam.update_root_key(&root_key.id, "Inactive").await.unwrap();
    one_change(s, &mut at, &[(AccessKey, &root_key.id)]).await;
    assert_eq!(
        iam.active_root_secret(&ring(), &root_key.id).await.unwrap(),
        None
    );
    iam.delete_root_key(&root_key.id).await.unwrap();
    one_change(s, &mut at, &[(AccessKey, &root_key.id)]).await;
    assert!(iam.root_keys().await.unwrap().is_empty());
    let v2 = iam
        .create_policy_version(&p.arn, POLICY, true)
        .await
        .unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    iam.set_default_policy_version(&p.arn, "v1").await.unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    iam.delete_policy_version(&p.arn, &v2.version_id)
        .await
        .unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;
    iam.detach_role_policy("fed", &p.arn).await.unwrap();
    one_change(s, &mut at, &[(RolePolicy, &r.id)]).await;
    iam.delete_policy(&p.arn).await.unwrap();
    one_change(s, &mut at, &[(Policy, &p.id)]).await;

    let ip = profile(&iam, "fedp").await;
    one_change(s, &mut at, &[(InstanceProfile, &ip.arn)]).await;
    iam.add_role_to_instance_profile("fedp", "fed")
        .await
        .unwrap();
    one_change(s, &mut at, &[(InstanceProfile, &ip.arn)]).await;
    iam.tag_instance_profile("fedp", tag.clone()).await.unwrap();
    one_change(s, &mut at, &[(InstanceProfile, &ip.arn)]).await;
    let other = profile(&iam, "fedq").await;
    one_change(s, &mut at, &[(InstanceProfile, &other.arn)]).await;

    let r1 = launched_with(&ec2, "fedp").await;
    let (i, a) = (&r1.instances[0].id, &r1.associations[0].id);
    one_change(s, &mut at, &[(Instance, i), (Association, a)]).await;
    let b = ec2
        .replace_iam_instance_profile_association(a, Some("fedq"), None)
        .await
        .unwrap();
    one_change(
        s,
        &mut at,
        &[(Instance, i), (Association, a), (Association, &b.id)],
    )
    .await;
    ec2.disassociate_iam_instance_profile(&b.id).await.unwrap();
    one_change(s, &mut at, &[(Instance, i), (Association, &b.id)]).await;
    let c = ec2
        .associate_iam_instance_profile(i, Some("fedp"), None)
        .await
        .unwrap();
    one_change(s, &mut at, &[(Instance, i), (Association, &c.id)]).await;
    ec2.stop_instances(std::slice::from_ref(i)).await.unwrap();
    one_change(s, &mut at, &[(Instance, i)]).await;
    ec2.terminate_instances(std::slice::from_ref(i))
        .await
        .unwrap();
    one_change(s, &mut at, &[(Instance, i)]).await;

    iam.remove_role_from_instance_profile("fedp", "fed")
        .await
        .unwrap();
    one_change(s, &mut at, &[(InstanceProfile, &ip.arn)]).await;
    iam.delete_instance_profile("fedp").await.unwrap();
    one_change(s, &mut at, &[(InstanceProfile, &ip.arn)]).await;
    iam.delete_role("fed").await.unwrap();
    one_change(s, &mut at, &[(Role, &r.id)]).await;

    let u = iam
        .create_user("feduser", None, None, vec![])
        .await
        .unwrap();
    one_change(s, &mut at, &[(User, &u.id)]).await;
    let ring = ring();
    let (k, _) = iam.create_access_key(&ring, "feduser").await.unwrap();
    one_change(s, &mut at, &[(AccessKey, &k.id)]).await;
    iam.update_access_key("feduser", &k.id, "Inactive")
        .await
        .unwrap();
    one_change(s, &mut at, &[(AccessKey, &k.id)]).await;
    iam.delete_access_key("feduser", &k.id).await.unwrap();
    one_change(s, &mut at, &[(AccessKey, &k.id)]).await;
    let g = iam.create_group("fedgroup", None).await.unwrap();
    one_change(s, &mut at, &[(Group, &g.id)]).await;
    iam.add_user_to_group("fedgroup", "feduser").await.unwrap();
    one_change(s, &mut at, &[(Group, &g.id), (User, &u.id)]).await;
    // A user's or group's inline policy counts as the user or group.
    for (kind, name, entity) in [
        (OwnerKind::User, "feduser", (User, u.id.as_str())),
        (OwnerKind::Group, "fedgroup", (Group, g.id.as_str())),
    ] {
        iam.put_owner_policy(kind, name, "inline", POLICY)
            .await
            .unwrap();
        one_change(s, &mut at, &[entity]).await;
        iam.delete_owner_policy(kind, name, "inline").await.unwrap();
        one_change(s, &mut at, &[entity]).await;
    }
    iam.remove_user_from_group("fedgroup", "feduser")
        .await
        .unwrap();
    one_change(s, &mut at, &[(Group, &g.id), (User, &u.id)]).await;
    iam.delete_group("fedgroup").await.unwrap();
    one_change(s, &mut at, &[(Group, &g.id)]).await;
    iam.delete_user("feduser").await.unwrap();
    one_change(s, &mut at, &[(User, &u.id)]).await;

    // Metadata is not an entity of the feed.
    store.set_meta("fed", "x").await.unwrap();
    assert_eq!(store.latest_change().await.unwrap(), at);
}

/// A write that fails (its transaction rolled back) records nothing.
pub async fn failed_writes_record_nothing(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    iam.create_role(role("kept")).await.unwrap();
    iam.put_role_policy("kept", "inline", POLICY).await.unwrap();
    profile(&iam, "kp").await;
    iam.add_role_to_instance_profile("kp", "kept")
        .await
        .unwrap();
    let inst = launched(&ec2, launch()).await;
    ec2.associate_iam_instance_profile(&inst.id, Some("kp"), None)
        .await
        .unwrap();
    let before = store.latest_change().await.unwrap();
    iam.create_role(role("KEPT")).await.unwrap_err();
    iam.delete_role("kept").await.unwrap_err();
    iam.delete_instance_profile("kp").await.unwrap_err();
    iam.create_role(role("other")).await.unwrap();
    let after_one = store.latest_change().await.unwrap();
    assert_eq!(after_one, before + 1);
    iam.add_role_to_instance_profile("kp", "other")
        .await
        .unwrap_err();
    ec2.associate_iam_instance_profile(&inst.id, Some("kp"), None)
        .await
        .unwrap_err();
    iam.remove_role_from_instance_profile("kp", "other")
        .await
        .unwrap_err();
    iam.tag_role("nobody", vec![]).await.unwrap_err();
    assert_eq!(store.latest_change().await.unwrap(), after_one);
    match store.changes_since(before, 100).await.unwrap() {
        ChangesSince::Changes { changes, latest } => {
            assert_eq!(latest, after_one);
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, EntityKind::Role);
        }
        p => panic!("{p:?}"),
    }
}

/// Writers commit concurrently while a reader follows the feed a few sequences at a time: the
/// reader sees every sequence once, in order, with no gap, and every write's entity.
pub async fn feed_readers_skip_nothing_under_concurrency(store: DynStore) {
    let iam = iam(&store);
    let start = store.latest_change().await.unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut at = start;
            let mut seen = Vec::new();
            let mut seqs = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                match store.changes_since(at, 3).await.unwrap() {
                    ChangesSince::Changes { changes, latest } => {
                        for c in &changes {
                            assert!(
                                c.seq > at && c.seq <= latest,
                                "{c:?} outside ({at}, {latest}]"
                            );
                            if seqs.last() != Some(&c.seq) {
                                seqs.push(c.seq);
                            }
                            seen.push(c.id.clone());
                        }
                        at = latest;
                        if finished && latest == store.latest_change().await.unwrap() {
                            return (seen, seqs);
                        }
                    }
                    p => panic!("{p:?}"),
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let tasks = (0..40).map(|i| {
        let iam = iam.clone();
        async move { iam.create_role(role(&format!("conc{i}"))).await.unwrap() }
    });
    let roles = join_all(tasks).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, seqs) = reader.await.unwrap();
    let expected: Vec<i64> = (start + 1..=start + 40).collect();
    assert_eq!(seqs, expected, "sequences skipped or out of order");
    let seen: HashSet<String> = seen.into_iter().collect();
    for r in roles {
        assert!(seen.contains(&r.id), "{} never seen", r.name);
    }
}

/// A consumer behind a pruned part of the feed is told to reload; one within it is not.
pub async fn pruned_feed_says_reload(store: DynStore) {
    let iam = iam(&store);
    let start = store.latest_change().await.unwrap();
    for i in 0..10 {
        iam.create_role(role(&format!("pr{i}"))).await.unwrap();
    }
    let latest = store.latest_change().await.unwrap();
    assert_eq!(latest, start + 10);
    assert_eq!(store.prune_changes(3).await.unwrap(), latest - 3);
    assert_eq!(
        store.changes_since(start, 100).await.unwrap(),
        ChangesSince::Pruned { latest }
    );
    assert_eq!(
        store.changes_since(latest - 4, 100).await.unwrap(),
        ChangesSince::Pruned { latest }
    );
    match store.changes_since(latest - 3, 100).await.unwrap() {
        ChangesSince::Changes { changes, latest: l } => {
            assert_eq!(l, latest);
            assert_eq!(changes.len(), 3);
        }
        p => panic!("{p:?}"),
    }
    // Pruning keeps at least what it is asked to keep; a consumer ahead of the feed reloads too.
    assert_eq!(store.prune_changes(5).await.unwrap(), latest - 3);
    assert!(matches!(
        store.changes_since(latest + 1, 100).await.unwrap(),
        ChangesSince::Pruned { .. }
    ));
    // A limit reads that many sequences at most.
    match store.changes_since(latest - 3, 2).await.unwrap() {
        ChangesSince::Changes { changes, latest: l } => {
            assert_eq!(l, latest - 1);
            assert_eq!(changes.len(), 2);
        }
        p => panic!("{p:?}"),
    }
}

// ----- DescribeInstances / DescribeIamInstanceProfileAssociations in the database -----

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// A Describe* request for `ids` (none: all) with `filters`, in one page.
fn asked(ids: &[String], filters: &[Filter]) -> DescribeRequest {
    DescribeRequest {
        ids: ids.to_vec(),
        filters: filters.to_vec(),
        ..Default::default()
    }
}

/// What a filter selects, computed in Rust from the instance and its association (the reference
/// the database's answer is compared with).
fn reference_match(f: &Filter, i: &Instance, a: Option<&Association>) -> bool {
    let code = i.state.code().to_string();
    let values: Vec<&str> = match f.name.as_str() {
        "instance-id" => vec![&i.id],
        "instance-state-name" => vec![i.state.name()],
        "instance-state-code" => vec![&code],
        "iam-instance-profile.arn" => a.map(|a| a.profile_arn.as_str()).into_iter().collect(),
        "iam-instance-profile.id" => a.map(|a| a.profile_id.as_str()).into_iter().collect(),
        "tag-key" => i.tags.iter().map(|t| t.key.as_str()).collect(),
        "instance-type" => vec![&i.instance_type],
        "image-id" => vec![&i.image_id],
        "key-name" => i.key_name.as_deref().into_iter().collect(),
        "private-ip-address" => vec![&i.private_ip],
        "reservation-id" => vec![&i.reservation_id],
        "availability-zone" => vec![&i.availability_zone],
        "metadata-options.http-tokens" => vec![&i.metadata_options.http_tokens],
        "metadata-options.http-endpoint" => vec![&i.metadata_options.http_endpoint],
        name => {
            let key = name.strip_prefix("tag:").unwrap();
            i.tags
                .iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.as_str())
                .collect()
        }
    };
    f.values
        .iter()
        .any(|p| values.iter().any(|v| wildcard_match(p, v)))
}

/// Every page of DescribeInstances with `filters`, `per_page` at a time, concatenated: the ids,
/// and whether each has an association. Each page is read parsed and as the unparsed documents
/// (`describe_instance_docs`), which must agree.
async fn all_pages(ec2: &Ec2, filters: &[Filter], per_page: i64) -> Vec<(String, bool)> {
    let (mut out, mut token) = (vec![], None::<String>);
    loop {
        let req = DescribeRequest {
            paging: Paging {
                max_results: Some(per_page),
                next_token: token.clone(),
            },
            ..asked(&[], filters)
        };
        let (rows, next) = ec2.describe_instances(&req).await.unwrap();
        let (docs, doc_next) = ec2.describe_instance_docs(&req).await.unwrap();
        assert!(rows.len() <= per_page as usize);
        assert_eq!(next, doc_next);
        let page: Vec<(String, bool)> =
            rows.into_iter().map(|(i, a)| (i.id, a.is_some())).collect();
        for d in &docs {
            assert!(d.instance.contains(&format!("\"{}\"", d.id)), "{d:?}");
        }
        let doc_page: Vec<(String, bool)> = docs
            .into_iter()
            .map(|d| (d.id, !d.association.is_empty()))
            .collect();
        assert_eq!(page, doc_page);
        out.extend(page);
        match next {
            Some(k) => token = Some(rolecall_core::paging::encode_token(&k)),
            None => return out,
        }
    }
}

/// The database's filtering and keyset paging select exactly what the filters mean (as computed
/// in Rust over every instance), for every filter kind, exact values and wildcards.
pub async fn describe_instances_filters_in_the_database(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    let web = profile(&iam, "web").await;
    profile(&iam, "db").await;
    let mut ids = vec![];
    for n in 0..23 {
        let mut l = launch();
        l.instance_type = Some(if n % 3 == 0 { "m5.large" } else { "t3.micro" }.into());
        l.key_name = (n % 4 == 0).then(|| "ops_key%".to_string());
        l.tags = vec![Tag {
            key: "Name".into(),
            value: format!("node-{n}"),
        }];
        if n % 2 == 0 {
            l.tags.push(Tag {
                key: "env[x]".into(),
                value: if n % 4 == 0 { "prod" } else { "Prod" }.into(),
            });
        }
        if n % 5 != 4 {
            l.profile_name = Some(if n % 5 < 2 { "web" } else { "db" }.into());
        }
        let inst = launched(&ec2, l).await;
        ids.push(inst.id);
    }
    ec2.stop_instances(&ids[..4]).await.unwrap();
    ec2.terminate_instances(&ids[4..6]).await.unwrap();
    let cases: Vec<Vec<Filter>> = vec![
        vec![],
        vec![filter("instance-state-name", &["running"])],
        vec![filter("instance-state-name", &["stopped", "terminated"])],
        vec![filter("instance-state-code", &["8?"])],
        vec![filter(
            "instance-id",
            &[&ids[3], &ids[7], "i-0000000000000000f"],
        )],
        vec![filter("iam-instance-profile.arn", &[&web.arn])],
        vec![filter(
            "iam-instance-profile.arn",
            &["*instance-profile/d*"],
        )],
        vec![filter("iam-instance-profile.id", &[&web.id])],
        vec![filter("tag-key", &["env[x]"])],
        vec![filter("tag-key", &["env*"])],
        vec![filter("tag:env[x]", &["prod"])],
        vec![filter("tag:env[x]", &["P*"])],
        vec![filter("tag:Name", &["node-1?", "node-2"])],
        vec![filter("instance-type", &["m5.*"])],
        vec![filter("key-name", &["ops_key%"])],
        vec![filter("key-name", &["ops?key*"])],
        vec![filter("key-name", &["opsXkey%"])],
        vec![filter("metadata-options.http-tokens", &["optional"])],
        vec![filter("image-id", &[])],
        vec![
            filter("instance-state-name", &["running"]),
            filter("tag:Name", &["node-*"]),
            filter("iam-instance-profile.arn", &[&web.arn]),
        ],
    ];
    let everything = store.query_instances(&[], &[], &ALL).await.unwrap();
    assert_eq!(everything.len(), ids.len());
    for filters in &cases {
        let want: Vec<String> = everything
            .iter()
            .filter(|(i, a)| filters.iter().all(|f| reference_match(f, i, a.as_ref())))
            .map(|(i, _)| i.id.clone())
            .collect();
        let one_page = ec2.describe_instances(&asked(&[], filters)).await.unwrap();
        assert_eq!(one_page.1, None);
        let got: Vec<String> = one_page.0.iter().map(|(i, _)| i.id.clone()).collect();
        assert_eq!(got, want, "{filters:?}");
        let want_pages: Vec<(String, bool)> = one_page
            .0
            .iter()
            .map(|(i, a)| (i.id.clone(), a.is_some()))
            .collect();
        assert_eq!(
            all_pages(&ec2, filters, 5).await,
            want_pages,
            "{filters:?} in pages"
        );
    }
    // Some cases select something and some nothing, so the comparison above is not vacuous.
    let web_ids = ec2
        .describe_instances(&asked(&[], &cases[5]))
        .await
        .unwrap()
        .0;
    assert!(
        !web_ids.is_empty()
            && web_ids
                .iter()
                .all(|(_, a)| a.as_ref().unwrap().profile_arn == web.arn)
    );
    // By id: the ids' instances, filtered; an unknown id is NotFound before any filtering.
    let (rows, _) = ec2
        .describe_instances(&asked(
            &ids[..6],
            &[filter("instance-state-name", &["stopped"])],
        ))
        .await
        .unwrap();
    let got: Vec<&str> = rows.iter().map(|(i, _)| i.id.as_str()).collect();
    let mut want: Vec<&str> = ids[..4].iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
    let missing = ec2
        .describe_instances(&asked(
            &[ids[0].clone(), "i-0000000000000000f".into()],
            &[filter("instance-state-name", &["nothing"])],
        ))
        .await;
    let not_found = Error::InvalidInstanceIdNotFound(vec!["i-0000000000000000f".into()]);
    assert_eq!(missing.err(), Some(not_found));
}

/// DescribeIamInstanceProfileAssociations: filters, ended associations only when asked for, and
/// paging, as computed in Rust over every association.
pub async fn describe_associations_filters_in_the_database(store: DynStore) {
    let (iam, ec2) = (iam(&store), ec2(&store));
    profile(&iam, "a").await;
    profile(&iam, "b").await;
    let mut instances = vec![];
    for _ in 0..8 {
        let mut l = launch();
        l.profile_name = Some("a".into());
        let r = ec2.run_instances(l).await.unwrap();
        instances.push((r.instances[0].id.clone(), r.associations[0].id.clone()));
    }
    for (_, assoc) in &instances[..3] {
        ec2.replace_iam_instance_profile_association(assoc, Some("b"), None)
            .await
            .unwrap();
    }
    ec2.disassociate_iam_instance_profile(&instances[3].1)
        .await
        .unwrap();
    let all = store.list_associations(&[], &ALL).await.unwrap();
    assert_eq!(all.len(), 11);
    let cases: Vec<(Vec<Filter>, bool)> = vec![
        (vec![], false),
        (vec![filter("state", &["disassociated"])], true),
        (
            vec![filter("state", &["associated", "disassociated"])],
            true,
        ),
        (vec![filter("instance-id", &[&instances[0].0])], false),
        (
            vec![filter("instance-id", &["i-*"]), filter("state", &["*"])],
            true,
        ),
    ];
    for (filters, ended) in &cases {
        let want: Vec<String> = all
            .iter()
            .filter(|a| *ended || a.state.is_active())
            .filter(|a| {
                filters.iter().all(|f| {
                    let v = if f.name == "state" {
                        a.state.name()
                    } else {
                        a.instance_id.as_str()
                    };
                    f.values.iter().any(|p| wildcard_match(p, v))
                })
            })
            .map(|a| a.id.clone())
            .collect();
        assert!(!want.is_empty(), "{filters:?}");
        let (mut got, mut token) = (vec![], None::<String>);
        loop {
            let req = DescribeRequest {
                paging: Paging {
                    max_results: Some(5),
                    next_token: token.clone(),
                },
                ..asked(&[], filters)
            };
            let (rows, next) = ec2
                .describe_iam_instance_profile_associations(&req)
                .await
                .unwrap();
            got.extend(rows.into_iter().map(|a| a.id));
            match next {
                Some(k) => token = Some(rolecall_core::paging::encode_token(&k)),
                None => break,
            }
        }
        assert_eq!(got, want, "{filters:?}");
    }
    // By id, an ended association is shown; an unknown one is NotFound.
    let (rows, _) = ec2
        .describe_iam_instance_profile_associations(&asked(&[instances[3].1.clone()], &[]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].state.is_active());
    let missing = ec2
        .describe_iam_instance_profile_associations(&asked(
            &["iip-assoc-0000000000000000f".into()],
            &[],
        ))
        .await;
    assert_eq!(
        missing.err(),
        Some(Error::InvalidAssociationIdNotFound(
            "iip-assoc-0000000000000000f".into()
        ))
    );
}

fn audit_event(
    id: &str,
    millis: i64,
    name: &str,
    user: &str,
    resource: Option<&str>,
) -> AuditEvent {
    AuditEvent {
        event_id: id.into(),
        event_time: chrono::DateTime::from_timestamp_millis(millis).unwrap(),
        event_name: name.to_string().into(),
        event_source: "iam.amazonaws.com".into(),
        username: Some(user.into()),
        access_key_id: Some(format!("AKIA{user}").into()),
        read_only: name.starts_with("Get"),
        resources: resource
            .map(|r| AuditResource {
                resource_type: "AWS::IAM::Role".into(),
                name: r.into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:role/{r}"),
            })
            .into_iter()
            .collect(),
        // One context per user, as the API makes them (a segment stores each once).
        context: Some(
            serde_json::json!({"userIdentity": {"type": "IAMUser", "userName": user}})
                .to_string()
                .into(),
        ),
        detail: serde_json::json!({"requestID": format!("req-{id}")}).to_string(),
    }
}

/// A write's event is recorded by the write's own commit (so a rolled-back or refused write
/// records none), and can then be completed.
pub async fn audit_event_rides_with_its_write(store: DynStore) {
    let iam = iam(&store);
    let event = audit_event("e-write", 1_000, "CreateRole", "alice", Some("rode"));
    let (made, outcome) = with_pending(event, iam.create_role(role("rode"))).await;
    made.unwrap();
    assert!(matches!(outcome, Outcome::Recorded(ref e) if e.event_id == "e-write"));
    let by_id = lookup(Some((LookupKey::EventId, "e-write")), 10);
    let got = store.lookup_audit_events(&by_id).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].resources[0].name, "rode");

    // The same role again fails: nothing commits, the event stays with the caller.
    let again = audit_event("e-again", 2_000, "CreateRole", "alice", Some("rode"));
    let (failed, outcome) = with_pending(again, iam.create_role(role("rode"))).await;
    assert!(failed.is_err());
    assert!(matches!(outcome, Outcome::NotRecorded(ref e) if e.event_id == "e-again"));
    let q = AuditQuery {
        filter: Some((LookupKey::EventId, "e-again".into())),
        ..by_id.clone()
    };
    assert!(store.lookup_audit_events(&q).await.unwrap().is_empty());

    let done = serde_json::json!({"requestID": "req-e-write", "responseElements": {"role": {}}});
    let at = chrono::DateTime::from_timestamp_millis(1_000).unwrap();
    store
        .complete_audit_event(at, "e-write", &done.to_string())
        .await
        .unwrap();
    let got = store.lookup_audit_events(&by_id).await.unwrap();
    assert_eq!(got[0].detail, done.to_string());
    // The record: the context's, the columns' and the detail's fields.
    let record: serde_json::Value = serde_json::from_str(&got[0].record()).unwrap();
    assert_eq!(record["userIdentity"]["userName"], "alice");
    assert_eq!(record["eventID"], "e-write");
    assert_eq!(record["eventName"], "CreateRole");
    assert_eq!(record["eventTime"], "1970-01-01T00:00:01Z");
    assert_eq!(record["responseElements"], serde_json::json!({"role": {}}));
    assert_eq!(
        record["resources"][0]["ARN"],
        format!("arn:aws:iam::{ACCOUNT}:role/rode")
    );
    assert_eq!(record["resources"][0]["accountId"], ACCOUNT);
}

pub async fn audit_lookups_filter_page_tail_and_prune(store: DynStore) {
    let events = vec![
        audit_event("a", 1_000, "CreateRole", "alice", Some("r1")),
        audit_event("b", 2_000, "GetRole", "bob", Some("r1")),
        audit_event("c", 3_000, "GetRole", "alice", None),
        audit_event("d", 3_000, "DeleteRole", "alice", Some("r2")),
        audit_event("e", 5_000, "GetRole", "carol", None),
    ];
    store.append_audit_events(&events).await.unwrap();
    let ids = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
    let q = |filter| lookup(filter, 10);
    let all = store.lookup_audit_events(&q(None)).await.unwrap();
    assert_eq!(
        ids(all),
        ["e", "d", "c", "b", "a"],
        "newest first, ties by id"
    );
    let cases: [(LookupKey, &str, &[&str]); 10] = [
        (LookupKey::ReadOnly, "TRUE", &["e", "c", "b"]),
        (LookupKey::EventId, "c", &["c"]),
        (LookupKey::Username, "nobody", &[]),
        (LookupKey::Username, "alice", &["d", "c", "a"]),
        (LookupKey::EventName, "GetRole", &["e", "c", "b"]),
        (LookupKey::ResourceName, "r1", &["b", "a"]),
        (
            LookupKey::ResourceName,
            &format!("arn:aws:iam::{ACCOUNT}:role/r2"),
            &["d"],
        ),
        (LookupKey::ResourceType, "AWS::IAM::Role", &["d", "b", "a"]),
        (LookupKey::AccessKeyId, "AKIAbob", &["b"]),
        (LookupKey::ReadOnly, "false", &["d", "a"]),
    ];
    for (k, v, want) in cases {
        let got = store.lookup_audit_events(&q(Some((k, v)))).await.unwrap();
        assert_eq!(ids(got), want, "{k:?}={v}");
    }
    // Pages: up to limit + 1, then strictly before the last one returned.
    let first = AuditQuery {
        limit: 2,
        ..q(None)
    };
    let page = store.lookup_audit_events(&first).await.unwrap();
    assert_eq!(ids(page), ["e", "d", "c"]);
    let next = AuditQuery {
        before: Some((3_000, "d".into())),
        ..first.clone()
    };
    assert_eq!(
        ids(store.lookup_audit_events(&next).await.unwrap()),
        ["c", "b", "a"]
    );
    let window = AuditQuery {
        start: chrono::DateTime::from_timestamp_millis(2_000),
        end: chrono::DateTime::from_timestamp_millis(3_000),
        ..q(None)
    };
    assert_eq!(
        ids(store.lookup_audit_events(&window).await.unwrap()),
        ["d", "c", "b"]
    );
    // The tail: oldest first after a position.
    let tail = AuditTail {
        after: Some((2_000, "b".into())),
        since: None,
        limit: 2,
    };
    assert_eq!(
        ids(store.tail_audit_events(&tail).await.unwrap()),
        ["c", "d"]
    );
    // Retention: older than the cut, in batches.
    let cut = chrono::DateTime::from_timestamp_millis(3_500).unwrap();
    assert_eq!(store.prune_audit_events(cut, 2).await.unwrap(), 2);
    assert_eq!(store.prune_audit_events(cut, 10).await.unwrap(), 2);
    assert_eq!(
        ids(store.lookup_audit_events(&q(None)).await.unwrap()),
        ["e"]
    );
    let by_resource = q(Some((LookupKey::ResourceName, "r1")));
    assert!(
        store
            .lookup_audit_events(&by_resource)
            .await
            .unwrap()
            .is_empty()
    );
    // An id carrying its event time is found through the log's own key (no lookup row).
    let at = chrono::DateTime::from_timestamp_millis(4_000).unwrap();
    let timed = AuditEvent {
        event_id: rolecall_core::audit::new_event_id(at),
        event_source: "sts.amazonaws.com".into(),
        ..audit_event("f", 4_000, "AssumeRole", "dave", Some("r3"))
    };
    store
        .append_audit_events(std::slice::from_ref(&timed))
        .await
        .unwrap();
    let timed_id = timed.event_id.as_str();
    for (k, v) in [
        (LookupKey::EventId, timed_id),
        (LookupKey::EventSource, "sts.amazonaws.com"),
        (LookupKey::ResourceName, "r3"),
    ] {
        let got = store.lookup_audit_events(&q(Some((k, v)))).await.unwrap();
        assert_eq!(got, std::slice::from_ref(&timed), "{k:?}={v}");
    }
    let cut = chrono::DateTime::from_timestamp_millis(4_001).unwrap();
    assert_eq!(store.prune_audit_events(cut, 10).await.unwrap(), 1);
    assert!(
        store
            .lookup_audit_events(&q(Some((LookupKey::EventId, timed_id))))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Many events appended in one batch (stored together, see the SQL store's segments) and one
/// appended alone amid them: pages, filters, time ranges, the tail and retention cut through
/// the batch and still see every event once, in order.
pub async fn audit_pages_cut_through_batches(store: DynStore) {
    let event = |i: i64, millis: i64| {
        let at = chrono::DateTime::from_timestamp_millis(millis).unwrap();
        AuditEvent {
            event_id: rolecall_core::audit::new_event_id(at),
            event_name: if i % 7 == 0 { "GetUser" } else { "GetRole" }.into(),
            ..audit_event(
                "",
                millis,
                "",
                if i % 3 == 0 { "alice" } else { "bob" },
                None,
            )
        }
    };
    let batch: Vec<AuditEvent> = (0..700).map(|i| event(i, 100_000 + i * 10)).collect();
    store.append_audit_events(&batch).await.unwrap();
    let alone = event(1, 100_005);
    store
        .append_audit_events(std::slice::from_ref(&alone))
        .await
        .unwrap();
    let mut all: Vec<AuditEvent> = batch.iter().chain([&alone]).cloned().collect();
    all.sort_by(|a, b| (b.event_time, &b.event_id).cmp(&(a.event_time, &a.event_id)));
    let ids = |v: &[AuditEvent]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
    // Every page of up to 50, each token the last event returned.
    let pages = |query: AuditQuery| {
        let store = store.clone();
        async move {
            let mut got = Vec::new();
            let mut q = query;
            loop {
                let mut page = store.lookup_audit_events(&q).await.unwrap();
                let more = page.len() > q.limit;
                page.truncate(q.limit);
                got.extend(page);
                if !more {
                    return got;
                }
                let last = got.last().unwrap();
                q.before = Some((last.event_time.timestamp_millis(), last.event_id.clone()));
            }
        }
    };
    let q = |filter| lookup(filter, 50);
    assert_eq!(ids(&pages(q(None)).await), ids(&all));
    let alice: Vec<AuditEvent> = all
        .iter()
        .filter(|e| e.username.as_deref() == Some("alice"))
        .cloned()
        .collect();
    let by_alice = pages(q(Some((LookupKey::Username, "alice")))).await;
    assert_eq!(ids(&by_alice), ids(&alice));
    let get_user = pages(q(Some((LookupKey::EventName, "GetUser")))).await;
    assert_eq!(get_user.len(), 100);
    assert!(get_user.iter().all(|e| e.event_name == "GetUser"));
    let one = pages(q(Some((LookupKey::EventId, &alone.event_id)))).await;
    assert_eq!(one, std::slice::from_ref(&alone));
    // A time range that starts and ends inside stored batches.
    let (from, to) = (100_000 + 250 * 10 + 5, 100_000 + 530 * 10);
    let window = AuditQuery {
        start: chrono::DateTime::from_timestamp_millis(from),
        end: chrono::DateTime::from_timestamp_millis(to),
        ..q(Some((LookupKey::Username, "bob")))
    };
    let in_window: Vec<AuditEvent> = all
        .iter()
        .filter(|e| {
            let t = e.event_time.timestamp_millis();
            (from..=to).contains(&t) && e.username.as_deref() == Some("bob")
        })
        .cloned()
        .collect();
    assert_eq!(ids(&pages(window).await), ids(&in_window));
    // The tail from a position inside the batch.
    let oldest_first: Vec<AuditEvent> = all.iter().rev().cloned().collect();
    let from = &oldest_first[300];
    let tail = AuditTail {
        after: Some((from.event_time.timestamp_millis(), from.event_id.clone())),
        since: None,
        limit: 30,
    };
    assert_eq!(
        ids(&store.tail_audit_events(&tail).await.unwrap()),
        ids(&oldest_first[301..331])
    );
    // Retention cuts the batch: the older part goes, the rest is still found by every key.
    let cut = chrono::DateTime::from_timestamp_millis(100_000 + 300 * 10).unwrap();
    assert_eq!(store.prune_audit_events(cut, 100).await.unwrap(), 100);
    assert_eq!(store.prune_audit_events(cut, 1_000).await.unwrap(), 201);
    assert_eq!(store.prune_audit_events(cut, 1_000).await.unwrap(), 0);
    let kept: Vec<AuditEvent> = all
        .iter()
        .filter(|e| e.event_time >= cut)
        .cloned()
        .collect();
    assert_eq!(ids(&pages(q(None)).await), ids(&kept));
    let kept_get_user = kept.iter().filter(|e| e.event_name == "GetUser").count();
    assert_eq!(
        pages(q(Some((LookupKey::EventName, "GetUser"))))
            .await
            .len(),
        kept_get_user
    );
    assert!(
        pages(q(Some((LookupKey::EventId, &alone.event_id))))
            .await
            .is_empty()
    );
}
