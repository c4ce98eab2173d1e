//! The iikoCloud simulator: a stateful, in-memory imitation of the part of iikoCloud
//! (iikoTransport API) that the bridge uses, served over real HTTP.
//!
//! Same paths and JSON shapes as iiko's official schema (`iikocloud/openapi.json` beside the
//! contract; the tests check against `tests/fixtures/iiko-schema-subset.json`): token auth
//! (`/api/1` and `/api/v2` access tokens, JWT-shaped, 401 with an `ErrorResponse` otherwise),
//! dictionaries, the menu in external-menu V2/V3/V4, MenuV3 and nomenclature shapes, deliveries
//! with asynchronous creation (`InProgress` → `Success`/`Error` after
//! [`SimConfig::creation_delay`]) and a status progression on the clock, stop lists, loyalty
//! wallets, webhooks and switchable faults. The fixed ids and credentials are in [`demo_ids`].
//!
//! Deliberate choices where iiko's behaviour is not documented:
//! - a repeated `order.id` on `deliveries/create` answers 400 with `error: "DuplicatedOrderId"`;
//! - schema-level problems (missing fields, bad phone, unknown organization or terminal group,
//!   both or neither of `orderTypeId`/`orderServiceType`, courier without `deliveryPoint`) answer
//!   400 at once; catalogue problems (`ProductNotFound`, `ProductSizeNotFound`,
//!   `ProductGroupNotFound`, `PaymentTypeNotFound`, `OrderTypeNotFound`, ...) end the creation in
//!   `creationStatus: Error`;
//! - a `by_revision` cursor older than the floor set by `POST /sim/expire_revisions` answers 400
//!   with `error: "RevisionTooOld"`;
//! - the delivery-date readers date an "as soon as possible" order an hour after its creation
//!   (as `completeBefore` shows it), include both ends of `deliveryDateFrom..deliveryDateTo`, and
//!   `by_delivery_date_and_source_key_and_filter` sorts by `CompleteBefore` (then number) unless
//!   asked for `Number`, cutting at `rowsCount`;
//! - an unknown loyalty customer answers 400 with a "not found" description and no `error` code;
//! - `loyalty/iiko/calculate` gives a known coupon its fixed discount (an unknown one is a
//!   `CouponNotFound` warning) and limits bonus payments to the program's percent of the sum
//!   after that discount and to the wallet; `deliveries/create` applies a coupon in
//!   `loyaltyInfo` on top of the RMS discounts, as iiko's loyalty would, and a bonus payment
//!   larger than the wallet ends the creation in `Error`;
//! - prices in a marked-up price category are rounded to rubles; base prices keep their kopecks.
//!
//! Control routes (no token needed):
//! - `POST /sim/advance {"steps": n}`: moves every open delivery n statuses on at once.
//! - `GET|POST|DELETE /sim/faults`: see [`faults::FaultSettings`].
//! - `GET|DELETE /sim/requests`: the log of iiko requests received.
//! - `POST /sim/stop_lists {"terminalGroupId", "items": [{"productId", "sizeId"?, "balance"}]}`:
//!   replaces a terminal group's stop list (empty items clear it); fires `StopListUpdate`.
//! - `POST /sim/move {"orderId", "terminalGroupId"}`: moves a delivery to another terminal group
//!   (the old one is cancelled with `movedTo*`); answers `{"newOrderId"}`.
//! - `POST /sim/expire_revisions`: every `by_revision` cursor issued so far becomes too old.
//! - `POST /sim/nomenclature_update`: bumps the menu revision and fires `NomenclatureUpdate`.
//! - `POST /sim/pos/enter {"organizationId", "phone", "sum", "completeBefore"?, "sourceKey"?,
//!   "externalNumber"?}`: staff type an order in by hand (created at once); answers `{"orderId"}`.
//! - `POST /sim/pos/change {"orderId", "sum"?, "items"?, "status"?}`: staff change an order.
//! - `POST /sim/pos/delete {"orderId"}`: staff delete an order; iiko no longer returns it.
pub mod demo_ids;
mod faults;
mod menu_shapes;
mod orders;
pub mod pos;
mod routes;
pub mod seed;
pub mod smtp;
mod state;
pub mod telegram;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use faults::{FaultRule, FaultSettings};
pub use seed::Seed;

use menu_shapes::MenuCache;
use state::State;

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of dishes the generator creates (ignored with `seed`).
    pub products: usize,
    /// A seed file to load instead of generating.
    pub seed: Option<PathBuf>,
    pub rng_seed: u64,
    /// How long a command (creation, cancellation) stays `InProgress`.
    pub creation_delay: Duration,
    /// Time between delivery status moves.
    pub status_step: Duration,
    pub token_lifetime: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            products: 200,
            seed: None,
            rng_seed: 42,
            creation_delay: Duration::from_secs(1),
            status_step: Duration::from_secs(30),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// A running simulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimConfig,
    seed: Seed,
    state: Mutex<State>,
    menus: MenuCache,
    webhooks: webhooks::Dispatcher,
}

impl Simulator {
    pub fn new(config: SimConfig) -> anyhow::Result<Simulator> {
        let seed = match &config.seed {
            Some(path) => Seed::load(path)?,
            None => Seed::generate(config.products, config.rng_seed),
        };
        let state = State::new(&seed, config.rng_seed);
        Ok(Simulator {
            inner: Arc::new(Inner {
                menus: MenuCache::new(),
                config,
                seed,
                state: Mutex::new(state),
                webhooks: webhooks::Dispatcher::new(),
            }),
        })
    }

    pub fn seed(&self) -> &Seed {
        &self.inner.seed
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Binds `127.0.0.1:0` and serves in a background task until the handle is dropped.
    pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
        let sim = Simulator::new(config)?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, sim.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(SimHandle {
            base_url: url::Url::parse(&format!("http://{address}/"))?,
            sim,
            stop: Some(stop),
            task,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies everything that is due by now (command results, status moves) and sends the
    /// resulting webhooks. Called before every request and by the background tick.
    fn settle(&self) {
        let events = {
            let mut state = self.lock();
            state.settle(&self.inner.seed, &self.inner.config, chrono::Utc::now())
        };
        self.inner.webhooks.send(events);
    }
}

/// A simulator serving on a local port; shuts down when dropped or on [`SimHandle::shutdown`].
pub struct SimHandle {
    pub base_url: url::Url,
    pub sim: Simulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// `base_url` joined with a path such as `api/1/access_token`.
    pub fn url(&self, path: &str) -> url::Url {
        self.base_url
            .join(path.trim_start_matches('/'))
            .expect("valid path")
    }

    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the simulator on `listener` until `shutdown` completes, with a background tick that
/// resolves commands and status moves on time so webhooks fire without polling.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sim.settle();
            }
        })
    };
    let result = axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await;
    ticker.abort();
    result
}
