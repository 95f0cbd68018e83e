//! Running units in tests: an API over an in-memory SQLite store, called as the account root.

use crate::authz::{Check, RequestFacts};
use crate::context::{Api, ApiConfig, Call};
use crate::error::ApiError;
use crate::generated::Operation;
use crate::keys::AuthMode;
use crate::principal::Principal;
use crate::units::Unit;
use rolecall_core::ec2::{Ec2, Ec2Config};
use rolecall_core::iam::Iam;
use rolecall_core::{DynClock, DynStore};
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_store_sqlite::SqliteStore;
use rolecall_wire::Params;
use std::sync::Arc;

pub const ACCOUNT: &str = "123456789012";

pub async fn api() -> Api {
    let store: DynStore = Arc::new(SqliteStore::in_memory().await.expect("store"));
    let clock: DynClock = Arc::new(rolecall_core::SystemClock);
    let keyring = KeyRing::new(vec![
        MasterKey::new(1, &MasterKey::generate_bytes()).expect("key"),
    ])
    .expect("ring");
    let iam = Iam::new(store.clone(), ACCOUNT).with_clock(clock.clone());
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config::lenient("us-east-1", "127.92.0.0/24".parse().expect("cidr")),
    );
    let config = ApiConfig {
        region: "us-east-1".into(),
        auth: AuthMode::On,
        instance_credentials: rolecall_imds::CredentialPolicy {
            lifetime: chrono::Duration::hours(6),
            refresh_before: chrono::Duration::minutes(30),
        },
    };
    Api::new(iam, ec2, config, keyring, clock)
}

/// A request of the account root with these parameters, as units see it.
struct RootRequest {
    principal: Principal,
    params: Params,
}

impl RootRequest {
    fn new(params: &[(&str, &str)]) -> Self {
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        RootRequest {
            principal: Principal::root(ACCOUNT),
            params: Params::from_pairs(params),
        }
    }

    fn call<'a>(&'a self, api: &'a Api, op: Operation) -> Call<'a> {
        Call {
            api,
            principal: &self.principal,
            params: &self.params,
            op,
            request_id: "test-request",
            read_event: None,
        }
    }
}

/// Runs `op` as a unit, as the root, with these parameters; None if `op` is not a unit.
pub async fn call(
    api: &Api,
    op: Operation,
    params: &[(&str, &str)],
) -> Option<Result<String, ApiError>> {
    let request = RootRequest::new(params);
    let facts = RequestFacts {
        source_ip: None,
        secure_transport: false,
    };
    super::dispatch::dispatch(&request.call(api, op), &facts).await
}

/// The answer of unit `op`, run as `call` does, which must succeed.
pub async fn answered(api: &Api, op: Operation, params: &[(&str, &str)]) -> String {
    let answer = call(api, op, params).await.expect("a unit");
    answer.unwrap_or_else(|e| panic!("{op:?} refused: {e:?}"))
}

/// The error of unit `op`, run as `call` does, which must fail.
pub async fn refused(api: &Api, op: Operation, params: &[(&str, &str)]) -> ApiError {
    let answer = call(api, op, params).await.expect("a unit");
    answer.expect_err("refused")
}

/// The checks unit `U` computes, as the root, for these parameters (resolved as `run` does).
pub async fn checks_of<U: Unit>(api: &Api, params: &[(&str, &str)]) -> Vec<Check> {
    let request = RootRequest::new(params);
    let call = request.call(api, U::OP);
    let input = U::parse(&request.params).expect("input");
    let resolved = U::resolve(&call, &input).await.expect("resolved");
    U::checks(&call, &input, &resolved)
}

/// A trust policy that lets EC2 assume the role.
pub const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Creates role `name` (under `path`) that EC2 may assume.
pub async fn create_role(api: &Api, name: &str, path: Option<&str>) {
    let role = rolecall_core::iam::CreateRole {
        path,
        ..rolecall_core::iam::CreateRole::new(name, EC2_TRUST)
    };
    api.iam.create_role(role).await.expect("role");
}

/// Role `role` (trusting EC2, at `path`) in a new instance profile `profile`.
pub async fn profile_with_role(api: &Api, profile: &str, role: &str, path: Option<&str>) {
    create_role(api, role, path).await;
    api.iam
        .create_instance_profile(profile, None, vec![])
        .await
        .expect("profile");
    api.iam
        .add_role_to_instance_profile(profile, role)
        .await
        .expect("added");
}

/// Launches one instance of a built-in image; its id.
pub async fn launch(api: &Api) -> String {
    let launch = rolecall_core::ec2::RunInstances {
        image_id: "ami-12345678".into(),
        min_count: 1,
        max_count: 1,
        ..Default::default()
    };
    let r = api.ec2.run_instances(launch).await.expect("launched");
    r.instances[0].id.clone()
}
