//! Prometheus metrics: events by protocol and outcome, incidents by status, request latency.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `firehouse_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `v2`, `v1`, `change`, `api`.
    pub protocol: &'static str,
    /// A transition (`opened`, `appended`, …) or a refusal (`invalid`, `unknown_key`, `too_large`, `error`).
    pub outcome: &'static str,
}

/// Labels of `firehouse_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The route pattern (not the raw path, to keep cardinality bounded).
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of `firehouse_incidents`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Incident status.
    pub status: &'static str,
}

/// Every metric Firehouse exports.
pub struct Metrics {
    registry: Registry,
    /// Events received, by protocol and outcome.
    pub events: Family<EventLabels, Counter>,
    /// HTTP request latency.
    pub requests: Family<RequestLabels, Histogram>,
    /// Incidents by status (refreshed from the store at each scrape).
    pub incidents: Family<StatusLabels, Gauge>,
    /// Commands per committed batch.
    pub batch_size: Histogram,
    /// Events per inbox commit (the commit they are answered after).
    pub accept_batch_size: Histogram,
    /// Accepted events not applied yet.
    pub inbox_backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("firehouse");
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events", "Events received, by protocol and outcome", events.clone());
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register("http_request_duration_seconds", "HTTP request latency", requests.clone());
        let incidents = Family::<StatusLabels, Gauge>::default();
        registry.register("incidents", "Incidents by status", incidents.clone());
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0]);
        registry.register("ingest_batch_size", "Commands per committed write batch", batch_size.clone());
        let accept_batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]);
        registry.register(
            "inbox_batch_size",
            "Events per inbox commit (events are answered after it)",
            accept_batch_size.clone(),
        );
        let inbox_backlog = Gauge::default();
        registry.register("inbox_backlog", "Accepted events not applied yet", inbox_backlog.clone());
        Metrics { registry, events, requests, incidents, batch_size, accept_batch_size, inbox_backlog }
    }

    /// Counts one event.
    pub fn event(&self, protocol: &'static str, outcome: &'static str) {
        self.events.get_or_create(&EventLabels { protocol, outcome }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
