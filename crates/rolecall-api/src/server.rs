//! The HTTP service: read the request, authenticate, route, dispatch, write the envelope.

use crate::auth;
use crate::context::{Api, Call};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::principal::Principal;
use crate::service::Service;
use crate::{agent_api, audit, authz, changes, cloudtrail, units};
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

fn json_response(status: u16, body: String, request_id: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

fn error_response(protocol: Protocol, err: &ApiError, request_id: &str) -> Response {
    err.log_internal(request_id);
    if protocol == Protocol::Json {
        let body = serde_json::json!({"__type": err.code, "message": err.message}).to_string();
        return json_response(err.status, body, request_id);
    }
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

/// What the audit event of a request needs from its envelope (HTTP, or the console's).
pub(crate) struct Envelope<'a> {
    pub request_id: &'a str,
    pub peer: &'a str,
    pub user_agent: &'a str,
    pub started: chrono::DateTime<chrono::Utc>,
}

impl Envelope<'_> {
    pub(crate) fn info<'a>(
        &'a self,
        api: &'a Api,
        service: &'static str,
        action: impl Into<std::borrow::Cow<'static, str>>,
        read_only: bool,
    ) -> audit::record::RequestInfo<'a> {
        audit::record::RequestInfo {
            request_id: self.request_id,
            time: self.started,
            source_ip: self.peer,
            user_agent: self.user_agent,
            region: &api.config.region,
            service,
            action: action.into(),
            read_only,
            account_id: api.iam.account_id(),
        }
    }
}

/// The operation name of a JSON-protocol request (`X-Amz-Target: Prefix.Operation`).
fn json_target(parts: &axum::http::request::Parts) -> Option<&str> {
    let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
    target.rsplit_once('.').map(|(_, op)| op)
}

/// One authenticated request, as [`execute`] runs it.
pub(crate) struct Invocation<'a> {
    pub envelope: Envelope<'a>,
    pub principal: &'a Principal,
    /// The access key the request was signed with (the audit event's `accessKeyId`).
    pub access_key_id: &'a str,
    pub service: Service,
    pub action: &'a str,
    pub params: &'a Params,
    pub facts: &'a authz::RequestFacts,
    /// The raw body (JSON-protocol operations read their input from it).
    pub body: &'a [u8],
}

