//! Following the change feed: each instance a change touched is started, stopped or terminated
//! by the runtime, so what runs matches the store.

use crate::InstanceRuntime;
use async_trait::async_trait;
use rolecall_core::model::{Instance, InstanceState};
use rolecall_core::{ChangeListener, ChangesSince, DynStore, EntityKind, PageRequest};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Feed sequences read per step.
const BATCH: usize = 1000;

pub struct Reconciler {
    store: DynStore,
    runtime: Arc<dyn InstanceRuntime>,
    /// The feed sequence applied so far; held while applying, so changes apply one at a time.
    seq: tokio::sync::Mutex<i64>,
}

impl Reconciler {
    /// Cleans up what a previous run left, then starts every instance the store has running.
    pub async fn start(
        store: DynStore,
        runtime: Arc<dyn InstanceRuntime>,
    ) -> rolecall_core::Result<Arc<Reconciler>> {
        let seq = store.latest_change().await?;
        let r = Arc::new(Reconciler {
            store,
            runtime,
            seq: tokio::sync::Mutex::new(seq),
        });
        if let Err(e) = r.runtime.clean_up_leftovers().await {
            tracing::warn!(error = %e, "cleaning up a previous run's instances");
        }
        for i in r.all_instances().await? {
            r.apply(&i.id, Some(i.clone())).await;
        }
        Ok(r)
    }

    pub fn runtime(&self) -> &Arc<dyn InstanceRuntime> {
        &self.runtime
    }

    async fn all_instances(&self) -> rolecall_core::Result<Vec<Instance>> {
        Ok(self
            .store
            .list_instances(
                &[],
                &PageRequest {
                    from: None,
                    limit: usize::MAX - 1,
                },
            )
            .await?
            .into_iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .collect())
    }

    /// Brings the runtime in line with the instance as the store has it (`None`: gone).
    async fn apply(&self, id: &str, instance: Option<Instance>) {
        let result = match &instance {
            Some(i) if matches!(i.state, InstanceState::Running | InstanceState::Pending) => {
                self.runtime.start(i).await
            }
            Some(i) if matches!(i.state, InstanceState::Stopping | InstanceState::Stopped) => {
                self.runtime.stop(id).await
            }
            _ => self.runtime.terminate(id).await,
        };
        if let Err(e) = result {
            tracing::warn!(instance = %id, runtime = self.runtime.name(), error = %e, "instance runtime");
        }
    }

    async fn apply_changes(&self, seq: &mut i64) -> rolecall_core::Result<()> {
        loop {
            match self.store.changes_since(*seq, BATCH).await? {
                ChangesSince::Changes { changes, latest } => {
                    let ids: BTreeSet<String> = changes
                        .into_iter()
                        .filter(|c| c.kind == EntityKind::Instance)
                        .map(|c| c.id)
                        .collect();
                    for id in ids {
                        let instance = self.store.get_instance(&id).await?;
                        self.apply(&id, instance).await;
                    }
                    let done = latest == *seq;
                    *seq = latest;
                    if done {
                        return Ok(());
                    }
                }
                ChangesSince::Pruned { latest } => {
                    tracing::warn!(
                        "change feed pruned past the runtime's sequence: reconciling every instance"
                    );
                    for i in self.all_instances().await? {
                        self.apply(&i.id, Some(i.clone())).await;
                    }
                    *seq = latest;
                    return Ok(());
                }
            }
        }
    }
}

#[async_trait]
impl ChangeListener for Reconciler {
    async fn changed(&self) {
        let mut seq = self.seq.lock().await;
        if let Err(e) = self.apply_changes(&mut seq).await {
            tracing::warn!(error = %e, "reading the change feed for the instance runtime");
        }
    }
}
