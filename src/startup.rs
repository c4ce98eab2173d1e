//! The server's wiring: `serve` opens the store, binds the listeners, builds the HTTP router
//! and one of each background worker, runs them together, and stops them together.
use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::Router;
use futures::FutureExt;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    bot::{BotEditor, BotPoller, OperatorBot},
    config::Config,
    duties::{Duties, Instance},
    fallback::{FallbackWorker, Handover, Templates},
    http::{self, AppState, iiko_webhook, telegram_webhook},
    iiko::IikoClient,
    menu::{CatalogCache, MenuScheduler, MenuSyncer},
    notify::{EventsWorker, Mailer, OperatorChats, StoreWatch, Telegram},
    orders::Dispatcher,
    reconcile::{DailyRun, Reconciler},
    retention::RetentionWorker,
    status::{StatusTracker, TerminalWatch, WebhookInbox, register_webhooks},
    store::{ServeLock, Store},
    supervisor::{Supervisor, WorkerHealth},
};

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
    store_watch: StoreWatch,
    /// None when `reconcile.daily_at` is "off".
    reconcile: Option<DailyRun>,
    store: Store,
    /// Stores iiko's webhook calls; it ends once the server has stopped and the queue is drained.
    inbox_writer: tokio::task::JoinHandle<()>,
    /// Registers the webhook with iiko at start (`iiko_webhook.register_on_start`).
    register: Option<(IikoClient, Arc<Config>)>,
    workers: WorkerHealth,
    operators: OperatorChats,
    /// The singleton duties this instance may hold (`store.lease_seconds`).
    duties: Duties,
    /// The operator bot (`telegram.bot_token`), and whether Telegram calls its webhook rather
    /// than being polled.
    bot: Option<(OperatorBot, bool)>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        if config.site.token.is_none() {
            anyhow::bail!("site.token: required to serve the API");
        }
        let settings = config.iiko.settings().map_err(|e| anyhow::anyhow!("{e}"))?;
        let iiko = IikoClient::with_site_share(settings, config.iiko.site_share_percent)?;
        let store = Store::connect(&config.store).await?;
        let duties = Duties::new(
            store.clone(),
            Instance::new(),
            Duration::from_secs_f64(config.store.lease_seconds),
        );
        http::prometheus();
        let events = EventsWorker::from_config(store.clone(), &config)?;
        let retention = RetentionWorker::new(store.clone(), &config);
        let store_watch = StoreWatch::new(store.clone(), &config);
        let shared_store = store.clone();
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
        let terminals = TerminalWatch::new(store.clone(), iiko.clone(), config.clone());
        let reconcile = config.reconcile.daily_at.map(|daily_at| {
            DailyRun::new(
                Reconciler::new(store.clone(), iiko.clone(), &config.site.source_key),
                config.branches.clone(),
                daily_at,
                Telegram::from_config(&config.telegram),
                config.telegram.operator_chats.clone(),
            )
        });
        let (inbox, inbox_writer) = WebhookInbox::start(store.clone(), tracker.waker());
        let mut webhook = iiko_webhook::router(
            &config.iiko_webhook.path,
            config.iiko_webhook.auth_token.clone(),
            inbox,
        );
        let bot = OperatorBot::from_config(store.clone(), config.clone(), catalogs.clone());
        if let (Some(bot), Some(url)) = (&bot, &config.telegram.webhook_url) {
            webhook = webhook.merge(telegram_webhook::router(url.path(), bot.clone()));
        }
        let bot = bot.map(|bot| (bot, config.telegram.webhook_url.is_some()));
        let register = config
            .iiko_webhook
            .register_on_start
            .then(|| (iiko.clone(), config.clone()));
        let workers = WorkerHealth::default();
        let operators = OperatorChats::from_config(&config.telegram);
        let state = AppState::new(config, iiko.site_facing(), store, catalogs, workers.clone());
        let router = http::router(state.clone(), webhook);
        let ops = ops_listener.map(|listener| (listener, http::ops_router(state)));
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
            store_watch,
            reconcile,
            store: shared_store,
            inbox_writer,
            register,
            workers,
            operators,
            duties,
            bot,
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
        tracing::info!(address = %self.local_addr()?, instance = %self.duties.instance(),
            "iiko-bridge listening");
        let (stop_workers, workers_stopped) = watch::channel(false);
        let supervisor = Supervisor::new(self.workers, self.operators, workers_stopped.clone());
        // Singleton duties: each runs in one instance at a time among those sharing the store.
        let duties = self.duties;
        let menu = supervisor.start(duties.hold("menu", self.menu));
        let dispatcher = supervisor.start(self.dispatcher);
        let tracker = supervisor.start(duties.hold("status", self.tracker));
        let terminals = supervisor.start(duties.hold("terminals", self.terminals));
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
        let fallback = supervisor.start(self.fallback);
        let events = supervisor.start(self.events);
        let retention = supervisor.start(duties.hold("retention", self.retention));
        let store_watch = supervisor.start(self.store_watch);
        let reconcile = match self.reconcile {
            Some(daily) => Some(supervisor.start(duties.hold("reconcile", daily))),
            None => {
                tracing::info!("the daily reconciliation is off (reconcile.daily_at = \"off\")");
                None
            }
        };
        let bot = self.bot.map(|(bot, webhook)| {
            let editor =
                supervisor.start(duties.hold("telegram_edits", BotEditor::new(bot.clone())));
            let poller = match webhook {
                false => Some(
                    supervisor.start(duties.hold("telegram", BotPoller::new(bot, workers_stopped))),
                ),
                // Left to end with the process: it only sets the webhook up.
                true => {
                    tokio::spawn(start_webhook(bot));
                    None
                }
            };
            (editor, poller)
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
        if let Err(error) = store_watch.await {
            tracing::error!(%error, "the store watch failed");
        }
        if let Some((editor, poller)) = bot {
            if let Err(error) = editor.await {
                tracing::error!(%error, "the operator bot's editor failed");
            }
            if let Some(Err(error)) = match poller {
                Some(poller) => Some(poller.await),
                None => None,
            } {
                tracing::error!(%error, "the operator bot failed");
            }
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
        if let Some(reconcile) = reconcile
            && let Err(error) = reconcile.await
        {
            tracing::error!(%error, "the daily reconciliation failed");
        }
        served
    }
}

/// Registers the bot's commands and webhook with Telegram, trying again (every instance does,
/// which Telegram takes as the same settings) until Telegram takes them.
async fn start_webhook(bot: OperatorBot) {
    let mut tries = 0;
    while let Err(error) = bot.start().await {
        tries += 1;
        let wait = crate::retry::PAUSE.wait(tries);
        tracing::error!(%error, ?wait, "Telegram webhook not set yet; trying again");
        tokio::time::sleep(wait).await;
    }
}

/// Serves the store under `lock`. When this process alone serves it (SQLite), what a dead
/// predecessor had claimed goes again at once rather than when its leases run out; on a
/// shared store the other instances' claims are live, and a dead one's run out.
pub async fn serve(
    config: Config,
    lock: &ServeLock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if lock.alone() {
        let released = app.store.release_dead_claims().await?;
        if released > 0 {
            tracing::warn!(released, "claims left by a stopped bridge released");
        }
    }
    app.run(shutdown).await?;
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
