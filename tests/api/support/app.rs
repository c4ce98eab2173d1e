//! [`Spawn`]: a simulator, a store in a temporary folder holding the branch's synced catalog,
//! the shipped example configuration pointed at both, and the real server on a free port.
use std::{path::PathBuf, sync::Arc, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use tempfile::TempDir;

use iiko_bridge::{
    config::{Config, Sources},
    iiko::IikoClient,
    menu::{Catalog, CatalogCache, MenuSyncer, SyncKind, SyncOptions, SyncOutcome, SyncResult},
    notify::OperatorChats,
    orders::{Dispatcher, service},
    sim::{SimConfig, SimHandle, Simulator, demo_ids},
    startup::Application,
    store::{OrderState, Store, StoredOrder},
};

use super::{SITE_TOKEN, config_file::ConfigFile};

type FileEdit = Box<dyn FnOnce(&mut ConfigFile)>;

/// What a test starts; each module's `spawn_app` is one with the module's defaults.
pub struct Spawn {
    sim: SimConfig,
    serve: bool,
    file: Vec<FileEdit>,
}

impl Default for Spawn {
    /// A simulator with 60 products creating orders in 50 ms, and the server running.
    fn default() -> Self {
        Self {
            sim: SimConfig {
                products: 60,
                creation_delay: Duration::from_millis(50),
                ..SimConfig::default()
            },
            serve: true,
            file: Vec::new(),
        }
    }
}

impl Spawn {
    pub fn sim(mut self, sim: SimConfig) -> Self {
        self.sim = sim;
        self
    }

    /// No server: for tests that step the workers themselves (a running server's workers would
    /// race them), or serve later with [`TestApp::serve`].
    pub fn without_server(mut self) -> Self {
        self.serve = false;
        self
    }

    /// Edits the configuration FILE, before it is loaded: what a process running the binary
    /// on [`TestApp::config_path`] must see too. In-process settings go in `app`'s edit.
    pub fn file(mut self, edit: impl FnOnce(&mut ConfigFile) + 'static) -> Self {
        self.file.push(Box::new(edit));
        self
    }

    /// Starts everything, with the loaded configuration edited by `edit`.
    pub async fn app(self, edit: impl FnOnce(&mut Config)) -> TestApp {
        let sim = Simulator::spawn(self.sim).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut file = ConfigFile::for_sim(&sim, dir.path());
        for edit in self.file {
            edit(&mut file);
        }
        let config_path = file.write(dir.path(), "bridge.toml");
        let mut config = Sources::load(&config_path).unwrap().config().unwrap();
        edit(&mut config);
        let store = Store::open(&config.store.url).await.unwrap();
        let catalog = synced_catalog(&config, &store).await;
        let mut app = TestApp {
            sim,
            dir,
            config_path,
            config,
            store,
            catalog,
            address: None,
        };
        if self.serve {
            app.address = Some(app.serve(app.config.clone()).await);
        }
        app
    }
}

/// The first branch's menu synced into `store`, as the catalog the site would get.
async fn synced_catalog(config: &Config, store: &Store) -> Catalog {
    assert_eq!(sync(config, store).await.result, SyncResult::Stored);
    let (_, json) = store
        .current_catalog_document(&config.branches[0].key)
        .await
        .unwrap()
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

/// A full sync of the first branch's menu into `store`, as `menu sync` does.
pub async fn sync(config: &Config, store: &Store) -> SyncOutcome {
    MenuSyncer::new(
        iiko(config),
        store.clone(),
        config.menu.export_dir.clone(),
        OperatorChats::new(None, Vec::new()),
    )
    .sync(
        &config.branches[0],
        SyncKind::Full,
        SyncOptions::default(),
        &|_| {},
    )
    .await
    .unwrap()
}

/// A running bed: what a test reads and drives.
pub struct TestApp {
    pub sim: SimHandle,
    /// The test's folder: store, export folder, configuration file.
    pub dir: TempDir,
    /// The configuration file, as loaded before `app`'s typed edit (see [`Spawn::file`]).
    pub config_path: PathBuf,
    pub config: Config,
    pub store: Store,
    /// The first branch's catalog as synced at the start.
    pub catalog: Catalog,
    /// The server's base URL (`http://127.0.0.1:PORT`) when it runs.
    pub address: Option<String>,
}

impl TestApp {
    /// The running server's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        let address = self.address.as_ref().expect("this test's server runs");
        format!("{address}{path}")
    }

    /// Serves the API (with its workers) in the background on `config`; answers its base URL.
    pub async fn serve(&self, config: Config) -> String {
        let app = Application::build(config).await.unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        tokio::spawn(app.run(std::future::pending()));
        base
    }

    /// POSTs `body` to the running server's `path` as the site does; answers the status and
    /// the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(SITE_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// A delivery of one sellable dish without sizes or modifiers, paid by card.
    pub fn body(&self, id: &str) -> Value {
        plain_order(&self.catalog, id)
    }

    /// Takes `body` in as the order API does, without HTTP; answers what the site would get.
    pub async fn submit(&self, body: &Value) -> service::Accepted {
        service::submit_order(
            &self.store,
            &CatalogCache::new(self.store.clone()),
            &iiko(&self.config),
            &self.config,
            body.to_string().as_bytes(),
            None,
            Utc::now(),
        )
        .await
        .unwrap()
    }

    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(
            self.store.clone(),
            iiko(&self.config),
            Arc::new(self.config.clone()),
        )
    }

    /// The one stored order with this site id.
    pub async fn order(&self, site_id: &str) -> StoredOrder {
        let mut found = self.store.orders_by_site_id(site_id, None).await.unwrap();
        assert_eq!(found.len(), 1, "one stored order {site_id}");
        found.remove(0)
    }

    /// Waits (polling, at most 20 s) until the order reaches `state`.
    pub async fn wait_for(&self, site_id: &str, state: OrderState) -> StoredOrder {
        for _ in 0..400 {
            let found = self.store.orders_by_site_id(site_id, None).await.unwrap();
            if let Some(order) = found.into_iter().find(|o| o.state == state) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "order {site_id} never reached {state}: {:?}",
            self.store.orders_by_site_id(site_id, None).await.unwrap()
        );
    }

    /// What the simulator logged for `path`: `{path, status, body}` objects, oldest first.
    pub async fn requests(&self, path: &str) -> Vec<Value> {
        let log: Vec<Value> = reqwest::get(self.sim.url("sim/requests"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log.into_iter().filter(|r| r["path"] == path).collect()
    }

    /// Sets the simulator's faults (`/sim/faults`).
    pub async fn faults(&self, settings: Value) {
        let response = reqwest::Client::new()
            .post(self.sim.url("sim/faults"))
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

pub fn iiko(config: &Config) -> IikoClient {
    IikoClient::new(config.iiko.settings().unwrap()).unwrap()
}

/// A delivery of one sellable dish without sizes or modifiers, paid by card.
pub fn plain_order(catalog: &Catalog, id: &str) -> Value {
    let dish = catalog
        .products
        .iter()
        .find(|p| {
            !p.hidden
                && p.available
                && p.sizes.len() == 1
                && p.sizes[0].iiko_id.is_none()
                && p.sizes[0].available
                && p.modifier_groups.is_empty()
        })
        .expect("the simulator menu has plain dishes");
    let price = dish.sizes[0].price;
    json!({
        "id": id, "branch": "lenina", "service": "delivery",
        "customer": {"name": "Иван", "phone": demo_ids::CUSTOMER_PHONE},
        "address": {"city": "Москва", "street": "Ленина", "house": "10"},
        "items": [{"article": dish.article, "quantity": 1, "price": price}],
        "payment": {"method": "card"},
        "total": price,
    })
}
