//! `demo`: the bridge's main job on embedded defaults, against the bundled simulator, with no
//! configuration and no network.
mod bot;
mod orders;
mod site;

use std::path::Path;

use rust_decimal::Decimal;

use super::{
    Failure,
    discover::{Discovery, check_branches, render},
    menu,
};
use crate::{
    config::{Config, Sources},
    iiko::IikoClient,
    menu::{MenuSyncer, SyncKind, SyncOptions},
    notify::OperatorChats,
    sim::{self, Seed, SimConfig, SimHandle, smtp::SmtpSink, telegram::FakeTelegram},
};

/// The shipped example configuration: the demo runs on it, so it cannot rot unnoticed.
const EXAMPLE_CONFIG: &str = include_str!("../../../config/bridge.example.toml");
const PRODUCTS: usize = 120;

/// Runs the demo; its orders and catalogs go to `store` (`sqlite://` or `postgres://`, which
/// must hold no orders yet) when given, else to a SQLite file in a temporary folder.
pub async fn run(store: Option<String>) -> Result<(), Failure> {
    let workdir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let dir = workdir.path();
    let store = store.unwrap_or_else(|| format!("sqlite://{}/bridge.db", dir.display()));
    let dir = &Workdir { dir, store: &store };
    let telegram = FakeTelegram::start().await.map_err(anyhow::Error::from)?;

    // This morning's iiko: a menu where two dishes share an article and one has none, the kind
    // of mistake the bridge must catch before the site shows it.
    let mut seed = Seed::generate(PRODUCTS, 42);
    let duplicated = seed.products[0].sku.clone();
    seed.products[9].sku = duplicated.clone();
    seed.products[10].sku = String::new();
    let simulator = spawn_simulator(&seed, dir, "morning").await?;
    let config = demo_config(&simulator, dir, &telegram)?;
    println!("iikoCloud simulator: {}", simulator.base_url);
    println!("configuration: config/bridge.example.toml, pointed at the simulator");
    println!("store: {}\n", config.store.display_url());
    let earlier = menu::open_store(&config)
        .await?
        .list_orders(None, None, 1)
        .await;
    if !earlier.map_err(anyhow::Error::from)?.is_empty() {
        return Err(Failure::Usage(format!(
            "demo --store {}: the store already holds orders; give the demo an empty one",
            config.store.display_url()
        )));
    }

    let client = super::iiko_client(&config.iiko)?;
    println!("== discover: what the iiko credentials see");
    let discovery = Discovery::gather(&client, None).await?;
    print!("{}", render(&discovery));

    println!("\n== check: every id in the configuration against iiko");
    let report = check_branches(&config, &discovery);
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if !report.problems.is_empty() {
        return Err(Failure::DataProblems(
            "the example configuration does not match the simulator".into(),
        ));
    }
    println!(
        "ok: {} branch(es) match what iiko has",
        config.branches.len()
    );

    println!(
        "\n== menu sync: the first catalog (article {duplicated:?} is used twice, one dish has none)"
    );
    sync(&config, client).await?;
    for message in telegram.messages() {
        println!(
            "Telegram to operators (chat {}):\n{}",
            message.chat_id, message.text
        );
    }

    // Later that day the restaurant edits its menu in iiko and a dish runs out.
    let changed = edit_menu(&mut seed);
    let stopped = seed.products[3].clone();
    drop(simulator);
    let simulator = spawn_simulator(&seed, dir, "afternoon").await?;
    stop(&simulator, &stopped).await?;
    let config = demo_config(&simulator, dir, &telegram)?;
    let client = super::iiko_client(&config.iiko)?;
    println!(
        "\n== menu sync again: {changed}, and {:?} is on the stop list",
        stopped.name
    );
    sync(&config, client).await?;
    println!(
        "\nThe site reads the catalog at GET /api/v1/catalog?branch=lenina (ETag, If-None-Match)\nor from menu.export_dir/catalog-lenina.json (the demo's folder is removed when it ends)."
    );

    println!("\n== orders: the site sends orders through every path");
    let smtp = SmtpSink::start().await.map_err(anyhow::Error::from)?;
    let site = site::SiteReceiver::start()
        .await
        .map_err(anyhow::Error::from)?;
    let config = serving_config(&simulator, dir, &telegram, &smtp, &site)?;
    orders::run(config.clone(), &simulator, &smtp, &telegram, &site).await?;
    reconcile(&config).await
}

