//! `rolecall exec INSTANCE -- COMMAND`: runs COMMAND as software on the instance would run,
//! with the instance's metadata service and nothing of the caller's AWS configuration.
//!
//! IMDS tells development instances apart by a path prefix that only holders of the deployment
//! key can compute (`/rolecall/<id>/<mac>/`). Some SDKs keep only the scheme, host and port of
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` (the JavaScript SDK v3, aws-sdk-go-v2), so by default
//! (`--imds-endpoint local`) exec stays the parent: it serves the command a loopback endpoint of
//! its own, `http://127.0.0.1:PORT`, and forwards every request to IMDS under the prefix. The
//! command gets AWS's plain paths; the prefix never leaves this process. `--imds-endpoint path`
//! is the earlier behaviour: exec replaces itself with the command and hands it the prefixed URL.

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::process::ExitStatus;

/// How the command reaches the instance's metadata service.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq, Debug)]
pub enum ImdsEndpoint {
    /// A loopback endpoint served by exec, without a path (works with every SDK).
    Local,
    /// The IMDS URL with the instance's path prefix (exec replaces itself with the command).
    Path,
}

/// Largest request body forwarded (IMDS requests have none).
const MAX_FORWARDED_BODY: usize = 64 * 1024;

/// Headers that belong to one hop and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Forwards one request to `base` (IMDS with the instance's prefix) and relays the answer.
async fn forward(
    http: reqwest::Client,
    base: String,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().trim_start_matches('/').to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = match http_body_util::Limited::new(req.into_body(), MAX_FORWARDED_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    let mut out = http.request(method, format!("{base}{path}")).body(body);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "exec: IMDS unreachable");
            return reply(
                StatusCode::BAD_GATEWAY,
                "the metadata service is unreachable\n",
            );
        }
    };
    let status = resp.status();
    let resp_headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = status;
    for (name, value) in &resp_headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            r.headers_mut().insert(name, value.clone());
        }
    }
    r
}

/// Serves the loopback endpoint on 127.0.0.1 (a free port) until the process ends; returns
/// its URL.
async fn serve_local_endpoint(imds_base: String) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the instance's local metadata endpoint")?;
    let addr = listener.local_addr()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("creating the metadata client")?;
    tokio::spawn(async move {
        let served = rolecall_net::serve(
            listener,
            rolecall_net::Limits::IMDS,
            "exec-imds",
            None,
            move |_stream, _peer| {
                let http = http.clone();
                let base = imds_base.clone();
                hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (http, base) = (http.clone(), base.clone());
                    async move { Ok::<_, std::convert::Infallible>(forward(http, base, req).await) }
                })
            },
        )
        .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "exec: local metadata endpoint failed");
        }
    });
    Ok(format!("http://{addr}"))
}

/// The process exit code that reports `status` (128 + signal when it was killed).
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Runs `cmd` as a child with the local endpoint alive, passing on SIGTERM and SIGINT, and
/// returns the code to exit with.
pub async fn run_child(mut cmd: tokio::process::Command, program: &str) -> Result<i32> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut child = cmd.spawn().with_context(|| format!("running {program}"))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    loop {
        let sig = tokio::select! {
            status = child.wait() => return Ok(exit_code(status?)),
            _ = term.recv() => rustix::process::Signal::TERM,
            _ = int.recv() => rustix::process::Signal::INT,
        };
        // The command decides how to end; exec ends when it does.
        if let Some(pid) = pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

/// Where the command's SDKs find the instance's metadata: a local endpoint (started here) or
/// the prefixed IMDS URL.
pub async fn metadata_endpoint(mode: ImdsEndpoint, imds: &str, prefix: &str) -> Result<String> {
    let prefixed = format!("{imds}{prefix}/");
    match mode {
        ImdsEndpoint::Path => Ok(prefixed),
        ImdsEndpoint::Local => serve_local_endpoint(prefixed).await,
    }
}
