//! `serve --instance-runtime`: setting up the netns runtime (Linux only) and its listeners.

use anyhow::Result;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

/// The metadata service's address, on the runtime's bridge.
pub const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

#[cfg(target_os = "linux")]
pub type Netns = rolecall_runtime::netns::NetnsRuntime;

/// The netns runtime, after checking this host can run it.
#[cfg(target_os = "linux")]
pub fn netns(
    dir: &Path,
    region: &str,
    instance_cidr: ipnet::Ipv4Net,
    user: &str,
) -> Result<Arc<Netns>> {
    let config = rolecall_runtime::netns::NetnsConfig {
        data_dir: dir.to_path_buf(),
        instance_cidr,
        region: region.to_string(),
        user: user.to_string(),
        path: std::env::var("PATH")
            .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into()),
    };
    Ok(Arc::new(Netns::new(config)?))
}

#[cfg(not(target_os = "linux"))]
pub use unsupported::{Netns, netns};

/// Elsewhere `netns` is refused at start-up; this only lets `serve` compile.
#[cfg(not(target_os = "linux"))]
mod unsupported {
    use super::*;

    pub type Netns = rolecall_runtime::NoRuntime;

    pub fn netns(_: &Path, _: &str, _: ipnet::Ipv4Net, _: &str) -> Result<Arc<Netns>> {
        anyhow::bail!("--instance-runtime netns runs on Linux only")
    }

    pub trait NetnsLike {
        async fn prepare(&self) -> Result<()>;
        fn gateway(&self) -> Ipv4Addr;
        fn set_api_endpoint(&self, _: String);
        async fn remove_bridge(&self);
    }

    impl NetnsLike for Netns {
        async fn prepare(&self) -> Result<()> {
            Ok(())
        }
        fn gateway(&self) -> Ipv4Addr {
            Ipv4Addr::LOCALHOST
        }
        fn set_api_endpoint(&self, _: String) {}
        async fn remove_bridge(&self) {}
    }
}

/// Runs a listener, logging why it ended.
pub async fn log_end(what: &'static str, serve: impl Future<Output = std::io::Result<()>>) {
    if let Err(e) = serve.await {
        tracing::error!(error = %e, "{what} ended");
    }
}

/// Resolves on SIGTERM when `wanted` (so the netns runtime can remove its namespaces); never
/// otherwise.
pub async fn terminated(wanted: bool) {
    if wanted
        && let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

/// A command entering a netns instance's namespaces.
pub struct Enter(std::process::Command);

impl Enter {
    /// Replaces this process with the command; returns only on failure.
    pub fn exec_replacing(mut self) -> std::io::Error {
        use std::os::unix::process::CommandExt;
        self.0.exec()
    }
}

/// `command` inside the namespaces of `instance_id` when the netns runtime runs it (its first
/// process still holds its network namespace), with the instance's environment only, as the
/// instance's user (nothing rolecall starts in an instance is root there: a root process could
/// take another instance's address, and with it that instance's credentials).
#[cfg(target_os = "linux")]
pub fn enter_instance(dir: &Path, instance_id: &str, command: &[String]) -> Result<Option<Enter>> {
    use anyhow::Context;
    use rolecall_runtime::netns;
    use std::os::unix::fs::MetadataExt;
    let idir = netns::instance_dir(dir, instance_id);
    let Ok(pid) = std::fs::read_to_string(idir.join("init.pid")) else {
        return Ok(None);
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .context("reading the instance's init.pid")?;
    let netns_file = Path::new("/run/netns").join(netns::netns_name(instance_id));
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    // The pid may have been reused since: it must still be in the instance's namespace.
    if !same(&netns_file, Path::new(&format!("/proc/{pid}/ns/net"))) {
        return Ok(None);
    }
    let env = std::fs::read_to_string(idir.join("environment")).unwrap_or_default();
    let user = std::fs::read_to_string(idir.join("user")).context("reading the instance's user")?;
    let (uid, gid) = user
        .trim()
        .split_once(':')
        .context("reading the instance's user")?;
    let mut cmd = std::process::Command::new("nsenter");
    cmd.arg(format!("--target={pid}"))
        .args([
            "--net", "--mount", "--uts", "--ipc", "--pid", "--wd=/", "--",
        ])
        .arg("setpriv")
        .args([format!("--reuid={uid}"), format!("--regid={gid}")])
        .args(["--clear-groups", "--no-new-privs", "--"])
        .args(command)
        .env_clear()
        .envs(env.lines().filter_map(|l| l.split_once('=')));
    Ok(Some(Enter(cmd)))
}

#[cfg(not(target_os = "linux"))]
pub fn enter_instance(_: &Path, _: &str, _: &[String]) -> Result<Option<Enter>> {
    Ok(None)
}
