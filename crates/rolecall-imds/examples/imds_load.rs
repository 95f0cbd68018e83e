//! A closed-loop HTTP/1.1 load generator for the IMDS credential GET.
//!
//! N keep-alive connections to one address, each sending one GET at a time for a bounded
//! duration; prints requests/s and latency percentiles (from send to the last body byte).
//!
//! ```text
//! cargo run --release -p rolecall-imds --example imds_load -- \
//!     --addr 127.0.0.1:8691 --path /latest/meta-data/iam/security-credentials/ROLE \
//!     [--connections 32] [--duration 10] [--warmup 1] [--threads 1] [--bind 127.77.0.10] \
//!     [--header 'x-aws-ec2-metadata-token: ...'] [--expect AccessKeyId] [--server-pid PID]
//! ```
//!
//! Besides rate and latency it prints the CPU time spent per request by itself and, with
//! `--server-pid`, by the server (from `/proc/PID/stat`): on a shared machine those figures are
//! steadier than the rate, and `2 cores / (server + load generator CPU per request)` bounds what
//! the pair can do on two otherwise idle cores.
//!
//! `--bind` sets the source address (IMDS identifies callers by it). Only loopback targets are
//! accepted. Closed loop: a slow server lowers the offered load, so latency under overload is
//! understated (coordinated omission); compare the request rate with the target as well.

#![allow(clippy::unwrap_used)]

use hdrhistogram::Histogram;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

struct Args {
    addr: SocketAddr,
    path: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    bind: Option<IpAddr>,
    headers: Vec<String>,
    expect: Option<String>,
    server_pid: Option<u32>,
}

const USAGE: &str = "usage: imds_load --addr IP:PORT --path PATH [--connections N] [--duration SECS] [--warmup SECS] [--threads N] [--bind IP] [--header 'K: V']... [--expect TEXT] [--server-pid PID]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8691".parse().map_err(|e| format!("{e}"))?,
        path: String::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        threads: 1,
        bind: None,
        headers: Vec::new(),
        expect: None,
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let secs = |v: String| -> Result<Duration, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| (0.0..=3600.0).contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("bad duration {v}"))
        };
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--path" => args.path = value()?,
            "--connections" | "-c" => {
                args.connections = value()?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--duration" | "-d" => args.duration = secs(value()?)?,
            "--warmup" => args.warmup = secs(value()?)?,
            "--threads" | "-t" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--bind" => args.bind = Some(value()?.parse().map_err(|e| format!("--bind: {e}"))?),
            "--header" | "-H" => args.headers.push(value()?),
            "--expect" => args.expect = Some(value()?),
            "--server-pid" => {
                args.server_pid = Some(value()?.parse().map_err(|e| format!("--server-pid: {e}"))?)
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.path.is_empty() || !args.path.starts_with('/') {
        return Err(format!("--path is required and starts with /\n{USAGE}"));
    }
    // This is a load generator: it only ever targets this machine.
    if !args.addr.ip().is_loopback() {
        return Err("--addr must be a loopback address".into());
    }
    if args.connections == 0 || args.connections > 4096 || args.threads == 0 {
        return Err("--connections must be 1..=4096 and --threads at least 1".into());
    }
    Ok(args)
}

/// What one connection measured.
struct Tally {
    hist: Histogram<u64>,
    ok: u64,
    bad_status: u64,
    failures: u64,
}

fn new_hist() -> Histogram<u64> {
    // Nanoseconds, 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
}

/// User + system CPU time of a process so far (Linux `/proc/PID/stat`, 100 ticks a second).
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Reads one response into `buf` (which may hold bytes of it already); returns (status, body
/// range) and leaves any following bytes in `buf` after the response.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, usize, usize)> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(buf) {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let status = std::str::from_utf8(buf.get(9..12).unwrap_or(b"000"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len = content_length(&buf[..head_end])
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no content-length"))?;
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, head_end, head_end + len))
}

