//! Discounts and bonus points end to end: the loyalty API and order intake on a real server,
//! the dispatcher against the simulator, and the exact bodies iiko gets.

use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use uuid::Uuid;

use iiko_bridge::{
    config::Config,
    iiko::types::deliveries::DeliveriesByIdRequest,
    sim::{Seed, SimConfig, demo_ids as ids},
    store::{OrderState, StoredOrder},
};

use crate::support::{SITE_TOKEN, Spawn, TestApp, iiko, iiko_schema};

const CREATE: &str = "/api/1/deliveries/create";
const CALCULATE: &str = "/api/1/loyalty/iiko/calculate";
const CUSTOMER_INFO: &str = "/api/1/loyalty/iiko/customer/info";
const TOKEN: &str = SITE_TOKEN;
/// A guest of the simulator with 300 points.
const SMALL_WALLET: &str = "+79990002233";
/// Not a guest of the loyalty program.
const STRANGER: &str = "+79995550000";

/// Two plain dishes whose prices the tests choose: 33.33 (for kopeck cases) and 1000.
const CHEAP: &str = "LOYALTY-CHEAP";
const DEAR: &str = "LOYALTY-DEAR";

/// A simulator with the two dishes, iiko answering within 2 s (its loyalty answers awaited for
/// 400 ms), a failed attempt retried after 0.2 s, and the server running.
async fn spawn_app(edit: impl FnOnce(&mut Config)) -> TestApp {
    // The seed file outlives the simulator's start only: it reads it at once.
    let dir = tempfile::tempdir().unwrap();
    let mut seed = Seed::generate(40, 42);
    let stopped: Vec<Uuid> = seed.stop_list.iter().map(|s| s.product_id).collect();
    let plain: Vec<usize> = (0..seed.products.len())
        .filter(|&i| {
            let p = &seed.products[i];
            p.sizes.is_empty()
                && p.modifier_groups.is_empty()
                && !p.hidden
                && p.not_sold_in.is_empty()
                && !stopped.contains(&p.id)
        })
        .collect();
    for (index, (sku, price)) in plain.iter().zip([(CHEAP, dec!(33.33)), (DEAR, dec!(1000))]) {
        seed.products[*index].sku = sku.into();
        seed.products[*index].price = price;
    }
    let seed_path = dir.path().join("seed.json");
    seed.save(&seed_path).unwrap();
    Spawn::default()
        .sim(SimConfig {
            seed: Some(seed_path),
            creation_delay: Duration::from_millis(50),
            ..SimConfig::default()
        })
        .app(|config| {
            config.iiko.timeout_seconds = 2;
            config.site.loyalty_wait_ms = 400;
            config.delivery.retry_interval_seconds = 0.2;
            edit(config);
        })
        .await
}

impl TestApp {
    async fn calculate(&self, cart: Value) -> (u16, Value) {
        self.post("/api/v1/loyalty/calculate", &cart).await
    }

