//! `rolecall agent`: the instance metadata service on a host of instances, away from the
//! control plane.
//!
//! The agent authenticates to a rolecall API node with its own IAM identity (an IAM user allowed
//! `rolecall:GetChangeGeneration` and `rolecall:DescribeInstanceIdentities` on `*`), keeps the
//! instances it fronts, with their roles and freshly minted credentials, in memory (a remote
//! [`Directory`]), and serves IMDS from it with exactly `rolecall-imds`' request handling
//! (source-IP identification only). It never mints credentials: they come from the server.
//!
//! Keeping current:
//! - every `poll` (250 ms) it reads the change generation (the control plane's change feed
//!   sequence); when it moved, it fetches only the instances changed since the sequence of its
//!   view (`SinceSequence`), so an association change is served within about one poll interval
//!   plus one fetch, at a cost in proportion to the change;
//! - credentials are fetched only for instances that ask: on an instance's first request (which
//!   waits for that fetch, at most 0.9 s), then with every full refetch (every `refresh`, 5
//!   minutes) and whenever one would expire before the next, while the instance asked within
//!   its credential's lifetime; so a served credential has at least its lifetime minus
//!   `refresh` left while the control plane answers; each is minted for the IMDS version the
//!   instance asked over (`ec2:RoleDelivery` `1.0` or `2.0`), and served only over that one;
//! - a role's sessions revoked (`AWSRevokeOlderSessions`, `rolecall revoke-sessions`) reach it
//!   with the changes (`RevokedSessions`): it drops the credentials of that role issued before
//!   the cutoff and fetches new ones for the instances that asked;
//! - while the control plane is unreachable it keeps serving what it has, each credential until
//!   it expires, and logs the failures.

mod client;
mod status;

pub use client::{AgentCredentials, CallError, Client, Identities, SERVICE, VERSION};

use rolecall_core::DynClock;
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_imds::{CredentialKey, Directory, ImdsConfig};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How the agent reaches the control plane and what it fronts.
#[derive(Clone)]
pub struct AgentConfig {
    /// The API's base URL, e.g. `http://10.0.0.1:8690`.
    pub server: String,
    /// The region the API presents (signing scope).
    pub region: String,
    pub credentials: AgentCredentials,
    /// The private IPs of the instances this host fronts (empty: every running instance).
    pub instance_ips: Vec<IpAddr>,
    /// How often the change generation is polled.
    pub poll: Duration,
    /// Refetch at least this often, whatever the generation.
    pub refresh: Duration,
    /// Timeout of one call to the control plane.
    pub timeout: Duration,
    /// The time credentials' expiry is judged by (tests use a manual clock).
    pub clock: DynClock,
    /// The time requests are signed at: the server checks it against its own clock, so it
    /// stays the system's even when `clock` is moved.
    pub signing_clock: DynClock,
    /// CA certificates (PEM) that verify an `https://` server; None: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Allow `http://` to a server that is not on a loopback address (credentials then cross
    /// the network in plain text).
    pub insecure_http: bool,
}

impl AgentConfig {
    pub fn new(server: &str, region: &str, credentials: AgentCredentials) -> AgentConfig {
        AgentConfig {
            server: server.to_string(),
            region: region.to_string(),
            credentials,
            instance_ips: Vec::new(),
            poll: Duration::from_millis(250),
            refresh: Duration::from_secs(300),
            timeout: Duration::from_secs(2),
            clock: Arc::new(rolecall_core::SystemClock),
            signing_clock: Arc::new(rolecall_core::SystemClock),
            ca_pem: None,
            insecure_http: false,
        }
    }
}

pub struct Agent {
    config: AgentConfig,
    client: Client,
    dir: Arc<Directory>,
    /// When a call to the control plane last succeeded.
    last_success: std::sync::Mutex<Option<Instant>>,
    /// The change feed sequence the view reflects, and when everything was last fetched.
    synced: std::sync::Mutex<(Option<i64>, Option<Instant>)>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Result<Arc<Agent>, String> {
        let client = Client::new(&config)?;
        // IMDSv2 tokens only need to verify on this agent: a key of its own, per process.
        let key = MasterKey::new(1, &MasterKey::generate_bytes()).map_err(|e| e.to_string())?;
        let keyring = KeyRing::new(vec![key]).map_err(|e| e.to_string())?;
        let dir = Directory::remote(config.region.clone(), keyring, config.clock.clone());
        Ok(Arc::new(Agent {
            config,
            client,
            dir,
            last_success: std::sync::Mutex::new(None),
            synced: std::sync::Mutex::new((None, None)),
        }))
    }

    /// When a call to the control plane last succeeded (None: never yet).
    pub fn last_success(&self) -> Option<Instant> {
        self.last_success.lock().ok().and_then(|t| *t)
    }

    /// The in-memory view IMDS answers from.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    /// Fetches every instance once, with credentials for the instances that asked for them,
    /// and installs them.
    pub async fn sync(&self) -> Result<(), CallError> {
        let want = self.dir.credentials_to_fetch(chrono::Duration::MAX);
        self.fetch(None, &want).await
    }

