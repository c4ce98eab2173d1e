//! Orders mapped onto `deliveries/create` through a catalog synced from the simulator's
//! generated menu, checked against the official iikoCloud schema.

use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, FixedOffset, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde_json::{Value, json};

use iiko_bridge::config::{BranchConfig, Config, Credentials, IikoSettings};
use iiko_bridge::iiko::{IikoClient, IikoDateTime};
use iiko_bridge::menu::{
    Catalog, Fetched, Product, apply_stop_list, fetch_catalog, fetch_stop_list,
};
use iiko_bridge::orders::{MappingProblem, Order, OrderIds, check_order, map_order, parse_order};
use iiko_bridge::sim::{SimConfig, Simulator, demo_ids as ids};

use crate::support::iiko_schema;

const CREATE: &str = "/api/1/deliveries/create";

fn config(universal_discount: bool, send_codes: bool, order_types: bool) -> Config {
    let order_types = if order_types {
        json!({"delivery": ids::ORDER_TYPE_COURIER, "pickup": ids::ORDER_TYPE_PICKUP})
    } else {
        json!({})
    };
    let mut config = json!({
        "iiko": {"api_login": ids::API_LOGIN},
        "branches": [{
            "key": "lenina", "name": "Ленина", "organization_id": ids::ORG_LENINA,
            "terminal_group_id": ids::TG_LENINA, "timezone": "Europe/Moscow",
            "menu": {"external_menu_id": ids::EXTERNAL_MENU_ID},
            "order_types": order_types,
            "payment_types": {"cash": ids::PAYMENT_CASH, "card": ids::PAYMENT_CARD,
                              "online": ids::PAYMENT_ONLINE},
            "bonus": {"enabled": true, "payment_type_id": ids::PAYMENT_BONUS, "limit_percent": 100},
            "universal_discount_id": ids::DISCOUNT_UNIVERSAL,
            "promo": {"send_codes": send_codes},
        }],
    });
    if !universal_discount {
        config["branches"][0]
            .as_object_mut()
            .unwrap()
            .remove("universal_discount_id");
    }
    serde_json::from_value(config).unwrap()
}

/// The branch's catalog as the bridge syncs it: the external menu with the stop list applied.
async fn catalog() -> Catalog {
    let handle = Simulator::spawn(SimConfig::default()).await.unwrap();
    let client = IikoClient::new(IikoSettings {
        base_url: handle.base_url.clone(),
        credentials: Credentials::ApiLogin(SecretString::from(ids::API_LOGIN)),
        timeout: Duration::from_secs(15),
        requests_per_second: NonZeroU32::new(1000).unwrap(),
    })
    .unwrap();
    let config = config(true, false, false);
    let branch = &config.branches[0];
    let Fetched::Built(built) = fetch_catalog(&client, branch, None).await.unwrap() else {
        panic!("a first sync builds a catalog");
    };
    let stop_list = fetch_stop_list(&client, branch).await.unwrap();
    apply_stop_list(built.catalog, &stop_list)
}

fn sellable(product: &Product) -> bool {
    !product.hidden && product.available && product.sizes.iter().all(|s| s.available)
}

/// A pizza: several sizes, a required dough group and an optional toppings group.
fn pizza(catalog: &Catalog) -> &Product {
    catalog
        .products
        .iter()
        .find(|p| sellable(p) && p.sizes.len() > 1 && p.modifier_groups.len() >= 2)
        .expect("the simulator menu has pizzas")
}

/// A dish without a size scale or modifiers.
fn plain(catalog: &Catalog) -> &Product {
    catalog
        .products
        .iter()
        .find(|p| sellable(p) && p.sizes[0].iiko_id.is_none() && p.modifier_groups.is_empty())
        .expect("the simulator menu has dishes without sizes")
}

/// A pizza line in its 35 cm size with its first dough and two of the first topping.
fn pizza_line(pizza: &Product) -> (Value, Decimal) {
    let size = pizza.sizes.iter().find(|s| !s.default).unwrap();
    let dough = &pizza.modifier_groups[0].items[0];
    let topping = &pizza.modifier_groups[1].items[0];
    let line = json!({
        "article": pizza.article, "size": size.name, "quantity": 2, "price": size.price,
        "modifiers": [
            {"article": dough.article, "quantity": 1, "price": dough.price},
            {"article": topping.article, "quantity": 2, "price": topping.price},
        ],
    });
    (
        line,
        dec!(2) * (size.price + dough.price + dec!(2) * topping.price),
    )
}

