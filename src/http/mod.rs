//! The HTTP API (thin axum routes over the library's plain functions).
use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{config::Config, iiko::IikoClient};

pub mod error;
pub mod signature;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub iiko: IikoClient,
}

/// A bound, ready-to-run server; binding to port 0 lets tests run the real thing side by side.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let settings = config.iiko.settings().map_err(|e| anyhow::anyhow!("{e}"))?;
        let iiko = IikoClient::new(settings)?;
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("server.listen {}: {e}", config.server.listen))?;
        let max_body = config.server.max_body_bytes;
        let state = AppState {
            config: Arc::new(config),
            iiko,
        };
        let router = router(state)
            .layer(RequestBodyLimitLayer::new(max_body))
            .layer(TraceLayer::new_for_http());
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.local_addr()?, "iiko-bridge listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Application::build(config).await?.run(shutdown).await?;
    Ok(())
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready only when iiko really hands out a token, so a load balancer never routes to a bridge
/// whose credentials are wrong or whose iiko is unreachable.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.iiko.access_token().await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "iiko": "ok"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "iiko": e.to_string()})),
        ),
    }
}
