//! The HTTP API: thin axum routes over the library's plain functions, the edge limits, and the
//! one place where failures become HTTP answers (`error.rs`). The server itself (listeners and
//! workers) is wired in the `startup` module.
mod auth;
mod branch;
mod catalog;
pub mod error;
mod guard;
pub mod iiko_webhook;
mod loyalty;
mod ops;
mod order_status;
mod orders;
mod probe;
pub mod telegram_webhook;

pub use ops::prometheus;

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, middleware, routing::get};
use serde_json::json;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{
    config::Config, iiko::IikoClient, menu::CatalogCache, store::Store, supervisor::WorkerHealth,
};
use probe::Probes;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Site-facing: limited to `iiko.site_share_percent` of iiko's rate.
    pub iiko: IikoClient,
    pub store: Store,
    pub catalogs: CatalogCache,
    /// Workers that are down fail `/readyz`.
    pub workers: WorkerHealth,
    probes: Arc<Probes>,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        iiko: IikoClient,
        store: Store,
        catalogs: CatalogCache,
        workers: WorkerHealth,
    ) -> Self {
        Self {
            config,
            iiko,
            store,
            catalogs,
            workers,
            probes: Arc::default(),
        }
    }
}

/// Everything served on `server.listen`: the site API behind the edge limits, iiko's `webhook`
/// receiver, and the ops endpoints, which stay outside the limits: they answer from cached
/// probes, and a monitor must still reach them while the API is saturated.
pub fn router(state: AppState, webhook: Router) -> Router {
    let limits = guard::Limits::from_config(&state.config.server);
    let max_body = state.config.server.max_body_bytes;
    site_router(state.clone())
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::map_response(orders::json_payload_too_large))
        .merge(webhook)
        .layer(middleware::from_fn_with_state(limits, guard::limit))
        .merge(ops_routes(state))
        .layer(middleware::from_fn(guard::announce_close))
        .layer(TraceLayer::new_for_http())
}

/// The ops endpoints alone, for `server.ops_listen`.
pub fn ops_router(state: AppState) -> Router {
    ops_routes(state)
        .layer(middleware::from_fn(guard::announce_close))
        .layer(TraceLayer::new_for_http())
}

fn site_router(state: AppState) -> Router {
    let requests_per_second = state.config.site.requests_per_second;
    let site_api = catalog::router()
        .merge(orders::router(requests_per_second))
        .merge(loyalty::router(requests_per_second))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_site_token,
        ));
    Router::new()
        .route("/openapi.json", get(ops::openapi))
        .merge(site_api)
        .with_state(state)
}

/// `/healthz`, `/readyz` and `/metrics`: served on `server.listen` and on `server.ops_listen`.
fn ops_routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready only when the store takes writes, iiko really hands out a token and every worker runs,
/// so a load balancer never routes orders to a bridge that could not keep or deliver them. Answered
/// from a probe at most [`probe::PROBE_EVERY`] old, with short reasons (details are logged).
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let readiness = state
        .probes
        .readiness
        .get(|| probe::readiness(&state.store, &state.iiko))
        .await;
    let down = state.workers.down();
    let ready = readiness.ready() && down.is_empty();
    let workers = if down.is_empty() {
        "ok".to_owned()
    } else {
        format!("down: {}", down.join(", "))
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "store": readiness.store,
        "iiko": readiness.iiko,
        "workers": workers,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