/// Runs one request's operation: names it (`InvalidAction` if the service does not implement
/// it), then parses, resolves, authorizes and handles it; records its audit event, counts a
/// refusal, and publishes the change. The one operation path of both the HTTP API and
/// in-process callers ([`crate::invoke`]).
pub(crate) async fn execute(
    api: &Api,
    r: &Invocation<'_>,
) -> (Option<Operation>, Result<String, ApiError>) {
    let (service, action) = (r.service, r.action);
    // An action the service does not implement is InvalidAction before authorization.
    let op = Operation::from_name(service, action);
    let read_only = op.is_none_or(Operation::is_read_only);
    let event = api.audit.is_on().then(|| {
        // The server's own name for an operation it knows (not a copy of the client's).
        let name: std::borrow::Cow<'static, str> =
            op.map_or_else(|| action.to_string().into(), |op| op.name().into());
        let info = r.envelope.info(api, service.name(), name, read_only);
        api.audit
            .request_event(&info, Some(r.principal), r.access_key_id, Some(r.params))
    });
    // A read's draft waits beside its call (no commit will record it); a write's in the task's
    // pending slot, where its commit finds it.
    let (read_event, write_event) = match event.flatten() {
        Some(event) if read_only => (Some(audit::ReadEvent::new(event)), None),
        event => (None, event),
    };
    let run = async {
        match op {
            None => Err(ApiError::invalid_action(action)),
            Some(op) => {
                let call = Call {
                    api,
                    principal: r.principal,
                    params: r.params,
                    op,
                    request_id: r.envelope.request_id,
                    read_event: read_event.as_ref(),
                };
                dispatch(&call, r.facts, r.body).await
            }
        }
    };
    let (result, event) = match write_event {
        Some(event) => {
            let (result, outcome) = rolecall_core::audit::with_pending(event, run).await;
            (result, Ending::of_write(outcome))
        }
        None => {
            let result = run.await;
            (result, read_event.map(|e| Ending::Append(e.into_draft())))
        }
    };
    if result.is_ok() && op.is_some_and(|op| !op.is_read_only()) {
        changes::publish(api).await;
    }
    if let Err(err) = &result
        && is_refusal(&err.code)
    {
        rolecall_core::metrics::metrics()
            .api_refusals
            .get_or_create(&rolecall_core::metrics::RefusalLabels {
                service: service.name().into(),
                action: op.map_or("unknown", Operation::name).into(),
                code: err.code.clone(),
            })
            .inc();
    }
    // Agents poll GetChangeGeneration four times a second: its answers are not recorded.
    let polling = op == Some(Operation::GetChangeGeneration) && result.is_ok();
    if let Some(ending) = event.filter(|_| !polling) {
        finish_event(api, op, ending, &result).await;
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
    let started = api.clock.now();
    let (parts, body) = req.into_parts();
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let envelope = Envelope {
        request_id: &request_id,
        peer: &peer,
        user_agent: &user_agent,
        started,
    };
    let query = parts.uri.query().unwrap_or("");
    // A body trickled in slowly would hold the connection (and its task) indefinitely.
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let err = ApiError::new(413, "RequestEntityTooLarge", "Request body is too large.");
            return rejected_unread(&api, &envelope, &parts, query, &err).await;
        }
        Err(_) => {
            let err = ApiError::new(408, "RequestTimeout", "Timed out reading the request body.");
            return rejected_unread(&api, &envelope, &parts, query, &err).await;
        }
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form: &[u8] = if is_form { &body } else { &[] };
    let mut params = Params::parse(query, form);

    let authn = auth::authenticate(&api, &parts, query, &body, &params).await;
    let (principal, service, access_key_id) = match authn {
        Ok(a) => {
            if a.literal_plus {
                params = Params::parse_literal_plus(query, form);
            }
            (a.principal, a.service, a.access_key_id)
        }
        Err((protocol, err)) => {
            if api.audit.is_on() {
                let recorded = Some(&params);
                audit_unauthenticated(
                    &api,
                    &envelope,
                    &parts,
                    (query, &body, &params),
                    recorded,
                    &err,
                )
                .await;
            }
            return error_response(protocol, &err, &request_id);
        }
    };
    let protocol = service.protocol();
    let action = match service {
        Service::Cloudtrail => json_target(&parts),
        _ => params.get("Action"),
    };
    let Some(action) = action else {
        let err = ApiError::missing_action();
        let info = envelope.info(&api, service.name(), "unknown", true);
        if let Some(mut event) =
            api.audit
                .request_event(&info, Some(&principal), &access_key_id, Some(&params))
        {
            audit::record::set_error(&mut event, &err.code, &err.message);
            api.audit.append_request(event).await;
        }
        return error_response(protocol, &err, &request_id);
    };
    let facts = authz::RequestFacts {
        source_ip: peer_ip,
        secure_transport: parts.extensions.get::<OverTls>().is_some(),
    };
    let invocation = Invocation {
        envelope,
        principal: &principal,
        access_key_id: &access_key_id,
        service,
        action,
        params: &params,
        facts: &facts,
        body: &body,
    };
    let (op, result) = execute(&api, &invocation).await;
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
            match protocol {
                Protocol::Json => json_response(200, body, &request_id),
                _ => xml_response(200, body, &request_id),
            }
        }
        Err(err) => {
            tracing::info!(target: "rolecall::api", %request_id, ?action, principal = %principal.arn, %peer, status = err.status, code = %err.code);
            error_response(protocol, &err, &request_id)
        }
    };
    resp.extensions_mut().insert(labels);
    resp
}

/// A refusal by authorization (counted by action in the metrics).
fn is_refusal(code: &str) -> bool {
    code == "AccessDenied" || code == "UnauthorizedOperation"
}

/// Runs an authenticated request's operation.
async fn dispatch(
    call: &Call<'_>,
    facts: &authz::RequestFacts,
    body: &[u8],
) -> Result<String, ApiError> {
    let (api, op, params) = (call.api, call.op, call.params);
    if op == Operation::AssumeRole
        && let Some(role) = params.get("RoleArn")
    {
        call.audit_resources([role]);
    }
    // An operation written as a unit runs whole (parse, resolve, authorize, handle);
    // the others are authorized from their parameters, then handled.
    if let Some(result) = units::dispatch::dispatch(call, facts).await {
        return result;
    }
    // CloudTrail's one operation is checked on `cloudtrail:LookupEvents`; the agent API's by
    // `authz::ops::checks` (None). The paths besides units are boxed, so this future stays
    // small (see `unit_dispatch!`).
    let lookup = match op {
        Operation::LookupEvents => Some(cloudtrail::LookupEventsInput::parse(body)?),
        _ => None,
    };
    let checks = lookup.as_ref().map(|_| {
        vec![authz::Check {
            action: "cloudtrail:LookupEvents".into(),
            resource: "*".into(),
            keys: vec![],
        }]
    });
    Box::pin(authz::authorize(
        api,
        call.principal,
        op,
        params,
        facts,
        checks,
    ))
    .await?;
    if let Some(input) = lookup {
        return Box::pin(cloudtrail::lookup_events(call, input)).await;
    }
    match op.service() {
        Service::Rolecall => Box::pin(agent_api::dispatch(call)).await,
        // Every IAM, STS and EC2 operation is a unit; CloudTrail's one is above.
        Service::Iam | Service::Sts | Service::Ec2 | Service::Cloudtrail => {
            Err(ApiError::invalid_action(op.name()))
        }
    }
}

