//! `rolecall`: self-hosted IAM roles for EC2 instances.

mod audit;
mod bench;
mod datadir;
mod exec;
mod runtime;
mod tls;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rolecall_api::{Api, ApiConfig, AuthMode, KeyStore};
use rolecall_core::SystemClock;
use rolecall_core::ec2::{Ec2, Ec2Config};
use rolecall_core::iam::Iam;
use rolecall_imds::{CredentialPolicy, Directory, ImdsConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How long `serve` waits for the IMDS directory's first load before it starts the API anyway.
const STARTUP_LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The API's default listener.
const DEFAULT_LISTEN: &str = "127.0.0.1:8690";

#[derive(Parser)]
#[command(
    name = "rolecall",
    version,
    about = "Self-hosted, AWS-compatible IAM roles for EC2 instances"
)]
struct Cli {
    /// PostgreSQL URL (`postgres://...`) shared by several nodes; without it, SQLite in the data
    /// directory. The data directory still holds the key ring, which every node must share.
    #[arg(long, global = true, env = "ROLECALL_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Identify {
    SourceIp,
    Path,
    Both,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum TlsMode {
    Off,
    SelfSigned,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum InstanceRuntime {
    /// Instances are records only.
    None,
    /// Running instances are Linux namespaces on a bridge of rolecall's own (Linux, root).
    Netns,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Auth {
    On,
    Off,
}

/// The audit trail (`rolecall serve`).
#[derive(clap::Args, Clone, Copy)]
struct AuditArgs {
    /// Record every API request and IMDS credential issuance (`off` only for measurements).
    #[arg(long = "audit", value_enum, default_value = "on")]
    mode: Auth,
    /// Days audit events are kept (CloudTrail's event history keeps 90).
    #[arg(long = "audit-retention-days", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark: seed instances, roles and profiles into a stopped deployment.
    #[command(hide = true)]
    BenchSeed(bench::SeedArgs),
    /// Benchmark: measure a running server seeded by bench-seed (scripts/bench-scale.sh).
    #[command(hide = true)]
    BenchLoad(bench::LoadArgs),
    /// Run the API server (IAM, STS, EC2).
    Serve(ServeArgs),
    /// Print the audit trail's events (CloudTrail records) as JSON lines, oldest first.
    Audit {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Only events at or after this time: RFC 3339 (2026-11-30T05:00:00Z) or an age
        /// (90s, 15m, 2h, 7d) [default: all].
        #[arg(long)]
        since: Option<String>,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
    },
    /// Add a new deployment key (the active one from now on) and re-seal stored secrets under it.
    /// Restart the servers to use it; credentials issued under older keys stay valid.
    RotateKey {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run a command "on" an instance: SDKs in it get the instance's role credentials from IMDS.
    Exec {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// How the command reaches the instance's metadata service: a loopback endpoint of
        /// exec's own without a path (every SDK), or IMDS's URL with the instance's path prefix.
        #[arg(long, value_enum, default_value = "local")]
        imds_endpoint: exec::ImdsEndpoint,
        /// The instance to impersonate.
        instance_id: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Serve IMDS (source-IP identification) on a host of instances, from a control plane's view.
    /// Authenticates with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]: an IAM
    /// identity allowed rolecall:GetChangeGeneration and rolecall:DescribeInstanceIdentities.
    Agent(AgentArgs),
    /// Print `export` lines that point AWS CLIs and SDKs at this server as the account root.
    Env {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Refuse every session of a role issued before now (AssumeRole and instance credentials):
    /// puts the role's `AWSRevokeOlderSessions` inline policy as the IAM console does. Every node
    /// applies it within its change-feed poll (250 ms).
    RevokeSessions {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The role's name.
        role_name: String,
    },
}

/// Caps that keep one client or instance from starving the others.
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Open connections at most on the API listener.
    #[arg(long, default_value_t = rolecall_net::Limits::API.max_connections)]
    api_max_connections: usize,
    /// Open connections at most from one address on the API listener.
    #[arg(long, default_value_t = rolecall_net::Limits::API.max_connections_per_source)]
    api_max_connections_per_source: usize,
    /// Open connections at most on the IMDS listener.
    #[arg(long, default_value_t = rolecall_net::Limits::IMDS.max_connections)]
    imds_max_connections: usize,
    /// Open connections at most from one address (instance) on the IMDS listener.
    #[arg(long, default_value_t = rolecall_net::Limits::IMDS.max_connections_per_source)]
    imds_max_connections_per_source: usize,
    /// IMDS requests per second allowed from one address (0: unlimited); past it, 429.
    #[arg(long, default_value_t = ImdsConfig::DEFAULT_RATE)]
    imds_rate_per_source: u32,
    /// Console password sign-in attempts per minute from one address (0: unlimited); past it, 429.
    #[arg(long, default_value_t = rolecall_console::SignInLimits::DEFAULT_PER_SOURCE)]
    console_signin_per_source: u32,
    /// Console password sign-in attempts per minute at one user name (0: unlimited).
    #[arg(long, default_value_t = rolecall_console::SignInLimits::DEFAULT_PER_USER)]
    console_signin_per_user: u32,
    /// Seconds allowed to send a request's head (and to stay idle between keep-alive requests).
    #[arg(long, default_value_t = rolecall_net::Limits::API.header_read_timeout.as_secs())]
    header_read_timeout: u64,
}

impl LimitArgs {
    fn api(&self) -> rolecall_net::Limits {
        rolecall_net::Limits {
            max_connections: self.api_max_connections.max(1),
            max_connections_per_source: self.api_max_connections_per_source.max(1),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout.max(1)),
        }
    }

    fn imds(&self) -> rolecall_net::Limits {
        rolecall_net::Limits {
            max_connections: self.imds_max_connections.max(1),
            max_connections_per_source: self.imds_max_connections_per_source.max(1),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout.max(1)),
        }
    }
}

/// Everything `serve` needs, from the command line.
#[derive(clap::Args)]
struct ServeArgs {
    /// State directory [default: $XDG_DATA_HOME/rolecall or ~/.local/share/rolecall].
    #[arg(long, env = "ROLECALL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the API listener.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The region this server presents.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Verify SigV4 signatures (on) or accept any credentials as the account root (off).
    #[arg(long, value_enum, default_value = "on")]
    auth: Auth,
    /// The default VPC's CIDR block: its default subnets (AWS's /20 per zone when the
    /// block is /18 or larger, else one subnet) hand out instances' private IPs.
    #[arg(long, default_value = "172.31.0.0/16")]
    instance_cidr: ipnet::Ipv4Net,
    /// Refuse image, subnet and security group ids rolecall does not hold and unknown
    /// instance types, as AWS does (InvalidAMIID.NotFound, ...). Off (development mode),
    /// well-formed unknown ids are recorded as given.
    #[arg(long)]
    strict_ec2_ids: bool,
    /// Address of the instance metadata service listener (IMDS is off without it).
    #[arg(long)]
    imds_listen: Option<SocketAddr>,
    /// How instances are told apart: by source IP, by `rolecall exec`'s path prefix, or both.
    #[arg(long, value_enum, default_value = "both")]
    imds_identify: Identify,
    /// Lifetime of instance credentials, in seconds.
    #[arg(long, default_value_t = 6 * 3600)]
    credential_lifetime: i64,
    /// Replace an instance's credential once it has less than this many seconds left
    /// (at least 1800).
    #[arg(long, default_value_t = 5 * 3600)]
    credential_refresh: i64,
    /// TLS on the API listener: `self-signed` creates a local CA in the data directory on
    /// first start and a server certificate for the listen address at every start
    /// (`rolecall env` then sets AWS_CA_BUNDLE); `off` unless --tls-cert/--tls-key are given.
    #[arg(long, value_enum, default_value = "off")]
    tls: TlsMode,
    /// PEM certificate chain for the API listener (with --tls-key). Replaced files are picked
    /// up without a restart (checked every 2 s, and on SIGHUP).
    #[arg(long, requires = "tls_key", conflicts_with = "tls")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The account id (12 digits) of a new deployment, e.g. moto's 123456789012 or
    /// LocalStack's 000000000000 for test suites written for them [default: random]. A
    /// deployment's account cannot change: a later start with another id fails.
    #[arg(long)]
    account_id: Option<String>,
    /// Start with `--auth off` on an address that is not loopback (anyone who can reach it
    /// acts as the account root).
    #[arg(long)]
    insecure_allow_remote_auth_off: bool,
    /// What runs instances: `none` (records only) or `netns` (each running instance is a set
    /// of Linux namespaces with its private IP on bridge rcbr0, IMDS at 169.254.169.254, and
    /// its user data run at first launch; Linux, root).
    #[arg(long, value_enum, default_value = "none")]
    instance_runtime: InstanceRuntime,
    /// The user instances' user data runs as (netns runtime).
    #[arg(long, default_value = "nobody")]
    instance_user: String,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

impl ServeArgs {
    fn credential_policy(&self) -> Result<CredentialPolicy> {
        let credentials = CredentialPolicy {
            lifetime: chrono::Duration::seconds(self.credential_lifetime),
            refresh_before: chrono::Duration::seconds(self.credential_refresh),
        };
        credentials.validate().map_err(anyhow::Error::msg)?;
        Ok(credentials)
    }

    fn tls_source(&self) -> TlsSource {
        match (self.tls, &self.tls_cert, &self.tls_key) {
            (TlsMode::SelfSigned, _, _) => TlsSource::SelfSigned,
            (TlsMode::Off, Some(cert), Some(key)) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsSource::Off,
        }
    }
}

/// Where the API listener's certificate comes from.
enum TlsSource {
    Off,
    SelfSigned,
    Files { cert: PathBuf, key: PathBuf },
}

/// Loads the API's certificate and keeps it current: files are re-read when they change
/// (checked every 2 s) and on SIGHUP.
fn api_tls(
    source: &TlsSource,
    dir: &std::path::Path,
    listen: SocketAddr,
) -> Result<Option<Arc<rolecall_net::ServerTls>>> {
    let (cert, key) = match source {
        TlsSource::Off => return Ok(None),
        TlsSource::SelfSigned => tls::self_signed(dir, listen)?,
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
    };
    let server = rolecall_net::ServerTls::load(&cert, &key)?;
    tokio::spawn(server.clone().watch(std::time::Duration::from_secs(2)));
    let on_hup = server.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = on_hup.reload() {
                tracing::warn!(error = %e, "SIGHUP: TLS certificate not reloaded; the previous one stays in use");
            }
        }
    });
    Ok(Some(server))
}

/// Files rolecall creates (database, WAL, endpoint, keys) are its owner's only.
const PRIVATE_UMASK: u32 = 0o077;

/// mimalloc: frees from another thread (a request's audit draft, freed by the audit writer;
/// responses freed by hyper's connection tasks) go to the owning page's list instead of
/// contending on glibc's arenas and consolidating its bins.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let inherited_umask =
        rustix::process::umask(rustix::fs::Mode::from_bits_truncate(PRIVATE_UMASK));
    let db = cli.database_url.as_deref();
    match cli.command {
        Command::Serve(args) => serve(db, args).await,
        Command::Agent(args) => agent(args).await,
        Command::BenchSeed(args) => bench::seed(db, args).await,
        Command::BenchLoad(args) => bench::load(db, args).await,
        Command::Audit {
            data_dir,
            since,
            follow,
        } => {
            let dir = data_dir.unwrap_or_else(datadir::default_dir);
            audit::print(&dir, db, since.as_deref(), follow, &SystemClock).await
        }
        Command::Env { data_dir } => env(data_dir.unwrap_or_else(datadir::default_dir), db).await,
        Command::RevokeSessions {
            data_dir,
            role_name,
        } => {
            let dir = data_dir.unwrap_or_else(datadir::default_dir);
            revoke_sessions(dir, db, &role_name).await
        }
        Command::RotateKey { data_dir } => {
            let dir = data_dir.unwrap_or_else(datadir::default_dir);
            let id = datadir::rotate_key(&dir, db).await?;
            println!(
                "key {id} is now active in {}; restart rolecall to use it",
                dir.join(datadir::KEY_FILE).display()
            );
            Ok(())
        }
        Command::Exec {
            data_dir,
            imds_endpoint,
            instance_id,
            command,
        } => {
            exec(
                data_dir.unwrap_or_else(datadir::default_dir),
                db,
                &instance_id,
                &command,
                inherited_umask,
                imds_endpoint,
            )
            .await
        }
    }
}

