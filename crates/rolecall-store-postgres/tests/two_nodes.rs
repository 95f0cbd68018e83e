//! The conformance suite's concurrency scenarios through two separate `PostgresStore` pools on one
//! database, as two API nodes would run them: exactly one writer wins each race, the others get
//! AWS's error, and the losers leave no rows behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use rolecall_core::ec2::{Ec2, Ec2Config, RunInstances};
use rolecall_core::ec2_errors::AssociationConflict;
use rolecall_core::iam::Iam;
use rolecall_core::{DynStore, Error, Existing, Limit, Named};
use rolecall_store_postgres::PostgresStore;
use rolecall_store_tests::{launch, managed_policy, role, winners};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;

const ACCOUNT: &str = "123456789012";
const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// Two nodes (separate pools) on one fresh database, and a third pool for checking rows.
struct Cluster {
    nodes: [DynStore; 2],
    check: PgPool,
}

async fn cluster() -> Cluster {
    let opts = common::fresh_database().await;
    // Both nodes start at once: migrations must be applied exactly once (advisory lock).
    let (a, b) = tokio::join!(
        PostgresStore::connect_with(opts.clone(), 6),
        PostgresStore::connect_with(opts.clone(), 6)
    );
    let check = PgPool::connect_with(opts).await.expect("check pool");
    Cluster {
        nodes: [
            Arc::new(a.expect("node a")) as DynStore,
            Arc::new(b.expect("node b")) as DynStore,
        ],
        check,
    }
}

impl Cluster {
    fn iam(&self, node: usize) -> Iam {
        Iam::new(self.nodes[node % 2].clone(), ACCOUNT)
    }

    fn ec2(&self, node: usize) -> Ec2 {
        Ec2::new(
            self.nodes[node % 2].clone(),
            self.iam(node),
            Ec2Config {
                region: "us-east-1".into(),
                instance_cidr: "10.9.0.0/24".parse().unwrap(),
                strict_ids: false,
            },
        )
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.check)
            .await
            .expect(sql)
    }
}

/// Runs `n` tasks at once (task i on node i % 2) and returns their results in order.
async fn race<T, F, Fut>(n: usize, f: F) -> Vec<rolecall_core::Result<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = rolecall_core::Result<T>> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

fn wins<T>(results: &[rolecall_core::Result<T>]) -> usize {
    results.iter().filter(|r| r.is_ok()).count()
}

/// Each scenario as a test on a cluster of its own; ignored by a plain `cargo test` (they need
/// PostgreSQL).
macro_rules! two_node_tests {
    ($($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[ignore = "needs PostgreSQL: scripts/with-postgres.sh cargo test -p rolecall-store-postgres -- --include-ignored"]
        async fn $scenario() {
            scenarios::$scenario(&cluster().await).await;
        }
    )*};
}

two_node_tests!(
    same_role_created_on_both_nodes,
    same_instance_associated_on_both_nodes,
    association_replaced_on_both_nodes_then_terminated,
    policy_versions_on_both_nodes,
    one_role_per_profile_on_both_nodes,
    access_keys_on_both_nodes,
    meta_and_tags_on_both_nodes,
    private_ips_unique_across_nodes,
);

mod scenarios {
    use super::*;

    pub async fn same_role_created_on_both_nodes(c: &Cluster) {
        for round in 0..5 {
            let results = race(8, |i| {
                let iam = c.iam(i);
                let name = if i % 2 == 0 {
                    format!("Twin{round}")
                } else {
                    format!("twin{round}")
                };
                async move { iam.create_role(role(&name)).await }
            })
            .await;
            let twin = format!("twin{round}");
            winners(&results, 1, |e| match e {
                Error::EntityAlreadyExists(Existing {
                    kind: Named::Role,
                    name: n,
                }) => n.eq_ignore_ascii_case(&twin),
                _ => false,
            });
        }
        assert_eq!(c.count("SELECT COUNT(*) FROM roles").await, 5);
    }

