//! `GET /metrics`: the collector's figures in the Prometheus exposition format (OpenMetrics
//! text, which Prometheus scrapes), with prometheus-client.
//!
//! Counted as they happen: requests by method and status, events by outcome, ingest latency.
//! Read at each scrape: the ingest log's lag (events in the stream not yet stored), the
//! postback calls pending and failed, and whether the store answers. No figure names a lead,
//! a visitor or a campaign's traffic source: nothing personal is exposed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::App;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

/// The collector's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    events: Family<OutcomeLabels, Counter>,
    ingest: Histogram,
    queue_lag: Gauge,
    postbacks: Family<StatusLabels, Gauge>,
    store_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("clickscript");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method and status",
            requests.clone(),
        );
        let events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "events",
            "Events received, by outcome: accepted, duplicate, rejected",
            events.clone(),
        );
        let ingest = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "ingest_duration_seconds",
            "Time to answer an ingest batch (stored, or held by the ingest log)",
            ingest.clone(),
        );
        let queue_lag = Gauge::default();
        registry.register(
            "queue_lag_events",
            "Events in the ingest log not yet stored by a sink (0 without an ingest log)",
            queue_lag.clone(),
        );
        let postbacks = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "postbacks",
            "Postback calls pending (to be made or retried) and failed (given up)",
            postbacks.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when the store answered the scrape's query, else 0",
            store_up.clone(),
        );
        Metrics {
            registry,
            requests,
            events,
            ingest,
            queue_lag,
            postbacks,
            store_up,
        }
    }
}

impl Metrics {
    /// Counts an ingest batch's events and how long its answer took.
    pub fn ingested(&self, accepted: usize, duplicates: usize, rejected: usize, took: Duration) {
        for (outcome, n) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ] {
            self.events
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n as u64);
        }
        self.ingest.observe(took.as_secs_f64());
    }
}

/// Counts every request by method and status (a layer over the whole router).
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    // The methods HTTP defines; any other a client makes up is `other` (a label per made-up
    // method would grow without bound).
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let res = next.run(req).await;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<App>) -> Response {
    let m = &app.metrics;
    // Read at each scrape, each bounded so that a scrape answers while a server is down.
    let bound = Duration::from_secs(2);
    match tokio::time::timeout(bound, app.store.postback_counts()).await {
        Ok(Ok((pending, failed))) => {
            m.store_up.set(1);
            m.postbacks
                .get_or_create(&StatusLabels { status: "pending" })
                .set(pending);
            m.postbacks
                .get_or_create(&StatusLabels { status: "failed" })
                .set(failed);
        }
        _ => {
            m.store_up.set(0);
        }
    }
    if let Some(q) = &app.queue {
        if let Ok(Ok(lag)) = tokio::time::timeout(bound, q.lag()).await {
            m.queue_lag.set(lag as i64);
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &m.registry).is_err() {
        return crate::error(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics: cannot encode",
        );
    }
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}
