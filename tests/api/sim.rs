//! Integration tests of the iikoCloud simulator over real HTTP.
use std::collections::HashSet;
use std::time::{Duration, Instant};

use iiko_bridge::sim::demo_ids as ids;
use iiko_bridge::sim::seed::Product;
use iiko_bridge::sim::{Seed, SimConfig, SimHandle, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Fast creation; statuses move only through `/sim/advance`.
fn fast_config() -> SimConfig {
    SimConfig {
        creation_delay: Duration::from_millis(50),
        status_step: Duration::from_secs(3600),
        ..SimConfig::default()
    }
}

struct Sim {
    handle: SimHandle,
    http: reqwest::Client,
    token: String,
}

impl Sim {
    async fn start(config: SimConfig) -> Sim {
        let handle = Simulator::spawn(config).await.expect("simulator starts");
        let http = reqwest::Client::new();
        let mut sim = Sim {
            handle,
            http,
            token: String::new(),
        };
        sim.token = sim.new_token().await;
        sim
    }

    async fn new_token(&self) -> String {
        let (status, body) = self
            .post_anon("/api/1/access_token", json!({"apiLogin": ids::API_LOGIN}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    fn seed(&self) -> &Seed {
        self.handle.sim.seed()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, body)
    }

    async fn post_anon(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.handle.url(path)).json(&body))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_with(&self.token, path, body).await
    }

    async fn post_with(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.handle.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.post_anon(path, body).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn by_id(&self, order_id: Uuid) -> Value {
        let (status, body) = self
            .post(
                "/api/1/deliveries/by_id",
                json!({"organizationId": ids::ORG_LENINA, "orderIds": [order_id]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["orders"][0].clone()
    }

    /// Polls `by_id` until the creation is no longer `InProgress`.
    async fn wait_created(&self, order_id: Uuid) -> Value {
        let started = Instant::now();
        loop {
            let info = self.by_id(order_id).await;
            if info["creationStatus"] != "InProgress" {
                return info;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "creation never finished"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn create(&self, body: Value) -> Uuid {
        let (status, answer) = self.post("/api/1/deliveries/create", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["orderInfo"]["id"].as_str().unwrap().parse().unwrap()
    }
}

/// A dish without sizes that both organizations sell and no stop list holds.
fn plain_product(seed: &Seed) -> &Product {
    let stopped: HashSet<Uuid> = seed.stop_list.iter().map(|s| s.product_id).collect();
    seed.products
        .iter()
        .find(|p| {
            p.sizes.is_empty() && !p.hidden && p.not_sold_in.is_empty() && !stopped.contains(&p.id)
        })
        .expect("a plain product")
}

fn courier_order(seed: &Seed, order_id: Uuid) -> Value {
    let product = plain_product(seed);
    json!({
        "organizationId": ids::ORG_LENINA,
        "terminalGroupId": ids::TG_LENINA,
        "order": {
            "id": order_id,
            "externalNumber": "WEB-1",
            "sourceKey": "site",
            "phone": ids::CUSTOMER_PHONE,
            "orderServiceType": "DeliveryByCourier",
            "customer": {"type": "regular", "name": "Иван"},
            "deliveryPoint": {"address": {"type": "legacy", "street": {"name": "Ленина", "city": "Москва"}, "house": "1"}},
            "items": [{"type": "Product", "productId": product.id, "amount": 2, "price": product.price, "positionId": Uuid::new_v4()}],
            "payments": [{"paymentTypeKind": "Cash", "paymentTypeId": ids::PAYMENT_CASH, "sum": product.price * rust_decimal::Decimal::from(2)}],
        }
    })
}

#[bed::test]
async fn both_token_flows_issue_jwt_shaped_tokens_and_wrong_credentials_get_401() {
    let sim = Sim::start(fast_config()).await;
    let parts: Vec<&str> = sim.token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped token");
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let payload: Value = serde_json::from_slice(&payload).unwrap();
    assert!(payload["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 3000);

    let (status, body) = sim
        .post_anon(
            "/api/v2/access_token",
            json!({"apiKey": ids::API_KEY, "appId": ids::APP_ID, "clientSecret": ids::CLIENT_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["correlationId"].is_string());
    let v2_token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = sim
        .post_with(
            &v2_token,
            "/api/1/organizations",
            json!({"returnAdditionalInfo": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = sim
        .post_anon("/api/1/access_token", json!({"apiLogin": "wrong"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errorDescription"].is_string() && body["correlationId"].is_string());
    let (status, _) = sim
        .post_anon(
            "/api/v2/access_token",
            json!({"apiKey": ids::API_KEY, "appId": ids::APP_ID, "clientSecret": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[bed::test]
async fn data_calls_without_a_token_or_with_an_expired_one_get_401() {
    let sim = Sim::start(SimConfig {
        token_lifetime: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    let body = json!({"organizationIds": [ids::ORG_LENINA]});
    let (status, answer) = sim.post_anon("/api/1/terminal_groups", body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["errorDescription"].is_string());
    let (status, _) = sim.post("/api/1/terminal_groups", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _) = sim.post("/api/1/terminal_groups", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[bed::test]
async fn dictionaries_have_the_iiko_shapes_and_the_well_known_ids() {
    let sim = Sim::start(fast_config()).await;
    let orgs = json!({"organizationIds": [ids::ORG_LENINA, ids::ORG_MIRA]});
    let (_, body) = sim
        .post(
            "/api/1/organizations",
            json!({"returnAdditionalInfo": true}),
        )
        .await;
    assert_eq!(body["organizations"].as_array().unwrap().len(), 2);
    assert_eq!(body["organizations"][0]["responseType"], "Extended");
    let (_, body) = sim.post("/api/1/terminal_groups", orgs.clone()).await;
    assert_eq!(
        body["terminalGroups"][0]["items"][0]["id"],
        json!(ids::TG_LENINA)
    );
    assert_eq!(
        body["terminalGroupsInSleep"][0]["items"][0]["id"],
        json!(ids::TG_LENINA_SLEEPING)
    );
    let (_, body) = sim
        .post(
            "/api/1/terminal_groups/is_alive",
            json!({"organizationIds": [ids::ORG_LENINA], "terminalGroupIds": [ids::TG_LENINA, ids::TG_LENINA_SLEEPING]}),
        )
        .await;
    assert_eq!(body["isAliveStatus"][0]["isAlive"], true);
    assert_eq!(body["isAliveStatus"][1]["isAlive"], false);
    let (_, body) = sim.post("/api/1/payment_types", orgs.clone()).await;
    let kinds: Vec<&str> = body["paymentTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["paymentTypeKind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Cash", "Card", "External", "IikoCard"]);
    let (_, body) = sim
        .post("/api/1/deliveries/order_types", orgs.clone())
        .await;
    assert_eq!(
        body["orderTypes"][0]["items"][1]["orderServiceType"],
        "DeliveryPickUp"
    );
    let (_, body) = sim.post("/api/1/discounts", orgs.clone()).await;
    assert_eq!(body["discounts"][0]["items"][0]["mode"], "FlexibleSum");
    assert_eq!(
        body["discounts"][0]["items"][0]["id"],
        json!(ids::DISCOUNT_UNIVERSAL)
    );
    let (_, body) = sim.post("/api/1/cancel_causes", orgs).await;
    assert_eq!(
        body["cancelCauses"][0]["id"],
        json!(ids::CANCEL_CAUSE_GUEST)
    );
    let (_, body) = sim.post("/api/2/menu", json!({})).await;
    assert_eq!(body["externalMenus"][0]["id"], ids::EXTERNAL_MENU_ID);
    assert_eq!(
        body["priceCategories"][1]["id"],
        ids::PRICE_CATEGORY_AGGREGATORS
    );
    let (status, body) = sim
        .post(
            "/api/1/terminal_groups",
            json!({"organizationIds": [Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[bed::test]
async fn creation_goes_from_in_progress_to_success_with_a_full_order() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    let request = courier_order(sim.seed(), order_id);
    let position = request["order"]["items"][0]["positionId"].clone();
    let (status, answer) = sim.post("/api/1/deliveries/create", request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["orderInfo"]["creationStatus"], "InProgress");
    assert_eq!(answer["orderInfo"]["order"], Value::Null);
    let correlation_id = answer["correlationId"].clone();

    let status_body = json!({"organizationId": ids::ORG_LENINA, "correlationId": correlation_id});
    let (_, command) = sim
        .post("/api/1/commands/status", status_body.clone())
        .await;
    assert_eq!(command["state"], "InProgress");

    let info = sim.wait_created(order_id).await;
    assert_eq!(info["creationStatus"], "Success", "{info}");
    let order = &info["order"];
    assert_eq!(order["status"], "Unconfirmed");
    assert!(order["number"].is_i64());
    assert_eq!(order["items"][0]["positionId"], position);
    assert_eq!(order["terminalGroupId"], json!(ids::TG_LENINA));
    assert_eq!(order["sourceKey"], "site");
    assert_eq!(order["orderType"]["orderServiceType"], "DeliveryByCourier");
    let product = plain_product(sim.seed());
    assert_eq!(
        order["sum"].as_f64().unwrap(),
        (product.price * rust_decimal::Decimal::from(2))
            .to_string()
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(
        order["whenCreated"].as_str().unwrap().len(),
        "2024-05-01 18:30:00.000".len()
    );
    let (_, command) = sim.post("/api/1/commands/status", status_body).await;
    assert_eq!(command["state"], "Success");
}

#[bed::test]
async fn a_universal_discount_lowers_the_order_sum() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["order"]["discountsInfo"] = json!({"discounts": [{"type": "RMS", "discountTypeId": ids::DISCOUNT_UNIVERSAL, "sum": 10.5}]});
    sim.create(request).await;
    let info = sim.wait_created(order_id).await;
    let expected = plain_product(sim.seed()).price * rust_decimal::Decimal::from(2)
        - rust_decimal::Decimal::new(105, 1);
    assert_eq!(
        info["order"]["sum"].as_f64().unwrap(),
        expected.to_string().parse::<f64>().unwrap()
    );
    assert_eq!(
        info["order"]["discounts"][0]["discountType"]["id"],
        json!(ids::DISCOUNT_UNIVERSAL)
    );
}

#[bed::test]
async fn a_repeated_order_id_is_rejected_with_duplicated_order_id() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    let (status, body) = sim
        .post(
            "/api/1/deliveries/create",
            courier_order(sim.seed(), order_id),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "DuplicatedOrderId");
}

#[bed::test]
async fn an_unknown_product_ends_creation_in_product_not_found() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["order"]["items"][0]["productId"] = json!(Uuid::new_v4());
    let (_, answer) = sim.post("/api/1/deliveries/create", request).await;
    let info = sim.wait_created(order_id).await;
    assert_eq!(info["creationStatus"], "Error");
    assert_eq!(info["errorInfo"]["code"], "ProductNotFound");
    let (_, command) = sim
        .post(
            "/api/1/commands/status",
            json!({"organizationId": ids::ORG_LENINA, "correlationId": answer["correlationId"]}),
        )
        .await;
    assert_eq!(command["state"], "Error");
}

#[bed::test]
async fn a_sized_product_without_its_size_ends_in_product_size_not_found() {
    let sim = Sim::start(fast_config()).await;
    let pizza = sim
        .seed()
        .products
        .iter()
        .find(|p| !p.sizes.is_empty())
        .unwrap();
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["order"]["items"][0]["productId"] = json!(pizza.id);
    sim.create(request).await;
    let info = sim.wait_created(order_id).await;
    assert_eq!(info["errorInfo"]["code"], "ProductSizeNotFound");
}

#[bed::test]
async fn a_bad_phone_is_rejected_with_400() {
    let sim = Sim::start(fast_config()).await;
    let mut request = courier_order(sim.seed(), Uuid::new_v4());
    request["order"]["phone"] = json!("89990001122");
    let (status, body) = sim.post("/api/1/deliveries/create", request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "Validation_IncorrectPhone");
    let mut request = courier_order(sim.seed(), Uuid::new_v4());
    request["order"]["items"] = json!([]);
    let (status, _) = sim.post("/api/1/deliveries/create", request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[bed::test]
async fn a_500_rule_with_times_fails_that_many_calls_then_expires() {
    let sim = Sim::start(fast_config()).await;
    sim.control(
        "/sim/faults",
        json!({"rules": [{"path": "/api/1/terminal_groups", "status": 500, "times": 2}]}),
    )
    .await;
    let body = json!({"organizationIds": [ids::ORG_LENINA]});
    for _ in 0..2 {
        let (status, answer) = sim.post("/api/1/terminal_groups", body.clone()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(answer["errorDescription"].is_string());
    }
    let (status, _) = sim.post("/api/1/terminal_groups", body).await;
    assert_eq!(status, StatusCode::OK);
    let faults: Value = sim
        .http
        .get(sim.handle.url("/sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["rules"], json!([]));
}

#[bed::test]
async fn a_429_rule_answers_with_retry_after() {
    let sim = Sim::start(fast_config()).await;
    sim.control(
        "/sim/faults",
        json!({"rules": [{"path": "/api/1/*", "status": 429, "retry_after": 7}]}),
    )
    .await;
    let response = sim
        .http
        .post(sim.handle.url("/api/1/organizations"))
        .bearer_auth(&sim.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    sim.http
        .delete(sim.handle.url("/sim/faults"))
        .send()
        .await
        .unwrap();
    let (status, _) = sim.post("/api/1/organizations", json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[bed::test]
async fn latency_beyond_the_timeout_header_answers_408() {
    let sim = Sim::start(fast_config()).await;
    sim.control(
        "/sim/faults",
        json!({"rules": [{"path": "/api/1/organizations", "latency_ms": 1500}]}),
    )
    .await;
    let request = |timeout: &str| {
        sim.http
            .post(sim.handle.url("/api/1/organizations"))
            .bearer_auth(&sim.token)
            .header("Timeout", timeout)
            .json(&json!({}))
    };
    let (status, body) = sim.send(request("1")).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    let started = Instant::now();
    let (status, _) = sim.send(request("5")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[bed::test]
async fn expire_tokens_makes_issued_tokens_401_while_new_ones_work() {
    let sim = Sim::start(fast_config()).await;
    sim.control("/sim/faults", json!({"expire_tokens": true}))
        .await;
    let (status, _) = sim.post("/api/1/organizations", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = sim.new_token().await;
    let (status, _) = sim
        .post_with(&fresh, "/api/1/organizations", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[bed::test]
async fn an_offline_terminal_group_ends_creation_with_creation_timeout_expired() {
    let sim = Sim::start(fast_config()).await;
    sim.control(
        "/sim/faults",
        json!({"offline_terminal_groups": [ids::TG_LENINA]}),
    )
    .await;
    let (_, alive) = sim
        .post(
            "/api/1/terminal_groups/is_alive",
            json!({"organizationIds": [ids::ORG_LENINA], "terminalGroupIds": [ids::TG_LENINA]}),
        )
        .await;
    assert_eq!(alive["isAliveStatus"][0]["isAlive"], false);
    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    let info = sim.wait_created(order_id).await;
    assert_eq!(info["creationStatus"], "Error");
    assert_eq!(info["errorInfo"]["code"], "Common");
    assert!(
        info["errorInfo"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Creation timeout expired")
    );
}

#[bed::test]
async fn advance_moves_statuses_in_order_and_by_revision_reports_the_changes() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    sim.wait_created(order_id).await;
    let revision_body = |start: i64| json!({"startRevision": start, "organizationIds": [ids::ORG_LENINA], "sourceKeys": ["site"]});
    let (_, first) = sim
        .post("/api/1/deliveries/by_revision", revision_body(0))
        .await;
    let mut cursor = first["maxRevision"].as_i64().unwrap();
    assert_eq!(
        first["ordersByOrganizations"][0]["orders"][0]["id"],
        json!(order_id)
    );

    let expected = [
        "WaitCooking",
        "CookingStarted",
        "CookingCompleted",
        "Waiting",
        "OnWay",
        "Delivered",
        "Closed",
    ];
    for status in expected {
        sim.control("/sim/advance", json!({"steps": 1})).await;
        let (_, changed) = sim
            .post("/api/1/deliveries/by_revision", revision_body(cursor))
            .await;
        let orders = changed["ordersByOrganizations"][0]["orders"]
            .as_array()
            .unwrap();
        assert_eq!(orders.len(), 1, "{changed}");
        assert_eq!(orders[0]["order"]["status"], status);
        let next = changed["maxRevision"].as_i64().unwrap();
        assert!(next > cursor);
        cursor = next;
    }
    let (_, unchanged) = sim
        .post("/api/1/deliveries/by_revision", revision_body(cursor))
        .await;
    assert_eq!(unchanged["ordersByOrganizations"][0]["orders"], json!([]));
    let info = sim.by_id(order_id).await;
    assert!(info["order"]["whenClosed"].is_string());
    assert!(info["order"]["whenSended"].is_string());
}

#[bed::test]
async fn pickup_orders_skip_on_way_and_delivered() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["order"]["orderServiceType"] = json!("DeliveryByClient");
    request["order"]["deliveryPoint"] = Value::Null;
    sim.create(request).await;
    sim.wait_created(order_id).await;
    sim.control("/sim/advance", json!({"steps": 5})).await;
    let info = sim.by_id(order_id).await;
    assert_eq!(info["order"]["status"], "Closed");
    assert_eq!(info["order"]["whenSended"], Value::Null);
}

#[bed::test]
async fn by_revision_rejects_cursors_made_too_old() {
    let sim = Sim::start(fast_config()).await;
    let body = json!({"startRevision": 0, "organizationIds": [ids::ORG_LENINA]});
    let (_, first) = sim
        .post("/api/1/deliveries/by_revision", body.clone())
        .await;
    sim.control("/sim/expire_revisions", json!({})).await;
    let old = json!({"startRevision": first["maxRevision"], "organizationIds": [ids::ORG_LENINA]});
    let (status, answer) = sim.post("/api/1/deliveries/by_revision", old).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "RevisionTooOld");
}

#[bed::test]
async fn cancel_makes_the_order_cancelled_and_cancelling_a_closed_order_fails() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    sim.wait_created(order_id).await;
    let cancel = json!({"organizationId": ids::ORG_LENINA, "orderId": order_id, "cancelCauseId": ids::CANCEL_CAUSE_GUEST, "cancelComment": "передумал"});
    let (status, answer) = sim.post("/api/1/deliveries/cancel", cancel.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let command =
        json!({"organizationId": ids::ORG_LENINA, "correlationId": answer["correlationId"]});
    let state = poll_command(&sim, &command).await;
    assert_eq!(state["state"], "Success");
    let info = sim.by_id(order_id).await;
    assert_eq!(info["order"]["status"], "Cancelled");
    assert_eq!(
        info["order"]["cancelInfo"]["cause"]["id"],
        json!(ids::CANCEL_CAUSE_GUEST)
    );
    assert_eq!(info["order"]["cancelInfo"]["comment"], "передумал");

    let closed = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), closed)).await;
    sim.wait_created(closed).await;
    sim.control("/sim/advance", json!({"steps": 7})).await;
    let mut cancel = cancel;
    cancel["orderId"] = json!(closed);
    let (_, answer) = sim.post("/api/1/deliveries/cancel", cancel).await;
    let command =
        json!({"organizationId": ids::ORG_LENINA, "correlationId": answer["correlationId"]});
    let state = poll_command(&sim, &command).await;
    assert_eq!(state["state"], "Error");
    assert_eq!(state["exception"]["code"], "WrongDeliveryStatus");
    assert_eq!(sim.by_id(closed).await["order"]["status"], "Closed");
}

async fn poll_command(sim: &Sim, body: &Value) -> Value {
    let started = Instant::now();
    loop {
        let (status, state) = sim.post("/api/1/commands/status", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{state}");
        if state["state"] != "InProgress" {
            return state;
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[bed::test]
async fn by_id_refuses_more_than_200_ids() {
    let sim = Sim::start(fast_config()).await;
    let ids_201: Vec<Uuid> = (0..201).map(|_| Uuid::new_v4()).collect();
    let (status, body) = sim
        .post(
            "/api/1/deliveries/by_id",
            json!({"organizationId": ids::ORG_LENINA, "orderIds": ids_201}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = sim
        .post(
            "/api/1/deliveries/by_id",
            json!({"organizationId": ids::ORG_LENINA, "orderIds": &ids_201[..200]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["orders"], json!([]));
}

#[bed::test]
async fn by_delivery_date_and_status_filters_by_date_and_status() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["order"]["completeBefore"] = json!("2030-01-01 12:00:00.000");
    sim.create(request).await;
    sim.wait_created(order_id).await;
    let query = |from: &str, statuses: Value| {
        json!({"organizationIds": [ids::ORG_LENINA], "deliveryDateFrom": from,
               "deliveryDateTo": "2030-01-02 00:00:00.000", "statuses": statuses})
    };
    let found = |body: &Value| {
        body["ordersByOrganizations"][0]["orders"]
            .as_array()
            .unwrap()
            .len()
    };
    let (_, body) = sim
        .post(
            "/api/1/deliveries/by_delivery_date_and_status",
            query("2030-01-01 00:00:00.000", json!(["Unconfirmed"])),
        )
        .await;
    assert_eq!(found(&body), 1, "{body}");
    assert!(body["maxRevision"].is_i64());
    let (_, body) = sim
        .post(
            "/api/1/deliveries/by_delivery_date_and_status",
            query("2030-01-01 00:00:00.000", json!(["Closed"])),
        )
        .await;
    assert_eq!(found(&body), 0);
    let (_, body) = sim
        .post(
            "/api/1/deliveries/by_delivery_date_and_status",
            query("2030-01-01 13:00:00.000", Value::Null),
        )
        .await;
    assert_eq!(found(&body), 0);
}

#[bed::test]
async fn check_stop_list_on_create_ends_creation_in_error() {
    let sim = Sim::start(fast_config()).await;
    let product = plain_product(sim.seed()).id;
    sim.control(
        "/sim/stop_lists",
        json!({"terminalGroupId": ids::TG_LENINA, "items": [{"productId": product, "balance": 0}]}),
    )
    .await;
    let order_id = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), order_id);
    request["createOrderSettings"] = json!({"checkStopList": true});
    sim.create(request).await;
    let info = sim.wait_created(order_id).await;
    assert_eq!(info["creationStatus"], "Error");
    assert!(
        info["errorInfo"]["message"]
            .as_str()
            .unwrap()
            .contains("stop list")
    );
    // Without the setting the order goes through.
    let accepted = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), accepted)).await;
    assert_eq!(
        sim.wait_created(accepted).await["creationStatus"],
        "Success"
    );
}

#[bed::test]
async fn moving_an_order_cancels_it_and_points_to_the_new_delivery() {
    let sim = Sim::start(fast_config()).await;
    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    sim.wait_created(order_id).await;
    let moved = sim
        .control(
            "/sim/move",
            json!({"orderId": order_id, "terminalGroupId": ids::TG_MIRA}),
        )
        .await;
    let old = sim.by_id(order_id).await;
    assert_eq!(old["order"]["status"], "Cancelled");
    assert_eq!(old["order"]["movedToDeliveryId"], moved["newOrderId"]);
    assert_eq!(old["order"]["movedToTerminalGroupId"], json!(ids::TG_MIRA));
}

/// A local receiver that collects webhook batches and the Authorization header.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(Option<String>, Value)>,
) {
    use axum::routing::post;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let sender = sender.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let _ = sender.send((auth, body));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), receiver)
}

async fn next_event(
    receiver: &mut tokio::sync::mpsc::UnboundedReceiver<(Option<String>, Value)>,
) -> (Option<String>, Value) {
    tokio::time::timeout(Duration::from_secs(5), receiver.recv())
        .await
        .expect("a webhook in time")
        .expect("receiver open")
}

#[bed::test]
async fn webhooks_arrive_with_the_auth_token_and_honour_the_filter() {
    let sim = Sim::start(fast_config()).await;
    let (uri, mut events) = webhook_receiver().await;
    let (status, _) = sim
        .post(
            "/api/1/webhooks/update_settings",
            json!({
                "organizationId": ids::ORG_LENINA,
                "webHooksUri": uri,
                "authToken": "hook-secret",
                "webHooksFilter": {
                    "deliveryOrderFilter": {"orderStatuses": ["Unconfirmed", "CookingStarted"], "errors": true},
                    "stopListUpdateFilter": {"updates": true},
                },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, settings) = sim
        .post(
            "/api/1/webhooks/settings",
            json!({"organizationId": ids::ORG_LENINA}),
        )
        .await;
    assert_eq!(settings["webHooksUri"], json!(uri));

    let order_id = Uuid::new_v4();
    sim.create(courier_order(sim.seed(), order_id)).await;
    let (auth, batch) = next_event(&mut events).await;
    assert_eq!(auth.as_deref(), Some("hook-secret"));
    let event = &batch[0];
    assert_eq!(event["eventType"], "DeliveryOrderUpdate");
    assert_eq!(event["organizationId"], json!(ids::ORG_LENINA));
    assert_eq!(event["eventInfo"]["id"], json!(order_id));
    assert_eq!(event["eventInfo"]["order"]["status"], "Unconfirmed");

    // WaitCooking is filtered out; CookingStarted comes through.
    sim.control("/sim/advance", json!({"steps": 2})).await;
    let (_, batch) = next_event(&mut events).await;
    assert_eq!(batch[0]["eventInfo"]["order"]["status"], "CookingStarted");

    let failing = Uuid::new_v4();
    let mut request = courier_order(sim.seed(), failing);
    request["order"]["items"][0]["productId"] = json!(Uuid::new_v4());
    sim.create(request).await;
    let (_, batch) = next_event(&mut events).await;
    assert_eq!(batch[0]["eventType"], "DeliveryOrderError");
    assert_eq!(
        batch[0]["eventInfo"]["errorInfo"]["code"],
        "ProductNotFound"
    );

    let product = plain_product(sim.seed()).id;
    sim.control(
        "/sim/stop_lists",
        json!({"terminalGroupId": ids::TG_LENINA, "items": [{"productId": product, "balance": 0}]}),
    )
    .await;
    let (_, batch) = next_event(&mut events).await;
    assert_eq!(batch[0]["eventType"], "StopListUpdate");
    assert_eq!(
        batch[0]["eventInfo"]["terminalGroupsStopListsUpdates"][0]["id"],
        json!(ids::TG_LENINA)
    );
}

#[bed::test]
async fn stop_lists_are_listed_and_checked_per_terminal_group() {
    let sim = Sim::start(fast_config()).await;
    let product = plain_product(sim.seed()).id;
    sim.control(
        "/sim/stop_lists",
        json!({"terminalGroupId": ids::TG_LENINA, "items": [{"productId": product, "balance": 1}]}),
    )
    .await;
    let (_, lists) = sim
        .post(
            "/api/1/stop_lists",
            json!({"organizationIds": [ids::ORG_LENINA], "returnSize": true}),
        )
        .await;
    let groups = lists["terminalGroupStopLists"][0]["items"]
        .as_array()
        .unwrap();
    let main = groups
        .iter()
        .find(|g| g["terminalGroupId"] == json!(ids::TG_LENINA))
        .unwrap();
    assert_eq!(main["items"], json!([main["items"][0].clone()]));
    assert_eq!(main["items"][0]["productId"], json!(product));
    assert!(main["items"][0]["dateAdd"].is_string());
    let check = |amount: i64| {
        json!({"organizationId": ids::ORG_LENINA, "terminalGroupId": ids::TG_LENINA,
               "items": [{"type": "Product", "productId": product, "amount": amount, "price": 1}]})
    };
    let (_, fine) = sim.post("/api/1/stop_lists/check", check(1)).await;
    assert_eq!(fine["rejectedItems"], json!([]));
    let (_, rejected) = sim.post("/api/1/stop_lists/check", check(2)).await;
    assert_eq!(rejected["rejectedItems"][0]["productId"], json!(product));
}

#[bed::test]
async fn loyalty_reports_the_balance_and_calculate_caps_bonuses() {
    let sim = Sim::start(fast_config()).await;
    let info =
        |org: Uuid, phone: &str| json!({"organizationId": org, "type": "phone", "phone": phone});
    let (status, customer) = sim
        .post(
            "/api/1/loyalty/iiko/customer/info",
            info(ids::ORG_LENINA, ids::CUSTOMER_PHONE),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    assert_eq!(customer["walletBalances"][0]["type"], 1);
    assert_eq!(customer["walletBalances"][0]["balance"], 1500.0);
    let (status, _) = sim
        .post(
            "/api/1/loyalty/iiko/customer/info",
            info(ids::ORG_LENINA, "+79995550000"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .post(
            "/api/1/loyalty/iiko/customer/info",
            info(ids::ORG_MIRA, ids::CUSTOMER_PHONE),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "Common_OrganizationNotFound");

    let calculate = |phone: &str, price: i64, coupon: &str| {
        json!({"organizationId": ids::ORG_LENINA, "order": {"phone": phone, "loyaltyInfo": {"coupon": coupon},
               "items": [{"type": "Product", "productId": Uuid::new_v4(), "amount": 1, "price": price, "positionId": Uuid::new_v4()}]}})
    };
    // 50 % of 1000 is below the balance of 1500.
    let (_, result) = sim
        .post(
            "/api/1/loyalty/iiko/calculate",
            calculate(ids::CUSTOMER_PHONE, 1000, ""),
        )
        .await;
    assert_eq!(result["availablePayments"][0]["maxSum"], 500.0);
    assert_eq!(
        result["availablePayments"][0]["id"],
        json!(ids::BONUS_CAMPAIGN)
    );
    assert_eq!(
        result["availablePayments"][0]["walletInfos"][0]["id"],
        json!(ids::BONUS_WALLET)
    );
    // The balance of 300 is below 50 % of 1000.
    let (_, result) = sim
        .post(
            "/api/1/loyalty/iiko/calculate",
            calculate("+79990002233", 1000, ""),
        )
        .await;
    assert_eq!(result["availablePayments"][0]["maxSum"], 300.0);
    // A valid coupon gives a discount and lowers the cap.
    let (_, result) = sim
        .post(
            "/api/1/loyalty/iiko/calculate",
            calculate(ids::CUSTOMER_PHONE, 1000, ids::COUPON_100),
        )
        .await;
    assert_eq!(
        result["loyaltyProgramResults"][0]["discounts"][0]["discountSum"],
        100.0
    );
    assert_eq!(result["availablePayments"][0]["maxSum"], 450.0);
    let (_, result) = sim
        .post(
            "/api/1/loyalty/iiko/calculate",
            calculate(ids::CUSTOMER_PHONE, 1000, "NOPE"),
        )
        .await;
    assert_eq!(result["Warnings"].as_array().unwrap().len(), 1);
    assert_eq!(result["loyaltyProgramResults"], json!([]));
    let (_, programs) = sim
        .post(
            "/api/1/loyalty/iiko/program",
            json!({"organizationId": ids::ORG_LENINA}),
        )
        .await;
    assert_eq!(
        programs["Programs"][0]["marketingCampaigns"][0]["id"],
        json!(ids::BONUS_CAMPAIGN)
    );
}

#[bed::test]
async fn bonus_payments_are_checked_against_the_wallet_and_debited() {
    let sim = Sim::start(fast_config()).await;
    let bonus_order = |sum: i64| {
        let mut request = courier_order(sim.seed(), Uuid::new_v4());
        request["order"]["payments"] = json!([{
            "paymentTypeKind": "LoyaltyCard", "paymentTypeId": ids::PAYMENT_BONUS, "sum": sum,
            "isProcessedExternally": false,
            "paymentAdditionalData": {"type": "LoyaltyCard", "credential": "+79990002233", "searchScope": "Phone"},
        }]);
        request
    };
    let too_much = sim.create(bonus_order(301)).await;
    let info = sim.wait_created(too_much).await;
    assert_eq!(info["creationStatus"], "Error", "{info}");
    let fine = sim.create(bonus_order(200)).await;
    let info = sim.wait_created(fine).await;
    assert_eq!(info["creationStatus"], "Success", "{info}");
    let (_, customer) = sim
        .post(
            "/api/1/loyalty/iiko/customer/info",
            json!({"organizationId": ids::ORG_LENINA, "type": "phone", "phone": "+79990002233"}),
        )
        .await;
    assert_eq!(customer["walletBalances"][0]["balance"], 100.0);
}

#[bed::test]
async fn the_menu_shapes_serve_the_same_catalogue() {
    let sim = Sim::start(fast_config()).await;
    let seed = sim.seed();
    let pizza = seed.products.iter().find(|p| !p.sizes.is_empty()).unwrap();
    let unsold = seed
        .products
        .iter()
        .find(|p| !p.not_sold_in.is_empty())
        .unwrap();
    let by_id = |version: i64| {
        json!({"externalMenuId": ids::EXTERNAL_MENU_ID, "organizationIds": [ids::ORG_LENINA, ids::ORG_MIRA],
               "priceCategoryId": ids::PRICE_CATEGORY_BASE, "version": version})
    };
    let (status, v2) = sim.post("/api/2/menu/by_id", by_id(2)).await;
    assert_eq!(status, StatusCode::OK);
    let items: Vec<&Value> = v2["itemCategories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["items"].as_array().unwrap())
        .collect();
    assert_eq!(items.len(), seed.products.len());
    let v2_pizza = items
        .iter()
        .find(|i| i["sku"] == pizza.sku.as_str())
        .unwrap();
    assert_eq!(v2_pizza["itemId"], json!(pizza.id));
    assert_eq!(v2_pizza["itemSizes"].as_array().unwrap().len(), 3);
    assert_eq!(v2_pizza["itemSizes"][1]["sku"], pizza.sizes[1].sku.as_str());
    assert_eq!(
        v2_pizza["itemSizes"][0]["itemModifierGroups"][0]["restrictions"]["minQuantity"],
        1
    );
    let v2_unsold = items
        .iter()
        .find(|i| i["sku"] == unsold.sku.as_str())
        .unwrap();
    let prices = v2_unsold["itemSizes"][0]["prices"].as_array().unwrap();
    assert!(
        prices
            .iter()
            .any(|p| p["price"].is_null() && p["organizations"] == json!([ids::ORG_MIRA]))
    );

    for version in [3, 4] {
        let (_, menu) = sim.post("/api/2/menu/by_id", by_id(version)).await;
        assert_eq!(menu["formatVersion"], version);
        let first = &menu["itemGroups"][0]["items"][0];
        assert!(first["id"].is_string() && first["itemSizes"][0].get("sizeId").is_none());
    }
    let (_, aggregators) = sim
        .post(
            "/api/menu/v3/by_id",
            json!({"externalMenuId": ids::EXTERNAL_MENU_ID, "organizationId": ids::ORG_MIRA, "priceCategoryId": ids::PRICE_CATEGORY_AGGREGATORS}),
        )
        .await;
    let v3_items: Vec<&Value> = aggregators["itemsGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["items"].as_array().unwrap())
        .collect();
    let v3_unsold = v3_items
        .iter()
        .find(|i| i["productId"] == json!(unsold.id))
        .unwrap();
    assert_eq!(v3_unsold["sizePrices"][0]["price"], Value::Null);
    let v3_pizza = v3_items
        .iter()
        .find(|i| i["productId"] == json!(pizza.id))
        .unwrap();
    let marked_up =
        seed.price_in_category(pizza.sizes[0].price, Some(ids::PRICE_CATEGORY_AGGREGATORS));
    assert_eq!(
        v3_pizza["sizePrices"][0]["price"].as_f64().unwrap(),
        marked_up.to_string().parse::<f64>().unwrap()
    );
    assert!(
        aggregators["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["sku"] == pizza.sku.as_str())
    );
}

#[bed::test]
async fn nomenclature_with_the_current_revision_returns_empty_arrays() {
    let sim = Sim::start(fast_config()).await;
    let (status, full) = sim
        .post(
            "/api/1/nomenclature",
            json!({"organizationId": ids::ORG_LENINA, "startRevision": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(full["correlationId"].is_string());
    let products = full["products"].as_array().unwrap();
    let pizza = sim
        .seed()
        .products
        .iter()
        .find(|p| !p.sizes.is_empty())
        .unwrap();
    let entry = products
        .iter()
        .find(|p| p["code"] == pizza.sku.as_str())
        .unwrap();
    assert_eq!(entry["sizePrices"].as_array().unwrap().len(), 3);
    assert!(
        !entry["groupModifiers"][0]["childModifiers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        full["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["isGroupModifier"] == true)
    );
    let revision = full["revision"].as_i64().unwrap();
    let (_, same) = sim
        .post(
            "/api/1/nomenclature",
            json!({"organizationId": ids::ORG_LENINA, "startRevision": revision}),
        )
        .await;
    assert_eq!(same["revision"], revision);
    assert_eq!(same["products"], json!([]));
    assert_eq!(same["groups"], json!([]));
    let bumped = sim.control("/sim/nomenclature_update", json!({})).await;
    assert!(bumped["revision"].as_i64().unwrap() > revision);
    let (_, changed) = sim
        .post(
            "/api/1/nomenclature",
            json!({"organizationId": ids::ORG_LENINA, "startRevision": revision}),
        )
        .await;
    assert!(!changed["products"].as_array().unwrap().is_empty());
}

#[test]
fn generated_articles_are_unique_and_deterministic() {
    let first = Seed::generate(500, 7);
    let second = Seed::generate(500, 7);
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
    let mut articles = HashSet::new();
    for product in &first.products {
        assert!(
            articles.insert(product.sku.clone()),
            "duplicate {}",
            product.sku
        );
        for size in &product.sizes {
            assert!(articles.insert(size.sku.clone()), "duplicate {}", size.sku);
        }
    }
    for group in &first.modifier_groups {
        for item in &group.items {
            assert!(articles.insert(item.sku.clone()), "duplicate {}", item.sku);
        }
    }
    assert!(
        first
            .products
            .iter()
            .any(|p| p.sku.starts_with("PZ-") && p.sizes.len() == 3)
    );
    assert!(first.products.iter().any(|p| p.hidden));
    let other = Seed::generate(500, 8);
    assert_ne!(first.products[0].id, other.products[0].id);
}

#[test]
fn a_seed_saved_to_a_file_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    let seed = Seed::generate(20, 1);
    seed.save(&path).unwrap();
    let loaded = Seed::load(&path).unwrap();
    assert_eq!(
        serde_json::to_value(&seed).unwrap(),
        serde_json::to_value(&loaded).unwrap()
    );
}

#[bed::test]
async fn twenty_thousand_products_generate_and_serve_the_nomenclature() {
    let sim = Sim::start(SimConfig {
        products: 20_000,
        ..fast_config()
    })
    .await;
    assert_eq!(sim.seed().products.len(), 20_000);
    let (status, body) = sim
        .post(
            "/api/1/nomenclature",
            json!({"organizationId": ids::ORG_LENINA}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["products"].as_array().unwrap().len() > 20_000);
}

#[bed::test]
async fn the_request_log_records_bodies_without_the_token() {
    let sim = Sim::start(fast_config()).await;
    let request = courier_order(sim.seed(), Uuid::new_v4());
    sim.create(request.clone()).await;
    let log: Value = sim
        .http
        .get(sim.handle.url("/sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let create = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/api/1/deliveries/create")
        .expect("create logged");
    assert_eq!(create["body"], request);
    assert_eq!(create["status"], 200);
    assert_eq!(create["method"], "POST");
    assert_eq!(create["headers"]["authorization"], "<redacted>");
    assert!(!create.to_string().contains(&sim.token));
    sim.http
        .delete(sim.handle.url("/sim/requests"))
        .send()
        .await
        .unwrap();
    let log: Value = sim
        .http
        .get(sim.handle.url("/sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log, json!([]));
}
