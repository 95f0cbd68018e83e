//! The whole stack in one process: SQLite in memory, IAM/EC2, the API and the IMDS listener on
//! 127.0.0.1, time from a `ManualClock`. Every IMDS request goes over real HTTP; credentials are
//! checked by signing API requests with them.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use rolecall_core::ManualClock;
use rolecall_core::ec2::{Ec2, RunInstances};
use rolecall_core::iam::Iam;
use rolecall_core::model::{Instance, MetadataOptions, Tag};
use rolecall_crypto::KeyRing;
use rolecall_imds::{CredentialPolicy, Directory, dev_path_prefix};
use rolecall_test_support::{
    ACCOUNT, Creds, EC2_TRUST, LAMBDA_TRUST, REGION, StackOptions, creds_of, signed_call, xml,
};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const TTL: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "x-aws-ec2-metadata-token";

fn root() -> Creds {
    Creds::root()
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

struct Stack {
    iam: Iam,
    ec2: Ec2,
    clock: Arc<ManualClock>,
    keyring: KeyRing,
    dir: Arc<Directory>,
    imds: SocketAddr,
    api: SocketAddr,
    http: reqwest::Client,
}

struct Options {
    policy: CredentialPolicy,
    instance_cidr: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: CredentialPolicy::default(),
            instance_cidr: "10.0.0.0/16",
        }
    }
}

async fn stack(opts: Options) -> Stack {
    let start = DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = ManualClock::new(start);
    let s = rolecall_test_support::Stack::start(StackOptions {
        clock: clock.clone(),
        policy: opts.policy,
        instance_cidr: opts.instance_cidr,
        imds: true,
    })
    .await;
    Stack {
        iam: s.iam.clone(),
        ec2: s.ec2.clone(),
        clock,
        keyring: s.keyring.clone(),
        dir: s.dir().clone(),
        imds: s.imds(),
        api: s.api,
        http: s.http.clone(),
    }
}

/// Role `web` (trusting EC2) of [`web_instances`]: its id and its instance profile's name.
struct Web {
    role_id: String,
    profile: String,
}

/// A stack with `opts`, role `web` and `N` instances launched with its profile.
async fn web_instances<const N: usize>(opts: Options) -> (Stack, Web, [Instance; N]) {
    let s = stack(opts).await;
    let (role_id, profile) = s.role("web", EC2_TRUST).await;
    let mut launched = Vec::with_capacity(N);
    for _ in 0..N {
        launched.push(s.launch(Some(&profile), |_| {}).await);
    }
    let instances = launched.try_into().unwrap();
    (s, Web { role_id, profile }, instances)
}

