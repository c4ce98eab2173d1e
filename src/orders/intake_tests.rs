use chrono::TimeZone;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::*;
use crate::orders::test_support::{config, order_json};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

fn parse(body: &Value) -> Result<Order, IntakeError> {
    parse_order_at(body.to_string().as_bytes(), &config(), true, now())
}

/// The (field, code) pairs of an invalid body, sorted.
fn problems(body: &Value) -> Vec<(String, String)> {
    match parse(body) {
        Err(IntakeError::Invalid(problems)) => {
            let mut pairs: Vec<_> = problems.into_iter().map(|p| (p.field, p.code)).collect();
            pairs.sort();
            pairs
        }
        other => panic!("expected field problems, got {other:?}"),
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = expected
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect();
    pairs.sort();
    pairs
}

fn with(changes: impl FnOnce(&mut Value)) -> Value {
    let mut body = order_json();
    changes(&mut body);
    body
}

#[test]
fn a_valid_order_parses_into_domain_types() {
    let order = parse(&order_json()).unwrap();
    assert_eq!(order.id.as_ref().unwrap().as_str(), "WEB-1");
    assert_eq!(order.external_number(), Some("WEB-1"));
    assert!(
        matches!(&order.service, Service::Delivery(a) if a.house == "10" && a.flat.as_deref() == Some("5"))
    );
    assert!(order.customer.loyalty);
    assert_eq!(order.persons.count(), 1);
    assert_eq!(
        order.items[0].modifiers[0].price(),
        Money::parse(dec!(50)).unwrap()
    );
    assert_eq!(order.items_sum(), dec!(1150));
    assert_eq!(order.payment.change_from.unwrap().amount(), dec!(5000));
    assert_eq!(order.total.amount(), dec!(1000));
}

#[test]
fn malformed_json_is_its_own_error() {
    for raw in [&b"{\"id\": "[..], b"", b"not json", b"{\"a\":1}}"] {
        let result = parse_order_at(raw, &config(), true, now());
        assert!(matches!(result, Err(IntakeError::Malformed(_))), "{raw:?}");
    }
}

#[test]
fn a_body_that_is_not_an_object_is_one_problem() {
    assert_eq!(problems(&json!([1, 2])), pairs(&[("body", "wrong_type")]));
}

#[test]
fn every_missing_field_is_reported_at_once() {
    assert_eq!(
        problems(&json!({})),
        pairs(&[
            ("id", "required"),
            ("branch", "required"),
            ("service", "required"),
            ("customer", "required"),
            ("items", "required"),
            ("payment", "required"),
            ("total", "required"),
        ])
    );
}

#[test]
fn the_id_may_be_left_out_only_when_not_required() {
    let body = with(|b| {
        b.as_object_mut().unwrap().remove("id");
    });
    assert_eq!(problems(&body), pairs(&[("id", "required")]));
    let order = parse_order_at(body.to_string().as_bytes(), &config(), false, now()).unwrap();
    assert_eq!(order.id, None);
    assert_eq!(order.external_number(), None);
}

#[test]
fn wrong_types_are_reported_per_field() {
    let body = with(|b| {
        b["id"] = json!(17);
        b["customer"]["name"] = json!(["Иван"]);
        b["customer"]["loyalty"] = json!("yes");
        b["items"][0]["quantity"] = json!("2");
        b["items"][1]["price"] = json!(null);
        b["persons"] = json!(2.5);
        b["payment"] = json!("cash");
    });
    assert_eq!(
        problems(&body),
        pairs(&[
            ("id", "wrong_type"),
            ("customer.name", "wrong_type"),
            ("customer.loyalty", "wrong_type"),
            ("items[0].quantity", "wrong_type"),
            ("items[1].price", "required"),
            ("persons", "out_of_range"),
            ("payment", "wrong_type"),
        ])
    );
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let body = with(|b| {
        b["delivery_at"] = json!("2026-05-01T19:00:00+03:00");
        b["customer"]["surname"] = json!("Петров");
        b["items"][0]["modifiers"][0]["name"] = json!("Сыр");
    });
    assert_eq!(
        problems(&body),
        pairs(&[
            ("delivery_at", "unknown_field"),
            ("customer.surname", "unknown_field"),
            ("items[0].modifiers[0].name", "unknown_field"),
        ])
    );
}

#[test]
fn three_hundred_lines_are_too_many_and_two_hundred_are_fine() {
    let line = json!({"article": "DR-1", "quantity": 1, "price": 1});
    let body = |n: usize| {
        with(|b| {
            b["items"] = Value::Array(vec![line.clone(); n]);
            b["discount"] = json!(null);
            b["bonus"] = json!(null);
            b["total"] = json!(n);
        })
    };
    assert_eq!(problems(&body(300)), pairs(&[("items", "too_many")]));
    assert_eq!(problems(&body(201)), pairs(&[("items", "too_many")]));
    assert_eq!(parse(&body(200)).unwrap().items.len(), 200);
    assert_eq!(problems(&body(0)), pairs(&[("items", "empty")]));
}

#[test]
fn negative_zero_and_absurd_quantities_and_prices_are_refused() {
    let body = with(|b| {
        b["items"][0]["quantity"] = json!(-1);
        b["items"][1]["quantity"] = json!(1e9);
        b["items"][0]["modifiers"][0]["quantity"] = json!(0);
        b["items"][1]["price"] = json!(-150);
        b["items"][0]["price"] = json!(450.001);
    });
    assert_eq!(
        problems(&body),
        pairs(&[
            ("items[0].quantity", "not_positive"),
            ("items[1].quantity", "too_large"),
            ("items[0].modifiers[0].quantity", "not_positive"),
            ("items[1].price", "negative"),
            ("items[0].price", "too_precise"),
        ])
    );
}

#[test]
fn a_bad_phone_an_unknown_branch_and_a_missing_address_come_together() {
    let body = with(|b| {
        b["customer"]["phone"] = json!("89990001122");
        b["branch"] = json!("nowhere");
        b.as_object_mut().unwrap().remove("address");
        b["total"] = json!(1);
    });
    assert_eq!(
        problems(&body),
        pairs(&[
            ("customer.phone", "invalid_phone"),
            ("branch", "unknown_branch"),
            ("address", "required"),
            ("total", "mismatch"),
        ])
    );
}

#[test]
fn a_pickup_needs_no_address() {
    let body = with(|b| {
        b["service"] = json!("pickup");
        b.as_object_mut().unwrap().remove("address");
        b["payment"] = json!({"method": "card"});
    });
    assert_eq!(parse(&body).unwrap().service, Service::Pickup);
}

#[test]
fn address_fields_follow_iikos_limits() {
    let body = with(|b| {
        b["address"]["flat"] = json!("12345678901");
        b["address"]["street"] = json!("  ");
        b["address"]["floor"] = json!("");
    });
    assert_eq!(
        problems(&body),
        pairs(&[("address.flat", "too_long"), ("address.street", "empty")])
    );
}

#[test]
fn a_wrong_total_names_the_arithmetic() {
    let body = with(|b| b["total"] = json!(999.99));
    match parse(&body) {
        Err(IntakeError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(
                (problems[0].field.as_str(), problems[0].code.as_str()),
                ("total", "mismatch")
            );
            assert_eq!(
                problems[0].message,
                "items 1150.00 - discount 100.00 - bonus 50.00 = 1000.00, but total is 999.99"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn kopeck_arithmetic_is_exact() {
    // 3 x 33.33 = 99.99, minus a 0.01 discount.
    let body = json!({
        "id": "K", "branch": "lenina", "service": "pickup",
        "customer": {"name": "Анна", "phone": "+79990002233"},
        "items": [{"article": "A", "quantity": 3, "price": 33.33}],
        "discount": {"amount": 0.01},
        "payment": {"method": "card"},
        "total": 99.98
    });
    assert_eq!(parse(&body).unwrap().total.amount(), dec!(99.98));
    let mut off = body.clone();
    off["total"] = json!(99.99);
    assert_eq!(problems(&off), pairs(&[("total", "mismatch")]));
    // 0.1 + 0.2 in doubles is 0.30000000000000004; in decimals it is 0.3.
    let mut doubles = body.clone();
    doubles["items"] = json!([{"article": "A", "quantity": 1, "price": 0.1}, {"article": "B", "quantity": 1, "price": 0.2}]);
    doubles["discount"] = json!(null);
    doubles["total"] = json!(0.3);
    assert!(parse(&doubles).is_ok());
    // A weighed line is rounded once: 0.335 x 100.01 = 33.50335 -> 33.50.
    let mut weighed = body;
    weighed["items"] = json!([{"article": "A", "quantity": 0.335, "price": 100.01}]);
    weighed["discount"] = json!(null);
    weighed["total"] = json!(33.5);
    assert!(parse(&weighed).is_ok());
}

#[test]
fn money_with_a_third_decimal_is_refused_not_rounded() {
    let body = with(|b| b["total"] = json!(1000.005));
    assert_eq!(problems(&body), pairs(&[("total", "too_precise")]));
}

#[test]
fn deliver_at_must_have_an_offset_and_lie_within_sixty_days() {
    let at = |value: &str| with(|b| b["deliver_at"] = json!(value));
    let order = parse(&at("2026-05-01T19:30:00+03:00")).unwrap();
    assert_eq!(
        order.deliver_at.unwrap().to_rfc3339(),
        "2026-05-01T19:30:00+03:00"
    );
    // Four minutes ago is within the grace; ten minutes ago is not.
    assert!(parse(&at("2026-05-01T11:56:00Z")).is_ok());
    assert_eq!(
        problems(&at("2026-05-01T11:50:00Z")),
        pairs(&[("deliver_at", "in_past")])
    );
    assert_eq!(
        problems(&at("2026-07-15T12:00:00Z")),
        pairs(&[("deliver_at", "too_far")])
    );
    assert_eq!(
        problems(&at("2026-05-01 19:30")),
        pairs(&[("deliver_at", "invalid_datetime")])
    );
    assert_eq!(
        problems(&at("2026-05-01T19:30:00")),
        pairs(&[("deliver_at", "invalid_datetime")])
    );
}

#[test]
fn bonus_needs_a_branch_that_takes_bonuses_and_stays_within_its_limit() {
    let disabled = with(|b| b["branch"] = json!("mira"));
    assert_eq!(
        problems(&disabled),
        pairs(&[("bonus.amount", "bonus_disabled")])
    );
    // 50 % of 1150 - 100 = 525 at most.
    let over = with(|b| {
        b["bonus"]["amount"] = json!(526);
        b["total"] = json!(524);
    });
    assert_eq!(problems(&over), pairs(&[("bonus.amount", "over_limit")]));
}

#[test]
fn payment_fields_must_fit_the_method() {
    let body = with(|b| {
        b["payment"] = json!({"method": "card", "change_from": 5000, "transaction_id": "t-1"});
    });
    assert_eq!(
        problems(&body),
        pairs(&[
            ("payment.change_from", "not_allowed"),
            ("payment.transaction_id", "not_allowed")
        ])
    );
    let short = with(|b| b["payment"]["change_from"] = json!(500));
    assert_eq!(
        problems(&short),
        pairs(&[("payment.change_from", "less_than_total")])
    );
    let unknown = with(|b| b["payment"]["method"] = json!("crypto"));
    assert_eq!(
        problems(&unknown),
        pairs(&[("payment.method", "invalid_value")])
    );
}

#[test]
fn the_same_modifier_twice_in_a_line_is_refused() {
    let body = with(|b| {
        b["items"][0]["modifiers"] = json!([
            {"article": "MOD-1", "quantity": 1, "price": 25},
            {"article": "MOD-1", "quantity": 1, "price": 25}
        ]);
    });
    assert_eq!(
        problems(&body),
        pairs(&[("items[0].modifiers[1].article", "duplicate")])
    );
}

#[test]
fn optional_fields_take_their_defaults_and_blank_strings_count_as_absent() {
    let body = with(|b| {
        b["persons"] = json!(3);
        b["customer"]["loyalty"] = json!(false);
        b["customer"]["email"] = json!("");
        b["comment"] = json!("  ");
        b["number"] = json!("A-42");
    });
    let order = parse(&body).unwrap();
    assert_eq!(order.persons.count(), 3);
    assert!(!order.customer.loyalty);
    assert_eq!(order.customer.email, None);
    assert_eq!(order.comment, None);
    assert_eq!(order.external_number(), Some("A-42"));
}

#[test]
fn extreme_numbers_are_field_problems_not_panics() {
    for number in [
        "1e-300",
        "1e300",
        "5e-324",
        "-0.0",
        "1.7976931348623157e308",
        "18446744073709551616",
        "-9223372036854775809",
    ] {
        let raw = order_json()
            .to_string()
            .replace("\"total\":1000", &format!("\"total\":{number}"));
        assert!(raw.contains(number), "{raw}");
        let result = parse_order_at(raw.as_bytes(), &config(), true, now());
        assert!(
            matches!(result, Err(IntakeError::Invalid(_))),
            "{number}: {result:?}"
        );
    }
}

#[test]
fn a_discount_above_the_items_is_refused_naming_the_discount() {
    let body = with(|b| {
        b["discount"]["amount"] = json!(1150.01);
        b["bonus"] = json!(null);
        b["total"] = json!(0);
    });
    assert_eq!(
        problems(&body),
        pairs(&[("discount.amount", "over_items"), ("total", "mismatch")])
    );
}

#[test]
fn a_cart_may_leave_out_id_and_total_and_its_total_is_computed() {
    let cart = |changes: fn(&mut Value)| {
        let mut body = order_json();
        body.as_object_mut().unwrap().remove("id");
        body.as_object_mut().unwrap().remove("total");
        // A cart for calculation carries no change note yet.
        body["payment"] = json!({"method": "card"});
        changes(&mut body);
        parse_cart(body.to_string().as_bytes(), &config())
    };
    let parsed = cart(|_| {}).unwrap();
    assert_eq!(parsed.id, None);
    assert_eq!(parsed.total.amount(), dec!(1000));
    // A given total is still checked.
    let wrong = cart(|b| b["total"] = json!(999)).unwrap_err();
    assert!(
        matches!(&wrong, IntakeError::Invalid(p) if p[0].field == "total"),
        "{wrong:?}"
    );
    // Points beyond what is left to pay leave no total to compute.
    let over = cart(|b| b["bonus"]["amount"] = json!(1050.01)).unwrap_err();
    let IntakeError::Invalid(found) = over else {
        panic!("{over:?}")
    };
    assert!(
        found
            .iter()
            .any(|p| p.field == "bonus.amount" && p.code == "over_items"),
        "{found:?}"
    );
    // An order submission still needs both.
    let mut body = order_json();
    body.as_object_mut().unwrap().remove("total");
    assert_eq!(problems(&body), pairs(&[("total", "required")]));
}
