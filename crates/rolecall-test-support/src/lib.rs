//! What the Rust integration tests of several crates share (`rolecall-imds`, `rolecall-agent`,
//! `rolecall-sdk-tests`): the whole API (and optionally IMDS) in one process on 127.0.0.1 over an
//! in-memory SQLite store, SigV4-signed API calls, and credentials out of IMDS documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use rolecall_api::{Api, ApiConfig, AuthMode, KeyStore, Principal};
use rolecall_core::ec2::{Ec2, Ec2Config};
use rolecall_core::iam::Iam;
use rolecall_core::{ChangeListener, DynClock, DynStore};
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_imds::{CredentialPolicy, Directory, ImdsConfig};
use rolecall_store_sqlite::SqliteStore;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROOT_KEY: &str = "AKIAROLECALLTEST0001";
pub const ROOT_SECRET: &str = "rootsecretrootsecretrootsecretrootsecret";
pub const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
pub const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// Exactly what `rolecall agent`'s IAM user needs.
pub const AGENT_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["rolecall:GetChangeGeneration","rolecall:DescribeInstanceIdentities"],"Resource":"*"}]}"#;

/// Access key, secret and (for temporary credentials) session token.
#[derive(Clone)]
pub struct Creds {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
}

impl Creds {
    /// The account root's (the key every stack installs).
    pub fn root() -> Creds {
        Creds {
            key: ROOT_KEY.into(),
            secret: ROOT_SECRET.into(),
            token: None,
        }
    }
}

/// Credentials out of an IMDS `security-credentials/<role>` document (which must say Success).
pub fn creds_of(doc: &Value) -> Creds {
    assert_eq!(doc["Code"], "Success", "{doc}");
    Creds {
        key: doc["AccessKeyId"].as_str().unwrap().into(),
        secret: doc["SecretAccessKey"].as_str().unwrap().into(),
        token: Some(doc["Token"].as_str().unwrap().into()),
    }
}

