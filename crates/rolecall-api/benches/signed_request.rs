//! End to end cost of an authorized, signed request inside the API: SigV4 verification (user key
//! from the cache), policy evaluation over the user's compiled policies, the handler (a SQLite
//! read) and the XML response. The HTTP transport is left out (the router is called directly).
//!
//! Run: `cargo bench -p rolecall-api --bench signed_request`

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use rolecall_api::{Api, ApiConfig, AuthMode, router};
use rolecall_core::ec2::{Ec2, Ec2Config};
use rolecall_core::iam::{CreateRole, Iam};
use rolecall_core::{DynStore, SystemClock};
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_store_sqlite::SqliteStore;
use std::sync::Arc;
use tower::ServiceExt;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"arn:aws:iam::123456789012:role/*","Condition":{"StringLike":{"aws:username":"bench*"}}},
  {"Effect":"Allow","Action":"ec2:Describe*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.0/8"]}}},
  {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;

struct Fixture {
    app: axum::Router,
    body: &'static str,
    headers: Vec<(String, String)>,
    /// GetCallerIdentity by the same user: SigV4 only (no policy, no database).
    sts_headers: Vec<(String, String)>,
}

const STS_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn signed(
    access_key_id: &str,
    secret: &str,
    service: &str,
    body: &'static str,
) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let headers = [
        ("host", "127.0.0.1"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let req = rolecall_sigv4::Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let params = rolecall_sigv4::SigningParams {
        credentials: rolecall_sigv4::Credentials {
            access_key_id,
            secret_access_key: secret,
            session_token: None,
        },
        region: "us-east-1",
        service,
        time: now,
    };
    let s = rolecall_sigv4::sign(&req, &params);
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(
        s.headers()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    out
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let store: DynStore = Arc::new(
        SqliteStore::open(&dir.join("bench.db"))
            .await
            .expect("sqlite"),
    );
    let iam = Iam::new(store.clone(), "123456789012");
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config::lenient("us-east-1", "10.0.0.0/16".parse().expect("cidr")),
    );
    let ring = KeyRing::new(vec![
        MasterKey::new(1, &MasterKey::generate_bytes()).expect("key"),
    ])
    .expect("ring");
    iam.create_role(CreateRole::new("target", TRUST))
        .await
        .expect("role");
    iam.create_user("bench-user", None, None, vec![])
        .await
        .expect("user");
    iam.put_owner_policy(rolecall_core::OwnerKind::User, "bench-user", "p", POLICY)
        .await
        .expect("policy");
    let (key, secret) = iam
        .create_access_key(&ring, "bench-user")
        .await
        .expect("key");
    let config = ApiConfig {
        region: "us-east-1".into(),
        auth: AuthMode::On,
        instance_credentials: Default::default(),
    };
    let api = Arc::new(Api::new(iam, ec2, config, ring, Arc::new(SystemClock)));
    let body = "Action=GetRole&Version=2010-05-08&RoleName=target";
    Fixture {
        app: router(api),
        body,
        headers: signed(&key.id, &secret, "iam", body),
        sts_headers: signed(&key.id, &secret, "sts", STS_BODY),
    }
}

fn build(headers: &[(String, String)], body: &'static str) -> Request<Body> {
    let mut b = Request::builder().method("POST").uri("/");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(Body::from(body)).expect("request")
}

fn request(f: &Fixture) -> Request<Body> {
    build(&f.headers, f.body)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let f = rt.block_on(fixture());
    // Warm the key and policy caches, and check the request is really allowed.
    let status = rt.block_on(async {
        f.app
            .clone()
            .oneshot(request(&f))
            .await
            .expect("call")
            .status()
    });
    assert_eq!(status, 200, "the benchmark request must be authorized");
    c.bench_function(
        "signed GetRole by an IAM user (SigV4 + policy + handler)",
        |b| {
            b.to_async(&rt)
                .iter(|| async { f.app.clone().oneshot(request(&f)).await.expect("call") })
        },
    );
    c.bench_function(
        "signed GetCallerIdentity by an IAM user (SigV4 only)",
        |b| {
            b.to_async(&rt).iter(|| async {
                f.app
                    .clone()
                    .oneshot(build(&f.sts_headers, STS_BODY))
                    .await
                    .expect("call")
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
