//! Events back to the site end to end: real `order.created`/`order.fallback` events from the
//! dispatcher against the simulator and `catalog.updated` from menu syncs, delivered to a local
//! site receiver that checks every signature; retries, ordering per order, 410 Gone, pruning,
//! and the `/metrics` and `/openapi.json` endpoints of `serve`.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use chrono::Utc;
use serde_json::{Value, json};

use iiko_bridge::{
    fallback::{Handover, Templates},
    menu::{CatalogCache, SyncResult},
    notify::EventsWorker,
    retention::{RetentionStep, RetentionWorker},
    signing::{SignedHeaders, WebhookSecret, verify},
    sim::{Seed, SimConfig, Simulator, telegram::FakeTelegram},
    startup::Application,
    store::{OrderState, Store, StoredEvent},
};

use crate::support::{ConfigFile, SITE_TOKEN, Spawn, TestApp, store, sync};

const CREATE: &str = "/api/1/deliveries/create";
const TOKEN: &str = SITE_TOKEN;
const SECRET: &str = "whsec_c2l0ZS1ldmVudHMtc2VjcmV0LWZvci10ZXN0cw==";
const PRODUCTS: usize = 60;

// ---- A site that receives events --------------------------------------------------------------

/// One request as the site saw it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    raw: String,
    body: Value,
    signature_valid: bool,
    answered: u16,
}

