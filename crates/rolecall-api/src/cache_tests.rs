//! The policy cache follows the change feed per principal: a change drops the entries of what it
//! touched and leaves the others (counted, not timed).

use crate::authz::{RequestFacts, authorize};
use crate::context::Api;
use crate::generated::Operation;
use crate::principal::Principal;
use crate::units::testing;
use rolecall_core::Principals;
use rolecall_wire::Params;

const ALLOW_GET_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}"#;
const DENY_GET_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:GetRole","Resource":"*"}]}"#;

async fn write(api: &Api, op: Operation, params: &[(&str, &str)]) {
    let result = testing::call(api, op, params).await.expect("a unit");
    assert!(result.is_ok(), "{op:?}: {:?}", result.err());
    // What the server does after every successful write.
    crate::changes::publish(api).await;
}

async fn user(api: &Api, name: &str) -> Principal {
    write(api, Operation::CreateUser, &[("UserName", name)]).await;
    let policy = [
        ("UserName", name),
        ("PolicyName", "read"),
        ("PolicyDocument", ALLOW_GET_ROLE),
    ];
    write(api, Operation::PutUserPolicy, &policy).await;
    let user = api
        .iam
        .store()
        .get_principal::<rolecall_core::model::User>(name)
        .await
        .unwrap()
        .unwrap();
    Principal::user(&user)
}

/// Whether `who` may call GetRole on the role `r`.
async fn may_get_role(api: &Api, who: &Principal) -> bool {
    let params = Params::from_pairs([("RoleName".to_string(), "r".to_string())]);
    let facts = RequestFacts {
        source_ip: None,
        secure_transport: false,
    };
    authorize(api, who, Operation::GetRole, &params, &facts, None)
        .await
        .is_ok()
}

#[tokio::test]
async fn a_change_to_one_users_policy_recomputes_only_that_user() {
    let api = testing::api().await;
    let a = user(&api, "a").await;
    let b = user(&api, "b").await;
    assert!(may_get_role(&api, &a).await);
    assert!(may_get_role(&api, &b).await);
    let loaded = api.policy_cache.counters();
    assert_eq!(loaded.principal_loads, 2);

    // Served from the cache: nothing loaded again.
    assert!(may_get_role(&api, &a).await);
    assert!(may_get_role(&api, &b).await);
    assert_eq!(api.policy_cache.counters().principal_loads, 2);

    let deny = [
        ("UserName", "a"),
        ("PolicyName", "deny"),
        ("PolicyDocument", DENY_GET_ROLE),
    ];
    write(&api, Operation::PutUserPolicy, &deny).await;
    let after = api.policy_cache.counters();
    assert_eq!(after.principal_drops, loaded.principal_drops + 1);
    assert_eq!(after.full_clears, loaded.full_clears);

    // B is still cached; A is read again and the new policy is in force.
    assert!(may_get_role(&api, &b).await);
    assert_eq!(api.policy_cache.counters().principal_loads, 2);
    assert!(!may_get_role(&api, &a).await);
    assert_eq!(api.policy_cache.counters().principal_loads, 3);
}

#[tokio::test]
async fn a_managed_policy_or_group_change_drops_exactly_its_holders() {
    let api = testing::api().await;
    let a = user(&api, "a").await;
    let b = user(&api, "b").await;
    let c = user(&api, "c").await;
    let created = testing::call(
        &api,
        Operation::CreatePolicy,
        &[("PolicyName", "p"), ("PolicyDocument", ALLOW_GET_ROLE)],
    )
    .await
    .expect("a unit")
    .expect("created");
    crate::changes::publish(&api).await;
    let arn = created
        .split("<Arn>")
        .nth(1)
        .and_then(|s| s.split("</Arn>").next())
        .expect("an ARN")
        .to_string();
    write(
        &api,
        Operation::AttachUserPolicy,
        &[("UserName", "a"), ("PolicyArn", &arn)],
    )
    .await;
    write(&api, Operation::CreateGroup, &[("GroupName", "g")]).await;
    write(
        &api,
        Operation::AddUserToGroup,
        &[("GroupName", "g"), ("UserName", "b")],
    )
    .await;
    for who in [&a, &b, &c] {
        assert!(may_get_role(&api, who).await);
    }
    let before = api.policy_cache.counters();

    // A new default version of the policy only A holds: A alone is dropped.
    write(
        &api,
        Operation::CreatePolicyVersion,
        &[
            ("PolicyArn", &arn),
            ("PolicyDocument", DENY_GET_ROLE),
            ("SetAsDefault", "true"),
        ],
    )
    .await;
    assert_eq!(
        api.policy_cache.counters().principal_drops,
        before.principal_drops + 1
    );
    assert!(!may_get_role(&api, &a).await);

    // A policy of the group only B is in: B alone is dropped.
    write(
        &api,
        Operation::PutGroupPolicy,
        &[
            ("GroupName", "g"),
            ("PolicyName", "deny"),
            ("PolicyDocument", DENY_GET_ROLE),
        ],
    )
    .await;
    assert_eq!(
        api.policy_cache.counters().principal_drops,
        before.principal_drops + 2
    );
    assert!(!may_get_role(&api, &b).await);
    let loads = api.policy_cache.counters().principal_loads;
    assert!(may_get_role(&api, &c).await);
    assert_eq!(api.policy_cache.counters().principal_loads, loads);
}