    async fn balance(&self, query: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(self.url(&format!("/api/v1/loyalty/balance?{query}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The bodies the simulator got on `path`, each checked against the official schema.
    async fn bodies(&self, path: &str) -> Vec<Value> {
        let bodies: Vec<Value> = self
            .requests(path)
            .await
            .into_iter()
            .map(|r| r["body"].clone())
            .collect();
        for body in &bodies {
            iiko_schema::assert_valid_request(path, body);
        }
        bodies
    }

    async fn forget_requests(&self) {
        reqwest::Client::new()
            .delete(self.sim.url("sim/requests"))
            .send()
            .await
            .unwrap();
    }

    /// The create body iiko got for the order with this external number.
    async fn create_body(&self, number: &str) -> Value {
        self.bodies(CREATE)
            .await
            .into_iter()
            .find(|body| body["order"]["externalNumber"] == number)
            .unwrap_or_else(|| panic!("no deliveries/create for {number}"))["order"]
            .clone()
    }

    /// What iiko's bill for a created order comes to (`order.sum`, after its discounts).
    async fn iiko_sum(&self, order: &StoredOrder) -> Decimal {
        let request = DeliveriesByIdRequest {
            organization_id: ids::ORG_LENINA,
            order_ids: Some(vec![order.iiko_order_id.parse().unwrap()]),
            pos_order_ids: None,
            source_keys: None,
            return_external_data_keys: None,
            return_locked_by_user: false,
        };
        let answer = iiko(&self.config).deliveries_by_id(&request).await.unwrap();
        let answer = serde_json::to_value(answer).unwrap();
        decimal(&answer["orders"][0]["order"]["sum"])
    }
}

fn decimal(value: &Value) -> Decimal {
    value.to_string().parse().unwrap()
}

/// An order of `lines` (article, quantity, unit price) with its total computed exactly.
fn order(
    id: &str,
    phone: &str,
    lines: &[(&str, Decimal, Decimal)],
    discount: Option<Value>,
    bonus: Decimal,
) -> Value {
    let items: Decimal = lines.iter().map(|(_, q, p)| q * p).sum();
    let off = discount
        .as_ref()
        .map_or(Decimal::ZERO, |d| decimal(&d["amount"]));
    let mut body = json!({
        "id": id, "branch": "lenina", "service": "pickup",
        "customer": {"name": "Анна", "phone": phone},
        "items": lines.iter().map(|(article, quantity, price)| {
            json!({"article": article, "quantity": quantity, "price": price})
        }).collect::<Vec<_>>(),
        "payment": {"method": "card"},
        "total": items - off - bonus,
    });
    if let Some(discount) = discount {
        body["discount"] = discount;
    }
    if !bonus.is_zero() {
        body["bonus"] = json!({"amount": bonus});
    }
    body
}

/// A cart for `loyalty/calculate`: an order without `id` and `total`.
fn cart(phone: &str, lines: &[(&str, Decimal, Decimal)], discount: Option<Value>) -> Value {
    let mut cart = order("", phone, lines, discount, dec!(0));
    cart.as_object_mut().unwrap().remove("id");
    cart.as_object_mut().unwrap().remove("total");
    cart
}

fn bonus_payment(sum: Value, phone: &str) -> Value {
    json!({"paymentTypeKind": "LoyaltyCard", "sum": sum, "paymentTypeId": ids::PAYMENT_BONUS,
           "isProcessedExternally": false, "isFiscalizedExternally": false,
           "paymentAdditionalData": {"type": "LoyaltyCard", "credential": phone, "searchScope": "Phone"}})
}

fn card_payment(sum: Value) -> Value {
    json!({"paymentTypeKind": "Card", "sum": sum, "paymentTypeId": ids::PAYMENT_CARD,
           "isProcessedExternally": false, "isFiscalizedExternally": false})
}

fn universal(sum: Value) -> Value {
    json!({"discounts": [{"type": "RMS", "discountTypeId": ids::DISCOUNT_UNIVERSAL, "sum": sum}]})
}

fn problem(answer: &Value) -> (&str, &str) {
    let detail = &answer["details"][0];
    (
        detail["field"].as_str().unwrap_or_default(),
        detail["code"].as_str().unwrap_or_default(),
    )
}

// ---- Balance ---------------------------------------------------------------------------------------

#[bed::test]
async fn balance_answers_the_guests_points_and_a_stranger_is_an_answer_not_an_error() {
    let bed = spawn_app(|_| {}).await;
    let (status, known) = bed
        .balance(&format!("branch=lenina&phone={}", "%2B7%20999%20000-11-22"))
        .await;
    assert_eq!(status, 200, "{known}");
    assert_eq!(
        known,
        json!({"phone": ids::CUSTOMER_PHONE, "found": true, "balance": 1500.0, "wallet": "Бонусы"})
    );
    let (status, stranger) = bed
        .balance(&format!("branch=lenina&phone=%2B{}", &STRANGER[1..]))
        .await;
    assert_eq!(status, 200, "{stranger}");
    assert_eq!(
        stranger,
        json!({"phone": STRANGER, "found": false, "balance": 0.0})
    );
    assert_eq!(
        bed.bodies(CUSTOMER_INFO).await[0],
        json!({"organizationId": ids::ORG_LENINA, "type": "phone", "phone": ids::CUSTOMER_PHONE})
    );

    let (status, missing) = bed.balance("branch=lenina").await;
    assert_eq!((status, problem(&missing)), (422, ("phone", "required")));
    let (status, bad) = bed.balance("branch=lenina&phone=8999").await;
    assert_eq!((status, problem(&bad)), (422, ("phone", "invalid_phone")));
    let (status, unknown) = bed.balance("branch=nowhere&phone=%2B79990001122").await;
    assert_eq!(
        (status, problem(&unknown)),
        (422, ("branch", "unknown_branch"))
    );

    bed.faults(json!({"rules": [{"path": "/api/1/loyalty/*", "status": 503, "rate": 1.0}]}))
        .await;
    let (status, down) = bed.balance("branch=lenina&phone=%2B79990001122").await;
    assert_eq!(
        (status, down["error"].as_str()),
        (503, Some("iiko_unavailable"))
    );
}

#[bed::test]
async fn loyalty_not_set_up_for_the_organization_is_a_422_naming_the_field() {
    // The branch's organization has no loyalty program in iiko (the simulator's Мира).
    let bed = spawn_app(|config| {
        config.branches[0].organization_id =
            "7c1a0001-0000-4000-8000-000000000002".parse().unwrap();
    })
    .await;
    let (status, answer) = bed.balance("branch=lenina&phone=%2B79990001122").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(problem(&answer), ("branch", "loyalty_not_set_up"));

    let (status, answer) = bed
        .post(
            "/api/v1/loyalty/calculate",
            &order(
                "C",
                ids::CUSTOMER_PHONE,
                &[(DEAR, dec!(1), dec!(1000))],
                None,
                dec!(0),
            ),
        )
        .await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("branch", "loyalty_not_set_up"))
    );

    let spending = order(
        "N-1",
        ids::CUSTOMER_PHONE,
        &[(DEAR, dec!(1), dec!(1000))],
        None,
        dec!(100),
    );
    let (status, answer) = bed.post("/api/v1/orders", &spending).await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("bonus.amount", "loyalty_not_set_up"))
    );
    assert!(
        bed.store
            .orders_by_site_id("N-1", None)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- Calculate and check ---------------------------------------------------------------------------

#[bed::test]
async fn bonus_max_comes_from_the_balance_iikos_limit_or_the_percent_rule_whichever_is_least() {
    // The branch allows 80 %, the simulator's program 50 % of the cart.
    let bed = spawn_app(|config| config.branches[0].bonus.limit_percent = dec!(80)).await;
    let calculate =
        |phone: &str, quantity: Decimal| cart(phone, &[(DEAR, quantity, dec!(1000))], None);
    // iiko's limit binds: 50 % of 2000 = 1000 < 1500 points < 80 % = 1600.
    let (status, iiko_bound) = bed.calculate(calculate(ids::CUSTOMER_PHONE, dec!(2))).await;
    assert_eq!(status, 200, "{iiko_bound}");
    assert_eq!(
        iiko_bound,
        json!({"discount": 0.0, "bonus_max": 1000.0, "warnings": []})
    );
    let asked = &bed.bodies(CALCULATE).await[0];
    assert_eq!(asked["organizationId"], json!(ids::ORG_LENINA));
    assert_eq!(asked["order"]["phone"], ids::CUSTOMER_PHONE);
    assert_eq!(asked["order"].get("payments"), None);
    assert_eq!(asked["order"].get("discountsInfo"), None);
    assert_eq!(asked["order"].get("id"), None);

    // The balance binds: 300 points.
    let (_, balance_bound) = bed.calculate(calculate(SMALL_WALLET, dec!(2))).await;
    assert_eq!(balance_bound["bonus_max"], json!(300.0), "{balance_bound}");

    // The percent rule binds once the branch is stricter than iiko: 20 % of (1000 - 0.01).
    let strict = spawn_app(|config| config.branches[0].bonus.limit_percent = dec!(20)).await;
    let (_, percent_bound) = strict
        .calculate(cart(
            ids::CUSTOMER_PHONE,
            &[(DEAR, dec!(1), dec!(1000))],
            Some(json!({"amount": 0.01})),
        ))
        .await;
    // 199.998 is rounded down: spending 200.00 would be over the share.
    assert_eq!(percent_bound["bonus_max"], json!(199.99), "{percent_bound}");
    assert_eq!(percent_bound["discount"], json!(0.01));

    // A stranger has nothing to spend, and hears why.
    let (_, stranger) = bed.calculate(calculate(STRANGER, dec!(1))).await;
    assert_eq!(stranger["bonus_max"], json!(0.0));
    assert_eq!(stranger["warnings"][0]["code"], "customer_not_found");
    assert_eq!(stranger["warnings"][0]["field"], "customer.phone");
}

#[bed::test]
async fn promo_codes_are_asked_of_iiko_only_with_use_iiko_codes() {
    let cart = |code: &str| {
        cart(
            ids::CUSTOMER_PHONE,
            &[(DEAR, dec!(1), dec!(1000))],
            Some(json!({"amount": 0, "promo_code": code})),
        )
    };
    let trusting = spawn_app(|_| {}).await;
    let (_, answer) = trusting
        .post("/api/v1/loyalty/calculate", &cart("SIM-250"))
        .await;
    assert_eq!(
        answer,
        json!({"discount": 0.0, "bonus_max": 500.0, "warnings": []})
    );
    assert_eq!(
        trusting.bodies(CALCULATE).await[0]["order"].get("loyaltyInfo"),
        None
    );

    let asking = spawn_app(|config| config.branches[0].promo.use_iiko_codes = true).await;
    let (_, valid) = asking
        .post("/api/v1/loyalty/calculate", &cart("SIM-250"))
        .await;
    // iiko gives 250; the percent rule applies to what is left: 50 % of 750.
    assert_eq!(
        valid,
        json!({"discount": 250.0, "bonus_max": 375.0, "promo_code_valid": true, "warnings": []})
    );
    assert_eq!(
        asking.bodies(CALCULATE).await[0]["order"]["loyaltyInfo"],
        json!({"coupon": "SIM-250"})
    );
    let (status, unknown) = asking
        .post("/api/v1/loyalty/calculate", &cart("NO-SUCH"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(unknown["promo_code_valid"], false, "{unknown}");
    assert_eq!(unknown["discount"], json!(0.0));
    assert_eq!(unknown["warnings"][0]["code"], "promo_code_unknown");
    assert_eq!(unknown["warnings"][0]["field"], "discount.promo_code");
}

#[bed::test]
async fn without_iikos_answer_calculate_and_check_fall_back_to_the_percent_rule_with_a_warning() {
    let bed = spawn_app(|_| {}).await;
    // Slower than site.loyalty_wait_ms (400 ms), quicker than iiko's own timeout.
    bed.faults(json!({"rules": [{"path": "/api/1/loyalty/*", "latency_ms": 1500, "rate": 1.0}]}))
        .await;
    let body = order(
        "CHK",
        ids::CUSTOMER_PHONE,
        &[(DEAR, dec!(1), dec!(1000))],
        None,
        dec!(0),
    );
    let started = std::time::Instant::now();
    let (status, check) = bed.post("/api/v1/orders/check", &body).await;
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["bonus_max"], json!(500.0));
    assert_eq!(check["warnings"][0]["code"], "iiko_unavailable");
    let (_, calculated) = bed.post("/api/v1/loyalty/calculate", &body).await;
    assert_eq!(calculated["bonus_max"], json!(500.0));
    assert_eq!(calculated["warnings"][0]["code"], "iiko_unavailable");
}

// ---- Orders ------------------------------------------------------------------------------------------

#[bed::test]
async fn discount_and_bonus_orders_reach_iiko_with_exact_bodies_and_iiko_bills_what_the_site_took()
{
    let bed = spawn_app(|_| {}).await;
    let three = (CHEAP, dec!(3), dec!(33.33));
    let one = (DEAR, dec!(1), dec!(1000));
    let mut anonymous = order(
        "D-4",
        SMALL_WALLET,
        &[one],
        Some(json!({"amount": 150})),
        dec!(0),
    );
    anonymous["customer"]["loyalty"] = json!(false);
    let cases = [
        // Discount only, the kopeck case: 3 x 33.33 = 99.99 less 0.01.
        order(
            "D-1",
            ids::CUSTOMER_PHONE,
            &[three],
            Some(json!({"amount": 0.01})),
            dec!(0),
        ),
        // Bonus only.
        order("D-2", ids::CUSTOMER_PHONE, &[one], None, dec!(300)),
        // Both, with a promo code the branch does not send (promo.send_codes = false).
        order(
            "D-3",
            ids::CUSTOMER_PHONE,
            &[one, three],
            Some(json!({"amount": 100, "promo_code": "SIM-100"})),
            dec!(200.5),
        ),
        anonymous,
    ];
    for body in &cases {
        let (status, answer) = bed.post("/api/v1/orders", body).await;
        assert_eq!(status, 202, "{answer}");
        let stored = bed
            .store
            .orders_by_site_id(body["id"].as_str().unwrap(), None)
            .await
            .unwrap();
        assert_eq!(stored[0].fallback_reason, None, "{body}");
        assert_eq!(answer["state"], "queued");
    }
    let expected = [
        (
            "D-1",
            Some(universal(json!(0.01))),
            vec![card_payment(json!(99.98))],
            None,
        ),
        (
            "D-2",
            None,
            vec![
                card_payment(json!(700.0)),
                bonus_payment(json!(300.0), ids::CUSTOMER_PHONE),
            ],
            None,
        ),
        (
            "D-3",
            Some(universal(json!(100.0))),
            vec![
                card_payment(json!(799.49)),
                bonus_payment(json!(200.5), ids::CUSTOMER_PHONE),
            ],
            Some("Промокод: SIM-100"),
        ),
        (
            "D-4",
            Some(universal(json!(150.0))),
            vec![card_payment(json!(850.0))],
            None,
        ),
    ];
    let mut bills = Vec::new();
    for (id, discounts, payments, comment) in expected {
        let stored = bed.wait_for(id, OrderState::Created).await;
        let sent = bed.create_body(id).await;
        assert_eq!(sent.get("discountsInfo"), discounts.as_ref(), "{id}");
        assert_eq!(sent["payments"], json!(payments), "{id}");
        assert_eq!(sent.get("loyaltyInfo"), None, "{id}");
        assert_eq!(sent["comment"].as_str(), comment, "{id}");
        // Item prices stay at the menu price; the discount is iiko's to apply.
        assert!(sent["items"].as_array().unwrap().iter().all(|i| {
            let price = decimal(&i["price"]);
            price == dec!(33.33) || price == dec!(1000)
        }));
        bills.push((id, bed.iiko_sum(&stored).await, sent));
    }
    // iiko's bill after its discounts is exactly what the payments cover.
    for (id, sum, sent) in &bills {
        let paid: Decimal = sent["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| decimal(&p["sum"]))
            .sum();
        assert_eq!(*sum, paid, "{id}");
    }
    // Customers join the loyalty program unless the site says otherwise.
    assert_eq!(
        bills[0].2["customer"],
        json!({"type": "regular", "name": "Анна"})
    );
    assert_eq!(
        bills[3].2["customer"],
        json!({"type": "one-time", "name": "Анна"})
    );
    // The points were spent from the guest's wallet: 1500 - 300 - 200.5.
    let (_, left) = bed.balance("branch=lenina&phone=%2B79990001122").await;
    assert_eq!(left["balance"], json!(999.5));
}

#[bed::test]
async fn the_sample_order_with_a_discount_a_promo_code_and_points_is_created_in_iiko() {
    for send_codes in ["false", "true"] {
        let bed =
            spawn_app(|config| config.branches[0].promo.send_codes = send_codes == "true").await;
        let source = bed
            .store
            .current_catalog_source("lenina")
            .await
            .unwrap()
            .unwrap();
        let catalog = serde_json::from_str(&source.catalog_json).unwrap();
        let body = iiko_bridge::loyalty::sample_order(&catalog, "lenina", "DEMO-1").unwrap();
        let (status, answer) = bed.post("/api/v1/orders", &body).await;
        assert_eq!(status, 202, "{answer}");
        let stored = bed.wait_for("DEMO-1", OrderState::Created).await;
        let items = decimal(&body["items"][0]["quantity"]) * decimal(&body["items"][0]["price"]);
        assert_eq!(
            bed.iiko_sum(&stored).await,
            items - dec!(150),
            "send_codes = {send_codes}"
        );
        let (_, left) = bed.balance("branch=lenina&phone=%2B79990001122").await;
        assert_eq!(left["balance"], json!(1300.0));
    }
}

#[bed::test]
async fn a_sent_promo_code_takes_iikos_own_discount_off_the_universal_one() {
    let bed = spawn_app(|config| config.branches[0].promo.send_codes = true).await;
    let one = (DEAR, dec!(1), dec!(1000));
    let code = |amount: Value, code: &str| Some(json!({"amount": amount, "promo_code": code}));
    // SIM-100 gives 100 in iiko; the site's 150 is 100 of iiko's coupon and 50 of its own.
    let body = order(
        "P-1",
        ids::CUSTOMER_PHONE,
        &[one],
        code(json!(150), "SIM-100"),
        dec!(100),
    );
    let (status, answer) = bed.post("/api/v1/orders", &body).await;
    assert_eq!(status, 202, "{answer}");
    let stored = bed.wait_for("P-1", OrderState::Created).await;
    let sent = bed.create_body("P-1").await;
    assert_eq!(sent["loyaltyInfo"], json!({"coupon": "SIM-100"}));
    assert_eq!(sent["discountsInfo"], universal(json!(50.0)));
    assert_eq!(
        sent["payments"],
        json!([
            card_payment(json!(750.0)),
            bonus_payment(json!(100.0), ids::CUSTOMER_PHONE)
        ])
    );
    assert_eq!(bed.iiko_sum(&stored).await, dec!(850));
    let asked = bed.bodies(CALCULATE).await;
    assert_eq!(
        asked[0]["order"]["loyaltyInfo"],
        json!({"coupon": "SIM-100"})
    );

    // A code iiko does not know is not sent; the whole discount stays universal.
    let body = order(
        "P-2",
        ids::CUSTOMER_PHONE,
        &[one],
        code(json!(150), "SITE-ONLY"),
        dec!(0),
    );
    assert_eq!(bed.post("/api/v1/orders", &body).await.0, 202);
    let stored = bed.wait_for("P-2", OrderState::Created).await;
    let sent = bed.create_body("P-2").await;
    assert_eq!(sent.get("loyaltyInfo"), None);
    assert_eq!(sent["discountsInfo"], universal(json!(150.0)));
    assert_eq!(sent["comment"], "Промокод: SITE-ONLY");
    assert_eq!(bed.iiko_sum(&stored).await, dec!(850));

    // iiko would give more than the site took: refused before anything is stored.
    let body = order(
        "P-3",
        ids::CUSTOMER_PHONE,
        &[one],
        code(json!(50), "SIM-100"),
        dec!(0),
    );
    let (status, answer) = bed.post("/api/v1/orders", &body).await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("discount.amount", "promo_over_discount"))
    );

    // With iiko's codes, an unknown one is refused.
    let strict = spawn_app(|config| {
        config.branches[0].promo.send_codes = true;
        config.branches[0].promo.use_iiko_codes = true;
    })
    .await;
    let body = order(
        "P-4",
        ids::CUSTOMER_PHONE,
        &[one],
        code(json!(150), "NO-SUCH"),
        dec!(0),
    );
    let (status, answer) = strict.post("/api/v1/orders", &body).await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("discount.promo_code", "unknown_promo_code"))
    );
}

