//! The API (SQLite in memory, real clock) and a `rolecall agent` in one process, on 127.0.0.1.
//! The agent reaches the API through a TCP relay the tests can cut, to simulate a control-plane
//! outage. Instances get 127.x private IPs so requests can come from their source address.

#![allow(clippy::unwrap_used)]

use rolecall_agent::{Agent, AgentConfig, AgentCredentials, CallError, Client};
use rolecall_core::{DynClock, ManualClock};
use rolecall_imds::{CredentialPolicy, Delivery, ImdsConfig};
use rolecall_test_support::{
    ACCOUNT, AGENT_POLICY, Creds, EC2_TRUST, REGION, Stack, StackOptions,
    creds_of_text as creds_of, xml,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Only catches a hang: how fast the agent follows changes is measured by benchmarks
/// (docs/benchmarks.md), never asserted on a shared, loaded machine.
const HANG: Duration = Duration::from_secs(60);

/// A TCP relay from a fixed port to the API that can be cut (listener and every connection
/// closed) and restored.
struct Relay {
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn new(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            target,
            tasks: Arc::default(),
        };
        relay.run(listener);
        relay
    }

    fn run(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        let mut tries = 0;
        while let Err(e) = sock.bind(self.addr) {
            tries += 1;
            assert!(tries < 50, "rebinding {}: {e}", self.addr);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.run(sock.listen(64).unwrap());
    }
}

/// The API, and a relay to it that the agent goes through.
struct Fixture {
    s: Stack,
    relay: Relay,
}

async fn stack(lifetime: chrono::Duration) -> Fixture {
    let s = Stack::start(StackOptions {
        policy: CredentialPolicy {
            lifetime,
            refresh_before: chrono::Duration::zero(),
        },
        instance_cidr: "127.91.0.0/24",
        ..Default::default()
    })
    .await;
    let relay = Relay::new(s.api).await;
    Fixture { s, relay }
}

impl std::ops::Deref for Fixture {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.s
    }
}

impl Fixture {
    /// Role `name` trusting EC2, in profile `<name>-profile`.
    async fn ec2_role(&self, name: &str) -> String {
        self.s.role(name, EC2_TRUST).await.1
    }

    /// An IAM user with an access key, allowed `policy` (none when None).
    async fn user(&self, name: &str, policy: Option<&str>) -> AgentCredentials {
        self.ok("iam", &[("Action", "CreateUser"), ("UserName", name)])
            .await;
        if let Some(p) = policy {
            self.ok(
                "iam",
                &[
                    ("Action", "PutUserPolicy"),
                    ("UserName", name),
                    ("PolicyName", "agent"),
                    ("PolicyDocument", p),
                ],
            )
            .await;
        }
        let body = self
            .ok("iam", &[("Action", "CreateAccessKey"), ("UserName", name)])
            .await;
        AgentCredentials {
            access_key_id: xml(&body, "AccessKeyId").into(),
            secret_access_key: xml(&body, "SecretAccessKey").into(),
            session_token: None,
        }
    }

    /// Launches an instance with `profile` through the API: (id, private IP).
    async fn launch(&self, profile: &str) -> (String, IpAddr) {
        let body = self
            .ok(
                "ec2",
                &[
                    ("Action", "RunInstances"),
                    ("ImageId", "ami-11aa22bb"),
                    ("MinCount", "1"),
                    ("MaxCount", "1"),
                    ("IamInstanceProfile.Name", profile),
                ],
            )
            .await;
        (
            xml(&body, "instanceId").to_string(),
            xml(&body, "privateIpAddress").parse().unwrap(),
        )
    }

    async fn replace_profile(&self, instance: &str, profile: &str) {
        let body = self
            .ok(
                "ec2",
                &[
                    ("Action", "DescribeIamInstanceProfileAssociations"),
                    ("Filter.1.Name", "instance-id"),
                    ("Filter.1.Value.1", instance),
                ],
            )
            .await;
        let assoc = xml(&body, "associationId").to_string();
        self.ok(
            "ec2",
            &[
                ("Action", "ReplaceIamInstanceProfileAssociation"),
                ("AssociationId", &assoc),
                ("IamInstanceProfile.Name", profile),
            ],
        )
        .await;
    }

