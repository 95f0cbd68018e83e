//! Prometheus metrics of the API, IMDS and agent: one process-wide registry, rendered in the
//! OpenMetrics text format at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
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

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rolecall");
        let api_requests = Family::<ApiLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by service, action and HTTP status",
            api_requests.clone(),
        );
        let api_latency = Histogram::new(buckets());
        registry.register(
            "api_request_duration_seconds",
            "API request latency",
            api_latency.clone(),
        );
        let api_refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "api_refusals",
            "API requests refused by authorization, by service, action and error code",
            api_refusals.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_events_dropped",
            "Audit events that could not be stored (queue full for IMDS, or a storage error)",
            audit_dropped.clone(),
        );
        let imds_requests = Family::<ImdsLabels, Counter>::default();
        registry.register(
            "imds_requests",
            "IMDS requests by path class and HTTP status",
            imds_requests.clone(),
        );
        let imds_latency = Histogram::new(buckets());
        registry.register(
            "imds_request_duration_seconds",
            "IMDS request latency",
            imds_latency.clone(),
        );
        let imds_credentials = Family::<CredentialLabels, Counter>::default();
        registry.register(
            "imds_credentials",
            "Instance credentials served from the cache or minted",
            imds_credentials.clone(),
        );
        let imds_refresh_failures = Counter::default();
        registry.register(
            "imds_refresh_failures",
            "Failed refreshes of the IMDS view (reloads, agent fetches)",
            imds_refresh_failures.clone(),
        );
        let imds_instances = Gauge::default();
        registry.register(
            "imds_instances",
            "Running instances the IMDS view holds",
            imds_instances.clone(),
        );
        let directory_full_reloads = Counter::default();
        registry.register(
            "directory_full_reloads",
            "Full reloads of the IMDS directory (at start, and when the change feed was pruned past it)",
            directory_full_reloads.clone(),
        );
        let directory_entries_rebuilt = Counter::default();
        registry.register(
            "directory_entries_rebuilt",
            "IMDS directory entries rebuilt by applying changes from the change feed",
            directory_entries_rebuilt.clone(),
        );
        Metrics {
            registry,
            directory_full_reloads,
            directory_entries_rebuilt,
            api_requests,
            api_latency,
            api_refusals,
            audit_dropped,
            imds_requests,
            imds_latency,
            imds_credentials,
            imds_refresh_failures,
            imds_instances,
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