#[bed::test]
async fn spending_more_than_bonus_max_is_refused_with_the_maximum_and_a_repeat_is_not_asked_again()
{
    let bed = spawn_app(|_| {}).await;
    let one = (DEAR, dec!(1), dec!(1000));
    // 300 points, 500 allowed by the percent rule: 301 is over the balance.
    let over = order("B-1", SMALL_WALLET, &[one], None, dec!(301));
    let (status, answer) = bed.post("/api/v1/orders", &over).await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("bonus.amount", "over_bonus_max"))
    );
    let message = answer["details"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("at most 300.00 bonus points"),
        "{message}"
    );
    let (status, answer) = bed
        .post(
            "/api/v1/orders",
            &order("B-2", STRANGER, &[one], None, dec!(1)),
        )
        .await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("bonus.amount", "over_bonus_max"))
    );
    assert!(
        answer["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not in the loyalty program")
    );

    // The whole wallet is spent; the site's retry is answered from the store, not refused.
    let all = order("B-3", SMALL_WALLET, &[one], None, dec!(300));
    assert_eq!(bed.post("/api/v1/orders", &all).await.0, 202);
    bed.wait_for("B-3", OrderState::Created).await;
    bed.forget_requests().await;
    let (status, again) = bed.post("/api/v1/orders", &all).await;
    assert_eq!(status, 200, "{again}");
    assert!(bed.bodies(CALCULATE).await.is_empty());

    let disabled = spawn_app(|config| config.branches[0].bonus.enabled = false).await;
    let (status, answer) = disabled
        .post(
            "/api/v1/orders",
            &order("B-4", ids::CUSTOMER_PHONE, &[one], None, dec!(10)),
        )
        .await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("bonus.amount", "bonus_disabled"))
    );
}