impl Stack {
    /// A role trusting `trust` with a profile `<name>-profile` holding it, made through the API
    /// as the root; returns the role id and the profile name.
    async fn role(&self, name: &str, trust: &str) -> (String, String) {
        let (status, body) = self
            .call(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", trust),
                ],
                &root(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let role_id = xml(&body, "RoleId").to_string();
        let profile = format!("{name}-profile");
        for action in ["CreateInstanceProfile", "AddRoleToInstanceProfile"] {
            let mut params = vec![
                ("Action", action),
                ("InstanceProfileName", profile.as_str()),
            ];
            if action == "AddRoleToInstanceProfile" {
                params.push(("RoleName", name));
            }
            let (status, body) = self.call("iam", &params, &root()).await;
            assert_eq!(status, 200, "{body}");
        }
        (role_id, profile)
    }

    /// Launches one instance (through the domain service) and reloads the directory.
    async fn launch(&self, profile: Option<&str>, f: impl FnOnce(&mut RunInstances)) -> Instance {
        let mut input = RunInstances {
            image_id: "ami-11aa22bb".into(),
            min_count: 1,
            max_count: 1,
            profile_name: profile.map(str::to_string),
            ..Default::default()
        };
        f(&mut input);
        let mut r = self.ec2.run_instances(input).await.unwrap();
        self.dir.reload().await.unwrap();
        r.instances.remove(0)
    }

    /// Changes instance `id`'s metadata options (through the domain service) and reloads the
    /// directory.
    async fn modify_metadata(
        &self,
        id: &str,
        f: impl FnOnce(&mut MetadataOptions) + Send + 'static,
    ) {
        self.ec2
            .modify_instance_metadata_options(id, f)
            .await
            .unwrap();
        self.dir.reload().await.unwrap();
    }

    fn prefix(&self, id: &str) -> String {
        dev_path_prefix(&self.keyring, id).unwrap()
    }

    /// A request to IMDS on the dev path of instance `id`.
    async fn imds_req(
        &self,
        method: reqwest::Method,
        id: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("http://{}{}{}", self.imds, self.prefix(id), path);
        let mut rb = self.http.request(method, url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, id: &str, path: &str) -> (u16, String) {
        let r = self.imds_req(reqwest::Method::GET, id, path, &[]).await;
        (r.status, r.body)
    }

    /// `params` called on `service` as the account root: the answer's body, after a 200.
    async fn ok_as_root(&self, service: &str, params: &[(&str, &str)]) -> String {
        let (status, body) = self.call(service, params, &root()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The status of a GET of `path` by instance `id`, with `token` if any.
    async fn status(&self, id: &str, path: &str, token: Option<&str>) -> u16 {
        let header = token.map(|t| (TOKEN, t));
        self.imds_req(reqwest::Method::GET, id, path, header.as_slice())
            .await
            .status
    }

    async fn get_with(&self, id: &str, path: &str, token: &str) -> (u16, String) {
        let r = self
            .imds_req(reqwest::Method::GET, id, path, &[(TOKEN, token)])
            .await;
        (r.status, r.body)
    }

    async fn token(&self, id: &str, ttl: &str) -> String {
        let r = self
            .imds_req(reqwest::Method::PUT, id, "/latest/api/token", &[(TTL, ttl)])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// The role IMDS lists for instance `id` (after a 200).
    async fn listed_role(&self, id: &str) -> String {
        let (status, body) = self
            .get(id, "/latest/meta-data/iam/security-credentials/")
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Instance `id`'s GET of its credential for `role`.
    async fn get_role_credentials(&self, id: &str, role: &str) -> (u16, String) {
        let path = format!("/latest/meta-data/iam/security-credentials/{role}");
        self.get(id, &path).await
    }

    /// The credential document IMDS serves instance `id` for `role`.
    async fn credentials(&self, id: &str, role: &str) -> Value {
        let (status, body) = self.get_role_credentials(id, role).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A SigV4-signed Query/EC2 API call (POST form), signed at the manual clock's time.
    async fn call(&self, service: &str, params: &[(&str, &str)], c: &Creds) -> (u16, String) {
        signed_call(&self.http, self.api, service, params, c, self.clock.now()).await
    }

    async fn whoami(&self, c: &Creds) -> (u16, String) {
        self.call("sts", &[("Action", "GetCallerIdentity")], c)
            .await
    }
}

use rolecall_core::Clock as _;

fn expiration(doc: &Value) -> DateTime<Utc> {
    let s = doc["Expiration"].as_str().unwrap();
    // `YYYY-MM-DDTHH:MM:SSZ`, no fraction, no offset.
    assert_eq!(s.len(), 20, "{s}");
    assert!(s.ends_with('Z'), "{s}");
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

// ----- IMDSv2 -----

#[tokio::test]
async fn token_put_rules() {
    let (s, _, [a, b]) = web_instances(Options::default()).await;
    let put = reqwest::Method::PUT;

    for ttl in ["1", "21600", "300"] {
        let r = s
            .imds_req(put.clone(), &a.id, "/latest/api/token", &[(TTL, ttl)])
            .await;
        assert_eq!(r.status, 200, "ttl {ttl}");
        assert!(!r.body.is_empty());
        assert_eq!(r.headers.get(TTL).unwrap().to_str().unwrap(), ttl);
    }
    for ttl in ["0", "21601", "-5", "abc", ""] {
        let r = s
            .imds_req(put.clone(), &a.id, "/latest/api/token", &[(TTL, ttl)])
            .await;
        assert_eq!(r.status, 400, "ttl {ttl:?}");
    }
    let missing = s
        .imds_req(put.clone(), &a.id, "/latest/api/token", &[])
        .await;
    assert_eq!(missing.status, 400);
    let forwarded = s
        .imds_req(
            put.clone(),
            &a.id,
            "/latest/api/token",
            &[(TTL, "60"), ("x-forwarded-for", "10.1.2.3")],
        )
        .await;
    assert_eq!(forwarded.status, 403);
    assert_eq!(s.status(&a.id, "/latest/api/token", None).await, 405);

    // A good token works; garbage, another instance's and expired tokens do not, even though
    // tokens are optional for this instance.
    let token = s.token(&a.id, "60").await;
    assert_eq!(
        s.get_with(&a.id, "/latest/meta-data/instance-id", &token)
            .await,
        (200, a.id.clone())
    );
    assert_eq!(
        s.status(&a.id, "/latest/meta-data/instance-id", Some("not-a-token"))
            .await,
        401
    );
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        s.status(
            &a.id,
            "/latest/meta-data/instance-id",
            Some(&String::from_utf8(tampered).unwrap())
        )
        .await,
        401
    );
    let token_b = s.token(&b.id, "60").await;
    assert_eq!(
        s.status(&a.id, "/latest/meta-data/instance-id", Some(&token_b))
            .await,
        401
    );
    assert_eq!(
        s.get_with(&b.id, "/latest/meta-data/instance-id", &token_b)
            .await,
        (200, b.id.clone())
    );
    // Still valid at its last second, then no more.
    s.clock.advance(Duration::seconds(59));
    assert_eq!(
        s.status(&a.id, "/latest/meta-data/instance-id", Some(&token))
            .await,
        200
    );
    s.clock.advance(Duration::seconds(1));
    assert_eq!(
        s.status(&a.id, "/latest/meta-data/instance-id", Some(&token))
            .await,
        401
    );
    assert_eq!(
        s.status(
            &a.id,
            "/latest/meta-data/iam/security-credentials/web",
            Some(&token)
        )
        .await,
        401
    );
    // Without a token (optional) it still answers.
    assert_eq!(
        s.get(&a.id, "/latest/meta-data/instance-id").await,
        (200, a.id.clone())
    );
}

#[tokio::test]
async fn tokens_required_and_endpoint_disabled() {
    let (s, web, [a]) = web_instances(Options::default()).await;
    s.modify_metadata(&a.id, |m| m.http_tokens = "required".into())
        .await;
    assert_eq!(
        s.status(&a.id, "/latest/meta-data/instance-id", None).await,
        401
    );
    assert_eq!(
        s.status(
            &a.id,
            "/latest/meta-data/iam/security-credentials/web",
            None
        )
        .await,
        401
    );
    let token = s.token(&a.id, "21600").await;
    assert_eq!(
        s.get_with(&a.id, "/latest/meta-data/instance-id", &token)
            .await,
        (200, a.id.clone())
    );
    let (status, body) = s
        .get_with(
            &a.id,
            "/latest/meta-data/iam/security-credentials/web",
            &token,
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("\"Code\" : \"Success\""), "{body}");

    // A launch with RunInstances' MetadataOptions gives the same.
    let b = s
        .launch(Some(&web.profile), |r| {
            r.metadata_options.http_tokens = "required".into()
        })
        .await;
    assert_eq!(s.status(&b.id, "/latest/meta-data/", None).await, 401);

    s.modify_metadata(&a.id, |m| m.http_endpoint = "disabled".into())
        .await;
    for path in [
        "/latest/meta-data/instance-id",
        "/latest/meta-data/iam/security-credentials/web",
        "/latest/dynamic/instance-identity/document",
    ] {
        let (status, body) = s.get_with(&a.id, path, &token).await;
        assert_eq!(status, 403, "{path}");
        assert!(!body.contains(&a.id), "{body}");
    }
    let r = s
        .imds_req(
            reqwest::Method::PUT,
            &a.id,
            "/latest/api/token",
            &[(TTL, "60")],
        )
        .await;
    assert_eq!(r.status, 403);
}

// ----- paths -----

#[tokio::test]
async fn metadata_paths() {
    let s = stack(Options::default()).await;
    let (role_id, profile) = s.role("s3access", EC2_TRUST).await;
    let profile_obj = s.iam.get_instance_profile(&profile).await.unwrap();
    let a = s
        .launch(Some(&profile), |r| {
            // "#!/bin/sh\necho hi\n", base64 as EC2 takes it.
            r.user_data = Some("IyEvYmluL3NoCmVjaG8gaGkK".into());
            r.tags = vec![Tag {
                key: "Name".into(),
                value: "web-1".into(),
            }];
            r.metadata_options.instance_metadata_tags = "enabled".into();
        })
        .await;
    let id = a.id.as_str();

    let (status, listing) = s.get(id, "/latest/meta-data/").await;
    assert_eq!(status, 200);
    let items: Vec<&str> = listing.lines().collect();
    for want in [
        "ami-id",
        "instance-id",
        "local-ipv4",
        "iam/",
        "placement/",
        "tags/",
    ] {
        assert!(items.contains(&want), "{want} missing from {listing}");
    }
    assert_eq!(s.get(id, "/latest/meta-data").await.1, listing);
    assert_eq!(
        s.get(id, "/latest/meta-data/instance-id").await,
        (200, a.id.clone())
    );
    assert_eq!(
        s.get(id, "/latest/meta-data/local-ipv4").await,
        (200, a.private_ip.clone())
    );
    assert!(a.private_ip.starts_with("10.0."), "{}", a.private_ip);
    assert_eq!(
        s.get(id, "/latest/meta-data/ami-id").await,
        (200, "ami-11aa22bb".into())
    );
    for p in [
        "/latest/meta-data/placement/availability-zone",
        "/latest/meta-data/placement/availability-zone/",
    ] {
        assert_eq!(s.get(id, p).await, (200, "us-east-1a".into()), "{p}");
    }
    assert_eq!(
        s.get(id, "/latest/meta-data/placement/region").await,
        (200, REGION.into())
    );
    assert_eq!(s.get(id, "/latest/meta-data/nope").await.0, 404);
    assert_eq!(s.get(id, "/nope").await.0, 404);
    assert_eq!(s.get(id, "/").await, (200, "latest".into()));

    // iam/
    let (status, body) = s.get(id, "/latest/meta-data/iam/").await;
    assert_eq!(status, 200);
    assert!(body.lines().any(|l| l == "security-credentials/"), "{body}");
    let (status, info) = s.get(id, "/latest/meta-data/iam/info").await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Code"], "Success");
    assert_eq!(info["InstanceProfileArn"], profile_obj.arn.as_str());
    assert_eq!(info["InstanceProfileId"], profile_obj.id.as_str());
    assert_eq!(
        profile_obj.arn,
        format!("arn:aws:iam::{ACCOUNT}:instance-profile/s3access-profile")
    );
    // The role name exactly: no trailing newline (SDKs append it to the path).
    for p in [
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials",
    ] {
        assert_eq!(s.get(id, p).await, (200, "s3access".into()), "{p}");
    }
    let doc = s.credentials(id, "s3access").await;
    assert_eq!(doc["Code"], "Success");
    assert_eq!(doc["Type"], "AWS-HMAC");
    let key = doc["AccessKeyId"].as_str().unwrap();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(doc["SecretAccessKey"].as_str().unwrap().len(), 40);
    assert!(!doc["Token"].as_str().unwrap().is_empty());
    let exp = expiration(&doc);
    assert_eq!(exp, s.clock.now() + Duration::hours(6));
    let updated = doc["LastUpdated"].as_str().unwrap();
    assert_eq!(updated, "2026-01-15T10:00:00Z");
    assert!(doc.get("AccountId").is_none());
    // Field order as EC2 serves it.
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "Code",
            "LastUpdated",
            "Type",
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration"
        ]
    );
    // The trailing-slash form answers the same credential.
    let (status, slash) = s
        .get(id, "/latest/meta-data/iam/security-credentials/s3access/")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&slash).unwrap()["AccessKeyId"],
        key
    );
    // Another role name, or a different case, is not this instance's role.
    for wrong in ["other", "S3ACCESS", "s3access-profile"] {
        let (status, _) = s.get_role_credentials(id, wrong).await;
        assert_eq!(status, 404, "{wrong}");
    }
    let (status, ext) = s
        .get(
            id,
            "/latest/meta-data/iam/security-credentials-extended/s3access",
        )
        .await;
    assert_eq!(status, 200);
    let ext: Value = serde_json::from_str(&ext).unwrap();
    assert_eq!(ext["AccountId"], ACCOUNT);
    assert_eq!(ext["AccessKeyId"], key, "same credential, extended form");
    assert_eq!(
        s.get(id, "/latest/meta-data/iam/security-credentials-extended/")
            .await,
        (200, "s3access".into())
    );

    // user-data: decoded bytes.
    let r = s
        .imds_req(reqwest::Method::GET, id, "/latest/user-data", &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "#!/bin/sh\necho hi\n");
    assert!(
        s.get(id, "/latest/")
            .await
            .1
            .lines()
            .any(|l| l == "user-data")
    );

    // tags
    assert_eq!(
        s.get(id, "/latest/meta-data/tags/instance").await,
        (200, "Name".into())
    );
    assert_eq!(
        s.get(id, "/latest/meta-data/tags/instance/Name").await,
        (200, "web-1".into())
    );
    assert_eq!(
        s.get(id, "/latest/meta-data/tags/instance/nope").await.0,
        404
    );

    // dynamic/instance-identity/document
    let (status, doc) = s
        .get(id, "/latest/dynamic/instance-identity/document")
        .await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["instanceId"], a.id.as_str());
    assert_eq!(doc["accountId"], ACCOUNT);
    assert_eq!(doc["region"], REGION);
    assert_eq!(doc["availabilityZone"], "us-east-1a");
    assert_eq!(doc["privateIp"], a.private_ip.as_str());
    assert_eq!(doc["imageId"], "ami-11aa22bb");

    // HEAD answers like GET without a body; other methods are not allowed.
    for (method, want) in [(reqwest::Method::HEAD, 200), (reqwest::Method::POST, 405)] {
        let path = "/latest/meta-data/instance-id";
        let r = s.imds_req(method.clone(), id, path, &[]).await;
        assert_eq!(r.status, want, "{method}");
    }

    // The credentials are this role's.
    let (status, who) = s
        .whoami(&creds_of(&s.credentials(id, "s3access").await))
        .await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(xml(&who, "UserId"), format!("{role_id}:{}", a.id));
}

#[tokio::test]
async fn tags_hidden_unless_enabled() {
    let s = stack(Options::default()).await;
    let a = s
        .launch(None, |r| {
            r.tags = vec![Tag {
                key: "Name".into(),
                value: "web-1".into(),
            }]
        })
        .await;
    let (_, listing) = s.get(&a.id, "/latest/meta-data/").await;
    assert!(!listing.lines().any(|l| l == "tags/"), "{listing}");
    assert_eq!(s.get(&a.id, "/latest/meta-data/tags/instance").await.0, 404);
    assert_eq!(
        s.get(&a.id, "/latest/meta-data/tags/instance/Name").await.0,
        404
    );
    s.modify_metadata(&a.id, |m| m.instance_metadata_tags = "enabled".into())
        .await;
    assert_eq!(
        s.get(&a.id, "/latest/meta-data/tags/instance/Name").await,
        (200, "web-1".into())
    );
}

#[tokio::test]
async fn instance_without_profile() {
    let s = stack(Options::default()).await;
    let a = s.launch(None, |_| {}).await;
    let (status, listing) = s.get(&a.id, "/latest/meta-data/").await;
    assert_eq!(status, 200);
    assert!(!listing.lines().any(|l| l == "iam/"), "{listing}");
    for p in [
        "/latest/meta-data/iam",
        "/latest/meta-data/iam/",
        "/latest/meta-data/iam/info",
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials/web",
        "/latest/meta-data/iam/security-credentials-extended/web",
    ] {
        assert_eq!(s.get(&a.id, p).await.0, 404, "{p}");
    }
    // No user data: neither listed nor served.
    assert!(!s.get(&a.id, "/latest/").await.1.contains("user-data"));
    assert_eq!(s.get(&a.id, "/latest/user-data").await.0, 404);
}

#[tokio::test]
async fn role_that_does_not_trust_ec2() {
    let s = stack(Options::default()).await;
    let (_, profile) = s.role("lambdaonly", LAMBDA_TRUST).await;
    let a = s.launch(Some(&profile), |_| {}).await;
    assert_eq!(s.listed_role(&a.id).await, "lambdaonly");
    let (status, body) = s.get_role_credentials(&a.id, "lambdaonly").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["Code"], "AssumeRoleUnauthorizedAccess");
    assert!(doc.get("AccessKeyId").is_none(), "{body}");

    // Fixing the trust policy (through the API, so IMDS hears of it) makes credentials appear.
    s.ok_as_root(
        "iam",
        &[
            ("Action", "UpdateAssumeRolePolicy"),
            ("RoleName", "lambdaonly"),
            ("PolicyDocument", EC2_TRUST),
        ],
    )
    .await;
    let doc = s.credentials(&a.id, "lambdaonly").await;
    assert_eq!(doc["Code"], "Success");
}

// ----- rotation -----

#[tokio::test]
async fn rotation_with_manual_clock() {
    let lifetime = Duration::hours(2);
    let refresh = Duration::hours(1);
    let (s, _, [a]) = web_instances(Options {
        policy: CredentialPolicy {
            lifetime,
            refresh_before: refresh,
        },
        ..Options::default()
    })
    .await;

    let first = s.credentials(&a.id, "web").await;
    let mut current = creds_of(&first);
    let mut current_exp = expiration(&first);
    assert_eq!(current_exp, s.clock.now() + lifetime);
    // Credentials replaced, with their expiry, not yet seen to fail after it.
    let mut retired: Vec<(Creds, DateTime<Utc>)> = Vec::new();
    let mut rotations = 0;
    let mut expired_checked = 0;
    // 7-minute steps over ten hours, so steps fall on many offsets from each mint.
    for step in 1..=86 {
        s.clock.advance(Duration::minutes(7));
        if step % 3 == 0 {
            // As the background refresher would.
            s.dir.refresh_due();
        }
        let now = s.clock.now();
        let doc = s.credentials(&a.id, "web").await;
        let exp = expiration(&doc);
        assert!(
            exp - now >= Duration::minutes(30),
            "served a credential with {} left",
            exp - now
        );
        let key = doc["AccessKeyId"].as_str().unwrap();
        if key == current.key {
            assert_eq!(exp, current_exp);
            assert!(exp - now >= refresh, "kept a credential past its refresh");
        } else {
            // Replaced only once due, by a fresh one.
            assert!(current_exp - now < refresh, "replaced too early");
            assert!(exp - now > refresh);
            assert!(exp - now <= lifetime);
            rotations += 1;
            retired.push((current.clone(), current_exp));
            current = creds_of(&doc);
            current_exp = exp;
        }
        // The served credential works.
        let (status, body) = s.whoami(&current).await;
        assert_eq!(status, 200, "{body}");
        // Old ones keep working until their own expiry, then are refused as expired.
        let mut still = Vec::new();
        for (c, e) in retired.drain(..) {
            let (status, body) = s.whoami(&c).await;
            if now < e {
                assert_eq!(status, 200, "old credential refused before expiry: {body}");
                still.push((c, e));
            } else {
                assert_eq!(status, 403, "{body}");
                assert_eq!(xml(&body, "Code"), "ExpiredToken");
                expired_checked += 1;
            }
        }
        retired = still;
    }
    assert!(rotations >= 8, "only {rotations} rotations in ten hours");
    assert!(expired_checked >= 7, "{expired_checked}");

    // The current one too, once the instance stops being asked for a while.
    s.clock.advance(lifetime);
    let (status, body) = s.whoami(&current).await;
    assert_eq!(status, 403);
    assert_eq!(xml(&body, "Code"), "ExpiredToken");
}

/// With the tightest policy allowed (replace at 30 minutes left), minute by minute for six hours,
/// with and without the background refresher running in between.
#[tokio::test]
async fn served_credentials_never_have_less_than_30_minutes() {
    let policy = CredentialPolicy {
        lifetime: Duration::minutes(45),
        refresh_before: Duration::minutes(30),
    };
    policy.validate().unwrap();
    let (s, _, [a]) = web_instances(Options {
        policy,
        ..Options::default()
    })
    .await;
    let mut keys = std::collections::HashSet::new();
    for minute in 0..360 {
        if minute % 7 == 0 {
            s.dir.refresh_due();
        }
        let now = s.clock.now();
        for path in [
            "/latest/meta-data/iam/security-credentials/web",
            "/latest/meta-data/iam/security-credentials-extended/web",
        ] {
            let (status, body) = s.get(&a.id, path).await;
            assert_eq!(status, 200);
            let doc: Value = serde_json::from_str(&body).unwrap();
            let left = expiration(&doc) - now;
            assert!(
                left >= Duration::minutes(30) && left <= Duration::minutes(45),
                "minute {minute}: {left} left"
            );
            keys.insert(doc["AccessKeyId"].as_str().unwrap().to_string());
        }
        s.clock.advance(Duration::seconds(61));
    }
    // A new credential every 15 minutes or so (6 h at 61 s steps is about 366 minutes).
    assert!(
        (20..=30).contains(&keys.len()),
        "{} credentials",
        keys.len()
    );
}

// ----- the credentials against the API -----

#[tokio::test]
async fn credentials_authenticate_against_the_api() {
    let (s, web, [a]) = web_instances(Options::default()).await;
    let c = creds_of(&s.credentials(&a.id, "web").await);

    let (status, body) = s.whoami(&c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        xml(&body, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/{}", a.id)
    );
    assert_eq!(xml(&body, "UserId"), format!("{}:{}", web.role_id, a.id));
    assert_eq!(xml(&body, "Account"), ACCOUNT);

    // Credentials altered in one part are refused.
    let mut tampered = c.token.clone().unwrap().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let b = s.launch(Some(&web.profile), |_| {}).await;
    let other = creds_of(&s.credentials(&b.id, "web").await);
    let altered = [
        (
            "a tampered token",
            Creds {
                token: Some(String::from_utf8(tampered).unwrap()),
                ..c.clone()
            },
            "InvalidClientTokenId",
        ),
        (
            "another credential's token with this key id",
            Creds {
                token: other.token.clone(),
                ..c.clone()
            },
            "InvalidClientTokenId",
        ),
        (
            "the right token with a wrong secret",
            Creds {
                secret: other.secret.clone(),
                ..c.clone()
            },
            "SignatureDoesNotMatch",
        ),
    ];
    for (what, creds, code) in altered {
        let (status, body) = s.whoami(&creds).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(xml(&body, "Code"), code, "{what}");
    }

    // No permissions yet beyond asking who they are.
    let (status, body) = s.call("iam", &[("Action", "ListRoles")], &c).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(xml(&body, "Code"), "AccessDenied");
    let (status, body) = s.call("ec2", &[("Action", "DescribeInstances")], &c).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(xml(&body, "Code"), "UnauthorizedOperation");
    // A role policy allowing it lets the instance's credentials list roles.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#;
    s.ok_as_root(
        "iam",
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "web"),
            ("PolicyName", "list"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let (status, body) = s.call("iam", &[("Action", "ListRoles")], &c).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<RoleName>web</RoleName>"), "{body}");
    let (status, _) = s.call("iam", &[("Action", "ListUsers")], &c).await;
    assert_eq!(status, 403);
    // Root still can.
    s.ok_as_root("iam", &[("Action", "ListRoles")]).await;
}

// ----- changes through the API reach IMDS at once -----

#[tokio::test]
async fn replace_and_disassociate_through_the_api() {
    let s = stack(Options::default()).await;
    let (_, profile_a) = s.role("alpha", EC2_TRUST).await;
    let (beta_id, profile_b) = s.role("beta", EC2_TRUST).await;

    // Launch through the API too.
    let body = s
        .ok_as_root(
            "ec2",
            &[
                ("Action", "RunInstances"),
                ("ImageId", "ami-11aa22bb"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("IamInstanceProfile.Name", &profile_a),
            ],
        )
        .await;
    let id = xml(&body, "instanceId").to_string();
    assert_eq!(s.listed_role(&id).await, "alpha");
    let alpha = creds_of(&s.credentials(&id, "alpha").await);
    let body = s
        .ok_as_root(
            "ec2",
            &[
                ("Action", "DescribeIamInstanceProfileAssociations"),
                ("Filter.1.Name", "instance-id"),
                ("Filter.1.Value.1", &id),
            ],
        )
        .await;
    let assoc = xml(&body, "associationId").to_string();

    let body = s
        .ok_as_root(
            "ec2",
            &[
                ("Action", "ReplaceIamInstanceProfileAssociation"),
                ("AssociationId", &assoc),
                ("IamInstanceProfile.Name", &profile_b),
            ],
        )
        .await;
    let new_assoc = xml(&body, "associationId").to_string();
    assert_eq!(s.listed_role(&id).await, "beta");
    assert_eq!(s.get_role_credentials(&id, "alpha").await.0, 404);
    let beta = creds_of(&s.credentials(&id, "beta").await);
    assert_ne!(beta.key, alpha.key);
    // Unlike AWS, credentials handed out under the replaced association are cut off at once.
    let (status, who) = s.whoami(&alpha).await;
    assert_eq!(status, 403, "{who}");
    assert!(who.contains("InvalidClientTokenId"), "{who}");
    let (status, who) = s.whoami(&beta).await;
    assert_eq!(status, 200);
    assert_eq!(
        xml(&who, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/beta/{id}")
    );
    assert_eq!(xml(&who, "UserId"), format!("{beta_id}:{id}"));
    let (_, info) = s.get(&id, "/latest/meta-data/iam/info").await;
    assert!(info.contains("beta-profile"), "{info}");

    s.ok_as_root(
        "ec2",
        &[
            ("Action", "DisassociateIamInstanceProfile"),
            ("AssociationId", &new_assoc),
        ],
    )
    .await;
    for p in [
        "/latest/meta-data/iam/",
        "/latest/meta-data/iam/info",
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials/beta",
    ] {
        assert_eq!(s.get(&id, p).await.0, 404, "{p}");
    }
    // And beta's credentials, issued under the association just ended, are refused too.
    let (status, who) = s.whoami(&beta).await;
    assert_eq!(status, 403, "{who}");
    assert!(who.contains("InvalidClientTokenId"), "{who}");

    // Associate again, then remove the role from the profile: the profile stays, the role goes.
    s.ok_as_root(
        "ec2",
        &[
            ("Action", "AssociateIamInstanceProfile"),
            ("InstanceId", &id),
            ("IamInstanceProfile.Name", &profile_a),
        ],
    )
    .await;
    assert_eq!(s.listed_role(&id).await, "alpha");
    s.ok_as_root(
        "iam",
        &[
            ("Action", "RemoveRoleFromInstanceProfile"),
            ("InstanceProfileName", &profile_a),
            ("RoleName", "alpha"),
        ],
    )
    .await;
    assert_eq!(s.get(&id, "/latest/meta-data/iam/info").await.0, 200);
    assert_eq!(s.get_role_credentials(&id, "alpha").await.0, 404);

    // A stopped instance runs no software: nothing answers for it.
    s.ok_as_root("ec2", &[("Action", "StopInstances"), ("InstanceId.1", &id)])
        .await;
    assert_eq!(s.get(&id, "/latest/meta-data/instance-id").await.0, 404);
}

// ----- identification by source IP -----

/// One HTTP/1.1 request from a socket bound to `src`, written by hand.
async fn from_ip(
    src: IpAddr,
    imds: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(src, 0)).unwrap();
    let mut stream = sock.connect(imds).await.unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "PUT" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, body.to_string())
}

#[tokio::test]
async fn source_ip_identification() {
    let s = stack(Options {
        instance_cidr: "127.77.0.0/16",
        ..Options::default()
    })
    .await;
    let (_, profile_a) = s.role("alpha", EC2_TRUST).await;
    let (_, profile_b) = s.role("beta", EC2_TRUST).await;
    let a = s
        .launch(Some(&profile_a), |r| {
            r.private_ip = Some("127.77.0.10".into())
        })
        .await;
    let b = s
        .launch(Some(&profile_b), |r| {
            r.private_ip = Some("127.77.0.11".into())
        })
        .await;
    let ip_a: IpAddr = a.private_ip.parse().unwrap();
    let ip_b: IpAddr = b.private_ip.parse().unwrap();
    let nobody: IpAddr = "127.77.0.99".parse().unwrap();
    let get = |ip, path: &'static str| from_ip(ip, s.imds, "GET", path, &[]);

    assert_eq!(
        get(ip_a, "/latest/meta-data/instance-id").await,
        (200, a.id.clone())
    );
    assert_eq!(
        get(ip_b, "/latest/meta-data/instance-id").await,
        (200, b.id.clone())
    );
    assert_eq!(
        get(ip_a, "/latest/meta-data/local-ipv4").await,
        (200, "127.77.0.10".into())
    );
    assert_eq!(
        get(ip_a, "/latest/meta-data/iam/security-credentials/").await,
        (200, "alpha".into())
    );
    let (status, body) = get(ip_a, "/latest/meta-data/iam/security-credentials/alpha").await;
    assert_eq!(status, 200, "{body}");
    let creds_a = creds_of(&serde_json::from_str(&body).unwrap());
    let (status, who) = s.whoami(&creds_a).await;
    assert_eq!(status, 200);
    assert_eq!(
        xml(&who, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/alpha/{}", a.id)
    );

    // B's address gets B's answers only: not A's role, whatever it asks for.
    assert_eq!(
        get(ip_b, "/latest/meta-data/iam/security-credentials/").await,
        (200, "beta".into())
    );
    assert_eq!(
        get(ip_b, "/latest/meta-data/iam/security-credentials/alpha")
            .await
            .0,
        404
    );
    let (status, body) = get(ip_b, "/latest/meta-data/iam/security-credentials/beta").await;
    assert_eq!(status, 200);
    let creds_b = creds_of(&serde_json::from_str(&body).unwrap());
    assert_ne!(creds_b.key, creds_a.key);
    let (_, who) = s.whoami(&creds_b).await;
    assert_eq!(
        xml(&who, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/beta/{}", b.id)
    );

    // An address that is no instance, and 127.0.0.1 itself, get nothing.
    for ip in [nobody, "127.0.0.1".parse().unwrap()] {
        assert_eq!(get(ip, "/latest/meta-data/instance-id").await.0, 404);
        assert_eq!(
            get(ip, "/latest/meta-data/iam/security-credentials/alpha")
                .await
                .0,
            404
        );
    }

    // IMDSv2 from the instance's address; A's token is no good from B's address.
    let (status, token_a) =
        from_ip(ip_a, s.imds, "PUT", "/latest/api/token", &[(TTL, "21600")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        from_ip(
            ip_a,
            s.imds,
            "GET",
            "/latest/meta-data/instance-id",
            &[(TOKEN, token_a.as_str())]
        )
        .await,
        (200, a.id.clone())
    );
    assert_eq!(
        from_ip(
            ip_b,
            s.imds,
            "GET",
            "/latest/meta-data/instance-id",
            &[(TOKEN, token_a.as_str())]
        )
        .await
        .0,
        401
    );

    // A dev path names its instance whatever the source address: the MAC is the secret.
    let dev_a = format!("{}/latest/meta-data/instance-id", s.prefix(&a.id));
    assert_eq!(
        from_ip(ip_b, s.imds, "GET", &dev_a, &[]).await,
        (200, a.id.clone())
    );
    // A forged dev path is refused, not answered for the source address.
    let forged = format!(
        "/rolecall/{}/{}/latest/meta-data/instance-id",
        a.id,
        "0".repeat(32)
    );
    assert_eq!(from_ip(ip_b, s.imds, "GET", &forged, &[]).await.0, 404);
    assert_eq!(from_ip(ip_a, s.imds, "GET", &forged, &[]).await.0, 404);

    // After termination the address answers nothing.
    s.ec2
        .terminate_instances(std::slice::from_ref(&a.id))
        .await
        .unwrap();
    s.dir.reload().await.unwrap();
    assert_eq!(get(ip_a, "/latest/meta-data/instance-id").await.0, 404);
    assert_eq!(
        get(ip_b, "/latest/meta-data/instance-id").await,
        (200, b.id.clone())
    );
}

/// Many keep-alive requests on one connection see one consistent credential (the cache), and
/// pipelined requests are answered in order.
#[tokio::test]
async fn keep_alive_and_pipelining() {
    let (s, _, [a]) = web_instances(Options::default()).await;
    let path = format!(
        "{}/latest/meta-data/iam/security-credentials/web",
        s.prefix(&a.id)
    );
    let mut stream = tokio::net::TcpStream::connect(s.imds).await.unwrap();
    let one = format!("GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n");
    let n = 20;
    stream.write_all(one.repeat(n).as_bytes()).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), n);
    assert_eq!(raw.matches("HTTP/1.1 404 Not Found").count(), 1);
    let key = s.credentials(&a.id, "web").await["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(raw.matches(&key).count(), n);
}

// ----- incremental directory (the change feed) -----

const S3_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// Each change rebuilds only the directory entries it touches, counted by the directory.
#[tokio::test]
async fn a_change_rebuilds_only_its_entries() {
    let s = stack(Options::default()).await;
    let (_, web_profile) = s.role("web", EC2_TRUST).await;
    let (_, db_profile) = s.role("db", EC2_TRUST).await;
    let mut web = Vec::new();
    for _ in 0..4 {
        web.push(s.launch(Some(&web_profile), |_| {}).await);
    }
    let mut db = Vec::new();
    for _ in 0..3 {
        db.push(s.launch(Some(&db_profile), |_| {}).await);
    }
    let idle = s.launch(None, |_| {}).await;
    let reloads = s.dir.full_reloads();
    assert_eq!(s.dir.len(), 8);

    // Applies what the store recorded since the last catch-up; returns the entries rebuilt.
    let rebuilt = || async {
        let before = s.dir.entries_rebuilt();
        s.dir.reload().await.unwrap();
        s.dir.entries_rebuilt() - before
    };
    // Role policies, managed policies, users: nothing IMDS serves depends on them.
    s.iam.put_role_policy("web", "s3", S3_POLICY).await.unwrap();
    assert_eq!(rebuilt().await, 0);
    s.iam
        .create_user("someone", None, None, vec![])
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 0);
    // One instance's tags: that entry.
    s.ec2
        .modify_instance_metadata_options(&idle.id, |m| m.instance_metadata_tags = "enabled".into())
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 1);
    // One association replaced: that instance's entry, which now serves the other role.
    let assoc = s
        .iam
        .store()
        .active_associations(std::slice::from_ref(&web[0].id))
        .await
        .unwrap()
        .remove(0);
    s.ec2
        .replace_iam_instance_profile_association(&assoc.id, Some(&db_profile), None)
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 1);
    s.credentials(&web[0].id, "db").await;
    // A trust-policy change re-checks the instances of that role only (3 + the one moved).
    s.iam
        .update_assume_role_policy("db", LAMBDA_TRUST)
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 4);
    for i in db.iter().chain([&web[0]]) {
        let (status, body) = s.get_role_credentials(&i.id, "db").await;
        assert_eq!(status, 200);
        assert!(body.contains("AssumeRoleUnauthorizedAccess"), "{body}");
    }
    s.credentials(&web[1].id, "web").await;
    // A profile's role removed: the instances of that profile.
    s.iam
        .remove_role_from_instance_profile(&web_profile, "web")
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 3);
    assert_eq!(
        s.status(
            &web[1].id,
            "/latest/meta-data/iam/security-credentials/web",
            None
        )
        .await,
        404
    );
    // Termination drops the entry.
    s.ec2
        .terminate_instances(std::slice::from_ref(&idle.id))
        .await
        .unwrap();
    assert_eq!(rebuilt().await, 1);
    assert!(s.dir.by_id(&idle.id).is_none());
    assert_eq!(s.dir.len(), 7);
    // Through the API too (the directory catches up before the response goes out).
    s.ok_as_root(
        "iam",
        &[
            ("Action", "AddRoleToInstanceProfile"),
            ("InstanceProfileName", web_profile.as_str()),
            ("RoleName", "web"),
        ],
    )
    .await;
    s.credentials(&web[1].id, "web").await;
    assert_eq!(
        rebuilt().await,
        0,
        "the API's change was applied before its response"
    );
    assert_eq!(s.dir.full_reloads(), reloads, "no full reload");
}