    pub async fn same_instance_associated_on_both_nodes(c: &Cluster) {
        for i in 0..6 {
            c.iam(0)
                .create_instance_profile(&format!("p{i}"), None, vec![])
                .await
                .unwrap();
        }
        for round in 0..3 {
            let inst = c
                .ec2(round)
                .run_instances(launch())
                .await
                .unwrap()
                .instances
                .remove(0);
            let results = race(6, |i| {
                let (ec2, id) = (c.ec2(i), inst.id.clone());
                async move {
                    ec2.associate_iam_instance_profile(&id, Some(&format!("p{i}")), None)
                        .await
                }
            })
            .await;
            let taken = Error::IncorrectState(AssociationConflict::ActiveExists(inst.id.clone()));
            winners(&results, 1, |e| *e == taken);
            // The losers wrote nothing: one association row for the instance, and it is active.
            for node in &c.nodes {
                assert_eq!(
                    node.active_associations(std::slice::from_ref(&inst.id))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            }
        }
        assert_eq!(c.count("SELECT COUNT(*) FROM associations").await, 3);
    }

    pub async fn association_replaced_on_both_nodes_then_terminated(c: &Cluster) {
        for name in ["a", "b"] {
            c.iam(0)
                .create_instance_profile(name, None, vec![])
                .await
                .unwrap();
        }
        let launched = c
            .ec2(0)
            .run_instances(RunInstances {
                profile_name: Some("a".into()),
                ..launch()
            })
            .await
            .unwrap();
        let (id, first) = (
            launched.instances[0].id.clone(),
            launched.associations[0].id.clone(),
        );
        let results = race(2, |i| {
            let (ec2, first) = (c.ec2(i), first.clone());
            async move {
                ec2.replace_iam_instance_profile_association(&first, Some("b"), None)
                    .await
            }
        })
        .await;
        let ended = Error::IncorrectState(AssociationConflict::NotActive(first.clone()));
        winners(&results, 1, |e| *e == ended);
        // The old association ended and exactly one new one: the loser inserted nothing.
        assert_eq!(c.count("SELECT COUNT(*) FROM associations").await, 2);
        let active = c.nodes[1]
            .active_associations(std::slice::from_ref(&id))
            .await
            .unwrap();
        assert_eq!(active.len(), 1);
        assert!(active[0].profile_arn.ends_with("/b"));
        // Terminate on one node while the other tries to disassociate the same association.
        let assoc = active[0].id.clone();
        let (ec2a, ec2b) = (c.ec2(0), c.ec2(1));
        let ids = vec![id.clone()];
        let (t, d) = tokio::join!(
            tokio::spawn(async move { ec2a.terminate_instances(&ids).await }),
            tokio::spawn(async move { ec2b.disassociate_iam_instance_profile(&assoc).await })
        );
        t.unwrap().unwrap();
        let _ = d.unwrap();
        assert!(
            c.nodes[0]
                .active_associations(&[id])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            c.count(
                "SELECT COUNT(*) FROM associations WHERE state IN ('associating', 'associated')"
            )
            .await,
            0
        );
    }

    pub async fn policy_versions_on_both_nodes(c: &Cluster) {
        let p = managed_policy(&c.iam(0), "versions").await;
        let results = race(10, |i| {
            let (iam, arn) = (c.iam(i), p.arn.clone());
            async move { iam.create_policy_version(&arn, POLICY, true).await }
        })
        .await;
        let full = Error::LimitExceeded(Limit::VersionsPerPolicy);
        winners(&results, 4, |e| *e == full);
        assert_eq!(c.count("SELECT COUNT(*) FROM policy_versions").await, 5);
        assert_eq!(
            c.count("SELECT COUNT(*) FROM policy_versions WHERE is_default")
                .await,
            1
        );
        // Version ids came from the locked counter: v1..v5, and the losers did not advance it.
        assert_eq!(
            c.count("SELECT COUNT(DISTINCT version_id) FROM policy_versions WHERE version_id IN ('v1','v2','v3','v4','v5')")
                .await,
            5
        );
        assert_eq!(c.count("SELECT next_version FROM policies").await, 6);
    }

    pub async fn one_role_per_profile_on_both_nodes(c: &Cluster) {
        c.iam(0)
            .create_instance_profile("one", None, vec![])
            .await
            .unwrap();
        for i in 0..6 {
            c.iam(i)
                .create_role(role(&format!("cand{i}")))
                .await
                .unwrap();
        }
        let results = race(6, |i| {
            let iam = c.iam(i);
            async move {
                iam.add_role_to_instance_profile("one", &format!("cand{i}"))
                    .await
            }
        })
        .await;
        let full = Error::LimitExceeded(Limit::RolesPerInstanceProfile);
        winners(&results, 1, |e| *e == full);
        assert_eq!(
            c.count("SELECT COUNT(*) FROM instance_profile_roles").await,
            1
        );
    }

    pub async fn access_keys_on_both_nodes(c: &Cluster) {
        c.iam(0)
            .create_user("keyed", None, None, vec![])
            .await
            .unwrap();
        let key = rolecall_crypto::MasterKey::new(1, &rolecall_crypto::MasterKey::generate_bytes())
            .unwrap();
        let ring = rolecall_crypto::KeyRing::new(vec![key]).unwrap();
        let results = race(6, |i| {
            let (iam, ring) = (c.iam(i), ring.clone());
            async move { iam.create_access_key(&ring, "keyed").await.map(drop) }
        })
        .await;
        let full = Error::LimitExceeded(Limit::AccessKeysPerUser);
        winners(&results, 2, |e| *e == full);
        assert_eq!(c.count("SELECT COUNT(*) FROM access_keys").await, 2);
    }

    pub async fn meta_and_tags_on_both_nodes(c: &Cluster) {
        let results = race(8, |i| {
            let store = c.nodes[i % 2].clone();
            async move { Ok(store.init_meta("account_id", &format!("value-{i}")).await?) }
        })
        .await;
        let values: std::collections::HashSet<String> =
            results.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(values.len(), 1, "every node sees the one stored value");

        c.iam(0).create_role(role("tagged")).await.unwrap();
        let results = race(20, |i| {
            let iam = c.iam(i);
            async move {
                iam.tag_role(
                    "tagged",
                    vec![rolecall_core::model::Tag {
                        key: format!("k{i}"),
                        value: "v".into(),
                    }],
                )
                .await
            }
        })
        .await;
        assert_eq!(wins(&results), 20, "{results:?}");
        assert_eq!(c.iam(1).get_role("tagged").await.unwrap().tags.len(), 20);
    }

    pub async fn private_ips_unique_across_nodes(c: &Cluster) {
        let results = race(10, |i| {
            let ec2 = c.ec2(i);
            async move {
                ec2.run_instances(RunInstances {
                    max_count: 3,
                    ..launch()
                })
                .await
            }
        })
        .await;
        let mut ips = std::collections::HashSet::new();
        for r in results {
            for i in r
                .expect("every launch succeeds (after re-allocating)")
                .instances
            {
                assert!(ips.insert(i.private_ip), "address handed out twice");
            }
        }
        assert_eq!(ips.len(), 30);
        assert_eq!(c.count("SELECT COUNT(*) FROM instances").await, 30);
        assert_eq!(
            c.count("SELECT COUNT(DISTINCT private_ip) FROM instances WHERE state <> 'terminated'")
                .await,
            30
        );
    }
}
