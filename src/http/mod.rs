//! The HTTP API (thin axum routes over the library's plain functions).
mod auth;
mod catalog;
pub mod error;
pub mod iiko_webhook;
mod loyalty;
mod ops;
mod order_status;
mod orders;
pub mod signature;

pub use ops::{OPENAPI, prometheus};

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    Json, Router, extract::DefaultBodyLimit, extract::State, http::StatusCode, middleware,
    routing::get,
};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{
    config::Config,
    iiko::IikoClient,
    menu::{CatalogCache, MenuScheduler, MenuSyncer},
    notify::{EventsWorker, FallbackWorker, Handover, Mailer, OperatorChats, Telegram, Templates},
    orders::Dispatcher,
    retention::RetentionWorker,
    status::{StatusTracker, TerminalWatch, register_webhooks},
    store::Store,
    workers::{Supervisor, WorkerHealth},
};
use iiko_webhook::WebhookInbox;

/// iiko batches many orders' events into one webhook call; the site's limit is for orders.
const WEBHOOK_MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub iiko: IikoClient,
    pub store: Store,
    pub catalogs: CatalogCache,
    /// Workers that are down fail `/readyz`.
    pub workers: WorkerHealth,
}

/// A bound, ready-to-run server with its workers; binding to port 0 lets tests run the real
/// thing side by side.
pub struct Application {
    listener: TcpListener,
    router: Router,
    menu: MenuScheduler,
    dispatcher: Dispatcher,
    fallback: FallbackWorker,
    events: EventsWorker,
    tracker: StatusTracker,
    terminals: TerminalWatch,
    retention: RetentionWorker,
    /// Stores iiko's webhook calls; it ends once the server has stopped and the queue is drained.
    inbox_writer: tokio::task::JoinHandle<()>,
    /// Registers the webhook with iiko at start (`iiko_webhook.register_on_start`).
    register: Option<(IikoClient, Arc<Config>)>,
    workers: WorkerHealth,
    operators: OperatorChats,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        if config.site.token.is_none() {
            anyhow::bail!("site.token: required to serve the API");
        }
        let settings = config.iiko.settings().map_err(|e| anyhow::anyhow!("{e}"))?;
        let iiko = IikoClient::new(settings)?;
        let store = Store::open(&config.store.url).await?;
        prometheus();
        let events = EventsWorker::from_config(store.clone(), &config)?;
        let retention = RetentionWorker::new(store.clone(), &config);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("server.listen {}: {e}", config.server.listen))?;
        let syncer = MenuSyncer::new(
            iiko.clone(),
            store.clone(),
            config.menu.export_dir.clone(),
            OperatorChats::from_config(&config.telegram),
        );
        let menu = MenuScheduler::new(
            syncer,
            config.branches.clone(),
            &config.menu,
            Instant::now(),
        );
        let max_body = config.server.max_body_bytes;
        let config = Arc::new(config);
        let dispatcher = Dispatcher::new(store.clone(), iiko.clone(), config.clone());
        let catalogs = CatalogCache::new(store.clone());
        let templates = Templates::load(&config.templates.dir)
            .map_err(|e| anyhow::anyhow!("templates.dir: {e}"))?;
        let fallback = FallbackWorker::new(
            store.clone(),
            Mailer::from_config(&config.email).map_err(|e| anyhow::anyhow!("email: {e}"))?,
            Telegram::from_config(&config.telegram),
            OperatorChats::from_config(&config.telegram),
        )
        .with_handover(Handover::new(
            store.clone(),
            catalogs.clone(),
            config.clone(),
            Arc::new(templates),
        ));
        let tracker = StatusTracker::new(store.clone(), iiko.clone(), config.clone())
            .with_menu(menu.trigger());
        let terminals = TerminalWatch::new(iiko.clone(), config.clone());
        let (inbox, inbox_writer) = WebhookInbox::start(store.clone(), tracker.waker());
        let webhook = iiko_webhook::router(
            &config.iiko_webhook.path,
            config.iiko_webhook.auth_token.clone(),
            inbox,
        )
        .layer(DefaultBodyLimit::max(WEBHOOK_MAX_BODY));
        let register = config
            .iiko_webhook
            .register_on_start
            .then(|| (iiko.clone(), config.clone()));
        let workers = WorkerHealth::default();
        let operators = OperatorChats::from_config(&config.telegram);
        let state = AppState {
            config,
            iiko,
            store,
            catalogs,
            workers: workers.clone(),
        };
        let router = router(state)
            .layer(RequestBodyLimitLayer::new(max_body))
            .layer(middleware::map_response(orders::json_payload_too_large))
            .merge(webhook)
            .layer(TraceLayer::new_for_http());
        Ok(Self {
            listener,
            router,
            menu,
            dispatcher,
            fallback,
            events,
            tracker,
            terminals,
            retention,
            inbox_writer,
            register,
            workers,
            operators,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, then stops taking requests and lets the workers finish what
    /// they are doing before returning.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.local_addr()?, "iiko-bridge listening");
        let (stop_workers, workers_stopped) = watch::channel(false);
        let supervisor = Supervisor::new(self.workers, self.operators, workers_stopped);
        let menu = Arc::new(tokio::sync::Mutex::new(self.menu));
        let menu = supervisor.spawn("menu", move |stop| {
            let menu = menu.clone();
            async move { menu.lock().await.run(stop).await }
        });
        let dispatcher = Arc::new(self.dispatcher);
        let dispatcher = supervisor.spawn("dispatcher", move |stop| dispatcher.clone().run(stop));
        let tracker = Arc::new(self.tracker);
        let tracker = supervisor.spawn("status", move |stop| tracker.clone().run(stop));
        let terminals = Arc::new(self.terminals);
        let terminals = supervisor.spawn("terminals", move |stop| terminals.clone().run(stop));
        if let Some((iiko, config)) = self.register {
            tokio::spawn(async move {
                match register_webhooks(&iiko, &config).await {
                    Ok(organizations) => {
                        tracing::info!(?organizations, "iiko webhooks registered")
                    }
                    Err(error) => tracing::error!(%error, "iiko webhooks not registered"),
                }
            });
        }
        let fallback = self.fallback;
        let fallback =
            supervisor.spawn("fallback", move |stop| fallback.clone().run(stopped(stop)));
        let events = self.events;
        let events = supervisor.spawn("events", move |stop| events.clone().run(stopped(stop)));
        let retention = self.retention;
        let retention = supervisor.spawn("retention", move |stop| {
            retention.clone().run(stopped(stop))
        });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_workers.send(true);
        if let Err(error) = menu.await {
            tracing::error!(%error, "the menu worker failed");
        }
        // Orders in flight finish their attempt (or keep their lease until it runs out).
        if let Err(error) = dispatcher.await {
            tracing::error!(%error, "the dispatcher failed");
        }
        if let Err(error) = fallback.await {
            tracing::error!(%error, "the fallback worker failed");
        }
        // Events still pending are durable: the next start delivers them.
        if let Err(error) = events.await {
            tracing::error!(%error, "the site events worker failed");
        }
        if let Err(error) = retention.await {
            tracing::error!(%error, "the retention worker failed");
        }
        // The server is gone, so the inbox queue drains and its writer ends; what it stored
        // is applied at the next start.
        if let Err(error) = self.inbox_writer.await {
            tracing::error!(%error, "the iiko webhook inbox failed");
        }
        if let Err(error) = tracker.await {
            tracing::error!(%error, "the status tracker failed");
        }
        if let Err(error) = terminals.await {
            tracing::error!(%error, "the terminal watch failed");
        }
        served
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Application::build(config).await?.run(shutdown).await?;
    Ok(())
}

fn router(state: AppState) -> Router {
    let site_api = catalog::router()
        .merge(orders::router(state.config.site.requests_per_second))
        .merge(loyalty::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_site_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(site_api)
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready only when the store takes writes, iiko really hands out a token and every worker runs,
/// so a load balancer never routes orders to a bridge that could not keep or deliver them.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let store = state
        .store
        .check_writable()
        .await
        .map_err(|e| e.to_string());
    let iiko = state
        .iiko
        .access_token()
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    let down = state.workers.down();
    let ready = store.is_ok() && iiko.is_ok() && down.is_empty();
    let describe = |result: Result<(), String>| result.err().unwrap_or_else(|| "ok".into());
    let workers = if down.is_empty() {
        "ok".to_owned()
    } else {
        format!("down: {}", down.join(", "))
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "store": describe(store),
        "iiko": describe(iiko),
        "workers": workers,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
