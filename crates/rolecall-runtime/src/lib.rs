//! Instance runtimes. An [`InstanceRuntime`] makes the store's instances real on this host:
//! [`NoRuntime`] keeps today's records-only behaviour; `netns` (Linux, root) runs each running
//! instance as a set of namespaces on a bridge of rolecall's own ([`netns::NetnsRuntime`]).
//! The [`Reconciler`] follows the store's change feed and asks the runtime to start, stop or
//! terminate each instance a change touched, so a running instance has its namespaces and a
//! stopped or terminated one has none.

#[cfg(target_os = "linux")]
pub mod netns;
mod reconcile;

pub use reconcile::Reconciler;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolecall_core::model::Instance;

/// What a runtime failed to do (reported in the server's log; the API state is the store's).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Unsupported(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// An instance's console output, as `GetConsoleOutput` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOutput {
    pub output: Vec<u8>,
    pub timestamp: DateTime<Utc>,
}

/// Runs instances. Every method is idempotent: `start` of a running instance and `stop` of a
/// stopped one do nothing.
#[async_trait]
pub trait InstanceRuntime: Send + Sync + 'static {
    /// The runtime's name (`none`, `netns`).
    fn name(&self) -> &'static str;
    /// Makes `instance` run (its first start runs its user data).
    async fn start(&self, instance: &Instance) -> Result<(), RuntimeError>;
    /// Ends the instance's processes and its namespaces, keeping what a later start needs.
    async fn stop(&self, instance_id: &str) -> Result<(), RuntimeError>;
    /// Ends everything the instance had on this host (its console output stays readable).
    async fn terminate(&self, instance_id: &str) -> Result<(), RuntimeError>;
    /// Removes whatever a previous (crashed) run left behind, before instances start again.
    async fn clean_up_leftovers(&self) -> Result<(), RuntimeError>;
    /// The instance's console output: the newest 64 KiB (`GetConsoleOutput`), or the whole of
    /// it up to that size either way; `None` when it has none.
    async fn console_output(&self, instance_id: &str) -> Option<ConsoleOutput>;
}

/// Records only: instances are rows, nothing runs (the default). Tests may give it a console
/// output to report for every instance ([`NoRuntime::printing`]).
#[derive(Default)]
pub struct NoRuntime {
    console: Option<ConsoleOutput>,
}

impl NoRuntime {
    pub fn printing(console: ConsoleOutput) -> NoRuntime {
        NoRuntime {
            console: Some(console),
        }
    }
}

#[async_trait]
impl InstanceRuntime for NoRuntime {
    fn name(&self) -> &'static str {
        "none"
    }
    async fn start(&self, _: &Instance) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn stop(&self, _: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn terminate(&self, _: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn clean_up_leftovers(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn console_output(&self, _: &str) -> Option<ConsoleOutput> {
        self.console.clone()
    }
}
