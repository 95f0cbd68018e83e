//! The `netns` runtime (Linux, root): each running instance is a network namespace
//! (`rc-<instance id>`, its private IP on `eth0`, one end of a veth pair whose host end
//! `rcv<id tail>` is on rolecall's bridge `rcbr0`) and, inside it, a boot process in new mount,
//! PID, UTS and IPC namespaces (hostname `ip-A-B-C-D.<region's domain>`, a private `/tmp`).
//!
//! The bridge holds the instance range's gateway (its first address) and 169.254.169.254/32;
//! the server listens there (IMDS on 169.254.169.254:80, the API on the gateway), and the bridge
//! forwards nothing: instances reach those listeners and each other, nothing else (no default
//! route, no NAT). Links and namespaces are made with iproute2 (`ip`), the boot process with
//! util-linux (`setpriv`, `nsenter`, `unshare`): no unsafe code, and everything rolecall
//! creates carries its prefix, so a crashed run's leftovers are found and removed at start-up.
//!
//! Per instance, `<data dir>/instances/<id>/` keeps the console output (the boot script's
//! stdout and stderr), `booted` (user data ran: it never runs again), the boot environment
//! and user (`environment`, `user`, for `rolecall exec`) and the namespaces' first process
//! (`init.pid`).

use crate::{ConsoleOutput, InstanceRuntime, RuntimeError};
use async_trait::async_trait;
use base64::Engine;
use ipnet::Ipv4Net;
use rolecall_core::model::Instance;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// The bridge rolecall owns.
pub const BRIDGE: &str = "rcbr0";
/// Network namespaces of instances are `rc-<instance id>`.
pub const NETNS_PREFIX: &str = "rc-";
/// Host ends of instances' veth pairs are `rcv<last 12 characters of the id>`.
pub const VETH_PREFIX: &str = "rcv";
/// The metadata service's link-local address, on the bridge.
pub const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// `GetConsoleOutput` returns at most the newest 64 KiB, as EC2 does.
const CONSOLE_MAX: u64 = 64 * 1024;

/// What the runtime needs from the server's configuration.
#[derive(Debug, Clone)]
pub struct NetnsConfig {
    /// Where per-instance files live (`instances/<id>/`).
    pub data_dir: PathBuf,
    /// The range instances' IPs come from; the bridge holds its first address.
    pub instance_cidr: Ipv4Net,
    pub region: String,
    /// The user user data runs as.
    pub user: String,
    /// `PATH` in the instance (the host's filesystem is the instance's).
    pub path: String,
}

/// The boot process, as root inside the new namespaces: hostname, private /tmp, the user data
/// (first start only) as the instance user, then a process that keeps the namespaces alive.
/// Arguments: hostname, user data file (empty: none), uid, gid.
const INIT: &str = r#"set -e
hostname "$1"
# Opened before /tmp is covered (the data directory may be under it).
if [ -n "$2" ]; then exec 3<"$2"; fi
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
if [ -n "$2" ]; then
  cat <&3 >/tmp/.rolecall-user-data
  exec 3<&-
  chown "$3:$4" /tmp/.rolecall-user-data
  chmod 0500 /tmp/.rolecall-user-data
  (cd /tmp && setpriv --reuid="$3" --regid="$4" --clear-groups --no-new-privs -- /tmp/.rolecall-user-data; echo "rolecall: user data exited with status $?") </dev/null &
fi
exec sleep infinity
"#;

/// A running instance's boot process (setpriv → nsenter → unshare, whose child is the
/// namespaces' first process).
struct Running {
    child: Child,
    ip: String,
}

pub struct NetnsRuntime {
    config: NetnsConfig,
    uid: u32,
    gid: u32,
    /// Where instances reach the API (`http://<gateway>:<port>`), set once it is bound.
    api_endpoint: Mutex<String>,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    spawner: Spawner,
}

