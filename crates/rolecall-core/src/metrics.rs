//! Prometheus metrics of the API, IMDS and agent: one process-wide registry, rendered in the
//! OpenMetrics text format at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use std::sync::LazyLock;

/// The media type of [`Metrics::render`]'s text, for the `Content-Type` of a `/metrics` page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub service: String,
    pub action: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub service: String,
    /// An operation this server implements (never a client's arbitrary string).
    pub action: String,
    /// `AccessDenied` or `UnauthorizedOperation`.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ImdsLabels {
    /// A path class (token, credentials, metadata, user-data, dynamic, other), not the path.
    pub path: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    /// `hit` (served from the cache) or `minted` (a new credential was issued).
    pub result: String,
}

pub struct Metrics {
    registry: Registry,
    pub api_requests: Family<ApiLabels, Counter>,
    pub api_latency: Histogram,
    pub api_refusals: Family<RefusalLabels, Counter>,
    pub audit_dropped: Counter,
    pub imds_requests: Family<ImdsLabels, Counter>,
    pub imds_latency: Histogram,
    pub imds_credentials: Family<CredentialLabels, Counter>,
    pub imds_refresh_failures: Counter,
    pub imds_instances: Gauge,
    pub directory_full_reloads: Counter,
    pub directory_entries_rebuilt: Counter,
}

/// Latency buckets from 25 µs to ~3 s.
fn buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_025, 2.0, 18)
}

/// Registers `metric` under `name` and returns it: the registry holds a handle to the same
/// metric, which the caller keeps to update.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rolecall");
        let r = &mut registry;
        Metrics {
            api_requests: registered(
                r,
                "api_requests",
                "API requests by service, action and HTTP status",
                Family::default(),
            ),
            api_latency: registered(
                r,
                "api_request_duration_seconds",
                "API request latency",
                Histogram::new(buckets()),
            ),
            api_refusals: registered(
                r,
                "api_refusals",
                "API requests refused by authorization, by service, action and error code",
                Family::default(),
            ),
            audit_dropped: registered(
                r,
                "audit_events_dropped",
                "Audit events that could not be stored (queue full for IMDS, or a storage error)",
                Counter::default(),
            ),
            imds_requests: registered(
                r,
                "imds_requests",
                "IMDS requests by path class and HTTP status",
                Family::default(),
            ),
            imds_latency: registered(
                r,
                "imds_request_duration_seconds",
                "IMDS request latency",
                Histogram::new(buckets()),
            ),
            imds_credentials: registered(
                r,
                "imds_credentials",
                "Instance credentials served from the cache or minted",
                Family::default(),
            ),
            imds_refresh_failures: registered(
                r,
                "imds_refresh_failures",
                "Failed refreshes of the IMDS view (reloads, agent fetches)",
                Counter::default(),
            ),
            imds_instances: registered(
                r,
                "imds_instances",
                "Running instances the IMDS view holds",
                Gauge::default(),
            ),
            directory_full_reloads: registered(
                r,
                "directory_full_reloads",
                "Full reloads of the IMDS directory (at start, and when the change feed was pruned past it)",
                Counter::default(),
            ),
            directory_entries_rebuilt: registered(
                r,
                "directory_entries_rebuilt",
                "IMDS directory entries rebuilt by applying changes from the change feed",
                Counter::default(),
            ),
            registry,
        }
    }

    /// The OpenMetrics text exposition (served as [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn credential(&self, minted: bool) {
        let result = if minted { "minted" } else { "hit" };
        self.imds_credentials
            .get_or_create(&CredentialLabels {
                result: result.into(),
            })
            .inc();
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}
