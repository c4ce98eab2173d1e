//! Order statuses end to end: polling and iiko webhooks against the simulator, the site events
//! they write, moves, the cursor fallback, the order view and cancellation, the webhook
//! receiver's refusals and the menu refresh its events trigger.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use iiko_bridge::{
    iiko::types::deliveries::DeliveriesByIdRequest,
    orders::Dispatcher,
    sim::{SimConfig, demo_ids},
    status::{self, StatusTracker, ViewError},
    store::{OrderState, StoredOrder},
};

use crate::support::{SITE_TOKEN, Spawn, TestApp, iiko, iiko_schema};

const TOKEN: &str = SITE_TOKEN;
const HOOK_TOKEN: &str = "hook-token";
const CANCEL: &str = "/api/1/deliveries/cancel";
const BY_ID: &str = "/api/1/deliveries/by_id";
const BY_REVISION: &str = "/api/1/deliveries/by_revision";
const COURIER_FLOW: [&str; 8] = [
    "Unconfirmed",
    "WaitCooking",
    "CookingStarted",
    "CookingCompleted",
    "Waiting",
    "OnWay",
    "Delivered",
    "Closed",
];

/// A simulator whose statuses move only on `/sim/advance`, iiko answering within 2 s and an
/// iiko webhook token (in the file too, for `webhooks register`), without a server: the tests
/// step the tracker, or serve when they need the API.
async fn spawn_app() -> TestApp {
    Spawn::default()
        .sim(SimConfig {
            products: 60,
            creation_delay: Duration::from_millis(50),
            status_step: Duration::from_secs(3600),
            ..SimConfig::default()
        })
        .without_server()
        .file(|file| {
            file.set("iiko.timeout_seconds", 2)
                .add("iiko_webhook.auth_token", HOOK_TOKEN);
        })
        .app(|_| {})
        .await
}

impl TestApp {
    /// An order iiko has created (through the dispatcher).
    async fn created(&self, id: &str) -> StoredOrder {
        self.submit(&self.body(id)).await;
        self.dispatcher().try_step(Utc::now()).await.unwrap();
        let order = self.order(id).await;
        assert_eq!(order.state, OrderState::Created);
        order
    }

