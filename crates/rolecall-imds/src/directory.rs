//! The in-memory view IMDS answers from, and the credential cache.

use crate::credentials::{CredentialPolicy, Issued, MintRequest, mint};
use async_trait::async_trait;
use rolecall_core::iam::{Iam, trusts_ec2};
use rolecall_core::model::{Instance, InstanceState};
use rolecall_core::{ChangeListener, DynClock, PageRequest};
use rolecall_crypto::KeyRing;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

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

pub struct Directory {
    iam: Iam,
    region: String,
    keyring: KeyRing,
    clock: DynClock,
    policy: CredentialPolicy,
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
        Arc::new(Directory {
            iam,
            region,
            keyring,
            clock,
            policy,
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
        self.iam.account_id()
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

    /// Rebuilds the snapshot from the store. Running instances only: others run no software.
    pub async fn reload(&self) -> rolecall_core::Result<()> {
        let _serial = self.reload_lock.lock().await;
        let store = self.iam.store();
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
        let assocs = store.active_associations(&ids).await?;
        let mut profiles: HashMap<String, Option<ProfileView>> = HashMap::new();
        let mut snap = Snapshot::default();
        for inst in running {
            let profile = match assocs.iter().find(|a| a.instance_id == inst.id) {
                None => None,
                Some(a) => {
                    if !profiles.contains_key(&a.profile_arn) {
                        let view = match self
                            .iam
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
                "arn:aws:ec2:{}:{}:instance/{}",
                self.region,
                self.iam.account_id(),
                inst.id
            );
            let view = Arc::new(InstanceView {
                arn,
                profile,
                instance: inst,
            });
            if let Ok(ip) = view.instance.private_ip.parse::<IpAddr>() {
                snap.by_ip.insert(ip, view.clone());
            }
            snap.by_id.insert(view.instance.id.clone(), view);
        }
        // Drop cached credentials of instances that left or changed role.
        if let Ok(mut creds) = self.credentials.lock() {
            creds.retain(|id, c| {
                snap.by_id
                    .get(id)
                    .and_then(|v| role_of(v))
                    .is_some_and(|r| r.id == c.role_id)
            });
        }
        let count = snap.by_id.len();
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(snap);
        }
        tracing::debug!(instances = count, "IMDS directory reloaded");
        self.refresh_due();
        Ok(())
    }

    /// The credential to serve for this instance's role, minting one if there is none or the
    /// current one is due for replacement. None when the instance has no usable role.
    pub fn credentials_for(&self, view: &InstanceView) -> Option<Arc<Issued>> {
        let role = role_of(view)?;
        let now = self.clock.now();
        if let Ok(creds) = self.credentials.lock()
            && let Some(c) = creds.get(&view.instance.id)
            && c.role_id == role.id
            && c.is_fresh(now, &self.policy)
        {
            return Some(c.clone());
        }
        let req = MintRequest {
            account_id: self.iam.account_id(),
            role_name: &role.name,
            role_id: &role.id,
            instance_id: &view.instance.id,
            instance_arn: &view.arn,
        };
        let issued = Arc::new(mint(&self.keyring, &req, now, &self.policy)?);
        if let Ok(mut creds) = self.credentials.lock() {
            creds.insert(view.instance.id.clone(), issued.clone());
        }
        Some(issued)
    }

    /// Mints ahead of time every credential that is missing or due, so requests find them ready.
    pub fn refresh_due(&self) {
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
            tracing::error!(error = %e, "IMDS directory reload failed; serving the previous view");
        }
    }
}