struct Cart {
    items: Vec<Value>,
    sum: Decimal,
}

fn cart(catalog: &Catalog) -> Cart {
    let (pizza, pizza_sum) = pizza_line(pizza(catalog));
    let plain = plain(catalog);
    let price = plain.sizes[0].price;
    Cart {
        items: vec![
            pizza,
            json!({"article": plain.article, "quantity": 1, "price": price}),
        ],
        sum: pizza_sum + price,
    }
}

fn body(cart: &Cart, changes: Value) -> Value {
    let mut body = json!({
        "id": "WEB-10042", "branch": "lenina", "service": "delivery",
        "customer": {"name": "Иван", "phone": ids::CUSTOMER_PHONE},
        "address": {"city": "Москва", "street": "Ленина", "house": "10", "flat": "5",
                    "entrance": "2", "floor": "3", "doorphone": "5K", "comment": "Код 1234"},
        "persons": 2,
        "items": cart.items,
        "payment": {"method": "card"},
        "total": cart.sum,
    });
    for (key, value) in changes.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn parse(config: &Config, body: &Value) -> Order {
    parse_order(body.to_string().as_bytes(), config, true).unwrap()
}

fn branch(config: &Config) -> &BranchConfig {
    &config.branches[0]
}

/// Maps and checks the result against the official schema; returns it as JSON.
fn map(config: &Config, catalog: &Catalog, order: &Order) -> Value {
    let ids = OrderIds::generate(order);
    let request = map_order(order, branch(config), catalog, &ids, "my-site").unwrap();
    let json = serde_json::to_value(&request).unwrap();
    iiko_schema::assert_valid_request(CREATE, &json);
    json
}

fn problems(config: &Config, catalog: &Catalog, order: &Order) -> Vec<MappingProblem> {
    let ids = OrderIds::generate(order);
    map_order(order, branch(config), catalog, &ids, "my-site").unwrap_err()
}

fn payments(request: &Value) -> Vec<(String, f64)> {
    request["order"]["payments"]
        .as_array()
        .map(|payments| {
            payments
                .iter()
                .map(|p| {
                    (
                        p["paymentTypeKind"].as_str().unwrap().to_owned(),
                        p["sum"].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn f(value: Decimal) -> f64 {
    value.to_string().parse().unwrap()
}

#[bed::test]
async fn a_pizza_with_a_size_and_group_modifiers_and_a_dish_without_sizes_map_to_catalog_ids() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let cart = cart(&catalog);
    let order = parse(&config, &body(&cart, json!({})));
    let ids = OrderIds::generate(&order);
    let request = map_order(&order, branch(&config), &catalog, &ids, "my-site").unwrap();
    let json = serde_json::to_value(&request).unwrap();
    iiko_schema::assert_valid_request(CREATE, &json);

    let pizza = pizza(&catalog);
    let size = pizza.sizes.iter().find(|s| !s.default).unwrap();
    let items = &json["order"]["items"];
    assert_eq!(items[0]["type"], "Product");
    assert_eq!(items[0]["productId"], json!(pizza.iiko_id));
    assert_eq!(items[0]["productSizeId"], json!(size.iiko_id.unwrap()));
    assert_eq!(items[0]["amount"].as_f64(), Some(2.0));
    assert_eq!(items[0]["positionId"], json!(ids.position_ids[0]));
    let dough = &items[0]["modifiers"][0];
    assert_eq!(
        dough["productId"],
        json!(pizza.modifier_groups[0].items[0].iiko_id)
    );
    assert_eq!(
        dough["productGroupId"],
        json!(pizza.modifier_groups[0].iiko_id.unwrap())
    );
    assert_eq!(dough["positionId"], json!(ids.position_ids[1]));
    assert_eq!(items[0]["modifiers"][1]["amount"].as_f64(), Some(2.0));
    assert_eq!(
        items[0]["modifiers"][1]["positionId"],
        json!(ids.position_ids[2])
    );
    let plain = plain(&catalog);
    assert_eq!(items[1]["productId"], json!(plain.iiko_id));
    assert_eq!(
        items[1]["productSizeId"],
        Value::Null,
        "null, not absent: no size scale"
    );
    assert_eq!(items[1]["positionId"], json!(ids.position_ids[3]));
    assert_eq!(ids.position_ids.len(), 4);

    let order_json = &json["order"];
    assert_eq!(json["organizationId"], json!(ids::ORG_LENINA));
    assert_eq!(json["terminalGroupId"], json!(ids::TG_LENINA));
    assert_eq!(
        json["createOrderSettings"],
        json!({"transportToFrontTimeout": 60, "checkStopList": false})
    );
    assert_eq!(order_json["id"], json!(ids.order_id));
    assert_eq!(order_json["externalNumber"], "WEB-10042");
    assert_eq!(order_json["sourceKey"], "my-site");
    assert_eq!(order_json["phone"], ids::CUSTOMER_PHONE);
    assert_eq!(order_json["orderServiceType"], "DeliveryByCourier");
    assert!(order_json.get("orderTypeId").is_none());
    assert!(
        order_json.get("completeBefore").is_none(),
        "as soon as possible"
    );
    assert_eq!(
        order_json["customer"],
        json!({"type": "regular", "name": "Иван"})
    );
    assert_eq!(order_json["guests"], json!({"count": 2}));
    assert_eq!(
        order_json["deliveryPoint"],
        json!({"address": {"type": "legacy", "street": {"name": "Ленина", "city": "Москва"},
                           "house": "10", "flat": "5", "entrance": "2", "floor": "3", "doorphone": "5K"},
               "comment": "Код 1234"})
    );
    assert_eq!(payments(&json), vec![("Card".to_owned(), f(cart.sum))]);
    assert_eq!(order_json["payments"][0]["isProcessedExternally"], false);
    assert!(order_json.get("discountsInfo").is_none() && order_json.get("comment").is_none());
}

#[bed::test]
async fn mapping_is_deterministic_given_the_ids_and_ids_are_one_per_line_and_modifier() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let order = parse(&config, &body(&cart(&catalog), json!({})));
    let ids = OrderIds::generate(&order);
    let first = map_order(&order, branch(&config), &catalog, &ids, "my-site").unwrap();
    let again = map_order(&order, branch(&config), &catalog, &ids.clone(), "my-site").unwrap();
    assert_eq!(first, again);
    let other = OrderIds::generate(&order);
    assert_ne!(other.order_id, ids.order_id);
    let mut all = ids.position_ids.clone();
    all.extend(&other.position_ids);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8, "positions are unique");
    // Ids that do not fit the order are refused rather than sent misaligned.
    let short = OrderIds {
        order_id: ids.order_id,
        position_ids: ids.position_ids[..3].to_vec(),
    };
    let problems: Vec<MappingProblem> =
        map_order(&order, branch(&config), &catalog, &short, "s").unwrap_err();
    assert_eq!(problems[0].code, "ids_mismatch");
}

#[bed::test]
async fn pickup_with_configured_order_types_sends_the_order_type_and_no_address() {
    let catalog = catalog().await;
    let pickup = json!({"service": "pickup", "address": null});
    let order = parse(
        &config(true, false, true),
        &body(&cart(&catalog), pickup.clone()),
    );
    let json = map(&config(true, false, true), &catalog, &order);
    assert_eq!(json["order"]["orderTypeId"], json!(ids::ORDER_TYPE_PICKUP));
    assert!(json["order"].get("orderServiceType").is_none());
    assert!(json["order"].get("deliveryPoint").is_none());
    let json = map(&config(true, false, false), &catalog, &order);
    assert_eq!(json["order"]["orderServiceType"], "DeliveryByClient");
    let courier = parse(
        &config(true, false, true),
        &body(&cart(&catalog), json!({})),
    );
    let json = map(&config(true, false, true), &catalog, &courier);
    assert_eq!(json["order"]["orderTypeId"], json!(ids::ORDER_TYPE_COURIER));
}

#[bed::test]
async fn a_one_time_customer_and_a_delivery_time_in_branch_local_time() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let at: DateTime<FixedOffset> = (Utc::now() + Span::hours(3)).fixed_offset();
    let text = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let changes = json!({"customer": {"name": "Аноним", "phone": "+7 999 000-11-22", "loyalty": false},
                         "deliver_at": text});
    let order = parse(&config, &body(&cart(&catalog), changes));
    let json = map(&config, &catalog, &order);
    assert_eq!(
        json["order"]["customer"],
        json!({"type": "one-time", "name": "Аноним"})
    );
    assert_eq!(json["order"]["phone"], "+79990001122");
    let parsed = DateTime::parse_from_rfc3339(&text).unwrap();
    let local = IikoDateTime::local_at(&parsed, chrono_tz::Europe::Moscow).to_string();
    assert_eq!(json["order"]["completeBefore"], local);
    assert!(local.ends_with(".000"));
}

#[bed::test]
async fn online_prepaid_sends_an_external_payment_with_the_transaction() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let cart = cart(&catalog);
    let paid = json!({"payment": {"method": "online", "transaction_id": "acq-123"}});
    let json = map(&config, &catalog, &parse(&config, &body(&cart, paid)));
    let payment = &json["order"]["payments"][0];
    assert_eq!(payment["paymentTypeKind"], "External");
    assert_eq!(payment["paymentTypeId"], json!(ids::PAYMENT_ONLINE));
    assert_eq!(payment["isProcessedExternally"], true);
    assert_eq!(
        payment["paymentAdditionalData"],
        json!({"type": "External", "customData": "acq-123"})
    );
    assert_eq!(payment["sum"].as_f64(), Some(f(cart.sum)));
}

#[bed::test]
async fn cash_with_change_tells_the_courier_in_the_comment() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let cash =
        json!({"payment": {"method": "cash", "change_from": 100000}, "comment": "Позвонить"});
    let json = map(
        &config,
        &catalog,
        &parse(&config, &body(&cart(&catalog), cash)),
    );
    assert_eq!(json["order"]["comment"], "Позвонить\nСдача с 100000.00");
    let payment = &json["order"]["payments"][0];
    assert_eq!(
        (
            payment["paymentTypeKind"].as_str(),
            payment["isProcessedExternally"].as_bool()
        ),
        (Some("Cash"), Some(false))
    );
    assert_eq!(payment["paymentTypeId"], json!(ids::PAYMENT_CASH));
}

#[bed::test]
async fn discount_bonus_and_promo_code_split_the_bill_and_the_code_is_sent_only_when_configured() {
    let catalog = catalog().await;
    let cart = cart(&catalog);
    let changes = json!({
        "discount": {"amount": 100, "promo_code": "SIM-100"}, "bonus": {"amount": 200.5},
        "total": cart.sum - dec!(300.5),
    });
    for send_codes in [false, true] {
        let config = config(true, send_codes, false);
        let json = map(
            &config,
            &catalog,
            &parse(&config, &body(&cart, changes.clone())),
        );
        let order = &json["order"];
        let discount = &order["discountsInfo"]["discounts"][0];
        assert_eq!(discount["type"], "RMS");
        assert_eq!(discount["discountTypeId"], json!(ids::DISCOUNT_UNIVERSAL));
        assert_eq!(discount["sum"].as_f64(), Some(100.0));
        assert_eq!(
            payments(&json),
            vec![
                ("Card".to_owned(), f(cart.sum - dec!(300.5))),
                ("LoyaltyCard".to_owned(), 200.5)
            ]
        );
        // Payments cover the bill after the discount, to the kopeck.
        assert_eq!(
            payments(&json).iter().map(|p| p.1).sum::<f64>(),
            f(cart.sum - dec!(100))
        );
        assert_eq!(
            order["payments"][1]["paymentAdditionalData"],
            json!({"type": "LoyaltyCard", "credential": ids::CUSTOMER_PHONE, "searchScope": "Phone"})
        );
        assert_eq!(
            order["payments"][1]["paymentTypeId"],
            json!(ids::PAYMENT_BONUS)
        );
        assert_eq!(order["comment"], "Промокод: SIM-100");
        let coupon = send_codes.then(|| json!({"coupon": "SIM-100"}));
        assert_eq!(
            order.get("loyaltyInfo"),
            coupon.as_ref(),
            "send_codes = {send_codes}"
        );
    }
}

#[bed::test]
async fn an_order_paid_wholly_with_bonus_sends_no_zero_payment() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let cart = cart(&catalog);
    let changes = json!({"bonus": {"amount": cart.sum}, "total": 0, "payment": {"method": "cash"}});
    let json = map(&config, &catalog, &parse(&config, &body(&cart, changes)));
    assert_eq!(
        payments(&json),
        vec![("LoyaltyCard".to_owned(), f(cart.sum))]
    );
}

