//! The IMDS HTTP listener: identify the instance, apply IMDSv2 rules, answer from memory.

use crate::credentials::Delivery;
use crate::directory::Directory;
use crate::entry::InstanceEntry;
use crate::paths::{Body, render};
use crate::token;
use chrono::Duration;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, SERVER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// How callers may identify themselves, and what one caller may use.
#[derive(Debug, Clone, Copy)]
pub struct ImdsConfig {
    /// The caller is the instance whose private IP is the peer address (AWS's paths).
    pub source_ip: bool,
    /// `/rolecall/<instance-id>/<mac>/latest/...` (development; `rolecall exec`).
    pub dev_paths: bool,
    /// Connection caps and header-read deadline of the listener.
    pub limits: rolecall_net::Limits,
    /// Requests per second allowed from one source address (0: unlimited); past it, 429, as
    /// EC2 throttles IMDS per instance.
    pub rate_per_source: u32,
    /// Requests one source may send at once before the rate applies.
    pub burst_per_source: u32,
}

impl ImdsConfig {
    /// EC2 documents 1,024 packets per second per network interface for IMDS; a keep-alive
    /// request takes at least two, so 512 requests per second per source, in bursts of 1,024.
    pub const DEFAULT_RATE: u32 = 512;
    pub const DEFAULT_BURST: u32 = 1024;
}

