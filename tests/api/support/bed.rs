//! The test bed the integration tests share: the shipped example configuration pointed at a
//! running simulator, a store in a temporary folder holding the branch's synced catalog, and
//! an order for one plain dish.
//!
//! Include it with
//! ```ignore
//! #[path = "support/bed.rs"]
//! mod bed;
//! ```
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use iiko_bridge::{
    config::{Config, Sources},
    iiko::IikoClient,
    menu::{Catalog, MenuSyncer, SyncKind, SyncOptions, SyncResult},
    notify::OperatorChats,
    sim::{SimHandle, demo_ids},
    store::Store,
};

pub const EXAMPLE: &str = include_str!("../../../config/bridge.example.toml");
/// The site token the tests use in place of the example's placeholder, which loading refuses.
pub const SITE_TOKEN: &str = "site-token-for-the-tests-0123";

/// The example configuration pointed at `sim`, with its store and export folder in `dir`,
/// listening on a free port, and following a creation for 3 s instead of 75.
pub fn config_text(sim: &SimHandle, dir: &Path) -> String {
    let path = dir.display().to_string();
    EXAMPLE
        .replace(
            "http://127.0.0.1:9900",
            sim.base_url.as_str().trim_end_matches('/'),
        )
        .replace(
            "sqlite://data/bridge.db",
            &format!("sqlite://{path}/bridge.db"),
        )
        .replace(
            "export_dir = \"export\"",
            &format!("export_dir = \"{path}/export\""),
        )
        .replace("listen = \"0.0.0.0:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("creation_wait_seconds = 75", "creation_wait_seconds = 3")
        .replace(
            "token = \"change-me\"",
            &format!("token = \"{SITE_TOKEN}\""),
        )
}

/// A configuration written to `dir` and loaded, its store opened and the first branch's menu
/// synced into it.
pub struct Synced {
    pub config_path: PathBuf,
    pub config: Config,
    pub store: Store,
    pub catalog: Catalog,
}

pub async fn synced(dir: &Path, text: &str) -> Synced {
    let config_path = dir.join("bridge.toml");
    std::fs::write(&config_path, text).unwrap();
    let config = Sources::load(&config_path).unwrap().config().unwrap();
    let store = Store::open(&config.store.url).await.unwrap();
    let outcome = MenuSyncer::new(
        iiko(&config),
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
    .unwrap();
    assert_eq!(outcome.result, SyncResult::Stored);
    let (_, json) = store
        .current_catalog_document(&config.branches[0].key)
        .await
        .unwrap()
        .unwrap();
    Synced {
        config_path,
        catalog: serde_json::from_str(&json).unwrap(),
        config,
        store,
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