/// A site endpoint on port 0 that verifies every signature and answers from a script
/// (then `default`).
struct Site {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Site {
    async fn start(default: u16, script: &[u16]) -> Site {
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let state = (log.clone(), script, default);
        let app = axum::Router::new()
            .route("/events", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Site { url, log }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The event ids the site acknowledged (answered 2xx), in order.
    fn acknowledged(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .map(|r| r.id)
            .collect()
    }
}

type SiteState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<VecDeque<u16>>>, u16);

async fn receive(
    State((log, script, default)): State<SiteState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let signature_valid = verify(
        &secret,
        SignedHeaders::from_map(&headers),
        &body,
        Utc::now(),
    )
    .is_ok()
        && headers["content-type"] == "application/json";
    let answered = script.lock().unwrap().pop_front().unwrap_or(default);
    log.lock().unwrap().push(Received {
        id: headers["webhook-id"].to_str().unwrap().to_owned(),
        raw: String::from_utf8(body.to_vec()).unwrap(),
        body: serde_json::from_slice(&body).unwrap(),
        signature_valid,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

// ---- The bridge under test ----------------------------------------------------------------------

/// Without a server (the tests step the workers): iiko answers within 1 s and an order has one
/// attempt, in the file too, for the commands the tests run.
fn spawn() -> Spawn {
    Spawn::default().without_server().file(short)
}

fn short(file: &mut ConfigFile) {
    file.set("iiko.timeout_seconds", 1)
        .set("delivery.max_attempts", 1);
}

/// Events to `site` with short retry delays (in the file: `events redeliver` sends too).
fn with_site(site: &str) -> impl FnOnce(&mut ConfigFile) + 'static {
    let site = site.to_owned();
    move |file| {
        file.add("site.events_url", site)
            .add("site.events_secret", SECRET)
            .set("site.events_retry_delays_seconds", vec![1, 2]);
    }
}

/// Operator alerts to `telegram`'s chat 555.
fn with_operators(telegram: &FakeTelegram) -> impl FnOnce(&mut ConfigFile) + 'static {
    let (token, api_url) = (telegram.token().to_owned(), telegram.api_url().to_string());
    move |file| {
        file.set("telegram.operator_chats", vec![555])
            .add("telegram.bot_token", token)
            .add("telegram.api_url", api_url);
    }
}

impl TestApp {
    fn unmappable(&self, id: &str) -> Value {
        let mut body = self.body(id);
        body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
        body
    }

    /// Takes the order in (as the API does) and checks it was accepted.
    async fn accept(&self, body: &Value) {
        assert!(!self.submit(body).await.repeat);
    }

    fn events(&self) -> EventsWorker {
        EventsWorker::from_config(self.store.clone(), &self.config).unwrap()
    }

    async fn stored_events(&self) -> Vec<StoredEvent> {
        let mut events = self.store.list_site_events(None, 1000).await.unwrap();
        events.reverse();
        events
    }

    async fn order_state(&self, site_id: &str) -> OrderState {
        self.store.orders_by_site_id(site_id, None).await.unwrap()[0].state
    }
}

fn later(seconds: i64) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

// ---- Delivery ---------------------------------------------------------------------------------

#[bed::test]
async fn a_site_that_fails_then_recovers_gets_every_event_in_order_signed_and_under_one_webhook_id()
{
    let site = Site::start(200, &[503, 503, 503]).await;
    let url = site.url.clone();
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    let dispatcher = bed.dispatcher();

    // WEB-1 is created at once.
    bed.accept(&bed.body("WEB-1")).await;
    dispatcher.try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order_state("WEB-1").await, OrderState::Created);
    // WEB-3 goes to the operators (iiko fails, one attempt allowed), then is retried by hand
    // and created: two events of one order, fallback before created.
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    bed.accept(&bed.body("WEB-3")).await;
    dispatcher.try_step(later(1)).await.unwrap();
    assert_eq!(bed.order_state("WEB-3").await, OrderState::Fallback);
    bed.faults(json!({"rules": []})).await;
    let web3 = bed.store.orders_by_site_id("WEB-3", None).await.unwrap()[0].id;
    iiko_bridge::orders::requeue_order(&bed.store, web3, Utc::now().timestamp_millis())
        .await
        .unwrap();
    dispatcher.try_step(later(2)).await.unwrap();
    assert_eq!(bed.order_state("WEB-3").await, OrderState::Created);
    // WEB-2 cannot be mapped: accepted straight into the fallback.
    bed.accept(&bed.unmappable("WEB-2")).await;

    let stored = bed.stored_events().await;
    let kinds: Vec<(Option<&str>, &str)> = stored
        .iter()
        .map(|e| (e.order_id.as_deref(), e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (None, "catalog.updated"),
            (Some("WEB-1"), "order.created"),
            (Some("WEB-3"), "order.fallback"),
            (Some("WEB-3"), "order.created"),
            (Some("WEB-2"), "order.fallback"),
        ]
    );

    let worker = bed.events();
    // Step 1: the head of each queue (four) is sent; three fail. Step 2: the failed ones again,
    // and WEB-3's second event only once its first one is delivered.
    let mut steps = Vec::new();
    for step in 0..5 {
        steps.push(worker.try_step(later(10 * step)).await.unwrap());
    }
    assert_eq!(
        (steps[0].sent, steps[0].delivered, steps[0].retrying),
        (4, 1, 3),
        "{steps:?}"
    );
    let received = site.received();
    assert!(
        received.iter().all(|r| r.signature_valid),
        "every event carries a valid signature: {received:?}"
    );
    let acknowledged = site.acknowledged();
    let mut expected: Vec<String> = stored.iter().map(|e| e.event_id.clone()).collect();
    let mut acked_sorted = acknowledged.clone();
    acked_sorted.sort();
    expected.sort();
    assert_eq!(
        acked_sorted, expected,
        "each event acknowledged exactly once"
    );
    assert_eq!(received.len(), stored.len() + 3, "three retries");
    // A retry is the same message: the same webhook-id and the same bytes.
    for failed in received.iter().filter(|r| r.answered == 503) {
        let retried = received
            .iter()
            .find(|r| r.id == failed.id && r.answered == 200)
            .expect("every failed event is sent again");
        assert_eq!(retried.raw, failed.raw);
    }
    // In order per order: WEB-3's created is first sent after its fallback was acknowledged.
    let position = |id: &str, acked: bool| {
        received
            .iter()
            .position(|r| r.id == id && (!acked || r.answered == 200))
            .unwrap()
    };
    assert!(position(&stored[3].event_id, false) > position(&stored[2].event_id, true));

    // The bodies, as CONTRACT section 2 has them.
    let body = |id: &str| {
        received
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.body.clone())
            .unwrap()
    };
    let web1 = &bed.store.orders_by_site_id("WEB-1", None).await.unwrap()[0];
    let created = body(&stored[1].event_id);
    assert_eq!(created["type"], "order.created");
    assert_eq!(created["branch"], "lenina");
    assert_eq!(created["order_id"], "WEB-1");
    assert_eq!(
        created["data"]["iiko_order_id"],
        web1.iiko_order_id.as_str()
    );
    assert_eq!(created["data"]["iiko_number"], json!(web1.iiko_number));
    assert!(chrono::DateTime::parse_from_rfc3339(created["at"].as_str().unwrap()).is_ok());
    let fallback = body(&stored[4].event_id);
    assert!(
        fallback["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("NO-SUCH-ARTICLE"),
        "{fallback}"
    );
    let catalog = body(&stored[0].event_id);
    assert_eq!(catalog["type"], "catalog.updated");
    assert!(catalog.get("order_id").is_none());
    assert_eq!(catalog["data"]["added"], json!(bed.catalog.products.len()));

    // Every attempt is recorded; nothing is left to send.
    let after = bed.stored_events().await;
    assert!(after.iter().all(|e| e.state == "delivered"), "{after:?}");
    let mut statuses = Vec::new();
    for event in &after {
        let attempts = bed.store.site_event_attempts(event.id).await.unwrap();
        assert_eq!(attempts.len() as i64, event.attempts);
        assert!(attempts.iter().all(|a| a.url == site.url));
        statuses.extend(attempts.iter().map(|a| a.http_status));
    }
    assert_eq!(statuses.iter().filter(|s| **s == Some(503)).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == Some(200)).count(), 5);
    let sent = site.received().len();
    worker.try_step(later(100)).await.unwrap();
    assert_eq!(site.received().len(), sent);