#[bed::test]
async fn when_iiko_does_not_answer_intake_accepts_within_the_percent_rule_and_a_short_wallet_goes_to_the_operators()
 {
    let bed = spawn_app(|_| {}).await;
    bed.faults(json!({"rules": [{"path": "/api/1/loyalty/*", "status": 500, "rate": 1.0}]}))
        .await;
    // 400 points within 50 % of 1000, but the guest has only 300: iiko's creation refuses it.
    let short = order(
        "S-1",
        SMALL_WALLET,
        &[(DEAR, dec!(1), dec!(1000))],
        None,
        dec!(400),
    );
    let (status, answer) = bed.post("/api/v1/orders", &short).await;
    assert_eq!(status, 202, "{answer}");
    let over = order(
        "S-2",
        ids::CUSTOMER_PHONE,
        &[(DEAR, dec!(1), dec!(1000))],
        None,
        dec!(500.01),
    );
    let stored = bed.wait_for("S-1", OrderState::Fallback).await;
    assert!(
        stored
            .fallback_reason
            .as_deref()
            .unwrap_or_default()
            .contains("Not enough bonuses"),
        "{stored:?}"
    );
    // Over the percent rule is refused without iiko.
    let (status, answer) = bed.post("/api/v1/orders", &over).await;
    assert_eq!(
        (status, problem(&answer)),
        (422, ("bonus.amount", "over_limit"))
    );
}
