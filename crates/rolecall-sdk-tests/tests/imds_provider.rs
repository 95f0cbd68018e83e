//! aws-sdk-rust's IMDS credentials provider (`aws-config`), unmodified, as a client of rolecall:
//! it must find the instance's role, fetch IMDSv2 tokens and parse the credential document, and
//! what it returns must authenticate against rolecall's API.
//!
//! The whole stack runs in-process on 127.0.0.1 with the system clock (the SDK judges expiry by
//! real time).

#![allow(clippy::unwrap_used)]

use aws_config::imds;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use rolecall_api::{Api, ApiConfig, AuthMode, KeyStore, Principal};
use rolecall_core::ec2::{Ec2, Ec2Config, RunInstances};
use rolecall_core::iam::Iam;
use rolecall_core::{ChangeListener, DynClock, DynStore, SystemClock};
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_imds::{CredentialPolicy, Directory, ImdsConfig, dev_path_prefix};
use rolecall_store_sqlite::SqliteStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

const ACCOUNT: &str = "210987654321";
const REGION: &str = "us-east-1";
const ROOT_KEY: &str = "AKIAROLECALLSDKTEST1";
const ROOT_SECRET: &str = "rootsecretrootsecretrootsecretrootsecret";
const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

struct Stack {
    iam: Iam,
    ec2: Ec2,
    keyring: KeyRing,
    dir: Arc<Directory>,
    imds: SocketAddr,
    api: SocketAddr,
}

async fn stack() -> Stack {
    let store: DynStore = Arc::new(SqliteStore::in_memory().await.unwrap());
    let clock: DynClock = Arc::new(SystemClock);
    let keyring = KeyRing::new(vec![
        MasterKey::new(1, &MasterKey::generate_bytes()).unwrap(),
    ])
    .unwrap();
    let iam = Iam::new(store.clone(), ACCOUNT);
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config {
            region: REGION.into(),
            instance_cidr: "10.0.0.0/16".parse().unwrap(),
        },
    );
    let dir = Directory::new(
        iam.clone(),
        REGION.into(),
        keyring.clone(),
        clock.clone(),
        CredentialPolicy::default(),
    );
    let listeners: Vec<Arc<dyn ChangeListener>> = vec![dir.clone()];
    let keys = KeyStore::default();
    keys.insert(rolecall_api::Credentials {
        access_key_id: ROOT_KEY.into(),
        secret_access_key: ROOT_SECRET.into(),
        principal: Principal::root(ACCOUNT),
    });
    let api = Arc::new(Api {
        iam: iam.clone(),
        ec2: ec2.clone(),
        config: ApiConfig {
            region: REGION.into(),
            auth: AuthMode::On,
            instance_credentials: Default::default(),
        },
        keys,
        keyring: keyring.clone(),
        clock,
        listeners,
        policy_cache: Default::default(),
        generation: Default::default(),
    });
    let api_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    tokio::spawn(rolecall_api::serve(api_listener, api));
    let imds_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let imds_addr = imds_listener.local_addr().unwrap();
    tokio::spawn(rolecall_imds::serve(
        imds_listener,
        dir.clone(),
        ImdsConfig::default(),
    ));
    Stack {
        iam,
        ec2,
        keyring,
        dir,
        imds: imds_addr,
        api: api_addr,
    }
}