#[bed::test]
async fn a_discount_without_a_configured_universal_discount_goes_to_operators() {
    let catalog = catalog().await;
    let config = config(false, false, false);
    let cart = cart(&catalog);
    let changes = json!({"discount": {"amount": 100}, "total": cart.sum - dec!(100)});
    let problems = problems(&config, &catalog, &parse(&config, &body(&cart, changes)));
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].field.as_str(), problems[0].code),
        ("discount.amount", "discount_not_configured")
    );
}

#[bed::test]
async fn price_drift_unknown_articles_and_stopped_items_are_explained_in_russian_for_staff_and_in_english_for_the_site()
 {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let stopped = catalog
        .products
        .iter()
        .find(|p| !p.hidden && (!p.available || p.sizes.iter().any(|s| !s.available)))
        .expect("the simulator stops three dishes");
    let stopped_size = stopped
        .sizes
        .iter()
        .find(|s| !s.available)
        .unwrap_or(&stopped.sizes[0]);
    let pizza = pizza(&catalog);
    let size = pizza.sizes.iter().find(|s| !s.default).unwrap();
    let dough = &pizza.modifier_groups[0].items[0];
    let drifted = size.price + dec!(10);
    let (modifiers, modifiers_sum) = required_modifiers(stopped);
    let items = json!([
        {"article": pizza.article, "size": size.name, "quantity": 1, "price": drifted,
         "modifiers": [{"article": dough.article, "quantity": 1, "price": dough.price}]},
        {"article": "NO-SUCH-1", "quantity": 1, "price": 100},
        {"article": stopped.article, "size": stopped_size.name, "quantity": 1, "price": stopped_size.price,
         "modifiers": modifiers},
    ]);
    // The external menu leaves hidden dishes out; a nomenclature catalog keeps them, flagged.
    let hidden = plain(&catalog).clone();
    let mut marked = catalog.clone();
    marked
        .products
        .iter_mut()
        .find(|p| p.article == hidden.article)
        .unwrap()
        .hidden = true;
    let catalog = marked;
    let mut items = items;
    items.as_array_mut().unwrap().push(json!({
        "article": hidden.article, "quantity": 1, "price": hidden.sizes[0].price,
    }));
    let total = drifted
        + dough.price
        + dec!(100)
        + stopped_size.price
        + modifiers_sum
        + hidden.sizes[0].price;
    let order = parse(
        &config,
        &body(&cart(&catalog), json!({"items": items, "total": total})),
    );
    let problems = problems(&config, &catalog, &order);
    let fields: Vec<_> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.code))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("items[0].price", "price_drift"),
            ("items[1].article", "unknown_article"),
            ("items[2].article", "stopped"),
            ("items[3].article", "hidden"),
        ]
    );
    assert_eq!(
        problems[0].reason,
        format!(
            "«{}» ({}): цена на сайте {drifted:.2} ₽, в iiko {:.2} ₽",
            pizza.name, pizza.article, size.price
        )
    );
    assert_eq!(
        problems[1].reason,
        "Товара с артикулом «NO-SUCH-1» нет в меню филиала"
    );
    assert_eq!(
        problems[2].reason,
        format!("«{}» ({}) на стоп-листе", stopped.name, stopped.article)
    );
    // /orders/check reports the same problems as field problems.
    let checked = check_order(&order, branch(&config), &catalog);
    assert_eq!(checked.len(), 4);
    assert_eq!(
        (checked[2].field.as_str(), checked[2].code.as_str()),
        ("items[2].article", "stopped")
    );
    // ... in English for the site, while staff read the Russian reasons above.
    assert_eq!(
        checked[0].message,
        format!(
            "{} ({}): the site's price is {drifted:.2}, iiko's {:.2}",
            pizza.article, pizza.name, size.price
        )
    );
    assert_eq!(
        checked[1].message,
        "no product with article NO-SUCH-1 in the branch's menu"
    );
    assert_eq!(
        checked[2].message,
        format!("{} ({}) is on the stop list", stopped.article, stopped.name)
    );
    assert!(
        check_order(
            &parse(&config, &body(&cart(&catalog), json!({}))),
            branch(&config),
            &catalog
        )
        .is_empty()
    );
}

