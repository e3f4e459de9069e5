//! Prometheus metrics: request counts and latency per route, ingest counters, and the
//! connections of the accept loop (open, refused, closed to make room or on a timeout).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template, e.g. `/api/v1/datasets/{dataset}/records`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of an ingest metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatasetLabels {
    /// Dataset id.
    pub dataset: String,
}

/// Labels of a latency metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template.
    pub route: String,
}

/// Labels of a connection event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// What happened: `refused_per_address`, `refused_capacity`, `evicted_idle`,
    /// `header_timeout`, `malformed_head`, `uri_too_long`, `headers_too_large`, `accept_error`.
    pub event: String,
}

/// Labels of a push subscription's lag.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    /// The subscription.
    pub subscription: String,
    /// Its dataset.
    pub dataset: String,
    /// Its status: `active`, `paused`, `dead`, `ended`.
    pub status: String,
}

/// Labels of a fan-out event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// What happened.
    pub event: String,
}

/// Labels of a push delivery's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `delivered`, `failed` (to be retried, or the last attempt), `dead` (the subscription
    /// died of it), `refused` (the agreement no longer allows it).
    pub outcome: String,
}

/// All metrics of one server.
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<RouteLabels, Counter>,
    /// Request latency in seconds.
    pub latency: Family<LatencyLabels, Histogram>,
    /// Records accepted by ingest.
    pub records_accepted: Family<DatasetLabels, Counter>,
    /// Records rejected by ingest.
    pub records_rejected: Family<DatasetLabels, Counter>,
    /// Batches committed.
    pub batches_committed: Family<DatasetLabels, Counter>,
    /// Batches rejected.
    pub batches_rejected: Family<DatasetLabels, Counter>,
    /// Connections open now.
    pub connections_open: Gauge,
    /// Connections refused or closed by the server's limits, by event.
    pub connection_events: Family<ConnectionLabels, Counter>,
    /// Change-feed streams (Server-Sent Events) open now, by dataset.
    pub feed_streams_open: Family<DatasetLabels, Gauge>,
    /// Changes released by the change feed (pages and streams), by dataset.
    pub feed_changes_sent: Family<DatasetLabels, Counter>,
    /// Changes of a push subscription's feed not yet acknowledged by its endpoint.
    pub subscription_lag: Family<SubscriptionLabels, Gauge>,
    /// Push deliveries by outcome.
    pub push_deliveries: Family<OutcomeLabels, Counter>,
    /// Fan-out through the broker, by event.
    pub bus_events: Family<EventLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ndx");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        let records_accepted = Family::<DatasetLabels, Counter>::default();
        let records_rejected = Family::<DatasetLabels, Counter>::default();
        let batches_committed = Family::<DatasetLabels, Counter>::default();
        let batches_rejected = Family::<DatasetLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "ingest_records_accepted",
            "Records accepted by ingest",
            records_accepted.clone(),
        );
        registry.register(
            "ingest_records_rejected",
            "Records rejected by ingest",
            records_rejected.clone(),
        );
        registry.register(
            "ingest_batches_committed",
            "Ingest batches committed",
            batches_committed.clone(),
        );
        registry.register(
            "ingest_batches_rejected",
            "Ingest batches refused",
            batches_rejected.clone(),
        );
        let connections_open = Gauge::default();
        let connection_events = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "http_connections_open",
            "HTTP connections open",
            connections_open.clone(),
        );
        registry.register(
            "http_connection_events",
            "HTTP connections refused or closed by the server's limits",
            connection_events.clone(),
        );
        let feed_streams_open = Family::<DatasetLabels, Gauge>::default();
        let feed_changes_sent = Family::<DatasetLabels, Counter>::default();
        registry.register(
            "feed_streams_open",
            "Change-feed streams open",
            feed_streams_open.clone(),
        );
        registry.register(
            "feed_changes_sent",
            "Changes released by the change feed",
            feed_changes_sent.clone(),
        );
        let subscription_lag = Family::<SubscriptionLabels, Gauge>::default();
        let push_deliveries = Family::<OutcomeLabels, Counter>::default();
        let bus_events = Family::<EventLabels, Counter>::default();
        registry.register(
            "bus_events",
            "Fan-out through NATS JetStream: notice-published, notice-failed, job-queued, \
             job-queue-failed, job-taken, job-redelivered",
            bus_events.clone(),
        );
        registry.register(
            "subscription_lag_changes",
            "Changes of a push subscription's feed not yet acknowledged by its endpoint",
            subscription_lag.clone(),
        );
        registry.register(
            "push_deliveries",
            "Push deliveries by outcome",
            push_deliveries.clone(),
        );
        Metrics {
            registry,
            subscription_lag,
            push_deliveries,
            bus_events,
            feed_streams_open,
            feed_changes_sent,
            connections_open,
            connection_events,
            requests,
            latency,
            records_accepted,
            records_rejected,
            batches_committed,
            batches_rejected,
        }
    }
}

impl Metrics {
    /// Counts one connection event (see [`ConnectionLabels`]).
    pub fn connection_event(&self, event: &str) {
        self.connection_events
            .get_or_create(&ConnectionLabels {
                event: event.to_owned(),
            })
            .inc();
    }

    /// Counts changes released by the change feed of `dataset`.
    pub fn feed_changes(&self, dataset: &str, n: usize) {
        self.feed_changes_sent
            .get_or_create(&DatasetLabels {
                dataset: dataset.to_owned(),
            })
            .inc_by(n as u64);
    }

    /// Counts push deliveries with an outcome (see [`OutcomeLabels`]).
    pub fn push_outcome(&self, outcome: &str, n: u64) {
        self.push_deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }

    /// Counts a fan-out event (see [`Metrics::bus_events`]).
    pub fn bus_event(&self, event: &str) {
        self.bus_events
            .get_or_create(&EventLabels {
                event: event.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
