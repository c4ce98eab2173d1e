//! Menu sync end to end: the binary and the HTTP API against the simulator, a real store, the
//! export directory and a fake Telegram.
use std::{path::PathBuf, process::Output, time::Instant};

use iiko_bridge::{
    config::Sources,
    menu::{MenuScheduler, MenuSyncer, SyncKind, SyncOptions, SyncResult},
    notify::OperatorChats,
    sim::{self, Seed, SimConfig, SimHandle, demo_ids, telegram::FakeTelegram},
    startup::Application,
    store::Store,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{ConfigFile, store};

const OPERATOR_CHAT: i64 = 4242;
const SITE_TOKEN: &str = "site-token-for-the-menu-tests";

/// What the `menu` commands run against: an empty store (the tests sync it with the binary, so
/// unlike `Spawn` nothing is synced first), a simulator, a fake Telegram and a config file.
struct MenuCli {
    sim: SimHandle,
    telegram: FakeTelegram,
    dir: TempDir,
    config: PathBuf,
}

impl MenuCli {
    /// A simulator serving `seed` (generated when `None`), a fake Telegram and a config for both.
    async fn new(seed: Option<Seed>) -> MenuCli {
        let dir = tempfile::tempdir().unwrap();
        let seed_path = seed.map(|seed| {
            let path = dir.path().join("seed.json");
            seed.save(&path).unwrap();
            path
        });
        let sim = sim::Simulator::spawn(SimConfig {
            products: 60,
            seed: seed_path,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let telegram = FakeTelegram::start().await.unwrap();
        let config = dir.path().join("bridge.toml");
        let bed = MenuCli {
            sim,
            telegram,
            dir,
            config,
        };
        bed.write_config(|_| {});
        bed
    }

    fn write_config(&self, edit: impl FnOnce(&mut ConfigFile)) {
        let dir = self.dir.path();
        let mut file = ConfigFile::example();
        file.set(
            "iiko.base_url",
            self.sim.base_url.as_str().trim_end_matches('/'),
        )
        .set("store.url", store::url(dir))
        .set("menu.export_dir", dir.join("export").display().to_string())
        .set("server.listen", "127.0.0.1:0")
        .set("site.token", SITE_TOKEN)
        .set("telegram.operator_chats", vec![OPERATOR_CHAT])
        .add("telegram.bot_token", self.telegram.token())
        .add("telegram.api_url", self.telegram.api_url().to_string());
        edit(&mut file);
        file.write(dir, "bridge.toml");
    }

    async fn bridge(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .unwrap()
    }

    fn export(&self) -> PathBuf {
        self.dir.path().join("export/catalog-lenina.json")
    }

    async fn store(&self) -> Store {
        Store::open(&store::url(self.dir.path())).await.unwrap()
    }

    async fn control(&self, path: &str, body: Value) {
        let response = reqwest::Client::new()
            .post(self.sim.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The generated menu with one article used twice and one product without an article.
fn seed_with_article_problems() -> (Seed, String, String) {
    let mut seed = Seed::generate(60, 42);
    let duplicated = seed.products[0].sku.clone();
    seed.products[5].sku = duplicated.clone();
    let blank_name = seed.products[7].name.clone();
    seed.products[7].sku = String::new();
    (seed, duplicated, blank_name)
}

#[bed::test]
async fn menu_sync_stores_exports_and_reports_the_diff_then_finds_nothing_new() {
    let bed = MenuCli::new(None).await;
    let first = bed.bridge(&["menu", "sync"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains("stored") && stdout.contains("added"),
        "{stdout}"
    );

    let exported: Value = serde_json::from_slice(&std::fs::read(bed.export()).unwrap()).unwrap();
    assert_eq!(exported["branch"], "lenina");
    let products = exported["products"].as_array().unwrap();
    assert!(!products.is_empty());
    let first_article = products[0]["article"].as_str().unwrap();
    assert!(
        bed.sim
            .sim
            .seed()
            .products
            .iter()
            .any(|p| p.sku == first_article)
    );
    let raw = std::fs::read_to_string(bed.export()).unwrap();
    assert!(!raw.contains(&demo_ids::ORG_LENINA.to_string()));
    let some_product_id = bed.sim.sim.seed().products[0].id.to_string();
    assert!(
        !raw.contains(&some_product_id),
        "iiko ids stay inside the bridge"
    );

    let again = bed.bridge(&["menu", "sync", "--json"]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let json: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["outcomes"][0]["result"], "unchanged");
}

#[bed::test]
async fn a_dry_run_shows_the_diff_and_writes_nothing() {
    let bed = MenuCli::new(None).await;
    let out = bed.bridge(&["menu", "sync", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcomes"][0]["result"], "dry_run");
    assert!(
        json["outcomes"][0]["diff"]["added"]
            .as_array()
            .unwrap()
            .len()
            > 10
    );
    assert!(!bed.export().exists());
    assert_eq!(
        bed.store().await.current_catalog("lenina").await.unwrap(),
        None
    );
}

#[bed::test]
async fn duplicate_and_missing_articles_are_left_out_reported_alerted_once_and_exit_4() {
    let (seed, duplicated, blank_name) = seed_with_article_problems();
    let bed = MenuCli::new(Some(seed)).await;
    let out = bed.bridge(&["menu", "sync"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&duplicated), "{stdout}");
    assert!(stdout.contains(&blank_name), "{stdout}");

    let exported = std::fs::read_to_string(bed.export()).unwrap();
    assert!(
        !exported.contains(&format!("\"{duplicated}\"")),
        "duplicates are left out"
    );
    let exported: Value = serde_json::from_str(&exported).unwrap();
    assert!(
        exported["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != blank_name.as_str()),
        "items without an article are left out"
    );

    let alerts = bed.telegram.messages();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].chat_id, OPERATOR_CHAT);
    assert!(alerts[0].text.contains(&duplicated), "{}", alerts[0].text);

    let again = bed.bridge(&["menu", "sync"]).await;
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(
        bed.telegram.messages().len(),
        1,
        "the same problems are not alerted twice"
    );
}

#[bed::test]
async fn strict_mode_keeps_the_previous_catalog_when_articles_are_broken() {
    let (seed, _, _) = seed_with_article_problems();
    let bed = MenuCli::new(Some(seed)).await;
    let out = bed.bridge(&["menu", "sync", "--strict", "--json"]).await;
    assert_eq!(out.status.code(), Some(4));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcomes"][0]["result"], "kept_previous");
    assert_eq!(
        bed.store().await.current_catalog("lenina").await.unwrap(),
        None
    );
    assert!(!bed.export().exists());
}

#[bed::test]
async fn a_prices_sync_picks_up_the_stop_list_and_rollback_restores_the_previous_version() {
    let bed = MenuCli::new(None).await;
    assert!(bed.bridge(&["menu", "sync"]).await.status.success());
    let seed = bed.sim.sim.seed();
    let already_stopped: Vec<_> = seed.stop_list.iter().map(|s| s.product_id).collect();
    let product = seed
        .products
        .iter()
        .find(|p| {
            p.sizes.is_empty()
                && !p.hidden
                && p.not_sold_in.is_empty()
                && !already_stopped.contains(&p.id)
        })
        .expect("a product without sizes that is on sale")
        .clone();
    bed.control(
        "sim/stop_lists",
        json!({"terminalGroupId": demo_ids::TG_LENINA,
               "items": [{"productId": product.id, "balance": 0}]}),
    )
    .await;

    let out = bed.bridge(&["prices", "sync", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcome = &json["outcomes"][0];
    assert_eq!(outcome["result"], "stored");
    let changes = outcome["diff"]["availability_changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c.to_string().contains(&product.sku)),
        "{changes:?}"
    );
    let exported: Value = serde_json::from_slice(&std::fs::read(bed.export()).unwrap()).unwrap();
    let stopped = exported["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["article"] == product.sku.as_str())
        .unwrap();
    assert_eq!(stopped["available"], false);

    let out = bed
        .bridge(&["menu", "rollback", "--branch", "lenina"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported: Value = serde_json::from_slice(&std::fs::read(bed.export()).unwrap()).unwrap();
    let restored = exported["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["article"] == product.sku.as_str())
        .unwrap();
    assert_eq!(
        restored["available"], true,
        "the previous version is back, export included"
    );
}

#[bed::test]
async fn an_unknown_branch_is_named_with_exit_code_2() {
    let bed = MenuCli::new(None).await;
    let out = bed.bridge(&["menu", "sync", "--branch", "nowhere"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--branch nowhere: no such branch"));
}

#[bed::test]
async fn an_external_menu_iiko_does_not_know_is_named_with_exit_code_2() {
    let bed = MenuCli::new(None).await;
    bed.write_config(|file| {
        file.set("branches.0.menu.external_menu_id", "9999");
    });
    let out = bed.bridge(&["menu", "sync"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("9999") && stderr.contains("menu.external_menu_id"),
        "{stderr}"
    );
}

#[bed::test]
async fn iiko_failing_mid_sync_leaves_the_previous_catalog_untouched() {
    let bed = MenuCli::new(None).await;
    assert!(bed.bridge(&["menu", "sync"]).await.status.success());
    let before = bed
        .store()
        .await
        .current_catalog("lenina")
        .await
        .unwrap()
        .unwrap();
    bed.control(
        "sim/faults",
        json!({"rules": [{"path": "/api/menu/v3/by_id", "status": 500}]}),
    )
    .await;
    let out = bed.bridge(&["menu", "sync"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let after = bed
        .store()
        .await
        .current_catalog("lenina")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, after);
}

#[bed::test]
async fn the_nomenclature_source_survives_an_unchanged_revision() {
    let bed = MenuCli::new(None).await;
    bed.write_config(|file| {
        file.set("branches.0.menu.source", "nomenclature")
            .remove("branches.0.menu.external_menu_id")
            .remove("branches.0.menu.price_category_id")
            .remove("branches.0.menu.api");
    });
    let first = bed.bridge(&["menu", "sync", "--json"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = bed.bridge(&["menu", "sync", "--json"]).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    let json: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(json["outcomes"][0]["result"], "unchanged");
    assert!(
        json["outcomes"][0]["products"].as_u64().unwrap() > 10,
        "the catalog was not emptied"
    );
}

#[bed::test]
async fn the_catalog_api_needs_the_token_and_honours_if_none_match() {
    let bed = MenuCli::new(None).await;
    let config = Sources::load(&bed.config).unwrap().config().unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run(std::future::pending()));
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/catalog?branch=lenina");

    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");

    // serve syncs every branch as it starts.
    let mut response = None;
    for _ in 0..100 {
        let r = client
            .get(&url)
            .bearer_auth(SITE_TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            response = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let response = response.expect("the catalog appears after the first sync");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let catalog: Value = response.json().await.unwrap();
    assert_eq!(catalog["branch"], "lenina");
    assert!(catalog["revision"].as_i64().unwrap() > 0);

    let cached = client
        .get(&url)
        .bearer_auth(SITE_TOKEN)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let stale = client
        .get(&url)
        .bearer_auth(SITE_TOKEN)
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let unknown = client
        .get(format!("{base}/api/v1/catalog?branch=nowhere"))
        .bearer_auth(SITE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[bed::test]
async fn the_schedule_runs_a_full_sync_first_then_only_what_is_due() {
    let bed = MenuCli::new(None).await;
    let config = Sources::load(&bed.config).unwrap().config().unwrap();
    let client = iiko_bridge::iiko::IikoClient::new(config.iiko.settings().unwrap()).unwrap();
    let store = bed.store().await;
    let nobody = OperatorChats::new(None, Vec::new());
    let syncer = MenuSyncer::new(
        client,
        store.clone(),
        config.menu.export_dir.clone(),
        nobody,
    );
    let start = Instant::now();
    let schedule = MenuScheduler::new(syncer.clone(), config.branches.clone(), &config.menu, start);
    assert_eq!(schedule.try_step(start).await, 1);
    assert!(store.current_catalog("lenina").await.unwrap().is_some());
    assert_eq!(
        schedule.try_step(start).await,
        0,
        "nothing is due right after a full sync"
    );
    let stop_list_due =
        start + std::time::Duration::from_secs_f64(config.menu.stop_list_interval_seconds);
    assert_eq!(schedule.try_step(stop_list_due).await, 1);
    assert_eq!(schedule.try_step(stop_list_due).await, 0);
}

/// Three syncers on one store, each with its own in-process lock, as three processes would be
/// (a CLI `prices sync` twice next to `serve`'s schedule).
#[bed::test]
async fn syncs_at_once_store_one_version_and_send_one_event_and_an_unchanged_one_nothing() {
    let bed = MenuCli::new(None).await;
    assert!(bed.bridge(&["menu", "sync"]).await.status.success());
    let config = Sources::load(&bed.config).unwrap().config().unwrap();
    let store = bed.store().await;
    let first = store.current_catalog("lenina").await.unwrap().unwrap().id;
    let catalog_events = || async {
        bed.store()
            .await
            .list_site_events(None, 100)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == "catalog.updated")
            .count()
    };
    assert_eq!(catalog_events().await, 1);

    // Something for the next sync to store: a product runs out.
    let seed = bed.sim.sim.seed();
    let stopped: Vec<_> = seed.stop_list.iter().map(|s| s.product_id).collect();
    let product = seed
        .products
        .iter()
        .find(|p| {
            p.sizes.is_empty() && !p.hidden && p.not_sold_in.is_empty() && !stopped.contains(&p.id)
        })
        .expect("a product on sale");
    bed.control(
        "sim/stop_lists",
        json!({"terminalGroupId": demo_ids::TG_LENINA,
               "items": [{"productId": product.id, "balance": 0}]}),
    )
    .await;

    let mut syncers = Vec::new();
    for _ in 0..3 {
        syncers.push(MenuSyncer::new(
            iiko_bridge::iiko::IikoClient::new(config.iiko.settings().unwrap()).unwrap(),
            bed.store().await,
            config.menu.export_dir.clone(),
            OperatorChats::new(None, Vec::new()),
        ));
    }
    let branch = &config.branches[0];
    let results = futures::future::join_all(
        syncers
            .iter()
            .map(|s| s.sync(branch, SyncKind::Prices, SyncOptions::default(), &|_| {})),
    )
    .await;
    let mut results: Vec<SyncResult> = results.into_iter().map(|r| r.unwrap().result).collect();
    results.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        results,
        [
            SyncResult::Stored,
            SyncResult::Unchanged,
            SyncResult::Unchanged
        ]
    );
    assert_eq!(
        store.previous_catalog("lenina").await.unwrap().unwrap().id,
        first,
        "one new version on top of the first"
    );
    assert_eq!(
        catalog_events().await,
        2,
        "one catalog.updated for the one change"
    );

    let current = store.current_catalog("lenina").await.unwrap().unwrap().id;
    let again = syncers[0]
        .sync(branch, SyncKind::Prices, SyncOptions::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(again.result, SyncResult::Unchanged);
    assert_eq!(
        store.current_catalog("lenina").await.unwrap().unwrap().id,
        current
    );
    assert_eq!(catalog_events().await, 2, "nothing new, nothing sent");
}