    fn agent_config(&self, credentials: AgentCredentials) -> AgentConfig {
        let mut c = AgentConfig::new(&format!("http://{}", self.relay.addr), REGION, credentials);
        c.timeout = Duration::from_millis(500);
        c
    }
}

/// Starts an agent's refresher and IMDS listener; returns the IMDS address and the agent.
async fn start_agent(config: AgentConfig) -> (SocketAddr, Arc<Agent>) {
    let agent = Agent::new(config).unwrap();
    agent.sync().await.unwrap();
    tokio::spawn(agent.clone().run());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let imds = ImdsConfig {
        dev_paths: false,
        ..ImdsConfig::default()
    };
    tokio::spawn(rolecall_imds::serve(
        listener,
        agent.directory().clone(),
        imds,
    ));
    (addr, agent)
}

/// A GET to IMDS from the instance's own address (IMDSv1, or with an IMDSv2 token).
async fn imds_get(
    imds: SocketAddr,
    from: IpAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .build()
        .unwrap();
    let mut rb = http.get(format!("http://{imds}{path}"));
    if let Some(t) = token {
        rb = rb.header("x-aws-ec2-metadata-token", t);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn role_served(imds: SocketAddr, from: IpAddr) -> String {
    let (status, body) = imds_get(
        imds,
        from,
        "/latest/meta-data/iam/security-credentials/",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn credentials(imds: SocketAddr, from: IpAddr, role: &str) -> (u16, String) {
    imds_get(
        imds,
        from,
        &format!("/latest/meta-data/iam/security-credentials/{role}"),
        None,
    )
    .await
}

/// Polls until the agent serves `role` to `from` (fails only on a hang); how long that took.
async fn until_role(imds: SocketAddr, from: IpAddr, role: &str) -> Duration {
    let start = Instant::now();
    loop {
        if role_served(imds, from).await == role {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < HANG,
            "agent still serves the old role after {HANG:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `polls` poll intervals have passed since the relay was cut at `since`, and checks
/// that none of those polls reached the control plane (so the agent worked from its cache).
async fn until_polls_failed(agent: &Agent, since: Instant, polls: u32) {
    while since.elapsed() < agent_poll() * polls {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A poll already answered when the relay was cut may still have been recorded just after.
    let stale = agent
        .last_success()
        .is_none_or(|t| t < since + agent_poll());
    assert!(
        stale,
        "the agent reached the control plane through a cut relay"
    );
}

fn agent_poll() -> Duration {
    AgentConfig::new("http://127.0.0.1:1", REGION, dummy_credentials()).poll
}

fn dummy_credentials() -> AgentCredentials {
    AgentCredentials {
        access_key_id: String::new(),
        secret_access_key: String::new(),
        session_token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_serves_instances_follows_changes_and_survives_an_outage() {
    let s = stack(chrono::Duration::hours(6)).await;
    let p1 = s.ec2_role("s3access").await;
    let p2 = s.ec2_role("other").await;
    let (id, ip) = s.launch(&p1).await;
    let (_id2, ip2) = s.launch(&p2).await;
    let agent_creds = s.user("imds-agent", Some(AGENT_POLICY)).await;
    let mut config = s.agent_config(agent_creds);
    config.instance_ips = vec![ip];
    let (imds, agent) = start_agent(config).await;

    // Metadata and credentials by source IP; the other instance is not fronted by this agent.
    let (status, body) = imds_get(imds, ip, "/latest/meta-data/instance-id", None).await;
    assert_eq!((status, body.as_str()), (200, id.as_str()));
    let (status, body) = imds_get(imds, ip, "/latest/meta-data/local-ipv4", None).await;
    assert_eq!((status, body), (200, ip.to_string()));
    assert_eq!(
        imds_get(imds, ip2, "/latest/meta-data/instance-id", None)
            .await
            .0,
        404
    );
    assert_eq!(role_served(imds, ip).await, "s3access");
    let (status, body) = credentials(imds, ip, "s3access").await;
    assert_eq!(status, 200, "{body}");
    let creds = creds_of(&body);
    assert!(creds.key.starts_with("ASIA"));
    let (status, who) = s
        .call("sts", &[("Action", "GetCallerIdentity")], &creds)
        .await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        xml(&who, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/s3access/{id}")
    );
    let (status, info) = imds_get(imds, ip, "/latest/meta-data/iam/info", None).await;
    assert_eq!(status, 200);
    assert!(info.contains("instance-profile/s3access-profile"), "{info}");

    // IMDSv2 through the agent.
    let http = reqwest::Client::builder()
        .no_proxy()
        .local_address(ip)
        .build()
        .unwrap();
    let token = http
        .put(format!("http://{imds}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, body) = imds_get(imds, ip, "/latest/meta-data/instance-id", Some(&token)).await;
    assert_eq!((status, body.as_str()), (200, id.as_str()));
    assert_eq!(
        imds_get(imds, ip, "/latest/meta-data/instance-id", Some("forged"))
            .await
            .0,
        401
    );

    // An association change reaches the agent (how fast: docs/benchmarks.md).
    s.replace_profile(&id, &p2).await;
    let took = until_role(imds, ip, "other").await;
    eprintln!("association change visible through the agent after {took:?}");
    let (status, body) = credentials(imds, ip, "other").await;
    assert_eq!(status, 200, "{body}");
    let (_, who) = s
        .call("sts", &[("Action", "GetCallerIdentity")], &creds_of(&body))
        .await;
    assert!(who.contains("assumed-role/other/"), "{who}");

    // Outage: the agent keeps serving what it has and catches up afterwards.
    // Once its polls fail (before and after a change it cannot see), it serves what it had.
    s.relay.cut();
    let cut = Instant::now();
    until_polls_failed(&agent, cut, 2).await;
    s.replace_profile(&id, &p1).await;
    until_polls_failed(&agent, cut, 4).await;
    assert_eq!(role_served(imds, ip).await, "other");
    let (status, cached) = credentials(imds, ip, "other").await;
    assert_eq!(status, 200, "{cached}");
    assert_eq!(
        cached, body,
        "the cached credential is served during the outage"
    );
    s.relay.restore().await;
    let took = until_role(imds, ip, "s3access").await;
    eprintln!("caught up after the outage in {took:?}");
    let (status, body) = credentials(imds, ip, "s3access").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_needs_its_permission() {
    let s = stack(chrono::Duration::hours(6)).await;
    let nobody = s.user("nobody", None).await;
    let client = Client::new(&AgentConfig::new(
        &format!("http://{}", s.api),
        REGION,
        nobody,
    ))
    .unwrap();
    for result in [
        client.change_generation().await.map(|_| ()),
        client.describe_instance_identities(&[]).await.map(|_| ()),
    ] {
        match result {
            Err(CallError::Refused { status, code, .. }) => {
                assert_eq!((status, code.as_str()), (403, "AccessDenied"))
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(()) => panic!("a user without rolecall:* permissions was allowed"),
        }
    }
    // A user allowed exactly the agent's actions may, and may do nothing else.
    let agent = s.user("imds-agent", Some(AGENT_POLICY)).await;
    let as_creds = Creds {
        key: agent.access_key_id.clone(),
        secret: agent.secret_access_key.clone(),
        token: None,
    };
    let client = Client::new(&AgentConfig::new(
        &format!("http://{}", s.api),
        REGION,
        agent,
    ))
    .unwrap();
    let before = client.change_generation().await.unwrap();
    assert!(
        !before.is_empty(),
        "the IAM changes above published a generation"
    );
    let ids = client.describe_instance_identities(&[]).await.unwrap();
    assert_eq!(ids.account_id, ACCOUNT);
    assert!(ids.views.is_empty());
    // Both are reads: they publish no change (agents would otherwise refetch forever).
    assert_eq!(client.change_generation().await.unwrap(), before);
    let (status, body) = s.call("iam", &[("Action", "ListRoles")], &as_creds).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_refreshed_ahead_of_expiry_and_not_served_expired() {
    // One-hour credentials (minted by the API at real time); the agent judges expiry by a manual
    // clock, so nothing here waits for time to pass.
    let s = stack(chrono::Duration::hours(1)).await;
    let p = s.ec2_role("short").await;
    let (_, ip) = s.launch(&p).await;
    let creds = s.user("imds-agent", Some(AGENT_POLICY)).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let mut config = s.agent_config(creds);
    config.clock = clock.clone() as DynClock;
    config.refresh = Duration::from_secs(600);
    let (imds, _agent) = start_agent(config).await;
    let (status, first) = credentials(imds, ip, "short").await;
    assert_eq!(status, 200, "{first}");
    // With less than `refresh` (10 minutes) left, the agent fetches a new credential ahead of
    // expiry...
    clock.advance(chrono::Duration::minutes(55));
    let start = Instant::now();
    let second = loop {
        let (status, now) = credentials(imds, ip, "short").await;
        assert_eq!(status, 200, "{now}");
        if creds_of(&now).key != creds_of(&first).key {
            break now;
        }
        assert!(start.elapsed() < HANG, "credentials not refreshed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (status, who) = s.whoami(&creds_of(&second)).await;
    assert_eq!(status, 200, "{who}");
    // Cut off, the agent serves the credential it holds until it expires (about an hour after
    // it was minted, 5 minutes ahead on the agent's clock), then nothing.
    s.relay.cut();
    let (status, held) = credentials(imds, ip, "short").await;
    assert_eq!(status, 200, "{held}");
    clock.advance(chrono::Duration::minutes(3));
    assert_eq!(credentials(imds, ip, "short").await, (200, held));
    clock.advance(chrono::Duration::minutes(3));
    let (status, _) = credentials(imds, ip, "short").await;
    assert_eq!(status, 404, "expired credentials must not be served");
    // The instance itself is still known.
    assert_eq!(role_served(imds, ip).await, "short");
    s.relay.restore().await;
}

/// An agent that asks for the changes since its view's sequence receives only the instances a
/// change touched (with their credentials), and what to forget; the agent's loop installs them
/// without rebuilding the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_receive_only_changed_instances() {
    let s = stack(chrono::Duration::hours(6)).await;
    let web = s.ec2_role("web").await;
    let db = s.ec2_role("db").await;
    let mut instances = Vec::new();
    for _ in 0..5 {
        instances.push(s.launch(&web).await);
    }
    let creds = s.user("imds-agent", Some(AGENT_POLICY)).await;
    let client = Client::new(&AgentConfig::new(
        &format!("http://{}", s.api),
        REGION,
        creds.clone(),
    ))
    .unwrap();
    let all = client.describe_instance_identities(&[]).await.unwrap();
    assert!(all.full);
    assert_eq!(all.views.len(), 5);
    assert_eq!(all.credentials.len(), 5);
    let seq = all.sequence.unwrap();
    let changes_since = |seq| client.describe_instance_identity_changes(&[], Some(seq), None);

    // Nothing changed: nothing sent.
    let none = changes_since(seq).await.unwrap();
    assert!(!none.full);
    assert!(none.views.is_empty() && none.removed.is_empty());
    assert_eq!(none.sequence, Some(seq));

    // A role policy changes nothing an agent serves.
    s.ok(
        "iam",
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "web"),
            ("PolicyName", "p"),
            ("PolicyDocument", AGENT_POLICY),
        ],
    )
    .await;
    let policy = changes_since(seq).await.unwrap();
    assert!(policy.views.is_empty() && policy.removed.is_empty());
    assert!(policy.revoked.is_empty(), "a policy that revokes nothing");
    let seq = policy.sequence.unwrap();

    // Sessions revoked: the role and its cutoff, so agents drop what it refuses.
    let web_role = all.views[0]
        .profile
        .as_ref()
        .unwrap()
        .role
        .as_ref()
        .unwrap();
    let cutoff =
        chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis()).unwrap();
    s.iam.revoke_sessions("web", cutoff).await.unwrap();
    let revoked = changes_since(seq).await.unwrap();
    assert!(revoked.views.is_empty() && revoked.removed.is_empty());
    assert_eq!(revoked.revoked, vec![(web_role.id.clone(), cutoff)]);
    let seq = revoked.sequence.unwrap();

    // One association replaced: that instance, with a credential for its new role.
    s.replace_profile(&instances[0].0, &db).await;
    let one = changes_since(seq).await.unwrap();
    assert!(!one.full);
    assert_eq!(one.views.len(), 1);
    assert_eq!(one.views[0].instance.id, instances[0].0);
    assert_eq!(one.credentials.len(), 1);
    let seq = one.sequence.unwrap();

    // A termination: forget it.
    s.ok(
        "ec2",
        &[
            ("Action", "TerminateInstances"),
            ("InstanceId.1", instances[1].0.as_str()),
        ],
    )
    .await;
    let gone = changes_since(seq).await.unwrap();
    assert!(gone.views.is_empty());
    assert_eq!(gone.removed, vec![instances[1].0.clone()]);
    let seq = gone.sequence.unwrap();

    // A trust-policy change: the instances of that role only (found by an index lookup).
    s.ok(
        "iam",
        &[
            ("Action", "UpdateAssumeRolePolicy"),
            ("RoleName", "db"),
            ("PolicyDocument", EC2_TRUST),
        ],
    )
    .await;
    let trust = changes_since(seq).await.unwrap();
    assert!(!trust.full);
    let ids: Vec<&str> = trust.views.iter().map(|v| v.instance.id.as_str()).collect();
    assert_eq!(ids, vec![instances[0].0.as_str()]);
    let seq = trust.sequence.unwrap();

    // Behind a pruned feed: everything again.
    s.iam.store().prune_changes(0).await.unwrap();
    let again = client
        .describe_instance_identity_changes(&[], Some(seq - 1), None)
        .await
        .unwrap();
    assert!(again.full);
    assert_eq!(again.views.len(), 4);

    // Credentials only for the instances listed (answered even if unchanged).
    let seq = again.sequence.unwrap();
    let listed = [
        (instances[4].0.clone(), Delivery::V1),
        (instances[4].0.clone(), Delivery::V2),
    ];
    let lazy = client
        .describe_instance_identity_changes(&[], Some(seq), Some(&listed))
        .await
        .unwrap();
    assert_eq!(lazy.views.len(), 1);
    assert!(lazy.credentials.is_empty());
    let mut got: Vec<_> = lazy.delivered.keys().cloned().collect();
    got.sort_by_key(|(_, d)| d.as_str());
    assert_eq!(got, listed);
    let (v1, v2) = (&lazy.delivered[&listed[0]], &lazy.delivered[&listed[1]]);
    assert_ne!(
        v1.access_key_id, v2.access_key_id,
        "one credential per version"
    );
    let lazy_full = client
        .describe_instance_identity_changes(&[], None, Some(&[]))
        .await
        .unwrap();
    assert_eq!(lazy_full.views.len(), 4);
    assert!(lazy_full.credentials.is_empty() && lazy_full.delivered.is_empty());

    // The agent's loop applies changes, rebuilding only the entries they touch; it holds no
    // credential until an instance asks, and the first request waits for it.
    let (imds, agent) = start_agent(s.agent_config(creds)).await;
    let dir = agent.directory().clone();
    assert_eq!(dir.len(), 4);
    assert_eq!(dir.cached_credentials(), 0);
    let before = dir.entries_rebuilt();
    s.replace_profile(&instances[2].0, &db).await;
    until_role(imds, instances[2].1, "db").await;
    assert_eq!(dir.entries_rebuilt() - before, 1);
    let (status, body) = credentials(imds, instances[3].1, "web").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(dir.cached_credentials(), 1, "only the instance that asked");
}
