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
use rolecall_core::ec2::RunInstances;
use rolecall_imds::dev_path_prefix;
use rolecall_test_support::{ACCOUNT, Creds, EC2_TRUST, LAMBDA_TRUST, Stack, StackOptions, xml};
use std::time::{Duration, SystemTime};

/// The API and its IMDS, on the system clock (the SDK judges expiry by real time).
async fn stack() -> Stack {
    Stack::start(StackOptions {
        imds: true,
        ..Default::default()
    })
    .await
}

/// What the tests add to the shared stack.
trait SdkStack {
    async fn instance_with_role(&self, name: &str, trust: &str) -> String;
    fn provider(&self, id: &str) -> ImdsCredentialsProvider;
    async fn whoami_with(&self, key: &str, secret: &str, token: Option<&str>) -> (u16, String);
}

impl SdkStack for Stack {
    /// A role with profile `<name>-profile` (made through the API as the root), and a running
    /// instance with that profile.
    async fn instance_with_role(&self, name: &str, trust: &str) -> String {
        let (_, profile) = self.role(name, trust).await;
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
        self.dir().reload().await.unwrap();
        r.instances.remove(0).id
    }

    /// The SDK's provider, pointed at instance `id`'s dev path (as `rolecall exec` sets
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    fn provider(&self, id: &str) -> ImdsCredentialsProvider {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let config = ProviderConfig::default().with_http_client(http);
        let endpoint = format!(
            "http://{}{}/",
            self.imds(),
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

    /// STS GetCallerIdentity with the given credentials.
    async fn whoami_with(&self, key: &str, secret: &str, token: Option<&str>) -> (u16, String) {
        self.whoami(&Creds {
            key: key.into(),
            secret: secret.into(),
            token: token.map(str::to_string),
        })
        .await
    }
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
        .whoami_with(
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
    let role_id = s.iam.get_role("sdkrole").await.unwrap().entity.id;
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
    s.dir().reload().await.unwrap();
    let creds = s.provider(&id).provide_credentials().await.unwrap();
    let (status, body) = s
        .whoami_with(
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
