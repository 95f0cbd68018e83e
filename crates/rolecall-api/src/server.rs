//! The HTTP service: read the request, authenticate, route, dispatch, write the envelope.

use crate::auth;
use crate::context::{Api, Call};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::principal::Principal;
use crate::service::Service;
use crate::{agent_api, authz, changes, units};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rolecall_wire::{ErrorType, Params, ec2_error, query_error};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Largest request body accepted (AWS's Query APIs cap requests well below this).
const MAX_BODY: usize = 1 << 20;
/// Time allowed to receive a request's body once its head has arrived.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics_page))
        .route("/health", axum::routing::get(health))
        .fallback(handle)
        .with_state(api)
}

/// Prometheus metrics (no secrets in them: counts and latencies by action and status).
async fn metrics_page() -> Response {
    let mut resp = rolecall_core::metrics::metrics().render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

/// 200 when the store answers, 503 otherwise.
async fn health(State(api): State<Arc<Api>>) -> Response {
    match api.iam.store().get_meta("account_id").await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// What a response was for, for the metrics (set by `handle_inner` once it knows).
#[derive(Clone)]
struct MetricLabels {
    service: &'static str,
    action: String,
}

async fn handle(state: State<Arc<Api>>, req: Request<Body>) -> Response {
    let started = std::time::Instant::now();
    let resp = handle_inner(state, req).await;
    let labels = resp
        .extensions()
        .get::<MetricLabels>()
        .cloned()
        .unwrap_or(MetricLabels {
            service: "unknown",
            action: String::new(),
        });
    let m = rolecall_core::metrics::metrics();
    m.api_requests
        .get_or_create(&rolecall_core::metrics::ApiLabels {
            service: labels.service.into(),
            action: labels.action.clone(),
            status: resp.status().as_u16().to_string(),
        })
        .inc();
    let took = started.elapsed();
    m.api_latency.observe(took.as_secs_f64());
    // Per-request handler time, for benchmarks (scripts/bench-scale.sh turns this target on).
    tracing::debug!(target: "rolecall_api::timing", action = %labels.action, micros = took.as_micros() as u64, "handled");
    resp
}

/// Marks a request that arrived over TLS (an extension of every request served over TLS).
#[derive(Clone, Copy)]
pub struct OverTls;

/// Serves the API on `listener` with the default limits until the future is dropped.
pub async fn serve(listener: TcpListener, api: Arc<Api>) -> std::io::Result<()> {
    serve_with(listener, api, rolecall_net::Limits::API, None).await
}

/// Serves the API on `listener` within `limits` (connection caps per listener and per source,
/// header-read deadline), over TLS when `tls` is given, until the future is dropped.
pub async fn serve_with(
    listener: TcpListener,
    api: Arc<Api>,
    limits: rolecall_net::Limits,
    tls: Option<Arc<rolecall_net::ServerTls>>,
) -> std::io::Result<()> {
    serve_router(listener, router(api), limits, tls).await
}

/// Serves `router` (the API's [`router`], possibly with more routes, e.g. the console's) on
/// `listener` as [`serve_with`] does. Requests over TLS carry the [`OverTls`] extension.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: rolecall_net::Limits,
    tls: Option<Arc<rolecall_net::ServerTls>>,
) -> std::io::Result<()> {
    let over_tls = tls.is_some();
    rolecall_net::serve(listener, limits, "api", tls, move |_stream, peer| {
        let router = router.clone();
        hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            if over_tls {
                req.extensions_mut().insert(OverTls);
            }
            router.clone().oneshot(req)
        })
    })
    .await
}

