//! The in-memory view IMDS answers from, and the credential cache.

use crate::credentials::{CredentialPolicy, Issued, MintRequest, mint};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolecall_core::iam::{Iam, trusts_ec2};
use rolecall_core::model::{Instance, InstanceState};
use rolecall_core::{ChangeListener, DynClock, PageRequest};
use rolecall_crypto::KeyRing;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

#[derive(Debug, Clone)]
pub struct RoleView {
    pub name: String,
    pub id: String,
    /// Whether the trust policy lets ec2.amazonaws.com assume the role.
    pub trusts_ec2: bool,
}

#[derive(Debug, Clone)]
pub struct ProfileView {
    pub arn: String,
    pub id: String,
    pub role: Option<RoleView>,
}

#[derive(Debug, Clone)]
pub struct InstanceView {
    pub instance: Instance,
    pub arn: String,
    pub profile: Option<ProfileView>,
}

#[derive(Default)]
struct Snapshot {
    by_id: HashMap<String, Arc<InstanceView>>,
    by_ip: HashMap<IpAddr, Arc<InstanceView>>,
}

/// Where instance views and credentials come from.
enum Source {
    /// This node's store; credentials are minted here (the server).
    Store { iam: Iam, policy: CredentialPolicy },
    /// Installed from elsewhere (the agent, from the control plane); credentials are served as
    /// installed until they expire, never minted here.
    Remote,
}

pub struct Directory {
    source: Source,
    /// Known from the start with a store source; from the first install with a remote one.
    account_id: OnceLock<String>,
    region: String,
    /// Seals IMDSv2 tokens and dev path MACs (and, with a store source, mints credentials).
    keyring: KeyRing,
    clock: DynClock,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Current credential per instance.
    credentials: Mutex<HashMap<String, Arc<Issued>>>,
    /// Serializes reloads so a slow, older reload cannot overwrite a newer one.
    reload_lock: tokio::sync::Mutex<()>,
}

impl Directory {
    pub fn new(
        iam: Iam,
        region: String,
        keyring: KeyRing,
        clock: DynClock,
        policy: CredentialPolicy,
    ) -> Arc<Directory> {
        let account_id = OnceLock::from(iam.account_id().to_string());
        Directory::with_source(
            Source::Store { iam, policy },
            account_id,
            region,
            keyring,
            clock,
        )
    }

    /// A directory whose instances and credentials are [installed](Directory::install) from
    /// elsewhere (the `rolecall agent`'s copy of the control plane's view). `keyring` only seals
    /// IMDSv2 tokens, so a random one per process is fine.
    pub fn remote(region: String, keyring: KeyRing, clock: DynClock) -> Arc<Directory> {
        Directory::with_source(Source::Remote, OnceLock::new(), region, keyring, clock)
    }