#[bed::test]
async fn sizes_and_modifier_groups_are_checked_against_the_catalog() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let pizza = pizza(&catalog);
    let size = pizza.sizes.iter().find(|s| s.default).unwrap();
    let toppings = &pizza.modifier_groups[1];
    let line = |size: Value, modifiers: Value| json!({"article": pizza.article, "size": size, "quantity": 1, "price": size_price(pizza, &size), "modifiers": modifiers});
    let too_many: Vec<Value> = toppings
        .items
        .iter()
        .map(|m| json!({"article": m.article, "quantity": toppings.max, "price": m.price}))
        .collect();
    let extra: Decimal = toppings
        .items
        .iter()
        .map(|m| m.price * Decimal::from(toppings.max))
        .sum();
    let items = json!([
        line(json!(null), json!([])),
        line(
            json!("99 см"),
            json!([{"article": "MG-NOPE", "quantity": 1, "price": 1}])
        ),
        line(json!(size.name), Value::Array(too_many)),
    ]);
    let total = dec!(3) * size.price + dec!(1) + extra;
    let order = parse(
        &config,
        &body(&cart(&catalog), json!({"items": items, "total": total})),
    );
    let fields: Vec<_> = problems(&config, &catalog, &order)
        .into_iter()
        .map(|p| (p.field, p.code))
        .collect();
    let expected = [
        ("items[0].size", "size_required"),
        ("items[0].modifiers", "modifier_count"),
        ("items[1].size", "unknown_size"),
        ("items[1].modifiers[0].article", "unknown_modifier"),
        ("items[1].modifiers", "modifier_count"),
        ("items[2].modifiers", "modifier_count"),
        ("items[2].modifiers", "modifier_count"),
    ];
    assert_eq!(fields, expected.map(|(f, c)| (f.to_owned(), c)).to_vec());
}

