//! `rolecall bench-seed` and `rolecall bench-load` (hidden): the fleet-scale benchmark's seeding
//! and load client, run by `scripts/bench-scale.sh`.
//!
//! `bench-seed` bulk-inserts N running instances through the store, spread over M roles and
//! instance profiles (`bench-role-<m>`, `bench-profile-<m>`; instance n holds profile n mod M),
//! plus spare instances without a profile (tag `bench=spare`) for AssociateIamInstanceProfile.
//! `bench-load` drives a running server through its real HTTP API with SigV4-signed requests
//! (the account root's key) and IMDS GETs, and prints one line per measured operation: count,
//! client-observed p50/p99 and, from the server's timing log lines, the server-side p50. With
//! `--agent` it also starts a `rolecall agent` fronting the spares (their addresses are on
//! loopback, so the client sends from them) and times a replace until the agent serves it.

use crate::datadir;
use anyhow::{Context, Result, bail};
use chrono::Utc;
use rolecall_core::SystemClock;
use rolecall_core::iam::{CreateRole, Iam};
use rolecall_core::model::{Association, AssociationState, Instance, Tag};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
/// Instances per store transaction while seeding.
const BATCH: u64 = 5_000;
/// Replaces whose delay to each IMDS is measured (each costs up to a poll interval).
const DELAY_SAMPLES: usize = 20;

/// The id of seeded instance `n` (spares count on from N).
pub fn instance_id(n: u64) -> String {
    format!("i-{n:017x}")
}

fn private_ip(n: u64) -> String {
    // 10.128.0.0/9: clear of the default allocation range (10.0.0.0/16).
    let n = n + (128 << 16);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Spare `k`'s private IP: on loopback (127.93.0.0/16), so that the load client can send from
/// it and an agent (which tells instances apart by source address) serves it.
fn spare_ip(k: u64) -> std::net::Ipv4Addr {
    let k = k + 1;
    std::net::Ipv4Addr::new(127, 93, ((k >> 8) & 255) as u8, (k & 255) as u8)
}

/// Instance `n` of a deployment seeded with `instances` (higher `n` are spares).
fn instance(n: u64, instances: u64) -> Instance {
    let spare = n >= instances;
    let private_ip = if spare {
        spare_ip(n - instances).to_string()
    } else {
        private_ip(n)
    };
    let tag = Tag {
        key: "bench".into(),
        value: if spare { "spare" } else { "fleet" }.into(),
    };
    Instance::fleet_member(n, private_ip, vec![tag], Utc::now())
}

/// The seeded deployment, as `bench-seed` and `bench-load` both name it.
#[derive(clap::Args)]
pub struct FleetArgs {
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    instances: u64,
    #[arg(long, default_value_t = 100)]
    profiles: u64,
}

/// What `bench-seed` inserts.
#[derive(clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    #[arg(long, default_value_t = 300)]
    spares: u64,
}