impl NetnsRuntime {
    /// Checks that this host can run instances (root, namespaces, the tools) and resolves the
    /// instance user. Nothing is created yet.
    pub fn new(config: NetnsConfig) -> Result<NetnsRuntime, RuntimeError> {
        if !rustix::process::geteuid().is_root() {
            return Err(RuntimeError::Unsupported(
                "--instance-runtime netns needs root (network namespaces, a bridge, veth pairs)"
                    .into(),
            ));
        }
        for ns in ["net", "mnt", "pid", "uts", "ipc"] {
            if !Path::new("/proc/self/ns").join(ns).exists() {
                return Err(RuntimeError::Unsupported(format!(
                    "--instance-runtime netns: this kernel has no {ns} namespaces"
                )));
            }
        }
        for (tool, package) in [
            ("ip", "iproute2"),
            ("setpriv", "util-linux"),
            ("nsenter", "util-linux"),
            ("unshare", "util-linux"),
        ] {
            if Command::new(tool)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
            {
                return Err(RuntimeError::Unsupported(format!(
                    "--instance-runtime netns needs `{tool}` (package {package})"
                )));
            }
        }
        if config.instance_cidr.prefix_len() > 29 {
            return Err(RuntimeError::Unsupported(format!(
                "--instance-cidr {} is too small for a gateway and instances",
                config.instance_cidr
            )));
        }
        let uid = id_of(&config.user, "-u")?;
        let gid = id_of(&config.user, "-g")?;
        Ok(NetnsRuntime {
            config,
            uid,
            gid,
            api_endpoint: Mutex::new(String::new()),
            running: Default::default(),
            spawner: Spawner::start()?,
        })
    }

    /// The bridge's address in the instance range, where instances reach the API.
    pub fn gateway(&self) -> Ipv4Addr {
        gateway(self.config.instance_cidr)
    }

    /// Sets the API endpoint instances are told (`AWS_ENDPOINT_URL`).
    pub fn set_api_endpoint(&self, endpoint: String) {
        if let Ok(mut e) = self.api_endpoint.lock() {
            *e = endpoint;
        }
    }

    /// Removes leftovers, then creates the bridge with the gateway and the IMDS address, so the
    /// server can bind its listeners there.
    pub async fn prepare(&self) -> Result<(), RuntimeError> {
        self.clean_up_leftovers().await?;
        self.remove_bridge().await;
        let cidr = self.config.instance_cidr;
        let gw = format!("{}/{}", self.gateway(), cidr.prefix_len());
        ip(&["link", "add", BRIDGE, "type", "bridge"]).await?;
        ip(&["addr", "add", &gw, "dev", BRIDGE]).await?;
        ip(&["addr", "add", &format!("{IMDS_ADDRESS}/32"), "dev", BRIDGE]).await?;
        // Nothing received from instances is routed on (whatever the host's ip_forward).
        let forwarding = format!("/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding");
        std::fs::write(&forwarding, "0").map_err(|source| RuntimeError::Io {
            what: forwarding,
            source,
        })?;
        ip(&["link", "set", BRIDGE, "up"]).await?;
        Ok(())
    }