    fn with_source(
        source: Source,
        account_id: OnceLock<String>,
        region: String,
        keyring: KeyRing,
        clock: DynClock,
    ) -> Arc<Directory> {
        Arc::new(Directory {
            source,
            account_id,
            region,
            keyring,
            clock,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            credentials: Mutex::new(HashMap::new()),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn keyring(&self) -> &KeyRing {
        &self.keyring
    }

    pub fn clock(&self) -> &DynClock {
        &self.clock
    }

    pub fn account_id(&self) -> &str {
        self.account_id
            .get()
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<InstanceView>> {
        self.current().by_id.get(id).cloned()
    }

    pub fn by_ip(&self, ip: IpAddr) -> Option<Arc<InstanceView>> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.current().by_ip.get(&ip).cloned()
    }

    /// Rebuilds the snapshot from the store (a no-op for a remote directory).
    pub async fn reload(&self) -> rolecall_core::Result<()> {
        let Source::Store { iam, .. } = &self.source else {
            return Ok(());
        };
        let _serial = self.reload_lock.lock().await;
        let views = load_views(iam, &self.region).await?;
        self.replace(views, None);
        self.refresh_due();
        Ok(())
    }

    /// Replaces a remote directory's instances and credentials (instance id to credential) at
    /// once. Credentials of instances not in `credentials` are dropped.
    pub fn install(
        &self,
        account_id: &str,
        views: Vec<Arc<InstanceView>>,
        credentials: HashMap<String, Arc<Issued>>,
    ) {
        if self.account_id.get().is_none() {
            let _ = self.account_id.set(account_id.to_string());
        }
        self.replace(views, Some(credentials));
    }

    /// The earliest expiry among the credentials held (for refreshing ahead of it).
    pub fn earliest_expiry(&self) -> Option<DateTime<Utc>> {
        let creds = self.credentials.lock().ok()?;
        creds.values().map(|c| c.expires_at).min()
    }

    fn replace(
        &self,
        views: Vec<Arc<InstanceView>>,
        credentials: Option<HashMap<String, Arc<Issued>>>,
    ) {
        let mut snap = Snapshot::default();
        for view in views {
            if let Ok(ip) = view.instance.private_ip.parse::<IpAddr>() {
                snap.by_ip.insert(ip, view.clone());
            }
            snap.by_id.insert(view.instance.id.clone(), view);
        }
        if let Ok(mut creds) = self.credentials.lock() {
            if let Some(new) = credentials {
                *creds = new;
            }
            // Drop cached credentials of instances that left or changed role.
            creds.retain(|id, c| {
                snap.by_id
                    .get(id)
                    .and_then(|v| role_of(v))
                    .is_some_and(|r| r.id == c.role_id)
            });
        }
        let count = snap.by_id.len();
        rolecall_core::metrics::metrics()
            .imds_instances
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(snap);
        }
        tracing::debug!(instances = count, "IMDS directory reloaded");
    }

    /// The credential to serve for this instance's role, minting one if there is none or the
    /// current one is due for replacement. None when the instance has no usable role.
    /// A remote directory serves the installed credential until it expires, and mints none.
    pub fn credentials_for(&self, view: &InstanceView) -> Option<Arc<Issued>> {
        let role = role_of(view)?;
        let now = self.clock.now();
        let cached = self
            .credentials
            .lock()
            .ok()
            .and_then(|creds| creds.get(&view.instance.id).cloned())
            .filter(|c| c.role_id == role.id);
        let Source::Store { policy, .. } = &self.source else {
            let served = cached.filter(|c| c.expires_at > now);
            if served.is_some() {
                rolecall_core::metrics::metrics().credential(false);
            }
            return served;
        };
        if let Some(c) = cached.filter(|c| c.is_fresh(now, policy)) {
            rolecall_core::metrics::metrics().credential(false);
            return Some(c);
        }
        let issued = Arc::new(mint_for(
            &self.keyring,
            self.account_id(),
            view,
            now,
            policy,
        )?);
        rolecall_core::metrics::metrics().credential(true);
        if let Ok(mut creds) = self.credentials.lock() {
            creds.insert(view.instance.id.clone(), issued.clone());
        }
        Some(issued)
    }

    /// Mints ahead of time every credential that is missing or due, so requests find them ready.
    pub fn refresh_due(&self) {
        if matches!(self.source, Source::Remote) {
            return;
        }
        let snap = self.current();
        for view in snap.by_id.values() {
            self.credentials_for(view);
        }
    }

    /// Renews credentials ahead of expiry, forever. Run it as a background task.
    pub async fn run_refresher(self: Arc<Self>, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.refresh_due();
        }
    }
}

/// Fresh credentials for the instance's role, minted as IMDS mints them (None when the instance
/// has no role that trusts EC2).
pub fn mint_for(
    keyring: &KeyRing,
    account_id: &str,
    view: &InstanceView,
    now: DateTime<Utc>,
    policy: &CredentialPolicy,
) -> Option<Issued> {
    let role = role_of(view)?;
    let req = MintRequest {
        account_id,
        role_name: &role.name,
        role_id: &role.id,
        instance_id: &view.instance.id,
        instance_arn: &view.arn,
    };
    mint(keyring, &req, now, policy)
}

/// Every running instance with its profile and role, from the store. Running instances only:
/// others run no software.
pub async fn load_views(iam: &Iam, region: &str) -> rolecall_core::Result<Vec<Arc<InstanceView>>> {
    let store = iam.store();
    let all = store
        .list_instances(
            &[],
            &PageRequest {
                from: None,
                limit: usize::MAX - 1,
            },
        )
        .await?;
    let running: Vec<Instance> = all
        .into_iter()
        .filter(|i| i.state == InstanceState::Running)
        .collect();
    let ids: Vec<String> = running.iter().map(|i| i.id.clone()).collect();
    let assocs: HashMap<String, rolecall_core::model::Association> = store
        .active_associations(&ids)
        .await?
        .into_iter()
        .map(|a| (a.instance_id.clone(), a))
        .collect();
    let mut profiles: HashMap<String, Option<ProfileView>> = HashMap::new();
    let mut views = Vec::with_capacity(running.len());
    for inst in running {
        let profile = match assocs.get(&inst.id) {
            None => None,
            Some(a) => {
                if !profiles.contains_key(&a.profile_arn) {
                    let view = match iam
                        .resolve_instance_profile(None, Some(&a.profile_arn))
                        .await
                    {
                        Ok(p) => Some(ProfileView {
                            arn: p.arn.clone(),
                            id: p.id.clone(),
                            role: p.roles.first().map(|r| RoleView {
                                name: r.name.clone(),
                                id: r.id.clone(),
                                trusts_ec2: trusts_ec2(&r.assume_role_policy_document),
                            }),
                        }),
                        // The profile was deleted after association: the instance keeps an
                        // association to nothing, as in EC2.
                        Err(_) => Some(ProfileView {
                            arn: a.profile_arn.clone(),
                            id: a.profile_id.clone(),
                            role: None,
                        }),
                    };
                    profiles.insert(a.profile_arn.clone(), view);
                }
                profiles.get(&a.profile_arn).cloned().flatten()
            }
        };
        let arn = format!(
            "arn:aws:ec2:{region}:{}:instance/{}",
            iam.account_id(),
            inst.id
        );
        views.push(Arc::new(InstanceView {
            arn,
            profile,
            instance: inst,
        }));
    }
    Ok(views)
}

/// The role whose credentials an instance gets: it must exist and trust EC2.
fn role_of(view: &InstanceView) -> Option<&RoleView> {
    view.profile
        .as_ref()?
        .role
        .as_ref()
        .filter(|r| r.trusts_ec2)
}

#[async_trait]
impl ChangeListener for Directory {
    async fn changed(&self) {
        if let Err(e) = self.reload().await {
            rolecall_core::metrics::metrics()
                .imds_refresh_failures
                .inc();
            tracing::error!(error = %e, "IMDS directory reload failed; serving the previous view");
        }
    }
}
