//! Status tracking with 10,000 active orders in the simulator: the iiko requests and the time
//! of one polling cycle (first cycle, a cycle where every order changed, a cycle where iiko
//! refused the cursor, and a quiet cycle that re-reads every order by id), and how many iiko
//! webhook events per second the receiver stores. Run: `cargo bench --bench status`.
use std::{sync::Arc, time::Duration, time::Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use iiko_bridge::{
    config::{Config, Sources},
    iiko::IikoClient,
    orders::{AttemptEnd, attempt_change},
    sim::{SimConfig, Simulator, demo_ids},
    startup::Application,
    status::{PollReport, StatusTracker},
    store::{Inserted, NewOrder, OrderState, Store},
};

const ORDERS: usize = 10_000;
const WEBHOOK_CALLS: usize = 20_000;
const EXAMPLE: &str = include_str!("../config/bridge.example.toml");

mod support;

use support::CONCURRENCY;

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
    let config = bench_config(&dir, sim.base_url.as_str(), "127.0.0.1:0")?;
    assert_eq!(
        config.iiko.requests_per_second.get(),
        1000,
        "iiko's rate limit is not measured"
    );
    let store = Store::open(&config.store.url).await?;
    let http = reqwest::Client::new();
    let token = support::token(&sim, &http).await?;

    eprintln!("creating {ORDERS} orders in the simulator and the store ...");
    let started = Instant::now();
    let ids: Vec<Uuid> = (0..ORDERS).map(|_| Uuid::new_v4()).collect();
    let product = support::plain_product(&sim);
    let bodies = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "organizationId": demo_ids::ORG_LENINA,
                "terminalGroupId": demo_ids::TG_LENINA,
                "order": {
                    "id": id, "externalNumber": format!("B-{i}"), "sourceKey": "iiko-bridge",
                    "phone": demo_ids::CUSTOMER_PHONE, "orderServiceType": "DeliveryByClient",
                    "customer": {"type": "one-time", "name": "Гость"},
                    "items": [{"type": "Product", "productId": product.id, "amount": 1,
                               "price": product.price}],
                },
            })
        })
        .collect();
    support::create_deliveries(&sim, &http, bodies).await?;
    for (i, id) in ids.iter().enumerate() {
        let site_id = format!("B-{i}");
        let new = NewOrder {
            branch: "lenina".into(),
            site_id,
            raw_body: "{}".into(),
            content_hash: "bench".into(),
            answer: "{}".into(),
            iiko_ids: "{}".into(),
            iiko_order_id: id.to_string(),
            request: Some("{}".into()),
            problems: None,
            state: OrderState::Queued,
            fallback_reason: None,
            now_ms: 0,
        };
        assert!(matches!(
            store.insert_order(new, None).await?,
            Inserted::New(_)
        ));
    }
    let leased = store
        .lease_due_orders("bench", 0, i64::MAX, ORDERS as i64, &[])
        .await?;
    for order in &leased {
        let end = AttemptEnd::Created {
            number: None,
            status: None,
        };
        store
            .finish_attempt(
                order.id,
                order.lease_owner.as_deref().unwrap_or_default(),
                attempt_change(&end, Some("Success"), 0),
                0,
            )
            .await?;
    }
    eprintln!("set up in {:.1} s", started.elapsed().as_secs_f64());

    let iiko = IikoClient::new(config.iiko.settings().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    let tracker = StatusTracker::new(store.clone(), iiko, Arc::new(config.clone()));
    let control = |path: &'static str, body: Value| {
        let (http, url) = (http.clone(), sim.url(path));
        async move { http.post(url).json(&body).send().await.map(drop) }
    };
    println!("Polling cycle with {ORDERS} active orders (one organization):\n");
    println!("| cycle | iiko requests | by_revision | by_id | statuses written | time |");
    println!("|---|---:|---:|---:|---:|---:|");
    let cycle = |label: &'static str, at| {
        let (tracker, http, sim_requests) = (&tracker, &http, sim.url("sim/requests"));
        async move {
            http.delete(sim_requests.clone()).send().await?;
            let started = Instant::now();
            let report: PollReport = tracker.poll(at).await?;
            let elapsed = started.elapsed();
            let log: Vec<Value> = http.get(sim_requests).send().await?.json().await?;
            let count = |path: &str| log.iter().filter(|r| r["path"] == path).count();
            println!(
                "| {label} | {} | {} | {} | {} | {:.2} s |",
                report.requests,
                count("/api/1/deliveries/by_revision"),
                count("/api/1/deliveries/by_id"),
                report.tally.changed,
                elapsed.as_secs_f64()
            );
            anyhow::Ok(report)
        }
    };
    cycle("first (no cursor yet)", Utc::now()).await?;
    control("sim/advance", json!({"steps": 1})).await?;
    cycle("every order changed", Utc::now()).await?;
    control("sim/expire_revisions", json!({})).await?;
    control("sim/advance", json!({"steps": 1})).await?;
    cycle("cursor refused: by_id fallback", Utc::now()).await?;
    cycle(
        "quiet, all re-read by_id",
        Utc::now() + chrono::Duration::hours(1),
    )
    .await?;

    // The receiver: a server of its own with an empty store, so only receiving is measured
    // (the tracker applying the calls as unknown orders runs alongside, as in production).
    let dir2 = tempfile::tempdir()?;
    let served = bench_config(&dir2, sim.base_url.as_str(), "127.0.0.1:0")?;
    let app = Application::build(served).await?;
    let url = format!("http://{}/iiko/webhook", app.local_addr()?);
    tokio::spawn(app.run(std::future::pending()));
    let info: Value = http
        .post(sim.url("api/1/deliveries/by_id"))
        .bearer_auth(&token)
        .json(&json!({"organizationId": demo_ids::ORG_LENINA, "orderIds": [ids[0]]}))
        .send()
        .await?
        .json()
        .await?;
    let info = info["orders"][0].clone();
    for events_per_call in [1usize, 10] {
        let calls = WEBHOOK_CALLS / events_per_call;
        let body = Value::Array(
            (0..events_per_call)
                .map(|_| {
                    json!({"eventType": "DeliveryOrderUpdate", "eventTime": "2026-11-22 08:00:00.000",
                           "organizationId": demo_ids::ORG_LENINA, "correlationId": Uuid::new_v4(),
                           "eventInfo": info})
                })
                .collect(),
        )
        .to_string();
        let started = Instant::now();
        futures::stream::iter(0..calls)
            .for_each_concurrent(CONCURRENCY, |_| {
                let (http, url, body) = (&http, &url, body.clone());
                async move {
                    let response = http
                        .post(url.as_str())
                        .header("authorization", "bench-hook-token")
                        .body(body)
                        .send()
                        .await;
                    assert!(response.is_ok_and(|r| r.status().is_success()));
                }
            })
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "\nWebhook receiver: {calls} calls of {events_per_call} event(s) ({} bytes each), \
             {CONCURRENCY} at a time: {:.2} s, {:.0} calls/s, {:.0} events/s",
            body.len(),
            elapsed,
            calls as f64 / elapsed,
            (calls * events_per_call) as f64 / elapsed
        );
    }
    Ok(())
}

fn bench_config(dir: &tempfile::TempDir, sim: &str, listen: &str) -> anyhow::Result<Config> {
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
        .replace(
            "listen = \"0.0.0.0:8080\"",
            &format!("listen = \"{listen}\""),
        )
        .replace("requests_per_second = 10\n", "requests_per_second = 1000\n")
        .replace(
            "token = \"change-me\"",
            "token = \"bench-site-token-0123456789\"",
        )
        .replace(
            "# auth_token = \"...\"",
            "auth_token = \"bench-hook-token\"",
        );
    let file = dir.path().join("bridge.toml");
    std::fs::write(&file, text)?;
    Ok(Sources::load(&file)?.config()?)
}