    /// Removes the bridge (with its addresses and routes), once no instance is on it.
    pub async fn remove_bridge(&self) {
        if ip_quiet(&["link", "show", BRIDGE]).await.is_some() {
            tracing::info!(link = BRIDGE, "removing the instances' bridge");
            let _ = ip_quiet(&["link", "del", BRIDGE]).await;
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        instance_dir(&self.config.data_dir, id)
    }

    /// The instance's environment: the API and the region; nothing instance-specific.
    fn environment(&self) -> Vec<(String, String)> {
        let endpoint = self
            .api_endpoint
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        vec![
            ("PATH".into(), self.config.path.clone()),
            ("HOME".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("AWS_ENDPOINT_URL".into(), endpoint),
            ("AWS_REGION".into(), self.config.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.config.region.clone()),
        ]
    }

    /// Namespace, veth pair, addresses and routes of one instance.
    async fn plumb(&self, id: &str, ip_addr: Ipv4Addr) -> Result<(), RuntimeError> {
        let ns = netns_name(id);
        let veth = veth_name(id);
        let cidr = self.config.instance_cidr;
        let gw = self.gateway().to_string();
        ip(&["netns", "add", &ns]).await?;
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])
        .await?;
        ip(&["link", "set", &veth, "master", BRIDGE, "up"]).await?;
        ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip_addr}/{}", cidr.prefix_len()),
            "dev",
            "eth0",
        ])
        .await?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).await?;
        if !cidr.contains(&ip_addr) {
            // An address outside the bridge's range (e.g. a subnet's): routes both ways.
            ip(&["-n", &ns, "route", "add", &gw, "dev", "eth0"]).await?;
            ip(&["route", "add", &ip_addr.to_string(), "dev", BRIDGE]).await?;
        }
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            &format!("{IMDS_ADDRESS}/32"),
            "via",
            &gw,
            "dev",
            "eth0",
        ])
        .await?;
        Ok(())
    }

    /// The user data to run at this start: only at the first, and only a `#!` script.
    fn first_boot_user_data(
        &self,
        instance: &Instance,
        dir: &Path,
        console: &mut std::fs::File,
    ) -> Result<Option<PathBuf>, RuntimeError> {
        use std::io::Write;
        let booted = dir.join("booted");
        if booted.exists() {
            return Ok(None);
        }
        write_file(&booted, b"")?;
        let Some(encoded) = &instance.user_data else {
            return Ok(None);
        };
        let script = match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
            Ok(s) => s,
            Err(_) => encoded.as_bytes().to_vec(),
        };
        if !script.starts_with(b"#!") {
            let _ = writeln!(
                console,
                "rolecall: user data is not a script starting with #!; not run"
            );
            return Ok(None);
        }
        let path = dir.join("user-data");
        write_file(&path, &script)?;
        Ok(Some(path))
    }

    async fn boot(&self, instance: &Instance, ip_addr: Ipv4Addr) -> Result<Child, RuntimeError> {
        let id = &instance.id;
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Io {
            what: dir.display().to_string(),
            source,
        })?;
        let console_path = dir.join("console.log");
        let mut console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console_path)
            .map_err(|source| RuntimeError::Io {
                what: console_path.display().to_string(),
                source,
            })?;
        let user_data = self.first_boot_user_data(instance, &dir, &mut console)?;
        let env = self.environment();
        let env_text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        write_file(&dir.join("environment"), env_text.as_bytes())?;
        write_file(
            &dir.join("user"),
            format!("{}:{}\n", self.uid, self.gid).as_bytes(),
        )?;
        let err = console.try_clone().map_err(|source| RuntimeError::Io {
            what: console_path.display().to_string(),
            source,
        })?;
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", "nsenter"])
            .arg(format!("--net=/run/netns/{}", netns_name(id)))
            .args([
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--ipc",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--",
                "/bin/sh",
                "-c",
                INIT,
                "rolecall-init",
            ])
            .arg(hostname(ip_addr, &self.config.region))
            .arg(user_data.as_deref().unwrap_or(Path::new("")))
            .arg(self.uid.to_string())
            .arg(self.gid.to_string())
            .env_clear()
            .envs(env)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(err);
        let child = self.spawner.spawn(cmd).await?;
        if let Some(init) = first_child(child.id()).await {
            write_file(&dir.join("init.pid"), init.to_string().as_bytes())?;
        }
        Ok(child)
    }

    /// Ends the instance's processes and removes its namespace, links and routes.
    async fn tear_down(&self, id: &str) -> Result<(), RuntimeError> {
        let was = self.running.lock().await.remove(id);
        if let Some(mut r) = was {
            let _ = r.child.kill();
            let _ = tokio::task::spawn_blocking(move || r.child.wait()).await;
            if let Ok(ip_addr) = r.ip.parse::<Ipv4Addr>()
                && !self.config.instance_cidr.contains(&ip_addr)
            {
                let _ = ip(&["route", "del", &r.ip, "dev", BRIDGE]).await;
            }
        }
        let _ = std::fs::remove_file(self.dir(id).join("init.pid"));
        remove_netns(&netns_name(id)).await;
        let _ = ip_quiet(&["link", "del", &veth_name(id)]).await;
        Ok(())
    }
}