    fn tracker(&self) -> StatusTracker {
        StatusTracker::new(
            self.store.clone(),
            iiko(&self.config),
            Arc::new(self.config.clone()),
        )
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(self.sim.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        response.json().await.unwrap()
    }

    async fn advance(&self, steps: u32) {
        self.control("sim/advance", json!({"steps": steps})).await;
    }

    /// The order's site events as (type, data).
    async fn site_events(&self, id: &str) -> Vec<(String, Value)> {
        self.store
            .site_events_of("lenina", id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"].clone()))
            .collect()
    }

    /// The iiko statuses in the order's history, in order.
    async fn reported(&self, id: &str) -> Vec<String> {
        let order = self.order(id).await;
        self.store
            .order_history(order.id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|h| h.note?.strip_prefix("iiko: ").map(str::to_owned))
            .map(|note| note.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// iiko's `OrderInfo` of an order right now, as JSON.
    async fn order_info(&self, delivery: &str) -> Value {
        let response = iiko(&self.config)
            .deliveries_by_id(&DeliveriesByIdRequest {
                organization_id: demo_ids::ORG_LENINA,
                order_ids: Some(vec![Uuid::parse_str(delivery).unwrap()]),
                ..DeliveriesByIdRequest::default()
            })
            .await
            .unwrap();
        serde_json::to_value(&response.orders[0]).unwrap()
    }

    /// Points the simulator's webhooks at `base` the way `webhooks register` does.
    async fn register_webhooks(&self, base: &str) {
        let mut config = self.config.clone();
        config.iiko_webhook.url = Some(format!("{base}/iiko/webhook").parse().unwrap());
        status::register_webhooks(&iiko(&config), &config)
            .await
            .unwrap();
    }
}

fn webhook_call(info: &Value) -> String {
    json!([{
        "eventType": "DeliveryOrderUpdate", "eventTime": "2026-11-22 08:00:00.000",
        "organizationId": demo_ids::ORG_LENINA, "correlationId": Uuid::new_v4(),
        "eventInfo": info,
    }])
    .to_string()
}

/// Waits (polling, at most 10 s) until `check` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

// ---- Polling -----------------------------------------------------------------------------------

#[bed::test]
async fn status_progression_reaches_the_site_in_order_with_each_status_once() {
    let bed = spawn_app().await;
    let order = bed.created("WEB-1").await;
    let tracker = bed.tracker();
    let first = tracker.poll(Utc::now()).await.unwrap();
    assert_eq!((first.requests, first.tally.changed), (1, 1));
    for _ in 1..COURIER_FLOW.len() {
        bed.advance(1).await;
        let poll = tracker.poll(Utc::now()).await.unwrap();
        assert_eq!(poll.tally.changed, 1, "{poll:?}");
        // Nothing changed since: the same cursor brings nothing new.
        assert_eq!(tracker.poll(Utc::now()).await.unwrap().tally.changed, 0);
    }
    assert_eq!(bed.reported("WEB-1").await, COURIER_FLOW);
    let events = bed.site_events("WEB-1").await;
    assert_eq!(events[0].0, "order.created");
    let sites: Vec<&str> = events[1..]
        .iter()
        .map(|(_, data)| data["status"].as_str().unwrap())
        .collect();
    // Each new mapped status once: WaitCooking and CookingCompleted change nothing for the site.
    assert_eq!(
        sites,
        [
            "accepted",
            "cooking",
            "ready",
            "on_the_way",
            "delivered",
            "completed"
        ]
    );
    let history = bed.store.order_history(order.id).await.unwrap();
    let statuses: Vec<_> = history.iter().filter_map(|h| h.status.clone()).collect();
    assert_eq!(statuses.len(), COURIER_FLOW.len());
    let closed = bed.order("WEB-1").await;
    assert!(closed.status_final);
    assert_eq!(closed.site_status.as_deref(), Some("completed"));
    // A closed order is no longer followed.
    assert_eq!(tracker.poll(Utc::now()).await.unwrap().requests, 0);
    for request in bed.requests(BY_REVISION).await {
        iiko_schema::assert_valid_request(BY_REVISION, &request["body"]);
        assert_eq!(request["body"]["sourceKeys"], json!(["iiko-bridge"]));
    }
}

#[bed::test]
async fn a_refused_cursor_falls_back_to_reading_every_order_by_id_and_recovers() {
    let bed = spawn_app().await;
    bed.created("WEB-1").await;
    bed.created("WEB-2").await;
    let tracker = bed.tracker();
    assert_eq!(tracker.poll(Utc::now()).await.unwrap().tally.changed, 2);

    bed.control("sim/expire_revisions", json!({})).await;
    bed.advance(1).await;
    let poll = tracker.poll(Utc::now()).await.unwrap();
    assert_eq!(poll.fell_back, vec![demo_ids::ORG_LENINA]);
    assert_eq!(poll.requests, 2, "a refused by_revision and one by_id");
    assert_eq!(poll.tally.changed, 2);
    let by_id = bed.requests(BY_ID).await;
    let last = &by_id.last().unwrap()["body"];
    iiko_schema::assert_valid_request(BY_ID, last);
    assert_eq!(last["orderIds"].as_array().unwrap().len(), 2);

    bed.advance(1).await;
    let poll = tracker.poll(Utc::now()).await.unwrap();
    assert!(poll.fell_back.is_empty(), "the new cursor is accepted");
    assert_eq!((poll.requests, poll.tally.changed), (1, 2));
    assert_eq!(
        bed.reported("WEB-1").await,
        ["Unconfirmed", "WaitCooking", "CookingStarted"]
    );
}

#[bed::test]
async fn orders_iiko_has_not_mentioned_lately_are_read_back_by_id() {
    let bed = spawn_app().await;
    bed.created("WEB-1").await;
    let tracker = bed.tracker();
    tracker.poll(Utc::now()).await.unwrap();
    let later = Utc::now() + chrono::Duration::seconds(601);
    let poll = tracker.poll(later).await.unwrap();
    assert_eq!(
        poll.requests, 2,
        "by_revision, then by_id for the quiet order"
    );
    assert_eq!(poll.tally.stale, 1, "nothing new: written once only");
    assert_eq!(bed.reported("WEB-1").await, ["Unconfirmed"]);
}

#[bed::test]
async fn a_move_to_another_terminal_group_is_followed_under_the_new_delivery() {
    let bed = spawn_app().await;
    let order = bed.created("WEB-1").await;
    let tracker = bed.tracker();
    tracker.poll(Utc::now()).await.unwrap();
    let moved = bed
        .control(
            "sim/move",
            json!({"orderId": order.iiko_order_id, "terminalGroupId": demo_ids::TG_LENINA_SLEEPING}),
        )
        .await;
    let poll = tracker.poll(Utc::now()).await.unwrap();
    assert_eq!(poll.tally.moved, 1, "{poll:?}");
    let stored = bed.order("WEB-1").await;
    assert_eq!(
        stored.tracked_iiko_id.as_deref(),
        moved["newOrderId"].as_str()
    );
    assert_eq!(stored.state, OrderState::Created);
    bed.advance(1).await;
    assert_eq!(tracker.poll(Utc::now()).await.unwrap().tally.changed, 1);
    assert_eq!(bed.reported("WEB-1").await, ["Unconfirmed", "WaitCooking"]);
    assert!(
        !bed.site_events("WEB-1")
            .await
            .iter()
            .any(|(kind, _)| kind == "order.cancelled"),
        "a move is not a cancellation"
    );
    let view = status::order_view(&bed.store, "lenina", "WEB-1")
        .await
        .unwrap();
    assert_eq!(view["iiko"]["order_id"], moved["newOrderId"]);
}

// ---- Webhooks ----------------------------------------------------------------------------------

#[bed::test]
async fn duplicated_out_of_order_unknown_and_malformed_webhook_events_are_harmless() {
    let bed = spawn_app().await;
    let order = bed.created("WEB-1").await;
    let unconfirmed = bed.order_info(&order.iiko_order_id).await;
    bed.advance(1).await;
    let wait_cooking = bed.order_info(&order.iiko_order_id).await;
    bed.advance(1).await;
    let cooking = bed.order_info(&order.iiko_order_id).await;
    let mut stranger = cooking.clone();
    stranger["id"] = json!(Uuid::new_v4());
    let calls = [
        webhook_call(&wait_cooking),
        webhook_call(&unconfirmed),
        webhook_call(&cooking),
        webhook_call(&cooking),
        webhook_call(&wait_cooking),
        webhook_call(&stranger),
        r#"[{"eventType": 5}]"#.to_owned(),
        "not json".to_owned(),
    ];
    let calls: Vec<&str> = calls.iter().map(String::as_str).collect();
    bed.store.push_webhook_calls(&calls, 0).await.unwrap();
    let report = bed.tracker().process_webhooks().await.unwrap();
    assert_eq!(report.calls, 8);
    assert_eq!(report.malformed, 2);
    assert_eq!(report.tally.changed, 2);
    assert_eq!(report.tally.stale, 3);
    assert_eq!(report.tally.unknown, 1);
    assert_eq!(
        bed.reported("WEB-1").await,
        ["WaitCooking", "CookingStarted"]
    );
    assert!(bed.store.webhook_calls(10).await.unwrap().is_empty());
}

#[bed::test]
async fn a_webhook_saying_success_for_an_order_being_sent_is_believed_only_once_iiko_confirms_it() {
    let bed = spawn_app().await;
    let known = bed.created("WEB-K").await;
    let success = bed.order_info(&known.iiko_order_id).await;
    // Two orders a dispatcher is sending right now (leased, create possibly sent).
    bed.submit(&bed.body("WEB-S1")).await;
    bed.submit(&bed.body("WEB-S2")).await;
    let now = Utc::now();
    let leased = bed
        .store
        .lease_due_orders(
            "worker",
            now.timestamp_millis(),
            (now + chrono::Duration::seconds(60)).timestamp_millis(),
            8,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(leased.len(), 2);
    let (absent, sent) = (bed.order("WEB-S1").await, bed.order("WEB-S2").await);
    // iiko really has WEB-S2: its create got through.
    let request: Value = serde_json::from_str(sent.request.as_deref().unwrap()).unwrap();
    let token = iiko(&bed.config).access_token().await.unwrap();
    let created = reqwest::Client::new()
        .post(bed.sim.url("api/1/deliveries/create"))
        .bearer_auth(token.expose_secret())
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let real = bed.order_info(&sent.iiko_order_id).await;
    assert_eq!(real["creationStatus"], "Success");
    // A webhook says "Success" for both; iiko has never heard of WEB-S1.
    let mut forged = success.clone();
    forged["id"] = json!(absent.iiko_order_id);
    let calls = [webhook_call(&forged), webhook_call(&real)];
    let calls: Vec<&str> = calls.iter().map(String::as_str).collect();
    bed.store.push_webhook_calls(&calls, 0).await.unwrap();

    let report = bed.tracker().process_webhooks().await.unwrap();
    assert_eq!(report.tally.unconfirmed, 2, "{report:?}");
    assert_eq!(report.tally.creations_ended, 1, "{report:?}");
    assert_eq!(bed.order("WEB-S1").await.state, OrderState::Sending);
    assert_eq!(bed.order("WEB-S2").await.state, OrderState::Created);
    let asked: Vec<Value> = bed
        .requests(BY_ID)
        .await
        .into_iter()
        .flat_map(|r| {
            r["body"]["orderIds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(
        asked.contains(&json!(absent.iiko_order_id)) && asked.contains(&json!(sent.iiko_order_id)),
        "both were read back by id: {asked:?}"
    );
}

#[bed::test]
async fn webhooks_and_polling_together_give_each_status_exactly_once() {
    let bed = spawn_app().await;
    let base = bed.serve(bed.config.clone()).await;
    bed.register_webhooks(&base).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(TOKEN)
        .json(&bed.body("WEB-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    eventually("the order is created and reported", || async {
        bed.reported("WEB-1").await.len() == 1
    })
    .await;
    let tracker = bed.tracker();
    for step in 1..COURIER_FLOW.len() {
        bed.advance(1).await;
        if step % 2 == 0 {
            tracker.poll(Utc::now()).await.unwrap();
        }
        eventually("the webhook is applied", || async {
            bed.reported("WEB-1").await.len() == step + 1
        })
        .await;
    }
    tracker.poll(Utc::now()).await.unwrap();
    assert_eq!(bed.reported("WEB-1").await, COURIER_FLOW);
    let created = bed
        .site_events("WEB-1")
        .await
        .iter()
        .filter(|(kind, _)| kind == "order.created")
        .count();
    assert_eq!(created, 1);
}

#[bed::test]
async fn a_webhook_with_a_wrong_or_missing_token_is_refused_and_nothing_is_processed() {
    let bed = spawn_app().await;
    let order = bed.created("WEB-1").await;
    let base = bed.serve(bed.config.clone()).await;
    // The served tracker polls once at start; after that only webhooks could bring news.
    eventually("the first poll", || async {
        bed.reported("WEB-1").await.len() == 1
    })
    .await;
    bed.advance(1).await;
    let call = webhook_call(&bed.order_info(&order.iiko_order_id).await);
    let client = reqwest::Client::new();
    let url = format!("{base}/iiko/webhook");
    for auth in [None, Some("wrong"), Some("Bearer wrong"), Some(TOKEN)] {
        let mut request = client.post(&url).body(call.clone());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "unauthorized"
        );
    }
    // Give a (wrongly) accepted call time to be applied before looking.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(bed.store.webhook_calls(10).await.unwrap().is_empty());
    assert!(!bed.reported("WEB-1").await.contains(&"WaitCooking".into()));

    for auth in [HOOK_TOKEN.to_owned(), format!("Bearer {HOOK_TOKEN}")] {
        let response = client
            .post(&url)
            .header("authorization", auth)
            .body(call.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    eventually("the call is applied", || async {
        bed.reported("WEB-1").await.contains(&"WaitCooking".into())
    })
    .await;
}

#[bed::test]
async fn a_malformed_webhook_body_is_answered_400_and_the_receiver_keeps_working() {
    let bed = spawn_app().await;
    let base = bed.serve(bed.config.clone()).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/iiko/webhook");
    for body in [
        "",
        "{}",
        "[1, 2]",
        "[{\"eventType\": \"DeliveryOrderUpdate\"}]",
        "\u{0}",
    ] {
        let response = client
            .post(&url)
            .header("authorization", HOOK_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "malformed"
        );
    }
    let fine = client
        .post(&url)
        .header("authorization", HOOK_TOKEN)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

#[bed::test]
async fn a_stop_list_webhook_refreshes_the_catalog_at_once() {
    let bed = spawn_app().await;
    let base = bed.serve(bed.config.clone()).await;
    bed.register_webhooks(&base).await;
    let seed = bed.sim.sim.seed();
    let already: Vec<_> = seed.stop_list.iter().map(|s| s.product_id).collect();
    let product = seed
        .products
        .iter()
        .find(|p| {
            p.sizes.is_empty() && !p.hidden && p.not_sold_in.is_empty() && !already.contains(&p.id)
        })
        .unwrap()
        .clone();
    let available = || async {
        let catalog: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/catalog?branch=lenina"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        catalog["products"]
            .as_array()
            .and_then(|products| {
                products
                    .iter()
                    .find(|p| p["article"] == product.sku.as_str())
            })
            .map(|p| p["available"] == true)
    };
    eventually("the served schedule's first sync", || async {
        bed.requests("/api/1/stop_lists").await.len() >= 2
    })
    .await;
    assert_eq!(available().await, Some(true));
    bed.control(
        "sim/stop_lists",
        json!({"terminalGroupId": demo_ids::TG_LENINA, "items": [{"productId": product.id, "balance": 0}]}),
    )
    .await;
    // The schedule's own stop-list refresh is 60 s away; only the webhook can do it this soon.
    eventually("the product is stopped", || async {
        available().await == Some(false)
    })
    .await;
}

// ---- Registration ------------------------------------------------------------------------------

#[bed::test]
async fn registration_sends_the_url_the_token_and_an_explicit_filter_per_organization() {
    let bed = spawn_app().await;
    bed.register_webhooks("https://bridge.example").await;
    let calls = bed.requests("/api/1/webhooks/update_settings").await;
    assert_eq!(calls.len(), 1, "one branch, one organization");
    let body = &calls[0]["body"];
    iiko_schema::assert_valid_request("/api/1/webhooks/update_settings", body);
    assert_eq!(body["webHooksUri"], "https://bridge.example/iiko/webhook");
    assert_eq!(body["authToken"], HOOK_TOKEN);
    assert_eq!(
        body["webHooksFilter"]["deliveryOrderFilter"]["errors"],
        true
    );
    assert_eq!(
        body["webHooksFilter"]["stopListUpdateFilter"]["updates"],
        true
    );
}

#[bed::test]
async fn webhooks_register_uses_the_given_url_and_needs_the_token() {
    let bed = spawn_app().await;
    let run = |extra: &'static [&'static str]| {
        let config = bed.config_path.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
                .arg("--config")
                .arg(config)
                .args(["webhooks", "register"])
                .args(extra)
                .output()
                .await
                .unwrap()
        }
    };
    let missing_url = run(&[]).await;
    assert_eq!(missing_url.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_url.stderr).contains("iiko_webhook.url"));
    let done = run(&["--url", "https://bridge.example/iiko/webhook"]).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains(&demo_ids::ORG_LENINA.to_string()));
    let calls = bed.requests("/api/1/webhooks/update_settings").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["body"]["webHooksUri"],
        "https://bridge.example/iiko/webhook"
    );
}

// ---- Order view and cancel ---------------------------------------------------------------------

#[bed::test]
async fn the_order_view_reflects_the_history() {
    let bed = spawn_app().await;
    bed.created("WEB-1").await;
    let tracker = bed.tracker();
    tracker.poll(Utc::now()).await.unwrap();
    bed.advance(2).await;
    tracker.poll(Utc::now()).await.unwrap();
    let base = bed.serve(bed.config.clone()).await;
    let client = reqwest::Client::new();
    let view: Value = client
        .get(format!("{base}/api/v1/orders/WEB-1?branch=lenina"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["order_id"], "WEB-1");
    assert_eq!(view["state"], "created");
    assert_eq!(view["status"], "cooking");
    assert_eq!(view["iiko"]["status"], "CookingStarted");
    assert_eq!(view["iiko"]["creation_status"], "Success");
    assert!(view["iiko"]["number"].is_i64());
    assert_eq!(view["attempts"], 1);
    let history = view["history"].as_array().unwrap();
    assert_eq!(history[0]["state"], "queued");
    assert_eq!(history[1]["state"], "created");
    let statuses: Vec<&Value> = history
        .iter()
        .map(|h| &h["status"])
        .filter(|s| !s.is_null())
        .collect();
    assert_eq!(statuses, [&json!("accepted"), &json!("cooking")]);

    for (url, status) in [
        ("/api/v1/orders/NOPE?branch=lenina", 404),
        ("/api/v1/orders/WEB-1", 422),
        ("/api/v1/orders/WEB-1?branch=nowhere", 404),
    ] {
        let response = client
            .get(format!("{base}{url}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{url}");
    }
    let unauthenticated = client
        .get(format!("{base}/api/v1/orders/WEB-1?branch=lenina"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[bed::test]
async fn cancelling_before_iiko_has_the_order_stops_its_delivery() {
    let bed = spawn_app().await;
    bed.submit(&bed.body("WEB-1")).await;
    let view = status::cancel_order(
        &bed.store,
        &iiko(&bed.config),
        &bed.config,
        "lenina",
        "WEB-1",
        Some("гость передумал"),
    )
    .await
    .unwrap();
    assert_eq!(view["state"], "cancelled");
    let dispatcher = Dispatcher::new(
        bed.store.clone(),
        iiko(&bed.config),
        Arc::new(bed.config.clone()),
    );
    assert_eq!(
        dispatcher.try_step(Utc::now()).await.unwrap(),
        iiko_bridge::orders::StepOutcome::Idle
    );
    assert!(bed.requests("/api/1/deliveries/create").await.is_empty());
    let events = bed.site_events("WEB-1").await;
    assert_eq!(
        events,
        [(
            "order.cancelled".to_owned(),
            json!({"reason": "гость передумал"})
        )]
    );
}

#[bed::test]
async fn cancelling_a_created_order_cancels_it_in_iiko_with_the_branch_cause() {
    let bed = spawn_app().await;
    bed.created("WEB-1").await;
    let base = bed.serve(bed.config.clone()).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders/WEB-1/cancel?branch=lenina"))
        .bearer_auth(TOKEN)
        .json(&json!({"reason": "гость передумал"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["state"], "cancelled");
    assert_eq!(view["status"], "cancelled");
    let cancels = bed.requests(CANCEL).await;
    assert_eq!(cancels.len(), 1);
    iiko_schema::assert_valid_request(CANCEL, &cancels[0]["body"]);
    assert_eq!(
        cancels[0]["body"]["cancelCauseId"],
        json!(demo_ids::CANCEL_CAUSE_GUEST)
    );
    assert_eq!(cancels[0]["body"]["cancelComment"], "гость передумал");
    let events = bed.site_events("WEB-1").await;
    let (kind, data) = events.last().unwrap();
    assert_eq!(kind, "order.cancelled");
    assert!(
        data["reason"].as_str().unwrap().contains("гость передумал"),
        "{data}"
    );
    let calls = bed
        .store
        .order_calls(bed.order("WEB-1").await.id)
        .await
        .unwrap();
    assert!(calls.iter().any(|c| c.operation == "cancel"));

    // Again: nothing more is sent, the same view comes back.
    let again = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders/WEB-1/cancel?branch=lenina"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(bed.requests(CANCEL).await.len(), 1);
    let malformed = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders/WEB-1/cancel?branch=lenina"))
        .bearer_auth(TOKEN)
        .body("{\"why\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
}

#[bed::test]
async fn a_delivered_or_operator_order_can_no_longer_be_cancelled() {
    let bed = spawn_app().await;
    bed.created("WEB-1").await;
    bed.advance(6).await;
    bed.tracker().poll(Utc::now()).await.unwrap();
    assert_eq!(
        bed.order("WEB-1").await.iiko_status.as_deref(),
        Some("Delivered")
    );
    let iiko = iiko(&bed.config);
    let refused =
        status::cancel_order(&bed.store, &iiko, &bed.config, "lenina", "WEB-1", None).await;
    assert!(matches!(refused, Err(ViewError::Refused(_))), "{refused:?}");
    assert_eq!(bed.order("WEB-1").await.state, OrderState::Created);

    let mut unmappable = bed.body("WEB-2");
    unmappable["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    bed.submit(&unmappable).await;
    assert_eq!(bed.order("WEB-2").await.state, OrderState::Fallback);
    let refused =
        status::cancel_order(&bed.store, &iiko, &bed.config, "lenina", "WEB-2", None).await;
    assert!(matches!(refused, Err(ViewError::Refused(_))), "{refused:?}");
    let unknown =
        status::cancel_order(&bed.store, &iiko, &bed.config, "lenina", "WEB-3", None).await;
    assert!(matches!(unknown, Err(ViewError::NotFound(_))));
}