    /// Fetches the instances changed since `since` (every instance when None, or when the
    /// server's feed no longer reaches back that far) and installs them; returns the sequence
    /// the view now reflects.
    async fn fetch(
        &self,
        since: Option<i64>,
        credentials: &[CredentialKey],
    ) -> Result<(), CallError> {
        let ids = self
            .client
            .describe_instance_identity_changes(&self.config.instance_ips, since, Some(credentials))
            .await?;
        // Revoked sessions first: the credentials in this answer were issued after the cutoff.
        for (role_id, before) in &ids.revoked {
            let dropped = self.dir.drop_sessions_before(role_id, *before);
            tracing::info!(
                role_id,
                dropped,
                "role sessions revoked: credentials dropped"
            );
        }
        let count = ids.views.len();
        if ids.full {
            self.dir.install(&ids.account_id, ids.views, ids.delivered);
            tracing::debug!(instances = count, "agent view refreshed");
        } else {
            let removed = ids.removed.len();
            self.dir
                .install_changes(ids.views, &ids.removed, ids.delivered);
            tracing::debug!(changed = count, removed, "agent view updated");
        }
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        synced.0 = ids.sequence;
        // A complete answer to a request for changes (the feed was pruned past the view) told
        // no revocation: the next poll refetches every credential held.
        synced.1 = match (ids.full, since) {
            (true, None) => Some(Instant::now()),
            (true, Some(_)) => None,
            (false, _) => synced.1,
        };
        Ok(())
    }

    /// Keeps the view current forever (see the crate docs). Run it as a background task.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The generation the installed view is at least as new as.
        let mut seen: Option<String> = None;

        // Since when calls have been failing, and when that was last logged.
        let mut failing: Option<(Instant, Instant)> = None;
        loop {
            // A poll, or an instance asking for a credential the agent does not hold.
            tokio::select! {
                _ = tick.tick() => {}
                () = self.dir.credentials_wanted() => {}
            }
            // Read the generation before fetching: a change made during the fetch shows up as a
            // new generation on the next poll, so none is missed.
            let result = match self.client.change_generation().await {
                Ok(generation) => {
                    // Everything every `refresh`, with fresh credentials for the instances that
                    // asked within their credential's lifetime; otherwise what changed on a new
                    // generation, and the credentials asked for but not held, or expiring
                    // before the next refresh.
                    let (sequence, last_full) =
                        *self.synced.lock().unwrap_or_else(|e| e.into_inner());
                    let everything = sequence.is_none()
                        || last_full.is_none_or(|t| t.elapsed() >= self.config.refresh);
                    let ahead = if everything {
                        chrono::Duration::MAX
                    } else {
                        chrono::Duration::from_std(self.config.refresh).unwrap_or_default()
                    };
                    let want = self.dir.credentials_to_fetch(ahead);
                    if everything || seen.as_ref() != Some(&generation) || !want.is_empty() {
                        let since = if everything { None } else { sequence };
                        self.fetch(since, &want)
                            .await
                            .map(|()| seen = Some(generation))
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(e),
            };
            match &result {
                Ok(()) => {
                    if let Ok(mut t) = self.last_success.lock() {
                        *t = Some(Instant::now());
                    }
                }
                Err(_) => {
                    rolecall_core::metrics::metrics()
                        .imds_refresh_failures
                        .inc();
                }
            }
            match (result, failing) {
                (Ok(()), None) => {}
                (Ok(()), Some((since, _))) => {
                    tracing::info!(
                        after_secs = since.elapsed().as_secs_f64(),
                        "control plane reachable again; view refreshed"
                    );
                    failing = None;
                }
                (Err(e), None) => {
                    tracing::warn!(error = %e, "cannot refresh from the control plane; serving cached instances and credentials until they expire");
                    failing = Some((Instant::now(), Instant::now()));
                }
                (Err(e), Some((since, logged))) => {
                    if logged.elapsed() >= Duration::from_secs(10) {
                        tracing::warn!(error = %e, failing_secs = since.elapsed().as_secs(), "still cannot refresh from the control plane");
                        failing = Some((since, Instant::now()));
                    }
                }
            }
        }
    }
}

/// Runs the agent: keeps its view current and serves IMDS (source-IP identification) on
/// `listener`, forever.
/// With `status`, also serves `/metrics` and `/health` there.
pub async fn run(
    config: AgentConfig,
    listener: TcpListener,
    status: Option<TcpListener>,
) -> Result<(), String> {
    let agent = Agent::new(config)?;
    if let Some(status) = status {
        let agent = agent.clone();
        tokio::spawn(async move {
            if let Err(e) = status::serve(status, agent).await {
                tracing::error!(error = %e, "agent status listener failed");
            }
        });
    }
    // The first poll is immediate; until it succeeds, IMDS answers 404 (no instances known).
    tokio::spawn(agent.clone().run());
    let imds = ImdsConfig {
        dev_paths: false,
        ..ImdsConfig::default()
    };
    rolecall_imds::serve(listener, agent.dir.clone(), imds)
        .await
        .map_err(|e| e.to_string())
}