/// The default size's price, which the test lines charge whatever size they name.
fn size_price(pizza: &Product, _size: &Value) -> Decimal {
    pizza.sizes.iter().find(|s| s.default).unwrap().price
}

/// The least choice that satisfies a product's required modifier groups, and its price per unit.
fn required_modifiers(product: &Product) -> (Value, Decimal) {
    let required: Vec<_> = product
        .modifier_groups
        .iter()
        .filter(|g| g.min > 0)
        .collect();
    let lines = required
        .iter()
        .map(|g| json!({"article": g.items[0].article, "quantity": g.min, "price": g.items[0].price}))
        .collect();
    let sum = required
        .iter()
        .map(|g| Decimal::from(g.min) * g.items[0].price)
        .sum();
    (lines, sum)
}

#[bed::test]
async fn free_modifiers_may_be_charged_zero_but_other_prices_must_match() {
    let catalog = catalog().await;
    let config = config(true, false, false);
    let dish = catalog
        .products
        .iter()
        .find(|p| {
            sellable(p)
                && p.modifier_groups.len() == 1
                && p.modifier_groups[0].free_quantity > 0
                && p.modifier_groups[0].items[0].price > Decimal::ZERO
        })
        .expect("rolls come with sauces, one of them free");
    let sauce = &dish.modifier_groups[0].items[0];
    let price = dish.sizes[0].price;
    let line = |charged: Decimal| {
        json!({"items": [{"article": dish.article, "quantity": 1, "price": price,
                          "modifiers": [{"article": sauce.article, "quantity": 1, "price": charged}]}],
               "total": price + charged})
    };
    let free = parse(&config, &body(&cart(&catalog), line(Decimal::ZERO)));
    let json = map(&config, &catalog, &free);
    assert_eq!(
        json["order"]["items"][0]["modifiers"][0]["price"].as_f64(),
        Some(0.0)
    );
    let wrong = parse(&config, &body(&cart(&catalog), line(sauce.price + dec!(1))));
    let problems = problems(&config, &catalog, &wrong);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].field.as_str(), problems[0].code),
        ("items[0].modifiers[0].price", "price_drift")
    );
    assert!(
        problems[0]
            .reason
            .contains(&format!("модификатор «{}»", sauce.name)),
        "{}",
        problems[0].reason
    );
}