fn xml_response(status: u16, body: String, request_id: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

fn error_response(protocol: Protocol, err: &ApiError, request_id: &str) -> Response {
    let body = match protocol {
        Protocol::Ec2 => ec2_error(&err.code, &err.message, request_id),
        p => query_error(
            p.namespace(),
            if err.sender {
                ErrorType::Sender
            } else {
                ErrorType::Receiver
            },
            &err.code,
            &err.message,
            request_id,
        ),
    };
    xml_response(err.status, body, request_id)
}

/// Runs one request's operation as `principal`: names it (`InvalidAction` if the service does not
/// implement it), then parses, resolves, authorizes and handles it, and publishes the change.
/// The one operation path of both the HTTP API and in-process callers ([`crate::invoke`]).
pub(crate) async fn execute(
    api: &Api,
    principal: &Principal,
    service: Service,
    params: &Params,
    facts: &authz::RequestFacts,
    request_id: &str,
) -> (Option<Operation>, Result<String, ApiError>) {
    let action = params.get("Action").unwrap_or_default();
    // An action the service does not implement is InvalidAction before authorization.
    let op = Operation::from_name(service, action);
    let result = match op {
        None => Err(ApiError::invalid_action(action)),
        Some(op) => {
            let call = Call {
                api,
                principal,
                params,
                op,
                request_id,
            };
            // An operation written as a unit runs whole (parse, resolve, authorize, handle);
            // rolecall's agent API is authorized from its parameters, then handled.
            match units::dispatch::dispatch(&call, facts).await {
                Some(result) => result,
                None => match authz::authorize(api, principal, op, params, facts, None).await {
                    Err(e) => Err(e),
                    Ok(()) => match op.service() {
                        Service::Rolecall => agent_api::dispatch(&call).await,
                        // Every IAM, STS and EC2 operation is a unit.
                        Service::Iam | Service::Sts | Service::Ec2 => {
                            Err(ApiError::invalid_action(op.name()))
                        }
                    },
                },
            }
        }
    };
    if result.is_ok() && op.is_some_and(|op| !op.is_read_only()) {
        changes::publish(api).await;
    }
    (op, result)
}

async fn handle_inner(State(api): State<Arc<Api>>, req: Request<Body>) -> Response {
    let peer_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let peer = peer_ip.map(|ip| ip.to_string()).unwrap_or_default();
    let request_id = rolecall_crypto::request_id();
    let (parts, body) = req.into_parts();
    // A body trickled in slowly would hold the connection (and its task) indefinitely.
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let err = ApiError::new(413, "RequestEntityTooLarge", "Request body is too large.");
            return error_response(Protocol::Iam, &err, &request_id);
        }
        Err(_) => {
            let err = ApiError::new(408, "RequestTimeout", "Timed out reading the request body.");
            return error_response(Protocol::Iam, &err, &request_id);
        }
    };
    let query = parts.uri.query().unwrap_or("");
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form: &[u8] = if is_form { &body } else { &[] };
    let mut params = Params::parse(query, form);

    let authn = auth::authenticate(&api, &parts, query, &body, &params).await;
    let (principal, service) = match authn {
        Ok(a) => {
            if a.literal_plus {
                params = Params::parse_literal_plus(query, form);
            }
            (a.principal, a.service)
        }
        Err((protocol, err)) => return error_response(protocol, &err, &request_id),
    };
    let protocol = service.protocol();
    let Some(action) = params.get("Action") else {
        return error_response(protocol, &ApiError::missing_action(), &request_id);
    };
    let facts = authz::RequestFacts {
        source_ip: peer_ip,
        secure_transport: parts.extensions.get::<OverTls>().is_some(),
    };
    let (op, result) = execute(&api, &principal, service, &params, &facts, &request_id).await;
    // Only actions this server knows become metric labels (clients control the Action string).
    let known = op.is_some();
    let service_label = service.name();
    let labels = MetricLabels {
        service: service_label,
        action: if known {
            action.to_string()
        } else {
            "unknown".into()
        },
    };
    let mut resp = match result {
        Ok(body) => {
            tracing::info!(target: "rolecall::api", %request_id, ?action, principal = %principal.arn, %peer, status = 200);
            xml_response(200, body, &request_id)
        }
        Err(err) => {
            tracing::info!(target: "rolecall::api", %request_id, ?action, principal = %principal.arn, %peer, status = err.status, code = %err.code);
            error_response(protocol, &err, &request_id)
        }
    };
    resp.extensions_mut().insert(labels);
    resp
}