/// A directory that fell behind a pruned feed reloads fully, and says so in a metric.
#[tokio::test]
async fn a_directory_behind_the_pruned_feed_reloads_fully() {
    let (s, _, [a, b]) = web_instances(Options::default()).await;
    let reloads = s.dir.full_reloads();
    // Changes the directory has not applied yet, then the feed pruned past them.
    s.ec2
        .terminate_instances(std::slice::from_ref(&a.id))
        .await
        .unwrap();
    s.iam
        .create_role(rolecall_core::iam::CreateRole::new("later", EC2_TRUST))
        .await
        .unwrap();
    let store = s.iam.store();
    let latest = store.latest_change().await.unwrap();
    store.prune_changes(1).await.unwrap();
    s.dir.reload().await.unwrap();
    assert_eq!(s.dir.full_reloads(), reloads + 1);
    assert_eq!(s.dir.seq(), Some(latest));
    assert!(
        s.dir.by_id(&a.id).is_none(),
        "the change pruned from the feed is seen"
    );
    s.credentials(&b.id, "web").await;
    assert!(
        rolecall_core::metrics::metrics()
            .render()
            .contains("rolecall_directory_full_reloads_total"),
    );
    // Back to incremental.
    s.ec2
        .terminate_instances(std::slice::from_ref(&b.id))
        .await
        .unwrap();
    s.dir.reload().await.unwrap();
    assert_eq!(s.dir.full_reloads(), reloads + 1);
    assert!(s.dir.by_id(&b.id).is_none());
}