async fn connect(addr: SocketAddr, bind: Option<IpAddr>) -> std::io::Result<tokio::net::TcpStream> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = bind {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn run_connection(
    args: std::sync::Arc<Args>,
    request: std::sync::Arc<Vec<u8>>,
    record_from: Instant,
    stop_at: Instant,
) -> Tally {
    let mut t = Tally {
        hist: new_hist(),
        ok: 0,
        bad_status: 0,
        failures: 0,
    };
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut checked = args.expect.is_none();
    'reconnect: while Instant::now() < stop_at {
        let mut stream = match connect(args.addr, args.bind).await {
            Ok(s) => s,
            Err(e) => {
                t.failures += 1;
                if t.failures == 1 {
                    eprintln!("connect: {e}");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        buf.clear();
        loop {
            let start = Instant::now();
            if start >= stop_at {
                break 'reconnect;
            }
            if let Err(e) = stream.write_all(&request).await {
                t.failures += 1;
                if t.failures == 1 {
                    eprintln!("write: {e}");
                }
                continue 'reconnect;
            }
            match read_response(&mut stream, &mut buf).await {
                Ok((status, body_start, end)) => {
                    let done = Instant::now();
                    if !checked {
                        let body = String::from_utf8_lossy(&buf[body_start..end]);
                        let want = args.expect.as_deref().unwrap_or("");
                        if !body.contains(want) {
                            eprintln!("unexpected body (status {status}): {body}");
                            t.failures += 1;
                            return t;
                        }
                        checked = true;
                    }
                    buf.drain(..end);
                    if start >= record_from {
                        if status == 200 {
                            t.ok += 1;
                        } else {
                            t.bad_status += 1;
                        }
                        let ns = (done - start).as_nanos().min(u64::MAX as u128) as u64;
                        t.hist.saturating_record(ns.max(1));
                    }
                }
                Err(e) => {
                    t.failures += 1;
                    if t.failures == 1 {
                        eprintln!("read: {e}");
                    }
                    continue 'reconnect;
                }
            }
        }
    }
    t
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: imds_load\r\nAccept: */*\r\n",
            args.path
        );
        for h in &args.headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let request = std::sync::Arc::new(request.into_bytes());
        let args = std::sync::Arc::new(args);
        let begin = Instant::now();
        let record_from = begin + args.warmup;
        let stop_at = record_from + args.duration;
        // CPU times at the edges of the measured window.
        let server_pid = args.server_pid.map(|p| p.to_string());
        let sampler = tokio::spawn(async move {
            let sample = || (cpu_time("self"), server_pid.as_deref().and_then(cpu_time));
            tokio::time::sleep_until(record_from.into()).await;
            let first = sample();
            tokio::time::sleep_until(stop_at.into()).await;
            (first, sample())
        });
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| {
                tokio::spawn(run_connection(
                    args.clone(),
                    request.clone(),
                    record_from,
                    stop_at,
                ))
            })
            .collect();
        let mut hist = new_hist();
        let (mut ok, mut bad, mut failures) = (0u64, 0u64, 0u64);
        for t in tasks {
            let t = t.await.unwrap();
            hist.add(&t.hist).unwrap();
            ok += t.ok;
            bad += t.bad_status;
            failures += t.failures;
        }
        let ((self0, server0), (self1, server1)) = sampler.await.unwrap();
        let secs = args.duration.as_secs_f64();
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "target: http://{}{} (source {}), {} connections, {} loadgen threads, {:.1} s (+{:.1} s warmup)",
            args.addr,
            args.path,
            args.bind.map(|b| b.to_string()).unwrap_or_else(|| "any".into()),
            args.connections,
            args.threads,
            secs,
            args.warmup.as_secs_f64()
        );
        println!(
            "requests: {} ok, {} non-200, {} connection errors",
            ok, bad, failures
        );
        println!("throughput: {:.0} requests/s", (ok + bad) as f64 / secs);
        println!(
            "latency (us): p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
            us(0.50),
            us(0.90),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0,
            hist.mean() / 1000.0
        );
        let total = (ok + bad).max(1) as f64;
        let per_request = |a: Option<Duration>, b: Option<Duration>| {
            let used = b?.checked_sub(a?)?;
            Some((used.as_secs_f64(), used.as_secs_f64() * 1e6 / total))
        };
        let mine = per_request(self0, self1);
        let server = per_request(server0, server1);
        if let Some((s, us)) = mine {
            println!("load generator CPU: {s:.2} s, {us:.1} us/request");
        }
        if let Some((s, us)) = server {
            println!("server CPU: {s:.2} s, {us:.1} us/request");
        }
        if let (Some((_, a)), Some((_, b))) = (mine, server) {
            println!(
                "2 idle cores would sustain about {:.0} requests/s (server alone on 2 cores: {:.0})",
                2e6 / (a + b),
                2e6 / b
            );
        }
        if ok == 0 || bad > 0 || failures > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}