/// [`creds_of`] on the document's text.
pub fn creds_of_text(body: &str) -> Creds {
    creds_of(&serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

/// The text of the first `<tag>` element.
pub fn xml<'a>(body: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let end = body[start..].find(&format!("</{tag}>")).unwrap() + start;
    &body[start..end]
}

/// A SigV4-signed Query/EC2 API call (POST form) to `api`, signed at `time`; (status, body).
pub async fn signed_call(
    http: &reqwest::Client,
    api: SocketAddr,
    service: &str,
    params: &[(&str, &str)],
    c: &Creds,
    time: DateTime<Utc>,
) -> (u16, String) {
    let body = rolecall_wire::query_body(service, params);
    let host = api.to_string();
    let credentials = rolecall_sigv4::Credentials {
        access_key_id: &c.key,
        secret_access_key: &c.secret,
        session_token: c.token.as_deref(),
    };
    let signed = rolecall_sigv4::sign_form_post(
        &host,
        &body,
        &rolecall_sigv4::SigningParams {
            credentials,
            region: REGION,
            service,
            time,
        },
    );
    let mut rb = http
        .post(format!("http://{host}/"))
        .header("content-type", rolecall_sigv4::FORM_CONTENT_TYPE)
        .body(body);
    for (k, v) in signed.headers() {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// What a [`Stack`] is made of.
pub struct StackOptions {
    pub clock: DynClock,
    /// The instance credentials the API (and its IMDS) mint.
    pub policy: CredentialPolicy,
    pub instance_cidr: &'static str,
    /// Also run the API's own IMDS (a store-backed `Directory`) on a listener of its own.
    pub imds: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            clock: Arc::new(rolecall_core::SystemClock),
            policy: CredentialPolicy::default(),
            instance_cidr: "10.0.0.0/16",
            imds: false,
        }
    }
}

/// The API (IAM, STS, EC2, rolecall) over an in-memory SQLite store, listening on 127.0.0.1,
/// with the root's key installed; optionally its IMDS too.
pub struct Stack {
    pub iam: Iam,
    pub ec2: Ec2,
    pub clock: DynClock,
    pub keyring: KeyRing,
    pub api: SocketAddr,
    /// The store-backed directory and its listener (with `StackOptions::imds`).
    pub dir: Option<Arc<Directory>>,
    pub imds: Option<SocketAddr>,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start(opts: StackOptions) -> Stack {
        let store: DynStore = Arc::new(SqliteStore::in_memory().await.unwrap());
        let keyring = KeyRing::new(vec![
            MasterKey::new(1, &MasterKey::generate_bytes()).unwrap(),
        ])
        .unwrap();
        let iam = Iam::new(store.clone(), ACCOUNT).with_clock(opts.clock.clone());
        let ec2 = Ec2::new(
            store,
            iam.clone(),
            Ec2Config::lenient(REGION, opts.instance_cidr.parse().unwrap()),
        );
        let dir = if opts.imds {
            let dir = Directory::new(
                iam.clone(),
                REGION.into(),
                keyring.clone(),
                opts.clock.clone(),
                opts.policy,
            );
            dir.reload().await.unwrap();
            Some(dir)
        } else {
            None
        };
        let keys = KeyStore::default();
        keys.insert(rolecall_api::Credentials {
            access_key_id: ROOT_KEY.into(),
            secret_access_key: ROOT_SECRET.into(),
            principal: Principal::root(ACCOUNT),
        });
        let listeners: Vec<Arc<dyn ChangeListener>> = dir
            .iter()
            .map(|d| d.clone() as Arc<dyn ChangeListener>)
            .collect();
        let revocations = Arc::new(rolecall_api::revocation::Revocations::new(
            iam.clone(),
            opts.clock.clone(),
            opts.policy.lifetime,
        ));
        let api = Arc::new(Api {
            iam: iam.clone(),
            ec2: ec2.clone(),
            config: ApiConfig {
                region: REGION.into(),
                auth: AuthMode::On,
                instance_credentials: opts.policy,
            },
            keys,
            keyring: keyring.clone(),
            clock: opts.clock.clone(),
            listeners,
            runtime: Arc::new(rolecall_runtime::NoRuntime::default()),
            policy_cache: Default::default(),
            generation: Default::default(),
            revocations,
            audit: Default::default(),
        });
        let api_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = api_listener.local_addr().unwrap();
        tokio::spawn(rolecall_api::serve(api_listener, api));
        let imds = match &dir {
            Some(dir) => {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(rolecall_imds::serve(
                    listener,
                    dir.clone(),
                    ImdsConfig::default(),
                ));
                Some(addr)
            }
            None => None,
        };
        Stack {
            iam,
            ec2,
            clock: opts.clock,
            keyring,
            api: api_addr,
            dir,
            imds,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// The store-backed directory (the stack was started with `imds`).
    pub fn dir(&self) -> &Arc<Directory> {
        self.dir.as_ref().expect("stack started without IMDS")
    }

    /// The IMDS listener's address (the stack was started with `imds`).
    pub fn imds(&self) -> SocketAddr {
        self.imds.expect("stack started without IMDS")
    }

    /// A signed API call, at the stack clock's time; (status, body).
    pub async fn call(&self, service: &str, params: &[(&str, &str)], c: &Creds) -> (u16, String) {
        signed_call(&self.http, self.api, service, params, c, self.clock.now()).await
    }

    /// A call as the root that must succeed; its body.
    pub async fn ok(&self, service: &str, params: &[(&str, &str)]) -> String {
        let (status, body) = self.call(service, params, &Creds::root()).await;
        assert_eq!(status, 200, "{params:?}: {body}");
        body
    }

    /// STS GetCallerIdentity with `c`.
    pub async fn whoami(&self, c: &Creds) -> (u16, String) {
        self.call("sts", &[("Action", "GetCallerIdentity")], c)
            .await
    }

    /// A role trusting `trust`, in an instance profile `<name>-profile` of its own, made through
    /// the API as the root; (role id, profile name).
    pub async fn role(&self, name: &str, trust: &str) -> (String, String) {
        let body = self
            .ok(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", trust),
                ],
            )
            .await;
        let role_id = xml(&body, "RoleId").to_string();
        let profile = format!("{name}-profile");
        self.ok(
            "iam",
            &[
                ("Action", "CreateInstanceProfile"),
                ("InstanceProfileName", &profile),
            ],
        )
        .await;
        self.ok(
            "iam",
            &[
                ("Action", "AddRoleToInstanceProfile"),
                ("InstanceProfileName", &profile),
                ("RoleName", name),
            ],
        )
        .await;
        (role_id, profile)
    }
}