/// Operations whose answer CloudTrail records (`responseElements`): writes, and STS's
/// credential-issuing calls.
fn records_response(op: Option<Operation>) -> bool {
    op.is_some_and(|op| {
        !op.is_read_only() || matches!(op, Operation::AssumeRole | Operation::GetSessionToken)
    })
}

/// What is left to do with a request's event once its operation ran.
#[expect(
    clippy::large_enum_variant,
    reason = "a read's draft goes on to the writer by value, not boxed"
)]
enum Ending {
    /// A write transaction stored it: it is completed with the outcome.
    Complete(Box<audit::record::Draft>),
    /// It is appended now (a read's, or a write's that committed nothing).
    Append(audit::record::Draft),
}

impl Ending {
    fn of_write(outcome: rolecall_core::audit::Outcome<audit::record::Draft>) -> Option<Ending> {
        use rolecall_core::audit::Outcome;
        match outcome {
            Outcome::Recorded(d) => Some(Ending::Complete(d)),
            Outcome::NotRecorded(d) => Some(Ending::Append(*d)),
            Outcome::Lost => None,
        }
    }
}

/// Completes a request's event with its outcome and records it: a write transaction already
/// stored it (then only its response and error are added), or it is appended now.
async fn finish_event(
    api: &Api,
    op: Option<Operation>,
    ending: Ending,
    result: &Result<String, ApiError>,
) {
    let complete = |d: &mut audit::record::Draft| match result {
        Ok(body) if records_response(op) => d.set_response(body),
        Ok(_) => {}
        Err(err) => audit::record::set_error(d, &err.code, &err.message),
    };
    match ending {
        Ending::Complete(mut d) => {
            complete(&mut d);
            api.audit.complete(&d).await;
        }
        Ending::Append(mut d) => {
            complete(&mut d);
            api.audit.append_request(d).await;
        }
    }
}

/// Answers a request refused before its body was read (too large, too slow) and records it:
/// who it claimed to be and the action its query string named, nothing of its body.
async fn rejected_unread(
    api: &Api,
    envelope: &Envelope<'_>,
    parts: &axum::http::request::Parts,
    query: &str,
    err: &ApiError,
) -> Response {
    if api.audit.is_on() {
        let params = Params::parse(query, &[]);
        audit_unauthenticated(api, envelope, parts, (query, &[], &params), None, err).await;
    }
    error_response(Protocol::Iam, err, envelope.request_id)
}

/// Records a request whose authentication failed (or that was refused before it): who it
/// claimed to be, what it asked (`request`: query, body, their parameters) and, when
/// `recorded`, the parameters as its `requestParameters`.
async fn audit_unauthenticated(
    api: &Api,
    envelope: &Envelope<'_>,
    parts: &axum::http::request::Parts,
    request: (&str, &[u8], &Params),
    recorded: Option<&Params>,
    err: &ApiError,
) {
    let (query, body, params) = request;
    let (key, scope) = auth::claimed_signer(parts, query, body).unwrap_or_default();
    let service = Service::from_scope(&scope)
        .or_else(|| params.get("Version").and_then(Service::from_version));
    let service_name = service.map_or("unknown", Service::name);
    let action = match service {
        Some(Service::Cloudtrail) => json_target(parts),
        _ => params.get("Action"),
    }
    .unwrap_or_default();
    let op = service.and_then(|s| Operation::from_name(s, action));
    // Only names this server knows are recorded as the event name (clients control them).
    let name = op.map_or("unknown", Operation::name);
    let info = envelope.info(
        api,
        service_name,
        name,
        op.is_none_or(Operation::is_read_only),
    );
    if let Some(mut event) = api.audit.request_event(&info, None, &key, recorded) {
        audit::record::set_error(&mut event, &err.code, &err.message);
        api.audit.append_request(event).await;
    }
}