/// Ends the demo with a reconciliation of its own orders, briefly.
async fn reconcile(config: &Config) -> Result<(), Failure> {
    println!("\n== reconcile: the demo's orders against iiko (yesterday and today)");
    let store = menu::open_store(config).await?;
    let reconciler = crate::reconcile::Reconciler::new(
        store,
        super::iiko_client(&config.iiko)?,
        &config.site.source_key,
    );
    for branch in &config.branches {
        let today = crate::reconcile::local_day(chrono::Utc::now(), branch.timezone);
        let period = crate::reconcile::Period::asked(None, None, today)
            .map_err(|e| Failure::Unexpected(e.into()))?;
        let report = reconciler
            .branch(branch, period)
            .await
            .map_err(|e| Failure::Unexpected(e.into()))?;
        let counts: Vec<String> = report
            .counts()
            .iter()
            .map(|(kind, n)| format!("{} {n}", kind.as_str()))
            .collect();
        println!(
            "{}: {} orders in the bridge, {} in iiko; {}",
            branch.key,
            report.bridge_orders,
            report.iiko_orders,
            match counts.is_empty() {
                true => "nothing to report".to_owned(),
                false => counts.join(", "),
            }
        );
    }
    Ok(())
}

/// Where the demo keeps its files, and its store.
struct Workdir<'a> {
    dir: &'a Path,
    store: &'a str,
}

async fn spawn_simulator(seed: &Seed, dir: &Workdir<'_>, name: &str) -> Result<SimHandle, Failure> {
    let path = dir.dir.join(format!("seed-{name}.json"));
    seed.save(&path)?;
    Ok(sim::Simulator::spawn(SimConfig {
        seed: Some(path),
        ..SimConfig::default()
    })
    .await?)
}

/// The example configuration pointed at `simulator`, for the menu steps.
fn demo_config(
    simulator: &SimHandle,
    dir: &Workdir<'_>,
    telegram: &FakeTelegram,
) -> Result<Config, Failure> {
    load(dir.dir, &example_text(simulator, dir, telegram))
}

/// The demo's configuration for `serve`: a free port, the operators' e-mail through the local
/// SMTP sink and their Telegram chat, and retries a second apart instead of 15 s.
fn serving_config(
    simulator: &SimHandle,
    dir: &Workdir<'_>,
    telegram: &FakeTelegram,
    smtp: &SmtpSink,
    site: &site::SiteReceiver,
) -> Result<Config, Failure> {
    let mut text = example_text(simulator, dir, telegram);
    let edits = [
        (
            "listen = \"0.0.0.0:8080\"",
            "listen = \"127.0.0.1:0\"".to_owned(),
        ),
        (
            "# smtp_url = \"smtp://127.0.0.1:2525\"",
            format!("smtp_url = \"{}\"", smtp.url()),
        ),
        (
            "# from = \"iiko-bridge <bridge@example.ru>\"",
            "from = \"iiko-bridge <bridge@pizzeria.example>\"".to_owned(),
        ),
        (
            "emails = [\"orders@example.ru\"]",
            format!("emails = [\"{}\"]", orders::FALLBACK_EMAIL),
        ),
        (
            "telegram_chats = []",
            format!("telegram_chats = [{}]", orders::FALLBACK_CHAT),
        ),
        (
            "retry_interval_seconds = 15",
            "retry_interval_seconds = 1".to_owned(),
        ),
        (
            "# events_url = \"https://example.ru/iiko-bridge/events\"",
            format!("events_url = \"{}\"", site.url),
        ),
        (
            "# events_secret = \"whsec_...\"",
            format!("events_secret = \"{}\"", site::EVENTS_SECRET),
        ),
        (
            "creation_wait_seconds = 75",
            "creation_wait_seconds = 10".to_owned(),
        ),
        (
            "poll_interval_seconds = 60",
            "poll_interval_seconds = 0.5".to_owned(),
        ),
        (
            "operator_users = []",
            format!("operator_users = [{}]", bot::OPERATOR),
        ),
    ];
    for (from, to) in edits {
        if !text.contains(from) {
            return Err(
                anyhow::anyhow!("config/bridge.example.toml no longer has {from:?}").into(),
            );
        }
        text = text.replacen(from, &to, 1);
    }
    load(dir.dir, &text)
}