impl Default for ImdsConfig {
    fn default() -> Self {
        ImdsConfig {
            source_ip: true,
            dev_paths: true,
            limits: rolecall_net::Limits::IMDS,
            rate_per_source: Self::DEFAULT_RATE,
            burst_per_source: Self::DEFAULT_BURST,
        }
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(SERVER, HeaderValue::from_static("EC2ws"));
    r
}

fn status_page(status: StatusCode) -> Response<Full<Bytes>> {
    // EC2's IMDS answers errors with a small HTML page titled by the status.
    let reason = status.canonical_reason().unwrap_or("");
    let code = status.as_u16();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>{code} - {reason}</title>\n </head>\n <body>\n  <h1>{code} - {reason}</h1>\n </body>\n</html>\n"
    );
    let mut r = reply(status, body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// Answers one request. Pure with respect to I/O: everything comes from the directory.
pub fn answer(
    dir: &Directory,
    config: &ImdsConfig,
    peer: SocketAddr,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if !dir.is_ready() {
        // Still loading the fleet: an instance not yet loaded must not be told it has none.
        return status_page(StatusCode::SERVICE_UNAVAILABLE);
    }
    let raw_path = req.uri().path();
    let (view, path, unmatched): (Option<Arc<InstanceEntry>>, &str, &str) =
        match token::parse_dev_path(dir.keyring(), raw_path) {
            Some((id, rest)) if config.dev_paths => (
                dir.by_id(id),
                rest,
                "the development path names no running instance",
            ),
            Some(_) => (
                None,
                raw_path,
                "development paths are off (--imds-identify)",
            ),
            None if raw_path.starts_with("/rolecall/") => (
                None,
                raw_path,
                "a development path whose MAC does not match (another deployment key?)",
            ),
            None if config.source_ip => (
                dir.by_ip(peer.ip()),
                raw_path,
                "no running instance has the source address",
            ),
            None => (
                None,
                raw_path,
                "no development path, and source-address identification is off (--imds-identify)",
            ),
        };
    let Some(view) = view else {
        log_unmatched(peer, unmatched);
        return status_page(StatusCode::NOT_FOUND);
    };
    let opts = view.options();
    if !opts.endpoint_enabled {
        return status_page(StatusCode::FORBIDDEN);
    }
    let now = dir.clock().now();

    if path == TOKEN_PATH {
        if req.method() != Method::PUT {
            return status_page(StatusCode::METHOD_NOT_ALLOWED);
        }
        if req.headers().contains_key("x-forwarded-for") {
            return status_page(StatusCode::FORBIDDEN);
        }
        let ttl = req
            .headers()
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return status_page(StatusCode::BAD_REQUEST);
        };
        let t = token::issue(dir.keyring(), &view.id(), now + Duration::seconds(ttl));
        let mut r = reply(StatusCode::OK, t);
        if let Ok(v) = HeaderValue::from_str(&ttl.to_string()) {
            r.headers_mut().insert(TTL_HEADER, v);
        }
        return r;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return status_page(StatusCode::METHOD_NOT_ALLOWED);
    }
    // A request with a valid session token is IMDSv2 (`ec2:RoleDelivery` 2.0), else IMDSv1.
    let delivery = match req.headers().get(TOKEN_HEADER) {
        Some(t) => {
            let valid = t
                .to_str()
                .ok()
                .and_then(|t| token::open(dir.keyring(), t))
                .is_some_and(|(id, exp)| *id == *view.id() && exp > now.timestamp());
            if !valid {
                return status_page(StatusCode::UNAUTHORIZED);
            }
            Delivery::V2
        }
        None if opts.tokens_required => return status_page(StatusCode::UNAUTHORIZED),
        None => Delivery::V1,
    };
    let Some(rest) = path.strip_prefix("/latest") else {
        return if path == "/" {
            reply(StatusCode::OK, "latest")
        } else {
            status_page(StatusCode::NOT_FOUND)
        };
    };
    match render(dir, &view, rest, delivery) {
        Some(Body::Text(s)) => reply(StatusCode::OK, s),
        Some(Body::Bytes(b)) => {
            let mut r = reply(StatusCode::OK, b);
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        None => status_page(StatusCode::NOT_FOUND),
    }
}

/// Requests that matched no instance, and when one was last logged at info.
static UNMATCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static UNMATCHED_LOGGED: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// Says why a request matched no instance: every time at debug, at most every 10 s at info
/// (an instance polling a wrong endpoint must not flood the log). Never logs the path, which may
/// carry a development MAC.
fn log_unmatched(peer: SocketAddr, reason: &str) {
    let n = UNMATCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    tracing::debug!(%peer, reason, "IMDS request matches no instance");
    let now = std::time::Instant::now();
    let Ok(mut last) = UNMATCHED_LOGGED.lock() else {
        return;
    };
    if last.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(10)) {
        *last = Some(now);
        tracing::info!(%peer, reason, unmatched_total = n, "IMDS request matches no instance (404)");
    }
}

/// Sets the connection's IP TTL to the calling instance's `HttpPutResponseHopLimit`, so (as on
/// EC2) replies cannot travel further than the instance allows; the TTL covers the whole
/// connection, token reply included. Returns the TTL set, if the peer is a known instance.
pub fn apply_hop_limit(
    stream: &TcpStream,
    dir: &Directory,
    peer: SocketAddr,
) -> std::io::Result<Option<u32>> {
    let Some(v) = dir.by_ip(peer.ip()) else {
        return Ok(None);
    };
    let ttl = v.options().hop_limit;
    stream.set_ttl(ttl)?;
    Ok(Some(ttl))
}

/// How long a request to an agent waits for a credential fetched on its instance's first ask
/// (one call to the control plane); below SDKs' IMDS timeouts (1 s in botocore).
const CREDENTIAL_WAIT: std::time::Duration = std::time::Duration::from_millis(900);

/// Serves IMDS on `listener` forever, within `config`'s connection caps and per-source rate.
pub async fn serve(
    listener: TcpListener,
    dir: Arc<Directory>,
    config: ImdsConfig,
) -> std::io::Result<()> {
    let limiter = Arc::new(rolecall_net::RateLimiter::new(
        config.rate_per_source,
        config.burst_per_source,
    ));
    rolecall_net::serve(
        listener,
        config.limits,
        "imds",
        None,
        move |stream, peer| {
            if config.source_ip
                && let Err(e) = apply_hop_limit(stream, &dir, peer)
            {
                tracing::warn!(error = %e, %peer, "IMDS: could not set the hop limit (IP TTL)");
            }
            let dir = dir.clone();
            let limiter = limiter.clone();
            service_fn(move |req: Request<Incoming>| {
                let started = std::time::Instant::now();
                let dir = dir.clone();
                let allowed = limiter.allow(peer.ip(), started);
                async move {
                    let mut installs = dir.subscribe_installs();
                    let mut resp = if allowed {
                        answer(&dir, &config, peer, &req)
                    } else {
                        status_page(StatusCode::TOO_MANY_REQUESTS)
                    };
                    // An agent fetches a credential when its instance first asks for it: the request
                    // waits for that fetch (bounded), then is answered again.
                    let deadline = tokio::time::Instant::now() + CREDENTIAL_WAIT;
                    while allowed
                        && resp.status() == StatusCode::NOT_FOUND
                        && dir.is_remote()
                        && dir.awaits_credentials(peer.ip())
                    {
                        match tokio::time::timeout_at(deadline, installs.changed()).await {
                            Ok(Ok(())) => resp = answer(&dir, &config, peer, &req),
                            _ => break,
                        }
                    }
                    record(req.uri().path(), resp.status(), started);
                    Ok::<_, Infallible>(resp)
                }
            })
        },
    )
    .await
}

/// A bounded label for a path: its class, never the path itself (paths carry role names and
/// development MACs).
fn path_class(path: &str) -> &'static str {
    if path.ends_with("/api/token") {
        "token"
    } else if path.contains("/iam/security-credentials") {
        "credentials"
    } else if path.contains("/meta-data") {
        "metadata"
    } else if path.ends_with("/user-data") {
        "user-data"
    } else if path.contains("/dynamic") {
        "dynamic"
    } else {
        "other"
    }
}

fn record(path: &str, status: StatusCode, started: std::time::Instant) {
    let m = rolecall_core::metrics::metrics();
    let labels = rolecall_core::metrics::ImdsLabels {
        path: path_class(path).into(),
        status: status.as_u16().to_string(),
    };
    m.imds_requests.get_or_create(&labels).inc();
    m.imds_latency.observe(started.elapsed().as_secs_f64());
}