#[async_trait]
impl InstanceRuntime for NetnsRuntime {
    fn name(&self) -> &'static str {
        "netns"
    }

    async fn start(&self, instance: &Instance) -> Result<(), RuntimeError> {
        let id = instance.id.as_str();
        {
            let mut running = self.running.lock().await;
            if let Some(r) = running.get_mut(id) {
                let alive = matches!(r.child.try_wait(), Ok(None));
                if alive && r.ip == instance.private_ip {
                    return Ok(());
                }
            }
        }
        self.tear_down(id).await?;
        let ip_addr: Ipv4Addr = instance.private_ip.parse().map_err(|_| {
            RuntimeError::Unsupported(format!(
                "instance {id} has no IPv4 address ({})",
                instance.private_ip
            ))
        })?;
        let booted = async {
            self.plumb(id, ip_addr).await?;
            self.boot(instance, ip_addr).await
        }
        .await;
        match booted {
            Ok(child) => {
                tracing::info!(instance = %id, ip = %ip_addr, "instance running");
                self.running.lock().await.insert(
                    id.to_string(),
                    Running {
                        child,
                        ip: instance.private_ip.clone(),
                    },
                );
                Ok(())
            }
            Err(e) => {
                let _ = self.tear_down(id).await;
                Err(e)
            }
        }
    }

    async fn stop(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.tear_down(instance_id).await
    }

    async fn terminate(&self, instance_id: &str) -> Result<(), RuntimeError> {
        self.tear_down(instance_id).await?;
        let dir = self.dir(instance_id);
        for f in ["user-data", "environment", "user", "booted"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        Ok(())
    }

    async fn clean_up_leftovers(&self) -> Result<(), RuntimeError> {
        for r in self.running.lock().await.values_mut() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        self.running.lock().await.clear();
        for ns in leftover_netns().await? {
            tracing::info!(netns = %ns, "removing a previous run's namespace");
            remove_netns(&ns).await;
        }
        for link in leftover_links().await? {
            tracing::info!(link = %link, "removing a previous run's link");
            let _ = ip_quiet(&["link", "del", &link]).await;
        }
        Ok(())
    }

    async fn console_output(&self, instance_id: &str) -> Option<ConsoleOutput> {
        read_console(&self.dir(instance_id).join("console.log"))
    }
}

/// `<data dir>/instances/<id>`.
pub fn instance_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("instances").join(id)
}

pub fn netns_name(id: &str) -> String {
    format!("{NETNS_PREFIX}{id}")
}

/// Interface names have at most 15 bytes: the prefix and the id's last 12 characters.
pub fn veth_name(id: &str) -> String {
    let tail: String = id
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{VETH_PREFIX}{tail}")
}

fn gateway(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()).saturating_add(1))
}

/// EC2's private DNS name: `ip-10-0-0-5.ec2.internal` in us-east-1, else
/// `ip-10-0-0-5.<region>.compute.internal`.
pub fn hostname(ip_addr: Ipv4Addr, region: &str) -> String {
    let dashed = ip_addr.to_string().replace('.', "-");
    if region == "us-east-1" {
        format!("ip-{dashed}.ec2.internal")
    } else {
        format!("ip-{dashed}.{region}.compute.internal")
    }
}

fn read_console(path: &Path) -> Option<ConsoleOutput> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    let len = meta.len();
    if len > CONSOLE_MAX {
        f.seek(SeekFrom::Start(len - CONSOLE_MAX)).ok()?;
    }
    let mut output = Vec::new();
    f.take(CONSOLE_MAX).read_to_end(&mut output).ok()?;
    let timestamp = meta.modified().ok()?.into();
    Some(ConsoleOutput { output, timestamp })
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), RuntimeError> {
    std::fs::write(path, contents).map_err(|source| RuntimeError::Io {
        what: path.display().to_string(),
        source,
    })
}

/// The uid (`-u`) or primary gid (`-g`) of `user`.
fn id_of(user: &str, which: &str) -> Result<u32, RuntimeError> {
    let out = Command::new("id")
        .args([which, "--", user])
        .output()
        .map_err(|source| RuntimeError::Io {
            what: "id".into(),
            source,
        })?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Unsupported(format!("--instance-user {user}: no such user")))
}