/// Credentials are minted when an instance first asks, refreshed ahead of expiry only while it
/// keeps asking, and always served with at least 30 minutes left.
#[tokio::test]
async fn credentials_minted_lazily_for_instances_that_ask() {
    let policy = CredentialPolicy {
        lifetime: Duration::minutes(45),
        refresh_before: Duration::minutes(30),
    };
    let (s, _, [a, b]) = web_instances(Options {
        policy,
        ..Options::default()
    })
    .await;
    s.dir.refresh_due();
    assert_eq!(
        s.dir.cached_credentials(),
        0,
        "nothing minted before anyone asks"
    );
    assert_eq!(s.dir.credential_times(&a.id), None, "not yet asked");
    let asked_at = s.clock.now();
    let first = s.credentials(&a.id, "web").await;
    assert_eq!(s.dir.cached_credentials(), 1);
    let times = s.dir.credential_times(&a.id).unwrap();
    assert_eq!(times.minted, asked_at);
    assert_eq!(times.expires, expiration(&first));
    assert_eq!(times.expires - times.minted, policy.lifetime);
    assert_eq!(s.dir.credential_times(&b.id), None);
    let mut last_key = first["AccessKeyId"].as_str().unwrap().to_string();
    let mut refreshed = 0;
    // a asks every 5 minutes for two hours; the refresher runs every minute.
    for minute in 1..=120 {
        s.clock.advance(Duration::minutes(1));
        s.dir.refresh_due();
        if minute % 5 == 0 {
            let now = s.clock.now();
            let doc = s.credentials(&a.id, "web").await;
            let left = expiration(&doc) - now;
            assert!(
                left >= Duration::minutes(30),
                "minute {minute}: {left} left"
            );
            let key = doc["AccessKeyId"].as_str().unwrap().to_string();
            if key != last_key {
                refreshed += 1;
                last_key = key;
            }
        }
        assert_eq!(s.dir.cached_credentials(), 1, "b never asked");
    }
    assert!(refreshed >= 7, "{refreshed}");
    // Once a stops asking for a credential lifetime, it is forgotten.
    s.clock.advance(policy.lifetime);
    s.dir.refresh_due();
    assert_eq!(s.dir.cached_credentials(), 0);
    // Asking again mints on the spot.
    let now = s.clock.now();
    let doc = s.credentials(&b.id, "web").await;
    assert_eq!(expiration(&doc) - now, policy.lifetime);
    assert_eq!(s.dir.cached_credentials(), 1);
}

