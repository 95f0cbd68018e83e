//! The agent's own status listener: `GET /metrics` (Prometheus) and `GET /health`.

use crate::Agent;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The control plane counts as reachable if a call succeeded this recently.
const HEALTHY_WITHIN: Duration = Duration::from_secs(10);

async fn metrics() -> Response {
    let page = rolecall_core::metrics::metrics().render();
    let content_type = rolecall_core::metrics::CONTENT_TYPE;
    ([(header::CONTENT_TYPE, content_type)], page).into_response()
}

/// 200 while the control plane answers; 503 (still serving cached credentials) when it has not
/// for a while, so orchestration can alert without restarting a working agent.
async fn health(State(agent): State<Arc<Agent>>) -> Response {
    match agent.last_success() {
        Some(t) if t.elapsed() <= HEALTHY_WITHIN => (StatusCode::OK, "ok\n").into_response(),
        Some(t) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "degraded: control plane unreachable for {}s; serving cached credentials\n",
                t.elapsed().as_secs()
            ),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: no view from the control plane yet\n",
        )
            .into_response(),
    }
}

pub async fn serve(listener: TcpListener, agent: Arc<Agent>) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/health", axum::routing::get(health))
        .with_state(agent);
    axum::serve(listener, app).await
}
