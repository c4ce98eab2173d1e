//! The operations endpoints without a token: `/metrics` (Prometheus text) and `/openapi.json`.
//!
//! Counters are recorded where things happen with one-line `metrics::counter!` calls (a no-op
//! in commands that install no recorder); `serve` installs the Prometheus recorder once per
//! process and this module renders it.
use std::sync::OnceLock;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// The bridge's own API as OpenAPI 3 (hand-written; a test checks it against the router).
pub const OPENAPI: &str = include_str!("openapi.json");

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows nothing");
        }
        handle
    })
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Counted at scrape time: one indexed COUNT, cheaper than keeping a gauge in step.
    match state.store.pending_site_events().await {
        Ok(pending) => metrics::gauge!("iiko_bridge_site_events_pending").set(pending as f64),
        Err(error) => tracing::warn!(%error, "cannot count pending site events for /metrics"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