fn load(dir: &Path, text: &str) -> Result<Config, Failure> {
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).map_err(anyhow::Error::from)?;
    Ok(Sources::load(&path)?.config()?)
}

/// The example configuration with the simulator, a store and an export folder in `dir`, the
/// fake Telegram as the operators' chat, and a site token in place of the example's
/// placeholder (which loading refuses).
fn example_text(simulator: &SimHandle, dir: &Workdir<'_>, telegram: &FakeTelegram) -> String {
    let (store, dir) = (dir.store, dir.dir);
    EXAMPLE_CONFIG
        .replace(
            "token = \"change-me\"",
            &format!("token = \"{}\"", orders::SITE_TOKEN),
        )
        .replace(
            "http://127.0.0.1:9900",
            simulator.base_url.as_str().trim_end_matches('/'),
        )
        .replace("sqlite://data/bridge.db", store)
        .replace(
            "export_dir = \"export\"",
            &format!("export_dir = \"{}/export\"", dir.display()),
        )
        .replace(
            "operator_chats = []",
            &format!(
                "operator_chats = [100500]\nbot_token = \"{}\"\napi_url = \"{}\"",
                telegram.token(),
                telegram.api_url()
            ),
        )
}

async fn sync(config: &Config, client: IikoClient) -> Result<(), Failure> {
    let store = menu::open_store(config).await?;
    let alerts = OperatorChats::from_config(&config.telegram);
    let syncer = MenuSyncer::new(client, store, config.menu.export_dir.clone(), alerts);
    let outcome = syncer
        .sync(
            &config.branches[0],
            SyncKind::Full,
            SyncOptions::default(),
            &|_| {},
        )
        .await
        .map_err(anyhow::Error::from)?;
    print!("{}", menu::render(std::slice::from_ref(&outcome)));
    Ok(())
}

/// Two price changes, a renamed dish and a dish taken off the menu.
fn edit_menu(seed: &mut Seed) -> String {
    let priced: Vec<usize> = (0..seed.products.len())
        .filter(|&i| seed.products[i].sizes.is_empty() && !seed.products[i].hidden)
        .take(2)
        .collect();
    for &i in &priced {
        seed.products[i].price += Decimal::from(30);
    }
    let renamed = &mut seed.products[20];
    renamed.name = format!("{} (новый рецепт)", renamed.name);
    let removed = seed.products.remove(21);
    format!(
        "two dishes cost 30 ₽ more, one is renamed and {:?} left the menu",
        removed.name
    )
}

async fn stop(simulator: &SimHandle, product: &sim::seed::Product) -> Result<(), Failure> {
    let body = serde_json::json!({
        "terminalGroupId": sim::demo_ids::TG_LENINA,
        "items": [{"productId": product.id, "balance": 0}],
    });
    reqwest::Client::new()
        .post(simulator.url("sim/stop_lists"))
        .json(&body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(anyhow::Error::from)?;
    Ok(())
}