/// Runs `ip ARGS`; its stderr is the error.
async fn ip(args: &[&str]) -> Result<(), RuntimeError> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| RuntimeError::Io {
            what: "ip".into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Command {
            command: format!("ip {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip ARGS` whose failure is expected when there is nothing to remove; its output.
async fn ip_quiet(args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Kills every process in the namespace `ns`, then removes it.
async fn remove_netns(ns: &str) {
    for _ in 0..10 {
        let pids = ip_quiet(&["netns", "pids", ns]).await.unwrap_or_default();
        let pids: Vec<i32> = pids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = ip_quiet(&["netns", "del", ns]).await;
}

/// Namespaces named like an instance's.
async fn leftover_netns() -> Result<Vec<String>, RuntimeError> {
    let list = ip_quiet(&["netns", "list"]).await.unwrap_or_default();
    Ok(list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(NETNS_PREFIX) && n.len() > NETNS_PREFIX.len() + 2)
        .filter(|n| n[NETNS_PREFIX.len()..].starts_with("i-"))
        .map(str::to_string)
        .collect())
}

/// Host ends of instances' veth pairs.
async fn leftover_links() -> Result<Vec<String>, RuntimeError> {
    let list = ip_quiet(&["-o", "link", "show"]).await.unwrap_or_default();
    // Lines look like `12: rcv0123456789ab@if11: <...>`.
    Ok(list
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| is_veth_name(n))
        .map(str::to_string)
        .collect())
}

fn is_veth_name(n: &str) -> bool {
    n.len() == VETH_PREFIX.len() + 12
        && n.starts_with(VETH_PREFIX)
        && n[VETH_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit())
}

/// The first child of `pid` (the namespaces' first process, under `unshare --fork`).
async fn first_child(pid: u32) -> Option<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(&path)
            && let Some(c) = s.split_whitespace().next().and_then(|c| c.parse().ok())
        {
            return Some(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

/// Spawns boot processes from one thread that lives as long as the server: their parent-death
/// signal fires when the thread that spawned them ends, and tokio's threads come and go.
struct Spawner {
    tx: std::sync::mpsc::Sender<(
        Command,
        tokio::sync::oneshot::Sender<std::io::Result<Child>>,
    )>,
}

impl Spawner {
    fn start() -> Result<Spawner, RuntimeError> {
        let (tx, rx) = std::sync::mpsc::channel::<(
            Command,
            tokio::sync::oneshot::Sender<std::io::Result<Child>>,
        )>();
        std::thread::Builder::new()
            .name("rolecall-instance-spawner".into())
            .spawn(move || {
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map_err(|source| RuntimeError::Io {
                what: "starting the instance spawner thread".into(),
                source,
            })?;
        Ok(Spawner { tx })
    }

    async fn spawn(&self, cmd: Command) -> Result<Child, RuntimeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || RuntimeError::Unsupported("the instance spawner thread ended".into());
        self.tx.send((cmd, reply)).map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(|source| RuntimeError::Io {
                what: "starting an instance's boot process".into(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits_and_are_found_again() {
        let v = veth_name("i-0123456789abcdef0");
        assert_eq!(v, "rcv56789abcdef0");
        assert!(v.len() <= 15);
        assert!(is_veth_name(&v));
        assert!(!is_veth_name("rcvfoo"));
        assert_eq!(netns_name("i-0abc"), "rc-i-0abc");
    }

    #[test]
    fn hostnames_follow_the_region() {
        let ip = Ipv4Addr::new(10, 213, 0, 5);
        assert_eq!(hostname(ip, "us-east-1"), "ip-10-213-0-5.ec2.internal");
        assert_eq!(
            hostname(ip, "eu-west-1"),
            "ip-10-213-0-5.eu-west-1.compute.internal"
        );
    }

    #[test]
    fn the_gateway_is_the_ranges_first_address() {
        let cidr: Ipv4Net = "10.213.0.0/24".parse().unwrap();
        assert_eq!(gateway(cidr), Ipv4Addr::new(10, 213, 0, 1));
    }

    #[test]
    fn console_output_is_the_newest_64_kib() {
        let dir = tempdir();
        let path = dir.join("console.log");
        let mut text = vec![b'a'; 70 * 1024];
        text.extend_from_slice(b"END");
        std::fs::write(&path, &text).unwrap();
        let c = read_console(&path).unwrap();
        assert_eq!(c.output.len(), 64 * 1024);
        assert!(c.output.ends_with(b"END"));
        assert!(read_console(&dir.join("absent")).is_none());
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rolecall-runtime-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