/// `--auth off` makes anyone who can connect the account root: only on loopback, unless forced.
fn check_auth_off_address(listen: SocketAddr, forced: bool) -> Result<()> {
    if !listen.ip().is_loopback() && !forced {
        anyhow::bail!(
            "--auth off on {listen}, which is not a loopback address, would let anyone who can reach it act as the account root; listen on 127.0.0.1, or add --insecure-allow-remote-auth-off"
        );
    }
    Ok(())
}

/// How often `--auth off` repeats its warning.
const AUTH_OFF_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

fn auth_off_warning(listen: SocketAddr) {
    tracing::warn!(
        %listen,
        "AUTHENTICATION IS OFF: every request is accepted as the account root, whatever its credentials. Development use only."
    );
}

/// Repeats the `--auth off` warning every few minutes, so it cannot scroll away.
async fn repeat_auth_off_warning(listen: SocketAddr) {
    loop {
        tokio::time::sleep(AUTH_OFF_WARNING_EVERY).await;
        auth_off_warning(listen);
    }
}

/// Raises the soft limit on open files to the hard limit, so the connection caps (not the
/// descriptor limit) decide when connections are refused; warns if the caps cannot fit.
fn raise_open_files_limit(needed: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
    {
        lim.current = Some(max);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::debug!(error = %e, "could not raise the open-files limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    if let Some(cur) = now
        && (cur as usize) < needed
    {
        tracing::warn!(
            open_files_limit = cur,
            needed,
            "the open-files limit is below the connection caps plus headroom: lower --api-max-connections / --imds-max-connections or raise `ulimit -n`"
        );
    }
}

async fn serve(database_url: Option<&str>, args: ServeArgs) -> Result<()> {
    let credentials = args.credential_policy()?;
    let tls = args.tls_source();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let api_limits = args.limits.api();
    let imds_limits = args.limits.imds();
    raise_open_files_limit(
        api_limits.max_connections
            + args.imds_listen.map_or(0, |_| imds_limits.max_connections)
            + 256,
    );
    let dir = args.data_dir.clone().unwrap_or_else(datadir::default_dir);
    let clock: rolecall_core::DynClock = Arc::new(SystemClock);
    // Each start-up step logs the time since start (what a large fleet's start-up costs).
    let started = std::time::Instant::now();
    let elapsed_ms = || started.elapsed().as_millis() as u64;
    let d = datadir::open(
        &dir,
        datadir::Open::Serve {
            account_id: args.account_id.as_deref(),
        },
        database_url,
        clock.as_ref(),
    )
    .await?;
    tracing::info!(
        elapsed_ms = elapsed_ms(),
        "start-up: data directory open, migrations applied"
    );
    let store = d.store;
    let iam = Iam::new(store.clone(), d.account_id.clone()).with_clock(clock.clone());
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config {
            region: args.region.clone(),
            instance_cidr: args.instance_cidr,
            strict_ids: args.strict_ec2_ids,
        },
    );
    // The root's keys are in the store (`rolecall_core::root_keys`), looked up per request.
    let keys = KeyStore::default();
    let auth = if args.auth == Auth::Off {
        check_auth_off_address(args.listen, args.insecure_allow_remote_auth_off)?;
        auth_off_warning(args.listen);
        tokio::spawn(repeat_auth_off_warning(args.listen));
        AuthMode::Off
    } else {
        AuthMode::On
    };

    // The netns runtime's bridge first: the listeners instances reach are bound on it.
    let netns = match args.instance_runtime {
        InstanceRuntime::None => None,
        InstanceRuntime::Netns => {
            let rt = runtime::netns(&dir, &args.region, args.instance_cidr, &args.instance_user)?;
            rt.prepare()
                .await
                .context("--instance-runtime netns: creating the bridge")?;
            Some(rt)
        }
    };

    let audit = match args.audit.mode {
        Auth::On => rolecall_api::Audit::start(
            iam.store().clone(),
            chrono::Duration::days(i64::from(args.audit.retention_days)),
            clock.clone(),
        ),
        Auth::Off => rolecall_api::Audit::off(),
    };
    let mut listeners: Vec<Arc<dyn rolecall_core::ChangeListener>> = Vec::new();
    let mut imds_addr = None;
    let mut imds_task = None;
    let mut console_imds = None;
    if args.imds_listen.is_some() || netns.is_some() {
        let directory = Directory::new(
            iam.clone(),
            args.region.clone(),
            d.keyring.clone(),
            clock.clone(),
            credentials,
        );
        if audit.is_on() {
            directory.set_issue_hook(audit.imds_hook(args.region.clone()));
        }
        // A small fleet loads before the API starts; a large one goes on loading in the
        // background after a few seconds (the API answers; IMDS answers 503 until loaded).
        directory.clone().load_in_background();
        let waited = std::time::Instant::now();
        while !directory.is_ready() && waited.elapsed() < STARTUP_LOAD_WAIT {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tracing::info!(
            elapsed_ms = elapsed_ms(),
            loaded = directory.is_ready(),
            "start-up: IMDS directory (loading on in the background unless loaded)"
        );
        tokio::spawn(
            directory
                .clone()
                .run_refresher(std::time::Duration::from_secs(30)),
        );
        let config = ImdsConfig {
            source_ip: args.imds_identify != Identify::Path,
            dev_paths: args.imds_identify != Identify::SourceIp,
            limits: imds_limits,
            rate_per_source: args.limits.imds_rate_per_source,
            burst_per_source: args.limits.imds_rate_per_source.saturating_mul(2),
        };
        if let Some(imds_listen) = args.imds_listen {
            let listener = tokio::net::TcpListener::bind(imds_listen)
                .await
                .with_context(|| format!("binding {imds_listen}"))?;
            imds_addr = Some(listener.local_addr()?);
            imds_task = Some(tokio::spawn(rolecall_imds::serve(
                listener,
                directory.clone(),
                config,
            )));
        }
        if netns.is_some() {
            // Instances are told apart by their source address on the bridge.
            let at = SocketAddr::from((runtime::IMDS_ADDRESS, 80));
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding {at}"))?;
            let config = ImdsConfig {
                source_ip: true,
                ..config
            };
            tokio::spawn(runtime::log_end(
                "instances' IMDS listener",
                rolecall_imds::serve(listener, directory.clone(), config),
            ));
        }
        console_imds = Some(directory.clone());
        listeners.push(directory);
    }

    // Instances reach the API on the bridge's gateway address (plain HTTP: that traffic never
    // leaves this host), at the API's port. Running instances start before the API listens, so a
    // client that finds the API up finds them running.
    let mut bridge_api = None;
    let runtime: Arc<dyn rolecall_runtime::InstanceRuntime> = match &netns {
        None => Arc::new(rolecall_runtime::NoRuntime::default()),
        Some(rt) => {
            let at = SocketAddr::from((rt.gateway(), args.listen.port()));
            if args.auth == Auth::Off {
                check_auth_off_address(at, args.insecure_allow_remote_auth_off)?;
            }
            let l = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding {at}"))?;
            rt.set_api_endpoint(format!("http://{}", l.local_addr()?));
            bridge_api = Some(l);
            rt.clone()
        }
    };
    if netns.is_some() {
        let reconciler = rolecall_runtime::Reconciler::start(iam.store().clone(), runtime.clone())
            .await
            .map_err(|e| anyhow::anyhow!("starting instances: {e}"))?;
        listeners.push(reconciler);
    }

    // Instance credentials cut off before expiry: loaded before the first request.
    let revocations = Arc::new(rolecall_api::revocation::Revocations::new(
        iam.clone(),
        clock.clone(),
        credentials.lifetime,
    ));
    revocations
        .reload()
        .await
        .map_err(|e| anyhow::anyhow!("loading ended associations: {e}"))?;
    tracing::info!(
        elapsed_ms = elapsed_ms(),
        entries = revocations.len(),
        "start-up: revocations loaded"
    );
    // Certificates first: the endpoint file is written right after binding, so that a client
    // that sees the port open also finds the endpoint (and its scheme) written.
    let api_tls = api_tls(&tls, &dir, args.listen)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if api_tls.is_some() { "https" } else { "http" };
    if api_tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "THE API LISTENS WITHOUT TLS ON A NON-LOOPBACK ADDRESS: signatures, and the credentials AssumeRole returns, cross the network in plain text. Use --tls-cert/--tls-key or --tls self-signed."
        );
    }
    let imds_line = imds_addr.map(|a| format!("http://{a}")).unwrap_or_default();
    std::fs::write(
        dir.join(datadir::ENDPOINT_FILE),
        format!("{scheme}://{addr}\n{}\n{imds_line}\n", args.region),
    )?;

    let api = Arc::new(Api {
        iam,
        ec2,
        config: ApiConfig {
            region: args.region,
            auth,
            instance_credentials: credentials,
        },
        keys,
        keyring: d.keyring,
        clock,
        listeners,
        runtime: runtime.clone(),
        policy_cache: Default::default(),
        generation: Default::default(),
        revocations,
        audit,
    });
    // Other processes sharing the database (more API nodes) publish their changes; follow them.
    tokio::spawn(rolecall_api::changes::watch(
        api.clone(),
        std::time::Duration::from_millis(250),
    ));
    if let Some(l) = bridge_api {
        tokio::spawn(runtime::log_end(
            "instances' API listener",
            rolecall_api::serve_with(l, api.clone(), api_limits, None),
        ));
    }
    tracing::info!(elapsed_ms = elapsed_ms(), %addr, imds = %imds_line, account = %d.account_id, data_dir = %dir.display(), instance_runtime = runtime.name(), "rolecall API listening");
    let imds = async {
        match imds_task {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    // The web console is served by the API listener, under /console/.
    let signin = rolecall_console::SignInLimits {
        per_source_per_minute: args.limits.console_signin_per_source,
        per_user_per_minute: args.limits.console_signin_per_user,
    };
    let app = rolecall_api::router(api.clone()).merge(rolecall_console::routes(
        api,
        console_imds,
        signin,
    ));
    let result = tokio::select! {
        r = rolecall_api::serve_router(listener, app, api_limits, api_tls) => r.map_err(anyhow::Error::from),
        r = imds => r.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
        _ = tokio::signal::ctrl_c() => { tracing::info!("shutting down"); Ok(()) }
        _ = runtime::terminated(netns.is_some()) => { tracing::info!("SIGTERM: shutting down"); Ok(()) }
    };
    // Instances stop with the server (they start again with it): no namespace outlives it.
    if let Some(rt) = &netns {
        if let Err(e) = runtime.clean_up_leftovers().await {
            tracing::warn!(error = %e, "removing instances' namespaces");
        }
        rt.remove_bridge().await;
    }
    result
}

/// Everything `agent` needs, from the command line.
#[derive(clap::Args)]
struct AgentArgs {
    /// Base URL of a rolecall API node, e.g. http://10.0.0.1:8690.
    #[arg(long)]
    server: String,
    /// Address of the instance metadata service listener.
    #[arg(long)]
    imds_listen: SocketAddr,
    /// The region the API presents.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Private IP of an instance this host fronts (repeat it; default: every instance).
    #[arg(long = "instance-ip")]
    instance_ips: Vec<std::net::IpAddr>,
    /// Refetch credentials at least this often, in seconds (also on every change).
    #[arg(long, default_value_t = 300)]
    refresh: u64,
    /// Address serving the agent's `/metrics` and `/health` (off without it).
    #[arg(long)]
    status_listen: Option<SocketAddr>,
    /// CA certificates (PEM) that verify an https:// --server [default: the system's roots].
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Allow an http:// --server that is not on a loopback address (every instance's
    /// credentials would cross the network unencrypted).
    #[arg(long)]
    insecure_http: bool,
}

async fn agent(args: AgentArgs) -> Result<()> {
    let AgentArgs {
        server,
        imds_listen,
        region,
        instance_ips,
        refresh,
        status_listen,
        ca_file,
        insecure_http,
    } = args;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let credentials = rolecall_agent::AgentCredentials {
        access_key_id: var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set")?,
        secret_access_key: var("AWS_SECRET_ACCESS_KEY")
            .context("AWS_SECRET_ACCESS_KEY is not set")?,
        session_token: var("AWS_SESSION_TOKEN"),
    };
    let mut config = rolecall_agent::AgentConfig::new(&server, &region, credentials);
    config.instance_ips = instance_ips;
    config.refresh = std::time::Duration::from_secs(refresh.max(1));
    config.insecure_http = insecure_http;
    if let Some(path) = &ca_file {
        config.ca_pem =
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    let listener = tokio::net::TcpListener::bind(imds_listen)
        .await
        .with_context(|| format!("binding {imds_listen}"))?;
    let addr = listener.local_addr()?;
    let status = match status_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding {a}"))?,
        ),
        None => None,
    };
    tracing::info!(%addr, %server, "rolecall agent serving IMDS");
    tokio::select! {
        r = rolecall_agent::run(config, listener, status) => r.map_err(anyhow::Error::msg)?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

/// What `serve` wrote about itself: API endpoint, region, IMDS endpoint.
struct Endpoints {
    api: String,
    region: String,
    imds: Option<String>,
}

fn endpoints(dir: &std::path::Path) -> Endpoints {
    let written = std::fs::read_to_string(dir.join(datadir::ENDPOINT_FILE)).unwrap_or_default();
    let mut lines = written.lines();
    Endpoints {
        api: lines
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("http://{DEFAULT_LISTEN}")),
        region: lines
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("us-east-1")
            .to_string(),
        imds: lines.next().filter(|s| !s.is_empty()).map(str::to_string),
    }
}

fn no_proxy(existing: Option<String>) -> String {
    match existing.filter(|s| !s.is_empty()) {
        Some(s) => format!("{s},127.0.0.1,localhost"),
        None => "127.0.0.1,localhost".into(),
    }
}

async fn exec(
    dir: PathBuf,
    db: Option<&str>,
    instance_id: &str,
    command: &[String],
    inherited_umask: rustix::fs::Mode,
    imds_endpoint: exec::ImdsEndpoint,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let d = datadir::open(&dir, datadir::Open::Existing, db, &SystemClock).await?;
    let e = endpoints(&dir);
    match d
        .store
        .get_instance(instance_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        None => anyhow::bail!("no instance {instance_id}"),
        Some(i) if i.state != rolecall_core::model::InstanceState::Running => {
            anyhow::bail!("instance {instance_id} is {}, not running", i.state.name())
        }
        Some(_) => {}
    }
    // An instance the netns runtime runs: the command runs inside its namespaces.
    if let Some(enter) = runtime::enter_instance(&dir, instance_id, command)? {
        rustix::process::umask(inherited_umask);
        let err = enter.exec_replacing();
        return Err(anyhow::anyhow!("entering instance {instance_id}: {err}"));
    }
    let imds = e.imds.context(
        "the server was started without --imds-listen, so instances have no metadata service",
    )?;
    let prefix = rolecall_imds::dev_path_prefix(&d.keyring, instance_id)
        .context("cannot derive the instance's IMDS path")?;
    let (program, args) = command.split_first().context("no command given")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    // Only what an instance would have: no credentials, profiles or config of the caller's.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    let metadata = exec::metadata_endpoint(imds_endpoint, &imds, &prefix).await?;
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4")
        .env("AWS_ENDPOINT_URL", &e.api)
        .env("AWS_REGION", &e.region)
        .env("AWS_DEFAULT_REGION", &e.region)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        // Instance-local traffic must not go through a proxy (the IMDS URL carries a secret).
        .env("NO_PROXY", no_proxy(std::env::var("NO_PROXY").ok()))
        .env("no_proxy", no_proxy(std::env::var("no_proxy").ok()));
    {
        let k = "BOTO_CONFIG";
        cmd.env_remove(k);
    }
    // The command creates files as the caller would, not with rolecall's private umask.
    rustix::process::umask(inherited_umask);
    match imds_endpoint {
        exec::ImdsEndpoint::Path => {
            let err = cmd.exec();
            Err(anyhow::anyhow!("running {program}: {err}"))
        }
        exec::ImdsEndpoint::Local => {
            // This process keeps serving the command's metadata endpoint until it ends.
            let code = exec::run_child(tokio::process::Command::from(cmd), program).await?;
            std::process::exit(code)
        }
    }
}

/// `rolecall revoke-sessions ROLE`: through the store's normal write path, so the change feed
/// carries it to every node (and their policy caches are cleared) and to agents.
async fn revoke_sessions(dir: PathBuf, db: Option<&str>, role_name: &str) -> Result<()> {
    let d = datadir::open(&dir, datadir::Open::Existing, db, &SystemClock).await?;
    let iam = Iam::new(d.store, d.account_id);
    let cutoff = iam.now();
    iam.revoke_sessions(role_name, cutoff)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "sessions of role {role_name} issued before {} are refused ({})",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        rolecall_core::revoke_sessions::POLICY_NAME
    );
    Ok(())
}

async fn env(dir: PathBuf, db: Option<&str>) -> Result<()> {
    let d = datadir::open(&dir, datadir::Open::Existing, db, &SystemClock).await?;
    let Endpoints {
        api: endpoint,
        region,
        ..
    } = endpoints(&dir);
    // Leftover session credentials or profiles would override the root key.
    println!("unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE");
    println!("export AWS_ENDPOINT_URL={endpoint}");
    let Some((key_id, secret)) = d.root_key else {
        anyhow::bail!(
            "the account root has no active access key (all were deleted or deactivated through the API); use an IAM user's key"
        );
    };
    println!("export AWS_ACCESS_KEY_ID={key_id}");
    println!("export AWS_SECRET_ACCESS_KEY={secret}");
    if endpoint.starts_with("https://")
        && let Some(ca) = tls::local_ca_file(&dir)
    {
        println!("export AWS_CA_BUNDLE={}", ca.display());
    }
    println!("export AWS_DEFAULT_REGION={region}");
    println!("export AWS_REGION={region}");
    Ok(())
}