/// Seeds the deployment in `data_dir` (created as `serve` would); the server must not be running.
pub async fn seed(db: Option<&str>, args: SeedArgs) -> Result<()> {
    let (instances, spares) = (args.fleet.instances, args.spares);
    let profiles = args.fleet.profiles.max(3);
    let d = datadir::open(
        &args.fleet.data_dir,
        datadir::Open::Serve { account_id: None },
        db,
        &SystemClock,
    )
    .await?;
    let iam = Iam::new(d.store.clone(), d.account_id.clone());
    let mut arns = Vec::new();
    for m in 0..profiles {
        let (role, profile) = (format!("bench-role-{m}"), format!("bench-profile-{m}"));
        iam.create_role(CreateRole {
            name: &role,
            path: None,
            trust_policy: TRUST,
            description: None,
            max_session_duration: None,
            tags: vec![],
            permissions_boundary: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{role}: {e}"))?;
        let p = iam
            .create_instance_profile(&profile, None, vec![])
            .await
            .map_err(|e| anyhow::anyhow!("{profile}: {e}"))?;
        iam.add_role_to_instance_profile(&profile, &role)
            .await
            .map_err(|e| anyhow::anyhow!("{profile}: {e}"))?;
        arns.push((p.entity.arn, p.entity.id));
    }
    let started = Instant::now();
    let total = instances + spares;
    let mut n = 0;
    while n < total {
        let end = (n + BATCH).min(total);
        let batch: Vec<Instance> = (n..end).map(|k| instance(k, instances)).collect();
        let assocs: Vec<Association> = (n..end.min(instances))
            .map(|k| {
                let (arn, id) = &arns[(k % profiles) as usize];
                Association {
                    id: format!("iip-assoc-{k:017x}"),
                    instance_id: instance_id(k),
                    profile_arn: arn.clone(),
                    profile_id: id.clone(),
                    state: AssociationState::Associated,
                    timestamp: Utc::now(),
                }
            })
            .collect();
        d.store
            .insert_instances(&batch, &assocs)
            .await
            .map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
        n = end;
    }
    println!(
        "seeded {instances} instances (+{spares} spares) over {} profiles in {:.1} s",
        profiles,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What `bench-load` measures.
#[derive(clap::Args)]
pub struct LoadArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// The server's log, for the server-side handler times.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// IMDS endpoints of other nodes or agents, for the delay of a change to them.
    #[arg(long)]
    remote_imds: Vec<String>,
    /// Also start a `rolecall agent` for the spares and measure the delay to it.
    #[arg(long)]
    agent: bool,
}

/// A `rolecall agent` (this executable) polling the API and serving IMDS for the spares by
/// their source addresses; killed when dropped.
struct AgentProcess {
    child: std::process::Child,
    imds: String,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AgentProcess {
    /// Starts the agent (the root's key, fronting `ips`) and waits until it serves `first`.
    async fn start(
        server: &str,
        region: &str,
        key: &(String, String),
        ips: &[(String, std::net::Ipv4Addr)],
        log: &Path,
    ) -> Result<AgentProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args(["agent", "--server", server, "--region", region])
            .arg("--imds-listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("AWS_ACCESS_KEY_ID", &key.0)
            .env("AWS_SECRET_ACCESS_KEY", &key.1)
            .env_remove("AWS_SESSION_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?);
        for (_, ip) in ips {
            cmd.arg("--instance-ip").arg(ip.to_string());
        }
        let agent = AgentProcess {
            child: cmd.spawn().context("starting rolecall agent")?,
            imds: format!("http://127.0.0.1:{port}"),
        };
        let (id, ip) = ips.first().context("no spare for the agent")?;
        let url = format!("{}/latest/meta-data/instance-id", agent.imds);
        until_serves(&from(*ip)?, &url, id).await?;
        Ok(agent)
    }

    fn rss_mb(&self) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or_else(|| "?".into(), |kb| format!("{}", kb / 1024))
    }
}

/// An HTTP client whose requests come from `ip` (a spare's address, on loopback).
fn from(ip: std::net::Ipv4Addr) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::V4(ip))
        .build()?)
}

/// A SigV4-signing Query-protocol client on one keep-alive connection.
struct Client {
    http: reqwest::Client,
    url: String,
    host: String,
    key_id: String,
    secret: String,
}

impl Client {
    async fn call(&self, service: &str, params: &[(&str, &str)]) -> Result<(u16, String)> {
        let body = rolecall_wire::query_body(service, params);
        let credentials = rolecall_sigv4::Credentials {
            access_key_id: &self.key_id,
            secret_access_key: &self.secret,
            session_token: None,
        };
        let signed = rolecall_sigv4::sign_form_post(
            &self.host,
            &body,
            &rolecall_sigv4::SigningParams {
                credentials,
                region: "us-east-1",
                service,
                time: Utc::now(),
            },
        );
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", rolecall_sigv4::FORM_CONTENT_TYPE)
            .body(body);
        for (name, value) in signed.headers() {
            req = req.header(name, value);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// A call that must succeed; its time and body.
    async fn timed(&self, service: &str, params: &[(&str, &str)]) -> Result<(Duration, String)> {
        let t = Instant::now();
        let (status, body) = self.call(service, params).await?;
        let took = t.elapsed();
        if status != 200 {
            bail!("{params:?}: HTTP {status}: {body}");
        }
        Ok((took, body))
    }
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn count(xml: &str, tag: &str) -> usize {
    xml.matches(&format!("<{tag}>")).count()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Results, printed as a table at the end.
struct Report {
    rows: Vec<(String, Vec<Duration>, Vec<u64>)>,
    /// The server's log and how much of it earlier phases used.
    log: Option<PathBuf>,
    mark: u64,
}

impl Report {
    /// Starts a phase: the server's timing lines from here on are its.
    fn start(&mut self) {
        self.mark = self
            .log
            .as_deref()
            .and_then(|l| std::fs::metadata(l).ok())
            .map_or(0, |m| m.len());
    }

    fn add(&mut self, name: &str, mut times: Vec<Duration>) {
        times.sort();
        let server = self
            .log
            .as_deref()
            .map(|l| server_micros(l, self.mark, name.split(' ').next().unwrap_or_default()))
            .unwrap_or_default();
        self.rows.push((name.to_string(), times, server));
        self.start();
    }

    fn print(&self) {
        println!(
            "| operation | n | client p50 ms | client p99 ms | server p50 ms |\n|---|---|---|---|---|"
        );
        for (name, times, server) in &self.rows {
            let mut server = server.clone();
            server.sort_unstable();
            let server_p50 = server
                .get(server.len() / 2)
                .map_or_else(|| "–".into(), |us| format!("{:.2}", *us as f64 / 1000.0));
            println!(
                "| {name} | {} | {} | {} | {server_p50} |",
                times.len(),
                ms(percentile(times, 0.5)),
                ms(percentile(times, 0.99))
            );
        }
    }
}

/// Handler times of `action` from the server's `rolecall_api::timing` log lines after byte
/// `from` (an agent's polls are other actions).
fn server_micros(log: &Path, from: u64, action: &str) -> Vec<u64> {
    let action = format!(" action={action} ");
    let Ok(bytes) = std::fs::read(log) else {
        return vec![];
    };
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    strip_ansi(&String::from_utf8_lossy(&bytes[start..]))
        .lines()
        .filter(|l| l.contains("rolecall_api::timing") && l.contains(&action))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .iter()
        .filter_map(|l| {
            let at = l.find("micros=")? + "micros=".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// `text` without terminal escape sequences (the log's field names may be styled).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// GETs `url` until its body is `want` (or 60 s pass); when it first did.
async fn until_serves(http: &reqwest::Client, url: &str, want: &str) -> Result<Instant> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
            && r.text().await.ok().as_deref() == Some(want)
        {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!("{url} did not serve {want} within 60 s")
}

pub async fn load(db: Option<&str>, args: LoadArgs) -> Result<()> {
    let d = datadir::open(
        &args.fleet.data_dir,
        datadir::Open::Existing,
        db,
        &SystemClock,
    )
    .await?;
    let endpoint = std::fs::read_to_string(args.fleet.data_dir.join(datadir::ENDPOINT_FILE))?;
    let mut lines = endpoint.lines();
    let url = lines.next().context("no endpoint")?.to_string();
    let region = lines.next().unwrap_or("us-east-1").to_string();
    let imds = lines.next().filter(|s| !s.is_empty()).map(str::to_string);
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let root = d
        .root_key
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the root has no active access key"))?;
    let c = Client {
        http: http.clone(),
        url: format!("{url}/"),
        host,
        key_id: root.0.clone(),
        secret: root.1.clone(),
    };
    let k = args.requests;
    let run = Utc::now().timestamp_millis().to_string();
    let mut report = Report {
        rows: vec![],
        log: args.server_log.clone(),
        mark: 0,
    };
    report.start();

    let mut times = vec![];
    for i in 0..k {
        let name = format!("bench-new-{run}-{i}");
        let trust = TRUST;
        times.push(
            c.timed(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", &name),
                    ("AssumeRolePolicyDocument", trust),
                ],
            )
            .await?
            .0,
        );
    }
    report.add("CreateRole", times);

    let mut times = vec![];
    for i in 0..k {
        let name = format!("bench-new-{run}-{i}");
        let params = [
            ("Action", "PutRolePolicy"),
            ("RoleName", name.as_str()),
            ("PolicyName", "p"),
            ("PolicyDocument", POLICY),
        ];
        times.push(c.timed("iam", &params).await?.0);
    }
    report.add("PutRolePolicy", times);

    // Spares (tag bench=spare, no profile): found through the database's tag filter.
    let (_, spares) = c
        .timed(
            "ec2",
            &[
                ("Action", "DescribeInstances"),
                ("Filter.1.Name", "tag:bench"),
                ("Filter.1.Value.1", "spare"),
                ("Filter.2.Name", "instance-state-name"),
                ("Filter.2.Value.1", "running"),
                ("MaxResults", "1000"),
            ],
        )
        .await?;
    let spare_ids: Vec<String> = spares
        .split("<instanceId>")
        .skip(1)
        .filter_map(|s| s.split("</instanceId>").next())
        .map(str::to_string)
        .collect();
    // The spares measured, each with its (loopback) address.
    let spares: Vec<(String, std::net::Ipv4Addr)> = spare_ids
        .iter()
        .take(k)
        .map(|id| {
            let n = u64::from_str_radix(id.trim_start_matches("i-"), 16)?;
            Ok((id.clone(), spare_ip(n.saturating_sub(args.fleet.instances))))
        })
        .collect::<Result<_>>()?;
    let agent = if args.agent {
        let log = args.fleet.data_dir.join("agent.log");
        Some(AgentProcess::start(&url, &region, &root, &spares, &log).await?)
    } else {
        None
    };
    let mut assocs = vec![];
    let mut times = vec![];
    report.start();
    for id in spare_ids.iter().take(k) {
        let (t, body) = c
            .timed(
                "ec2",
                &[
                    ("Action", "AssociateIamInstanceProfile"),
                    ("InstanceId", id),
                    ("IamInstanceProfile.Name", "bench-profile-0"),
                ],
            )
            .await?;
        times.push(t);
        let assoc = element(&body, "associationId").context("no associationId")?;
        assocs.push((id.clone(), assoc.to_string()));
    }
    report.add("AssociateIamInstanceProfile", times);

    // Replace: to profile 1, and (for the delay) back and forth, each answer then polled on
    // every IMDS until it serves the new role.
    let prefix = |id: &str| rolecall_imds::dev_path_prefix(&d.keyring, id);
    let mut times = vec![];
    let mut spare_roles = vec![];
    let mut delays: Vec<(String, Vec<Duration>)> = vec![("local node".into(), vec![])];
    for r in &args.remote_imds {
        delays.push((format!("remote {r}"), vec![]));
    }
    let agent_row = delays.len();
    delays.push(("agent".into(), vec![]));
    // Clients sending from the sampled spares' addresses, made before any time is taken.
    let agent_clients = match &agent {
        Some(_) => spares
            .iter()
            .take(DELAY_SAMPLES)
            .map(|(_, ip)| from(*ip))
            .collect::<Result<Vec<_>>>()?,
        None => vec![],
    };
    for (n, (id, assoc)) in assocs.iter_mut().enumerate() {
        let to = 1 - n % 2;
        let profile = format!("bench-profile-{}", 1 + to);
        let (t, body) = c
            .timed(
                "ec2",
                &[
                    ("Action", "ReplaceIamInstanceProfileAssociation"),
                    ("AssociationId", assoc.as_str()),
                    ("IamInstanceProfile.Name", &profile),
                ],
            )
            .await?;
        let answered = Instant::now();
        times.push(t);
        *assoc = element(&body, "associationId")
            .context("no associationId")?
            .to_string();
        spare_roles.push((id.clone(), format!("bench-role-{}", 1 + to)));
        // The delay on a sample of the replaces (each poll costs up to a poll interval).
        if n < DELAY_SAMPLES {
            let path = format!(
                "{}/latest/meta-data/iam/security-credentials/",
                prefix(id).context("dev path")?
            );
            let role = format!("bench-role-{}", 1 + to);
            // Every IMDS is polled at once, so that a slow one does not delay the others' times.
            let mut targets = vec![];
            if let Some(imds) = &imds {
                targets.push((0, http.clone(), format!("{imds}{path}")));
            }
            for (i, r) in args.remote_imds.iter().enumerate() {
                targets.push((i + 1, http.clone(), format!("{r}{path}")));
            }
            if let (Some(a), Some(client)) = (&agent, agent_clients.get(n)) {
                let url = format!("{}/latest/meta-data/iam/security-credentials/", a.imds);
                targets.push((agent_row, client.clone(), url));
            }
            let polls: Vec<_> = targets
                .into_iter()
                .map(|(row, client, url)| {
                    let role = role.clone();
                    tokio::spawn(async move { (row, until_serves(&client, &url, &role).await) })
                })
                .collect();
            for p in polls {
                let (row, served) = p.await?;
                delays[row].1.push(served? - answered);
            }
        }
    }
    report.add("ReplaceIamInstanceProfileAssociation", times);
    for (name, d) in delays {
        if !d.is_empty() {
            report.add(&format!("replace → IMDS serves the new role ({name})"), d);
        }
    }

    // DescribeInstances by id (seeded instances when there are any, else the spares).
    let ids: Vec<String> = if args.fleet.instances > 0 {
        let step = (args.fleet.instances / k.max(1) as u64).max(1);
        (0..k as u64)
            .map(|i| instance_id((i * step * 7919) % args.fleet.instances))
            .collect()
    } else {
        spare_ids.iter().take(k).cloned().collect()
    };
    let mut times = vec![];
    for id in &ids {
        let (t, body) = c
            .timed(
                "ec2",
                &[("Action", "DescribeInstances"), ("InstanceId.1", id)],
            )
            .await?;
        if count(&body, "instanceId") != 1 {
            bail!("DescribeInstances {id}: {body}");
        }
        times.push(t);
    }
    report.add("DescribeInstances by id", times);

    // 100-instance pages, following NextToken from the start.
    let mut times = vec![];
    let mut token: Option<String> = None;
    for _ in 0..k {
        let mut params = vec![("Action", "DescribeInstances"), ("MaxResults", "100")];
        let t = token.clone();
        if let Some(t) = &t {
            params.push(("NextToken", t));
        }
        let (took, body) = c.timed("ec2", &params).await?;
        let n = count(&body, "instanceId");
        if n == 0 || (n != 100 && element(&body, "nextToken").is_some()) {
            bail!("DescribeInstances page of {n}");
        }
        times.push(took);
        token = element(&body, "nextToken").map(str::to_string);
    }
    report.add("DescribeInstances 100 per page", times);

    // IMDS credential GETs: first request of an instance (minted lazily), then warm.
    if let Some(imds) = &imds {
        // Seeded instance n holds profile n mod M; spares the profile they were replaced to.
        let targets: Vec<(String, String)> = if args.fleet.instances > 0 {
            ids.iter()
                .map(|id| {
                    let n = u64::from_str_radix(id.trim_start_matches("i-"), 16).unwrap_or(0);
                    (
                        id.clone(),
                        format!("bench-role-{}", n % args.fleet.profiles.max(3)),
                    )
                })
                .collect()
        } else {
            spare_roles.clone()
        };
        let urls: Vec<String> = targets
            .iter()
            .filter_map(|(id, role)| {
                Some(format!(
                    "{imds}{}/latest/meta-data/iam/security-credentials/{role}",
                    prefix(id)?
                ))
            })
            .collect();
        for (label, rounds) in [
            ("IMDS credential GET, first", 1),
            ("IMDS credential GET, warm", 20),
        ] {
            let mut times = vec![];
            for _ in 0..rounds {
                for u in &urls {
                    let t = Instant::now();
                    let r = http.get(u).send().await?;
                    let status = r.status();
                    let body = r.text().await?;
                    times.push(t.elapsed());
                    if !status.is_success() || !body.contains("\"AccessKeyId\"") {
                        bail!("{u}: {status} {body}");
                    }
                }
            }
            report.add(label, times);
        }
    }

    report.print();
    if let Some(a) = &agent {
        println!("\nagent RSS after the run: {} MB", a.rss_mb());
    }
    Ok(())
}