impl Stack {
    /// A role with profile `<name>-profile` (made through the API as the root), and a running
    /// instance with that profile.
    async fn instance_with_role(&self, name: &str, trust: &str) -> String {
        let profile = format!("{name}-profile");
        let steps: [&[(&str, &str)]; 3] = [
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", trust),
            ],
            &[
                ("Action", "CreateInstanceProfile"),
                ("InstanceProfileName", &profile),
            ],
            &[
                ("Action", "AddRoleToInstanceProfile"),
                ("InstanceProfileName", &profile),
                ("RoleName", name),
            ],
        ];
        for params in steps {
            let (status, body) = self.call("iam", params, ROOT_KEY, ROOT_SECRET, None).await;
            assert_eq!(status, 200, "{body}");
        }
        let mut r = self
            .ec2
            .run_instances(RunInstances {
                image_id: "ami-11aa22bb".into(),
                min_count: 1,
                max_count: 1,
                profile_name: Some(profile),
                ..Default::default()
            })
            .await
            .unwrap();
        self.dir.reload().await.unwrap();
        r.instances.remove(0).id
    }

    /// The SDK's provider, pointed at instance `id`'s dev path (as `rolecall exec` sets
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    fn provider(&self, id: &str) -> ImdsCredentialsProvider {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let config = ProviderConfig::default().with_http_client(http);
        let endpoint = format!(
            "http://{}{}/",
            self.imds,
            dev_path_prefix(&self.keyring, id).unwrap()
        );
        let client = imds::Client::builder()
            .configure(&config)
            .endpoint(endpoint)
            .unwrap()
            .max_attempts(1)
            .build();
        ImdsCredentialsProvider::builder()
            .configure(&config)
            .imds_client(client)
            .build()
    }

    /// A Query API call (POST form) signed with rolecall's signer; (status, body).
    async fn call(
        &self,
        service: &str,
        params: &[(&str, &str)],
        key: &str,
        secret: &str,
        token: Option<&str>,
    ) -> (u16, String) {
        let version = if service == "iam" {
            "2010-05-08"
        } else {
            "2011-06-15"
        };
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Version", version);
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = form.finish();
        let host = self.api.to_string();
        let ct = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = [("host", host.as_str()), ("content-type", ct)];
        let signed = rolecall_sigv4::sign(
            &rolecall_sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            },
            &rolecall_sigv4::SigningParams {
                credentials: rolecall_sigv4::Credentials {
                    access_key_id: key,
                    secret_access_key: secret,
                    session_token: token,
                },
                region: REGION,
                service,
                time: chrono::Utc::now(),
            },
        );
        let mut rb = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("http://{host}/"))
            .header("content-type", ct)
            .body(body);
        for (k, v) in signed.headers() {
            rb = rb.header(k, v);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// STS GetCallerIdentity with the given credentials.
    async fn whoami(&self, key: &str, secret: &str, token: Option<&str>) -> (u16, String) {
        self.call(
            "sts",
            &[("Action", "GetCallerIdentity")],
            key,
            secret,
            token,
        )
        .await
    }
}

fn xml<'a>(body: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = body.find(&open).unwrap() + open.len();
    let end = body[start..].find(&format!("</{tag}>")).unwrap() + start;
    &body[start..end]
}

#[tokio::test]
async fn sdk_imds_provider_gets_working_instance_credentials() {
    let s = stack().await;
    let id = s.instance_with_role("sdkrole", EC2_TRUST).await;
    let provider = s.provider(&id);

    let creds = provider.provide_credentials().await.unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.secret_access_key().len(), 40);
    let token = creds.session_token().unwrap();
    assert!(!token.is_empty());
    // Six hours, as served (not extended: they are not stale).
    let left = creds
        .expiry()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(5 * 3600 + 3000), "{left:?}");
    assert!(left <= Duration::from_secs(6 * 3600), "{left:?}");

    let (status, body) = s
        .whoami(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        xml(&body, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/sdkrole/{id}")
    );
    let role_id = s.iam.get_role("sdkrole").await.unwrap().id;
    assert_eq!(xml(&body, "UserId"), format!("{role_id}:{id}"));

    // Asked again, the same cached credential comes back.
    let again = provider.provide_credentials().await.unwrap();
    assert_eq!(again.access_key_id(), creds.access_key_id());
}

#[tokio::test]
async fn sdk_imds_provider_with_tokens_required() {
    let s = stack().await;
    let id = s.instance_with_role("strict", EC2_TRUST).await;
    s.ec2
        .modify_instance_metadata_options(&id, |m| m.http_tokens = "required".into())
        .await
        .unwrap();
    s.dir.reload().await.unwrap();
    let creds = s.provider(&id).provide_credentials().await.unwrap();
    let (status, body) = s
        .whoami(
            creds.access_key_id(),
            creds.secret_access_key(),
            creds.session_token(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sdk_imds_provider_reports_untrusted_role() {
    let s = stack().await;
    let id = s.instance_with_role("lambdaonly", LAMBDA_TRUST).await;
    let err = s.provider(&id).provide_credentials().await.unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("AssumeRoleUnauthorizedAccess"), "{text}");
}
