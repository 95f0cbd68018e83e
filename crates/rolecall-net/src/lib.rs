//! Listener hygiene shared by rolecall's servers (API, IMDS, agent).
//!
//! A server that any instance or client can reach must not let one caller take it down for the
//! others. Every listener served through [`serve`] has:
//! - a cap on open connections, and a lower cap per source address, so one source (an instance
//!   flooding its host's IMDS, a client opening idle sockets) can never use up the process's file
//!   descriptors or the listener's share of them;
//! - a deadline for reading each request's head (hyper's `header_read_timeout`, which also bounds
//!   how long an idle keep-alive connection waits for its next request), so half-sent requests
//!   are closed instead of held;
//! - connections beyond a cap are accepted and closed at once (counted and logged at most every
//!   10 s), so they neither queue in the kernel's backlog ahead of legitimate clients nor hold a
//!   descriptor.
//!
//! [`RateLimiter`] is a per-source token bucket for request rates (IMDS throttles per instance,
//! as EC2 does).

mod gate;
mod rate;
mod tls;

pub use gate::{Admission, Gate};
pub use rate::RateLimiter;
pub use tls::{ServerTls, TlsError};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most (all sources together).
    pub max_connections: usize,
    /// Open connections at most from one source address.
    pub max_connections_per_source: usize,
    /// Time allowed to receive a request's head, from the moment the connection waits for it
    /// (so also the idle time allowed between keep-alive requests).
    pub header_read_timeout: Duration,
}

impl Limits {
    /// Defaults for the API listener: clients (SDKs, agents, load tools) may keep many
    /// connections, but no single address may take more than an eighth of them.
    pub const API: Limits = Limits {
        max_connections: 4096,
        max_connections_per_source: 512,
        header_read_timeout: Duration::from_secs(20),
    };
    /// Defaults for IMDS: an instance needs a handful of connections; its requests are tiny.
    pub const IMDS: Limits = Limits {
        max_connections: 4096,
        max_connections_per_source: 64,
        header_read_timeout: Duration::from_secs(10),
    };
}

/// Accepts connections on `listener` forever, admitting each through a [`Gate`] built from
/// `limits` and serving it as HTTP/1 with `make_service(&stream, peer)`, over TLS when `tls` is
/// given (the handshake must finish within the header-read deadline, so a client that stalls it
/// holds nothing for long).
pub async fn serve<M, S, B>(
    listener: TcpListener,
    limits: Limits,
    name: &'static str,
    tls: Option<Arc<ServerTls>>,
    make_service: M,
) -> std::io::Result<()>
where
    M: Fn(&TcpStream, SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let gate = Arc::new(Gate::new(name, limits));
    let header_read_timeout = gate.limits().header_read_timeout;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                gate.note_accept_error(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admission) = gate.admit(peer.ip()) else {
            // Over a cap: close at once (dropping the stream), so it holds no descriptor.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = make_service(&stream, peer);
        let acceptor = tls.as_ref().and_then(|t| t.acceptor());
        tokio::spawn(async move {
            let _admission = admission;
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let served = match acceptor {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(header_read_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    http.serve_connection(TokioIo::new(stream), service).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        });
    }
}