/// While the fleet is still loading (a large one loads after the API starts), IMDS answers 503,
/// never "no such instance" or another instance's role; once loaded, it serves.
#[tokio::test]
async fn imds_answers_503_until_the_directory_is_loaded() {
    let s = stack(Options::default()).await;
    let (_, profile) = s.role("loading", EC2_TRUST).await;
    let inst = s.launch(Some(&profile), |_| {}).await;
    let fresh = Directory::new(
        s.iam.clone(),
        "us-east-1".into(),
        s.keyring.clone(),
        s.clock.clone(),
        CredentialPolicy::default(),
    );
    assert!(!fresh.is_ready());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rolecall_imds::serve(
        listener,
        fresh.clone(),
        rolecall_imds::ImdsConfig::default(),
    ));
    let url = format!(
        "http://{addr}{}/latest/meta-data/iam/security-credentials/",
        s.prefix(&inst.id)
    );
    let get = || async {
        let r = s.http.get(&url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(get().await.0, 503);
    // A change notification before the first load does not half-load it.
    rolecall_core::ChangeListener::changed(fresh.as_ref()).await;
    assert_eq!(get().await.0, 503);
    fresh.clone().load_in_background().await.unwrap();
    assert!(fresh.is_ready());
    assert_eq!(get().await, (200, "loading".to_string()));
}