    // `events list` shows them with their attempts.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["--config", bed.config_path.to_str().unwrap()])
        .args(["events", "list", "--state", "delivered", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5);
    let web3_fallback = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == stored[2].event_id.as_str())
        .unwrap();
    assert!(!web3_fallback["attempts"].as_array().unwrap().is_empty());

    // Delivered events go after the retention (7 days), with their attempts.
    assert_eq!(worker.prune(later(3600)).await.unwrap(), 0);
    assert_eq!(worker.prune(later(8 * 86_400)).await.unwrap(), 5);
    assert!(bed.stored_events().await.is_empty());
    assert!(
        bed.store
            .site_event_attempts(after[0].id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[bed::test]
async fn two_instances_on_one_store_send_each_event_once_and_an_order_s_events_in_order() {
    let site = Site::start(200, &[]).await;
    let url = site.url.clone();
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    // WEB-1 goes to the operators (iiko fails), is retried by hand and created: two events.
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    bed.accept(&bed.body("WEB-1")).await;
    bed.dispatcher().try_step(later(1)).await.unwrap();
    bed.faults(json!({"rules": []})).await;
    for id in ["WEB-2", "WEB-3"] {
        bed.accept(&bed.unmappable(id)).await;
    }
    let web1 = bed.store.orders_by_site_id("WEB-1", None).await.unwrap()[0].id;
    iiko_bridge::orders::requeue_order(&bed.store, web1, Utc::now().timestamp_millis())
        .await
        .unwrap();
    bed.dispatcher().try_step(later(2)).await.unwrap();
    assert_eq!(bed.order_state("WEB-1").await, OrderState::Created);
    let stored = bed.stored_events().await;
    assert_eq!(
        stored.len(),
        5,
        "catalog.updated, three fallbacks, WEB-1 created"
    );
    let other = Store::open(&bed.config.store.url).await.unwrap();
    let (one, two) = (
        bed.events(),
        EventsWorker::from_config(other, &bed.config).unwrap(),
    );

    for step in 0..3 {
        let (a, b) = tokio::join!(
            one.try_step(later(10 + step)),
            two.try_step(later(10 + step))
        );
        a.unwrap();
        b.unwrap();
    }

    let mut received: Vec<String> = site.received().iter().map(|r| r.id.clone()).collect();
    let web1_events: Vec<&String> = received
        .iter()
        .filter(|id| {
            stored
                .iter()
                .any(|e| &&e.event_id == id && e.order_id.as_deref() == Some("WEB-1"))
        })
        .collect();
    assert_eq!(
        web1_events,
        [&stored[1].event_id, &stored[4].event_id],
        "in order"
    );
    received.sort();
    let mut expected: Vec<String> = stored.iter().map(|e| e.event_id.clone()).collect();
    expected.sort();
    assert_eq!(received, expected, "each event sent once");
}

#[bed::test]
async fn an_event_a_dead_instance_claimed_goes_out_once_its_claim_runs_out_under_its_webhook_id() {
    let site = Site::start(200, &[]).await;
    let url = site.url.clone();
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    let now = Utc::now();
    let at = |seconds| (now + chrono::Duration::seconds(seconds)).timestamp_millis();
    // Another instance claims catalog.updated, then dies before sending it.
    let dead = Store::open(&bed.config.store.url).await.unwrap();
    let claimed = dead
        .claim_site_events("dead", at(0), at(60), 64)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    drop(dead);
    let worker = bed.events();

    assert_eq!(
        worker
            .try_step(now + chrono::Duration::seconds(59))
            .await
            .unwrap()
            .sent,
        0
    );
    let step = worker
        .try_step(now + chrono::Duration::seconds(60))
        .await
        .unwrap();

    assert_eq!(step.delivered, 1, "{step:?}");
    assert_eq!(site.received()[0].id, claimed[0].event_id);
}

#[bed::test]
async fn a_410_stops_delivery_to_that_url_for_good_and_operators_hear_once() {
    let gone = Site::start(410, &[]).await;
    let telegram = FakeTelegram::start().await.unwrap();
    let url = gone.url.clone();
    let bed = spawn()
        .file(with_site(&url))
        .file(with_operators(&telegram))
        .app(|_| {})
        .await;
    bed.accept(&bed.unmappable("WEB-G1")).await;

    let worker = bed.events();
    let step = worker.try_step(later(1)).await.unwrap();
    assert_eq!(step.stopped, 2, "{step:?}");
    assert!(step.alerted);
    let alerts = telegram.messages();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].chat_id, 555);
    assert!(
        alerts[0].text.contains("410") && alerts[0].text.contains(&gone.url),
        "{}",
        alerts[0].text
    );
    let tried = gone.received().len();
    assert!((1..=2).contains(&tried), "{tried}");
    assert!(gone.received().iter().all(|r| r.signature_valid));

    // A later event is stopped without a request, and nobody is told again, also after a
    // restart (a new worker over the same store).
    bed.accept(&bed.unmappable("WEB-G2")).await;
    let restarted = bed.events();
    let step = restarted.try_step(later(60)).await.unwrap();
    assert_eq!((step.stopped, step.alerted), (1, false));
    assert_eq!(gone.received().len(), tried);
    assert_eq!(telegram.messages().len(), 1);
    assert!(
        bed.stored_events()
            .await
            .iter()
            .all(|e| e.state == "stopped")
    );

    // A new URL in the config resumes delivery with the events written from then on.
    let site = Site::start(200, &[]).await;
    let mut config = bed.config.clone();
    config.site.events_url = Some(site.url.parse().unwrap());
    let moved = EventsWorker::from_config(bed.store.clone(), &config).unwrap();
    bed.accept(&bed.unmappable("WEB-G3")).await;
    let step = moved.try_step(later(120)).await.unwrap();
    assert_eq!(step.delivered, 1, "{step:?}");
    assert_eq!(site.received()[0].body["order_id"], "WEB-G3");
    assert_eq!(telegram.messages().len(), 1);
}

#[bed::test]
async fn without_an_events_url_nothing_is_sent_and_events_are_pruned_after_the_retention() {
    let bed = spawn().app(|_| {}).await;
    bed.accept(&bed.unmappable("WEB-N1")).await;
    let worker = bed.events();
    assert_eq!(worker.try_step(later(1)).await.unwrap(), Default::default());
    assert_eq!(bed.stored_events().await.len(), 2);
    assert_eq!(worker.prune(later(6 * 86_400)).await.unwrap(), 0);
    assert_eq!(worker.prune(later(8 * 86_400)).await.unwrap(), 2);
}

// ---- catalog.updated --------------------------------------------------------------------------

#[bed::test]
async fn a_sync_that_changed_prices_writes_catalog_updated_and_one_that_changed_nothing_writes_nothing()
 {
    let bed = spawn().app(|_| {}).await;
    assert_eq!(bed.stored_events().await.len(), 1, "the first sync");
    assert_eq!(
        sync(&bed.config, &bed.store).await.result,
        SyncResult::Unchanged
    );
    assert_eq!(bed.stored_events().await.len(), 1, "nothing changed");

    // The same menu with one dish 10 rubles dearer, served by a second simulator.
    let mut seed = Seed::generate(PRODUCTS, SimConfig::default().rng_seed);
    let dish = seed
        .products
        .iter_mut()
        .find(|p| p.sizes.is_empty() && !p.hidden && p.not_sold_in.is_empty())
        .unwrap();
    dish.price += rust_decimal::Decimal::TEN;
    let seed_path = bed.dir.path().join("seed.json");
    seed.save(&seed_path).unwrap();
    let repriced = Simulator::spawn(SimConfig {
        seed: Some(seed_path),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // `menu sync` only writes the event; `serve` delivers it.
    let mut file = ConfigFile::for_sim(&repriced, bed.dir.path());
    short(&mut file);
    let repriced_config = file.write(bed.dir.path(), "repriced.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args([
            "--config",
            repriced_config.to_str().unwrap(),
            "menu",
            "sync",
        ])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut config = bed.config.clone();

    let events = bed.stored_events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].kind, "catalog.updated");
    assert_eq!(events[1].order_id, None);
    let site = Site::start(200, &[]).await;
    config.site.events_url = Some(site.url.parse().unwrap());
    config.site.events_secret = Some(SECRET.into());
    let worker = EventsWorker::from_config(bed.store.clone(), &config).unwrap();
    // Branch-wide events queue per branch: the second goes once the first is delivered.
    assert_eq!(worker.try_step(later(1)).await.unwrap().delivered, 1);
    assert_eq!(worker.try_step(later(2)).await.unwrap().delivered, 1);
    let body = site
        .received()
        .into_iter()
        .find(|r| r.id == events[1].event_id)
        .unwrap()
        .body;
    assert_eq!(
        body["data"],
        json!({"added": 0, "removed": 0, "changed": 1, "renamed": 0, "price_changes": 1,
               "availability_changes": 0}),
        "{body}"
    );
}

// ---- serve ------------------------------------------------------------------------------------

#[bed::test]
async fn serve_delivers_events_and_answers_metrics_and_its_openapi_without_a_token() {
    let site = Site::start(200, &[]).await;
    let url = site.url.clone();
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    let app = Application::build(bed.config.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run(std::future::pending()));
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(bed.body("WEB-S1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    for _ in 0..400 {
        if site
            .received()
            .iter()
            .any(|r| r.body["type"] == "order.created")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = site.received();
    let mut types: Vec<&str> = received
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["catalog.updated", "order.created"]);
    assert!(received.iter().all(|r| r.signature_valid));

    let expected = [
        "iiko_bridge_orders_accepted_total{branch=\"lenina\",state=\"queued\"}",
        "iiko_bridge_dispatch_outcomes_total{branch=\"lenina\",outcome=\"created\"}",
        "iiko_bridge_iiko_calls_total{operation=\"/api/1/deliveries/create\",outcome=\"2xx\"}",
        "iiko_bridge_site_events_total{type=\"order.created\",outcome=\"delivered\"}",
        "iiko_bridge_site_events_pending 0",
    ];
    // The worker records the delivery just after the site answered: scrape until it has.
    let mut text = String::new();
    for _ in 0..100 {
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(
            metrics.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        text = metrics.text().await.unwrap();
        if expected.iter().all(|line| text.contains(line)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in expected {
        assert!(text.contains(line), "{line} not in\n{text}");
    }

    let openapi = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200);
    let document: Value = openapi.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert!(document["paths"]["/api/v1/orders"]["post"].is_object());
}

// ---- Secrets in the URL -------------------------------------------------------------------------

/// Everything logged while it lives, for checking what the logs hold.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[bed::test]
async fn credentials_in_an_unreachable_events_url_reach_neither_the_attempts_nor_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let url = format!("http://shop-login:Pa55-secret@{address}/events?token=t0ken-secret&v=2");
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    bed.accept(&bed.unmappable("WEB-U1")).await;
    // Another test's thread may have cached the log callsites as uninteresting before this
    // test's subscriber existed (tracing's interest cache is global).
    tracing::callsite::rebuild_interest_cache();

    let step = bed.events().try_step(later(1)).await.unwrap();

    assert_eq!(step.retrying, 2, "{step:?}");
    let secrets = ["shop-login", "Pa55-secret", "t0ken-secret"];
    let mut texts = Vec::new();
    for event in bed.stored_events().await {
        texts.push(format!("{:?}", event.last_error));
        for attempt in bed.store.site_event_attempts(event.id).await.unwrap() {
            assert!(attempt.url.contains(&address.to_string()), "{attempt:?}");
            assert!(attempt.error.is_some(), "{attempt:?}");
            texts.push(format!("{attempt:?}"));
        }
    }
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["--config", bed.config_path.to_str().unwrap()])
        .args(["events", "list", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    texts.push(String::from_utf8_lossy(&listed.stdout).into_owned());
    let logged = logs.text();
    assert!(logged.contains("site event not delivered"), "{logged}");
    texts.push(logged);
    for text in &texts {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

// ---- A store that cannot record ----------------------------------------------------------------

#[bed::test]
async fn while_the_store_cannot_record_an_attempt_nothing_is_sent_again_and_it_is_recorded_later() {
    let site = Site::start(200, &[]).await;
    let url = site.url.clone();
    let bed = spawn().file(with_site(&url)).app(|_| {}).await;
    // The store refuses to change an event's state (as a full or read-only disk would).
    let refusal = store::refuse_state_changes(&bed.config.store.url, "site_events").await;
    let worker = bed.events();

    assert!(worker.try_step(later(1)).await.is_err());
    assert_eq!(site.received().len(), 1, "catalog.updated");
    for seconds in [2, 5, 60] {
        assert!(worker.try_step(later(seconds)).await.is_err());
    }
    assert_eq!(site.received().len(), 1, "not sent again");

    refusal.recover().await;
    let recovered = worker.try_step(later(100)).await.unwrap();
    assert_eq!(recovered.sent, 0, "{recovered:?}");
    assert_eq!(site.received().len(), 1);
    let events = bed.stored_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].state.as_str(), events[0].attempts),
        ("delivered", 1)
    );
}

#[bed::test]
async fn an_alert_about_a_gone_url_that_telegram_did_not_take_waits_before_the_next_try() {
    let gone = Site::start(410, &[]).await;
    let telegram = FakeTelegram::start().await.unwrap();
    let url = gone.url.clone();
    let bed = spawn()
        .file(with_site(&url))
        .file(with_operators(&telegram))
        .app(|_| {})
        .await;
    telegram.fail_next(
        1,
        iiko_bridge::sim::telegram::Failure::TooManyRequests { retry_after: 1 },
    );
    let worker = bed.events();
    let t0 = Utc::now();

    let first = worker.try_step(t0).await.unwrap();
    let soon = worker
        .try_step(t0 + chrono::Duration::milliseconds(500))
        .await
        .unwrap();
    let later = worker
        .try_step(t0 + chrono::Duration::seconds(2))
        .await
        .unwrap();

    assert_eq!((first.stopped, first.alerted), (1, false), "{first:?}");
    assert!(!soon.alerted, "paused after the failed alert: {soon:?}");
    assert!(later.alerted, "{later:?}");
    assert_eq!(telegram.messages().len(), 1);
}

// ---- Events the site keeps refusing -----------------------------------------------------------

#[bed::test]
async fn an_event_refused_past_the_give_up_dies_alerts_once_lets_later_events_go_and_can_be_redelivered()
 {
    // The first four POSTs fail, then the site takes everything.
    let site = Site::start(200, &[503, 503, 503, 503]).await;
    let telegram = FakeTelegram::start().await.unwrap();
    let url = site.url.clone();
    let bed = spawn()
        .file(with_site(&url))
        .file(with_operators(&telegram))
        .file(|file| {
            file.set("site.events_give_up_hours", 1);
        })
        .app(|_| {})
        .await;
    let dispatcher = bed.dispatcher();
    // WEB-D1 goes to the operators, is retried by hand and created: two events of one order.
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    bed.accept(&bed.body("WEB-D1")).await;
    dispatcher.try_step(later(1)).await.unwrap();
    bed.faults(json!({"rules": []})).await;
    let id = bed.store.orders_by_site_id("WEB-D1", None).await.unwrap()[0].id;
    iiko_bridge::orders::requeue_order(&bed.store, id, Utc::now().timestamp_millis())
        .await
        .unwrap();
    dispatcher.try_step(later(2)).await.unwrap();
    assert_eq!(bed.order_state("WEB-D1").await, OrderState::Created);
    let worker = bed.events();

    // catalog.updated and WEB-D1's order.fallback fail, within the give-up and past it.
    let first = worker.try_step(later(10)).await.unwrap();
    assert_eq!((first.retrying, first.dead), (2, 0), "{first:?}");
    let died = worker.try_step(later(2 * 3600)).await.unwrap();
    assert_eq!((died.dead, died.dead_alerted), (2, true), "{died:?}");
    let alerts = telegram.messages();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].text.contains("events redeliver --dead") && alerts[0].text.contains("WEB-D1"),
        "{}",
        alerts[0].text
    );

    // WEB-D1's order.created no longer waits behind its dead order.fallback.
    let after = worker.try_step(later(2 * 3600 + 10)).await.unwrap();
    assert_eq!(
        (after.delivered, after.dead_alerted),
        (1, false),
        "{after:?}"
    );
    let created = site.received().last().unwrap().body.clone();
    assert_eq!(
        (created["type"].as_str(), created["order_id"].as_str()),
        (Some("order.created"), Some("WEB-D1"))
    );
    assert_eq!(
        worker.try_step(later(3 * 3600)).await.unwrap(),
        Default::default()
    );
    assert_eq!(telegram.messages().len(), 1, "told once");

    // `events list --state dead` shows them; `events redeliver --dead` sends them again.
    let cli = |args: &'static [&'static str]| {
        let config = bed.config_path.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
                .args(["--config", config.to_str().unwrap()])
                .args(args)
                .env_remove("RUST_LOG")
                .output()
                .await
                .unwrap()
        }
    };
    let dead = cli(&["events", "list", "--state", "dead", "--json"]).await;
    let dead: Value = serde_json::from_slice(&dead.stdout).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 2, "{dead}");
    let delivered = bed
        .stored_events()
        .await
        .into_iter()
        .find(|e| e.state == "delivered")
        .unwrap();
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["--config", bed.config_path.to_str().unwrap()])
        .args(["events", "redeliver", &delivered.event_id])
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let redelivered = cli(&["events", "redeliver", "--dead"]).await;
    assert!(
        redelivered.status.success(),
        "{}",
        String::from_utf8_lossy(&redelivered.stderr)
    );
    let again = worker.try_step(later(3 * 3600 + 10)).await.unwrap();
    assert_eq!(again.delivered, 2, "{again:?}");
    assert!(
        bed.stored_events()
            .await
            .iter()
            .all(|e| e.state == "delivered")
    );
}

