//! Reconciliation of a busy branch: 5,000 orders of one day in the store and the simulator
//! (every tenth "as soon as possible", the rest wanted across the day), plus fallback orders
//! half of which staff typed in by hand. Prints the iiko calls (against the budget of one per
//! 200 orders plus one per fallback order) and the time of the whole report, in process and
//! as the `reconcile` command. Run: `cargo bench --bench reconcile`.
use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use iiko_bridge::{
    config::{Config, Sources},
    iiko::IikoClient,
    orders::{AttemptEnd, attempt_change},
    reconcile::{Period, Reconciler, local_day},
    sim::{SimConfig, Simulator, demo_ids},
    store::{Inserted, NewOrder, OrderState, Store},
};

const ORDERS: usize = 5_000;
const FALLBACK: usize = 20;
const EXAMPLE: &str = include_str!("../config/bridge.example.toml");
const BINARY: &str = env!("CARGO_BIN_EXE_iiko-bridge");
const BY_DATE: &str = "/api/1/deliveries/by_delivery_date_and_source_key_and_filter";
const BY_PHONE: &str = "/api/1/deliveries/by_delivery_date_and_phone";

mod support;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::spawn(SimConfig {
        products: 50,
        creation_delay: Duration::from_millis(1),
        status_step: Duration::from_secs(24 * 3600),
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (config, config_path) = bench_config(&dir, sim.base_url.as_str())?;
    let branch = config.branches[0].clone();
    let store = Store::open(&config.store.url).await?;
    let http = reqwest::Client::new();

    eprintln!("creating {ORDERS} orders in the simulator and the store ...");
    let started = Instant::now();
    let today = local_day(Utc::now(), branch.timezone);
    let midnight = branch
        .timezone
        .from_local_datetime(&today.and_time(NaiveTime::MIN))
        .earliest()
        .expect("a local midnight");
    let product = support::plain_product(&sim);
    let orders: Vec<(Uuid, Option<chrono::DateTime<chrono_tz::Tz>>)> = (0..ORDERS)
        .map(|i| {
            let wanted = (i % 10 != 0).then(|| midnight + chrono::Duration::seconds(17 * i as i64));
            (Uuid::new_v4(), wanted)
        })
        .collect();
    let bodies = orders
        .iter()
        .enumerate()
        .map(|(i, (id, wanted))| {
            json!({
                "organizationId": branch.organization_id,
                "terminalGroupId": branch.terminal_group_id,
                "order": {
                    "id": id, "externalNumber": format!("B-{i}"),
                    "sourceKey": config.site.source_key,
                    "completeBefore": wanted.map(|w| w.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
                    "phone": demo_ids::CUSTOMER_PHONE, "orderServiceType": "DeliveryByClient",
                    "customer": {"type": "one-time", "name": "Гость"},
                    "items": [{"type": "Product", "productId": product.id, "amount": 1,
                               "price": product.price}],
                },
            })
        })
        .collect();
    support::create_deliveries(&sim, &http, bodies).await?;
    let now_ms = Utc::now().timestamp_millis();
    for (i, (id, wanted)) in orders.iter().enumerate() {
        let raw = json!({
            "id": format!("B-{i}"), "branch": branch.key,
            "deliver_at": wanted.map(|w| w.to_rfc3339()),
            "customer": {"name": "Гость", "phone": demo_ids::CUSTOMER_PHONE},
            "total": product.price,
        });
        insert(
            &store,
            &format!("B-{i}"),
            raw,
            id,
            OrderState::Queued,
            now_ms,
        )
        .await?;
    }
    let leased = store
        .lease_due_orders("bench", i64::MAX / 2, i64::MAX, ORDERS as i64, &[])
        .await?;
    for order in &leased {
        let end = AttemptEnd::Created {
            number: None,
            status: Some("Unconfirmed".into()),
        };
        let owner = order.lease_owner.as_deref().unwrap_or_default();
        store
            .finish_attempt(
                order.id,
                owner,
                attempt_change(&end, Some("Success"), 0),
                now_ms,
            )
            .await?;
    }
    for i in 0..FALLBACK {
        let phone = format!("+7999555{i:04}");
        let raw = json!({
            "id": format!("F-{i}"), "branch": branch.key, "deliver_at": null,
            "customer": {"name": "Гость", "phone": phone}, "total": 500,
        });
        insert(
            &store,
            &format!("F-{i}"),
            raw,
            &Uuid::new_v4(),
            OrderState::Fallback,
            now_ms,
        )
        .await?;
        if i % 2 == 0 {
            http.post(sim.url("sim/pos/enter"))
                .json(
                    &json!({"organizationId": branch.organization_id, "phone": phone, "sum": 500}),
                )
                .send()
                .await?
                .error_for_status()?;
        }
    }
    eprintln!("set up in {:.1} s", started.elapsed().as_secs_f64());

    let iiko = IikoClient::new(config.iiko.settings().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    let reconciler = Reconciler::new(store.clone(), iiko, &config.site.source_key);
    println!(
        "Reconciliation of one branch, {ORDERS} orders and {FALLBACK} fallback orders in the period:\n"
    );
    println!("| run | period | by date calls | by phone calls | budget | findings | time |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let budget = ORDERS.div_ceil(200) + FALLBACK;
    for period in [Period::day(today), Period::asked(None, None, today)?] {
        http.delete(sim.url("sim/requests")).send().await?;
        let started = Instant::now();
        let report = reconciler.branch(&branch, period).await?;
        let elapsed = started.elapsed();
        let (by_date, by_phone) = calls(&http, &sim.url("sim/requests")).await?;
        assert_eq!(report.bridge_orders, ORDERS + FALLBACK);
        assert!(
            report.incomplete_days.is_empty(),
            "{:?}",
            report.incomplete_days
        );
        println!(
            "| in process | {} days | {by_date} | {by_phone} | {budget} | {} | {:.2} s |",
            period.days().len(),
            report.discrepancies.len(),
            elapsed.as_secs_f64()
        );
    }
    http.delete(sim.url("sim/requests")).send().await?;
    let started = Instant::now();
    let out = tokio::process::Command::new(BINARY)
        .args([
            "--config",
            config_path.to_str().unwrap_or_default(),
            "reconcile",
            "--json",
        ])
        .output()
        .await?;
    let elapsed = started.elapsed();
    let (by_date, by_phone) = calls(&http, &sim.url("sim/requests")).await?;
    let report: Value = serde_json::from_slice(&out.stdout)?;
    println!(
        "| `reconcile --json` (exit {}) | 2 days | {by_date} | {by_phone} | {budget} | {} | {:.2} s |",
        out.status.code().unwrap_or(-1),
        report["branches"][0]["discrepancies"]
            .as_array()
            .map_or(0, Vec::len),
        elapsed.as_secs_f64()
    );
    Ok(())
}

async fn insert(
    store: &Store,
    site_id: &str,
    raw: Value,
    iiko_id: &Uuid,
    state: OrderState,
    now_ms: i64,
) -> anyhow::Result<()> {
    let new = NewOrder {
        branch: "lenina".into(),
        site_id: site_id.into(),
        raw_body: raw.to_string(),
        content_hash: "bench".into(),
        answer: "{}".into(),
        iiko_ids: "{}".into(),
        iiko_order_id: iiko_id.to_string(),
        request: (state == OrderState::Queued).then(|| "{}".into()),
        problems: None,
        state,
        fallback_reason: None,
        now_ms,
    };
    anyhow::ensure!(matches!(
        store.insert_order(new, None).await?,
        Inserted::New(_)
    ));
    Ok(())
}

/// The reconciliation calls in the simulator's request log: (by date, by phone).
async fn calls(http: &reqwest::Client, log: &url::Url) -> anyhow::Result<(usize, usize)> {
    let requests: Vec<Value> = http.get(log.clone()).send().await?.json().await?;
    let count = |path: &str| requests.iter().filter(|r| r["path"] == path).count();
    Ok((count(BY_DATE), count(BY_PHONE)))
}

fn bench_config(
    dir: &tempfile::TempDir,
    sim: &str,
) -> anyhow::Result<(Config, std::path::PathBuf)> {
    let path = dir.path().display().to_string();
    let text = EXAMPLE
        .replace("http://127.0.0.1:9900", sim.trim_end_matches('/'))
        .replace(
            "sqlite://data/bridge.db",
            &format!("sqlite://{path}/bridge.db"),
        )
        .replace(
            "export_dir = \"export\"",
            &format!("export_dir = \"{path}/export\""),
        )
        .replace("requests_per_second = 10\n", "requests_per_second = 1000\n")
        .replace(
            "token = \"change-me\"",
            "token = \"bench-site-token-0123456789\"",
        );
    let file = dir.path().join("bridge.toml");
    std::fs::write(&file, text)?;
    Ok((Sources::load(&file)?.config()?, file))
}
