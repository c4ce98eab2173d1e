//! The HTTP API (thin axum routes over the library's plain functions).
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

pub use ops::{OPENAPI, prometheus};

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
    time::Instant,
};

use axum::{Json, Router, extract::State, http::StatusCode, middleware, routing::get};
use futures::FutureExt;
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{
    config::Config,
    fallback::{FallbackWorker, Handover, Templates},
    iiko::IikoClient,
    menu::{CatalogCache, MenuScheduler, MenuSyncer},
    notify::{EventsWorker, Mailer, OperatorChats, Telegram},
    orders::Dispatcher,
    retention::RetentionWorker,
    status::{StatusTracker, TerminalWatch, register_webhooks},
    store::Store,
    workers::{Supervisor, WorkerHealth},
};
use iiko_webhook::WebhookInbox;
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

/// A bound, ready-to-run server with its workers; binding to port 0 lets tests run the real
/// thing side by side.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `server.ops_listen` and the ops endpoints served there.
    ops: Option<(TcpListener, Router)>,
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
        let iiko = IikoClient::with_site_share(settings, config.iiko.site_share_percent)?;
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
        let limits = guard::Limits::from_config(&config.server);
        let ops_listener = match config.server.ops_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|e| anyhow::anyhow!("server.ops_listen {address}: {e}"))?,
            ),
            None => None,
        };
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
        );
        let register = config
            .iiko_webhook
            .register_on_start
            .then(|| (iiko.clone(), config.clone()));
        let workers = WorkerHealth::default();
        let operators = OperatorChats::from_config(&config.telegram);
        let state = AppState {
            config,
            iiko: iiko.site_facing(),
            store,
            catalogs,
            workers: workers.clone(),
            probes: Arc::default(),
        };
        // The ops endpoints stay outside the limits: they answer from cached probes, and a
        // monitor must still reach them while the API is saturated.
        let router = router(state.clone())
            .layer(RequestBodyLimitLayer::new(max_body))
            .layer(middleware::map_response(orders::json_payload_too_large))
            .merge(webhook)
            .layer(middleware::from_fn_with_state(limits, guard::limit))
            .merge(ops_router(state.clone()))
            .layer(middleware::from_fn(guard::announce_close))
            .layer(TraceLayer::new_for_http());
        let ops = ops_listener.map(|listener| {
            let router = ops_router(state)
                .layer(middleware::from_fn(guard::announce_close))
                .layer(TraceLayer::new_for_http());
            (listener, router)
        });
        Ok(Self {
            listener,
            router,
            ops,
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

    /// Where `server.ops_listen` is bound, when it is set.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
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
        let served = serve_http(self.listener, self.router, self.ops, shutdown).await;
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

/// Serves the API on `listener` and, when set, the ops endpoints on `server.ops_listen`,
/// both until `shutdown`.
async fn serve_http(
    listener: TcpListener,
    router: Router,
    ops: Option<(TcpListener, Router)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = shutdown.shared();
    let ops = ops.map(|(listener, router)| {
        tracing::info!(address = ?listener.local_addr().ok(), "ops endpoints listening");
        tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.clone())
                .into_future(),
        )
    });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(ops) = ops {
        match ops.await {
            Ok(Err(error)) => tracing::error!(%error, "the ops listener failed"),
            Err(error) => tracing::error!(%error, "the ops listener failed"),
            Ok(Ok(())) => {}
        }
    }
    served
}

fn router(state: AppState) -> Router {
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
fn ops_router(state: AppState) -> Router {
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