// ---- Retention --------------------------------------------------------------------------------

#[bed::test]
async fn retention_deletes_finished_orders_with_their_trail_and_stops_following_orders_iiko_never_closes()
 {
    let bed = spawn().app(|_| {}).await;
    let dispatcher = bed.dispatcher();
    // WEB-R1 is created (and iiko never closes it); WEB-R2 goes to the operators and is
    // entered by hand; WEB-R3 goes to the operators and nobody resolves it.
    bed.accept(&bed.body("WEB-R1")).await;
    dispatcher.try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order_state("WEB-R1").await, OrderState::Created);
    bed.accept(&bed.unmappable("WEB-R2")).await;
    bed.accept(&bed.unmappable("WEB-R3")).await;
    let config = Arc::new(bed.config.clone());
    let handover = Handover::new(
        bed.store.clone(),
        CatalogCache::new(bed.store.clone()),
        config,
        Arc::new(Templates::embedded()),
    );
    assert_eq!(handover.try_step().await.unwrap(), 2);
    let order = |site_id: &'static str| {
        let store = bed.store.clone();
        async move { store.orders_by_site_id(site_id, None).await.unwrap().pop() }
    };
    let r1 = order("WEB-R1").await.unwrap();
    let r2 = order("WEB-R2").await.unwrap();
    iiko_bridge::orders::resolve_order(&bed.store, r2.id, Utc::now().timestamp_millis())
        .await
        .unwrap();
    bed.store
        .push_webhook_calls(&["[]"], Utc::now().timestamp_millis())
        .await
        .unwrap();
    let worker = RetentionWorker::new(bed.store.clone(), &bed.config);

    assert_eq!(
        worker.try_step(Utc::now()).await.unwrap(),
        RetentionStep::default()
    );
    // Three days on (status.give_up_days), WEB-R1 is no longer followed, and says why.
    assert_eq!(bed.store.tracked_orders().await.unwrap().len(), 1);
    let gave_up = worker.try_step(later(3 * 86_400 + 60)).await.unwrap();
    assert_eq!(gave_up.stopped_tracking, 1, "{gave_up:?}");
    assert!(bed.store.tracked_orders().await.unwrap().is_empty());
    let history = bed.store.order_history(r1.id).await.unwrap();
    assert!(
        history
            .last()
            .unwrap()
            .note
            .as_deref()
            .unwrap()
            .contains("status.give_up_days"),
        "{history:?}"
    );

    // 90 days on (store.retention_days): WEB-R2 goes with its calls, history and fallback
    // messages, and the old webhook call; WEB-R1 finished three days later and stays a bit.
    let pruned = worker.try_step(later(90 * 86_400 + 60)).await.unwrap();
    assert_eq!((pruned.orders, pruned.webhook_calls), (1, 1), "{pruned:?}");
    assert!(order("WEB-R2").await.is_none());
    assert!(bed.store.order_history(r2.id).await.unwrap().is_empty());
    assert!(bed.store.order_calls(r2.id).await.unwrap().is_empty());
    assert!(
        bed.store
            .fallback_deliveries("lenina", "WEB-R2")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(bed.store.webhook_calls(10).await.unwrap().is_empty());
    assert!(order("WEB-R1").await.is_some());
    let later_on = worker.try_step(later(94 * 86_400)).await.unwrap();
    assert_eq!(later_on.orders, 1, "{later_on:?}");
    assert!(order("WEB-R1").await.is_none());
    assert!(bed.store.order_calls(r1.id).await.unwrap().is_empty());
    // An order still waiting for an operator is never deleted.
    let r3 = order("WEB-R3").await.unwrap();
    assert_eq!(r3.state, OrderState::Fallback);
    assert!(
        !bed.store
            .fallback_deliveries("lenina", "WEB-R3")
            .await
            .unwrap()
            .is_empty()
    );
}

#[bed::test]
async fn a_pre_order_is_followed_until_its_wanted_time_plus_the_give_up_period() {
    let bed = spawn().app(|_| {}).await;
    let mut body = bed.body("WEB-R9");
    let wanted = Utc::now() + chrono::Duration::days(10);
    body["deliver_at"] = json!(wanted.to_rfc3339());
    bed.accept(&body).await;
    bed.dispatcher().try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order_state("WEB-R9").await, OrderState::Created);
    let worker = RetentionWorker::new(bed.store.clone(), &bed.config);

    // Three days after acceptance the kitchen has not even started it: still followed.
    let early = worker.try_step(later(3 * 86_400 + 60)).await.unwrap();
    assert_eq!(early.stopped_tracking, 0, "{early:?}");
    assert_eq!(bed.store.tracked_orders().await.unwrap().len(), 1);

    // Three days after the wanted time iiko has still not closed it: given up.
    let late = worker.try_step(later(13 * 86_400 + 60)).await.unwrap();
    assert_eq!(late.stopped_tracking, 1, "{late:?}");
    assert!(bed.store.tracked_orders().await.unwrap().is_empty());
}
