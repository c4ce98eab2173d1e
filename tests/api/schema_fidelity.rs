//! The fidelity harness itself: the schema subset extracted from the official iikoCloud
//! `openapi.json` accepts what iikoCloud documents and rejects the mistakes a bridge could make.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::iiko_schema;

const CREATE: &str = "/api/1/deliveries/create";

/// REFERENCE.md §6.9 "Minimal example (courier delivery, prepaid online, fixed discount)", verbatim.
const REFERENCE_6_9: &str = r#"{
  "organizationId": "ORG-UUID",
  "terminalGroupId": "TG-UUID",
  "createOrderSettings": { "transportToFrontTimeout": 30, "checkStopList": false },
  "order": {
    "id": "NEW-UUID", "externalNumber": "WEB-10042", "sourceKey": "my-site",
    "completeBefore": "2024-05-01 19:30:00.000",
    "phone": "+79990001122", "orderServiceType": "DeliveryByCourier",
    "customer": { "type": "regular", "name": "Ivan" },
    "deliveryPoint": { "address": { "type": "legacy",
        "street": { "name": "Lenina", "city": "Moscow" }, "house": "10", "flat": "5" } },
    "guests": { "count": 2 },
    "items": [
      { "type": "Product", "productId": "PROD-UUID", "productSizeId": null, "amount": 2, "price": 450.0,
        "positionId": "POS-UUID-1",
        "modifiers": [ { "productId": "MOD-UUID", "productGroupId": "MODGRP-UUID", "amount": 1, "price": 50.0 } ] }
    ],
    "discountsInfo": { "discounts": [ { "type": "RMS", "discountTypeId": "DISC-UUID", "sum": 100.0 } ] },
    "payments": [ { "paymentTypeKind": "External", "paymentTypeId": "PT-UUID", "sum": 900.0,
                    "isProcessedExternally": true, "isFiscalizedExternally": false,
                    "paymentAdditionalData": { "type": "External", "customData": "acq-txn-123" } } ]
  }
}"#;

/// The §6.9 body with its placeholder ids (`ORG-UUID`, ...) replaced by real UUIDs, as the
/// bridge would send it.
fn reference_body() -> Value {
    let mut text = REFERENCE_6_9.to_owned();
    for (placeholder, uuid) in [
        ("ORG-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b01"),
        ("TG-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b02"),
        ("NEW-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b03"),
        ("PROD-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b04"),
        ("POS-UUID-1", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b05"),
        ("MODGRP-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b06"),
        ("MOD-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b07"),
        ("DISC-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b08"),
        ("PT-UUID", "7f3a1c52-0d5e-4b8e-9a57-2f0c6d1e4b09"),
    ] {
        text = text.replace(&format!("\"{placeholder}\""), &format!("\"{uuid}\""));
    }
    serde_json::from_str(&text).expect("REFERENCE §6.9 example is JSON")
}

/// Asserts that `body` is rejected and that some error line starts at `pointer` and mentions
/// `needle`. Returns the errors for further checks.
#[track_caller]
fn assert_rejected_at(path: &str, body: &Value, pointer: &str, needle: &str) -> Vec<String> {
    let errors = iiko_schema::request_errors(path, body);
    assert!(!errors.is_empty(), "expected {path} to reject {body:#}");
    let prefix = format!("{pointer}: ");
    assert!(
        errors
            .iter()
            .any(|line| line.trim_start().starts_with(&prefix) && line.contains(needle)),
        "expected an error at {pointer} mentioning {needle:?}, got:\n  {}",
        errors.join("\n  ")
    );
    errors
}

#[test]
fn the_reference_delivery_example_matches_the_official_schema() {
    iiko_schema::assert_valid_request(CREATE, &reference_body());
}

#[test]
fn the_reference_example_with_its_placeholder_ids_fails_because_uuids_are_checked() {
    let body: Value = serde_json::from_str(REFERENCE_6_9).unwrap();
    assert_rejected_at(CREATE, &body, "/organizationId", "uuid");
    assert_rejected_at(CREATE, &body, "/order/items/0/productId", "uuid");
}

#[test]
fn a_delivery_without_a_phone_is_rejected() {
    let mut body = reference_body();
    body["order"].as_object_mut().unwrap().remove("phone");
    assert_rejected_at(CREATE, &body, "/order", "\"phone\" is a required property");
}

#[test]
fn a_misspelt_field_name_is_rejected() {
    let mut body = reference_body();
    let order = body["order"].as_object_mut().unwrap();
    let phone = order.remove("phone").unwrap();
    order.insert("phonee".into(), phone);
    let errors = assert_rejected_at(CREATE, &body, "/order", "phonee");
    assert!(
        errors
            .iter()
            .any(|line| line.contains("\"phone\" is a required property"))
    );
}

#[test]
fn an_unknown_field_inside_a_subtype_is_rejected() {
    let mut body = reference_body();
    body["order"]["items"][0]["prise"] = json!(450.0);
    assert_rejected_at(CREATE, &body, "/order/items/0", "prise");
}

#[test]
fn an_item_of_type_dish_is_rejected() {
    let mut body = reference_body();
    body["order"]["items"][0]["type"] = json!("Dish");
    assert_rejected_at(CREATE, &body, "/order/items/0/type", "Dish");
}

#[test]
fn a_product_item_without_a_product_id_is_rejected() {
    let mut body = reference_body();
    body["order"]["items"][0]
        .as_object_mut()
        .unwrap()
        .remove("productId");
    assert_rejected_at(
        CREATE,
        &body,
        "/order/items/0",
        "\"productId\" is a required property",
    );
}

#[test]
fn a_compound_item_needs_its_primary_component_not_a_product_id() {
    let mut body = reference_body();
    body["order"]["items"][0]["type"] = json!("Compound");
    let errors = assert_rejected_at(
        CREATE,
        &body,
        "/order/items/0",
        "\"primaryComponent\" is a required property",
    );
    assert!(
        errors.iter().any(|line| line.contains("productId")),
        "{errors:#?}"
    );
}

#[test]
fn a_customer_of_type_capital_regular_is_rejected() {
    let mut body = reference_body();
    body["order"]["customer"]["type"] = json!("Regular");
    assert_rejected_at(CREATE, &body, "/order/customer/type", "Regular");
}

#[test]
fn a_one_time_customer_needs_a_name() {
    let mut body = reference_body();
    body["order"]["customer"] = json!({"type": "one-time"});
    assert_rejected_at(
        CREATE,
        &body,
        "/order/customer",
        "\"name\" is a required property",
    );
    body["order"]["customer"] = json!({"type": "one-time", "name": "Ivan"});
    iiko_schema::assert_valid_request(CREATE, &body);
}

#[test]
fn a_payment_without_a_payment_type_id_is_rejected() {
    let mut body = reference_body();
    body["order"]["payments"][0]
        .as_object_mut()
        .unwrap()
        .remove("paymentTypeId");
    let errors = assert_rejected_at(
        CREATE,
        &body,
        "/order/payments/0",
        "\"paymentTypeId\" is a required property",
    );
    // Only the real mistake is reported, not the payment's other fields as "unexpected".
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn a_payment_kind_outside_the_mapping_is_rejected() {
    let mut body = reference_body();
    body["order"]["payments"][0]["paymentTypeKind"] = json!("Online");
    assert_rejected_at(CREATE, &body, "/order/payments/0/paymentTypeKind", "Online");
}

#[test]
fn external_payment_data_without_custom_data_is_rejected() {
    let mut body = reference_body();
    body["order"]["payments"][0]["paymentAdditionalData"] = json!({"type": "External"});
    assert_rejected_at(
        CREATE,
        &body,
        "/order/payments/0/paymentAdditionalData",
        "\"customData\" is a required property",
    );
}

#[test]
fn a_city_address_needs_line1_and_refuses_legacy_fields() {
    let mut body = reference_body();
    body["order"]["deliveryPoint"]["address"]["type"] = json!("city");
    let errors = assert_rejected_at(
        CREATE,
        &body,
        "/order/deliveryPoint/address",
        "\"line1\" is a required property",
    );
    assert!(
        errors.iter().any(|line| line.contains("street")),
        "{errors:#?}"
    );
}

#[test]
fn an_iiko_card_discount_needs_its_program() {
    let mut body = reference_body();
    body["order"]["discountsInfo"]["discounts"][0]["type"] = json!("iikoCard");
    assert_rejected_at(
        CREATE,
        &body,
        "/order/discountsInfo/discounts/0",
        "\"programId\" is a required property",
    );
}

#[test]
fn a_string_where_a_number_is_required_is_rejected() {
    let mut body = reference_body();
    body["order"]["items"][0]["amount"] = json!("2");
    let errors = assert_rejected_at(CREATE, &body, "/order/items/0/amount", "number");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let mut body = reference_body();
    body["order"]["payments"][0]["sum"] = json!("900.00");
    assert_rejected_at(CREATE, &body, "/order/payments/0/sum", "number");
}

#[test]
fn an_iso_date_time_is_rejected_where_iiko_wants_its_own_format() {
    let mut body = reference_body();
    body["order"]["completeBefore"] = json!("2024-05-01T19:30:00Z");
    assert_rejected_at(CREATE, &body, "/order/completeBefore", "does not match");
    body["order"]["completeBefore"] = json!(null);
    iiko_schema::assert_valid_request(CREATE, &body);
}

#[test]
fn limits_from_the_schema_are_enforced() {
    let mut body = reference_body();
    body["order"]["items"][0]["amount"] = json!(1000);
    assert_rejected_at(CREATE, &body, "/order/items/0/amount", "maximum");
    let mut body = reference_body();
    body["order"]["externalNumber"] = json!("W".repeat(51));
    assert_rejected_at(CREATE, &body, "/order/externalNumber", "longer than 50");
}

#[test]
fn a_phone_without_a_plus_or_with_too_few_digits_is_rejected() {
    // The schema states these rules only in prose; the generator turns them into patterns.
    for phone in ["79990001122", "+7999-00", "+7 (999) 000"] {
        let mut body = reference_body();
        body["order"]["phone"] = json!(phone);
        assert_rejected_at(CREATE, &body, "/order/phone", "does not match");
    }
    let mut body = reference_body();
    body["order"]["phone"] = json!("+7 (999) 000-11-22");
    iiko_schema::assert_valid_request(CREATE, &body);
    body["order"]["phoneExtension"] = json!("12a");
    assert_rejected_at(CREATE, &body, "/order/phoneExtension", "does not match");
}

#[test]
fn a_loyalty_customer_lookup_dispatches_on_type() {
    let path = "/api/1/loyalty/iiko/customer/info";
    let org = "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e60";
    iiko_schema::assert_valid_request(
        path,
        &json!({"organizationId": org, "type": "phone", "phone": "+79990001122"}),
    );
    assert_rejected_at(
        path,
        &json!({"organizationId": org, "type": "phone", "cardTrack": "123"}),
        "/",
        "cardTrack",
    );
    assert_rejected_at(
        path,
        &json!({"organizationId": org, "type": "Phone", "phone": "+79990001122"}),
        "/type",
        "Phone",
    );
}

#[test]
fn an_access_token_v2_body_is_valid_and_needs_a_client_secret() {
    let path = "/api/v2/access_token";
    let body = json!({
        "apiKey": "b1f0c3e2-key",
        "appId": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e6f",
        "clientSecret": "s3cr3t"
    });
    iiko_schema::assert_valid_request(path, &body);
    let mut without_secret = body.clone();
    without_secret
        .as_object_mut()
        .unwrap()
        .remove("clientSecret");
    assert_rejected_at(
        path,
        &without_secret,
        "/",
        "\"clientSecret\" is a required property",
    );
}

#[test]
fn the_legacy_access_token_body_takes_only_an_api_login() {
    let path = "/api/1/access_token";
    iiko_schema::assert_valid_request(path, &json!({"apiLogin": "abc"}));
    assert_rejected_at(
        path,
        &json!({"apiKey": "abc"}),
        "/",
        "\"apiLogin\" is a required property",
    );
}

#[test]
fn the_menu_list_takes_an_empty_body() {
    iiko_schema::assert_valid_request("/api/2/menu", &json!({}));
    assert!(
        !iiko_schema::request_errors("/api/2/menu", &json!({"organizationIds": []})).is_empty()
    );
}

#[test]
fn every_request_schema_rejects_an_unknown_top_level_field() {
    let paths = iiko_schema::known_paths();
    assert_eq!(paths.len(), 27, "{paths:?}");
    for path in paths {
        let errors = iiko_schema::request_errors(path, &json!({"definitelyNotAField": 1}));
        assert!(!errors.is_empty(), "{path} accepted an unknown field");
    }
}

#[test]
#[should_panic(expected = "unknown iikoCloud path")]
fn an_unknown_path_panics_instead_of_passing() {
    iiko_schema::request_errors("/api/1/deliveries/craete", &json!({}));
}

#[test]
#[should_panic(expected = "no official request schema for /api/menu/v3/by_id")]
fn the_menu_v3_path_is_reported_absent_from_the_snapshot() {
    assert!(
        iiko_schema::absent_paths()
            .iter()
            .any(|(path, _)| *path == "/api/menu/v3/by_id")
    );
    iiko_schema::request_errors("/api/menu/v3/by_id", &json!({}));
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iiko-examples")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn slug(path: &str) -> String {
    path.trim_matches('/').replace('/', "-")
}

/// Official examples that contradict their own schema; none are known in this snapshot.
const EXAMPLES_KNOWN_TO_CONTRADICT_THE_SCHEMA: &[(&str, &str)] = &[];

/// Runs every official example of one kind ("request" or "response") through its schema and
/// returns how many were checked.
fn check_official_examples(kind: &str) -> usize {
    let index = read_json(&examples_dir().join("index.json"));
    let paths = index["paths"].as_object().expect("index.json has paths");
    let known = iiko_schema::known_paths();
    assert_eq!(
        paths.keys().map(String::as_str).collect::<Vec<_>>(),
        known,
        "index.json and the schema fixture list different paths"
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, entry) in paths {
        let names = entry[format!("{kind}Examples")].as_array().unwrap();
        if names.is_empty() {
            continue;
        }
        let suffix = if kind == "request" { ".request" } else { "" };
        let file = examples_dir().join(format!("{}{suffix}.json", slug(path)));
        let examples = read_json(&file);
        for name in names {
            let name = name.as_str().unwrap();
            if EXAMPLES_KNOWN_TO_CONTRADICT_THE_SCHEMA.contains(&(path.as_str(), name)) {
                continue;
            }
            let example = examples
                .get(name)
                .unwrap_or_else(|| panic!("{}: no example {name:?}", file.display()));
            let errors = if kind == "request" {
                iiko_schema::request_errors(path, example)
            } else {
                iiko_schema::response_errors(path, example)
            };
            if !errors.is_empty() {
                failures.push(format!(
                    "{path} {kind} example {name:?}:\n    {}",
                    errors.join("\n    ")
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "official examples fail:\n{}",
        failures.join("\n")
    );
    checked
}

#[test]
fn every_official_response_example_matches_its_response_schema() {
    // The 2026-07-21 snapshot attaches no example to any 200 response of the paths we use,
    // so this checks nothing today; it starts checking as soon as a refreshed schema has them.
    let checked = check_official_examples("response");
    println!("checked {checked} official response examples");
}

#[test]
fn every_official_request_example_matches_its_strict_request_schema() {
    // The four /api/2/menu/by_id examples are the only request examples in the snapshot.
    let checked = check_official_examples("request");
    assert!(
        checked >= 4,
        "expected the /api/2/menu/by_id request examples, checked {checked}"
    );
}

// The snapshot has no official response examples, so these hand-written bodies (built from the
// response schemas and REFERENCE.md §6.7/§7) exercise the converted response schemas instead.

#[test]
fn a_create_delivery_response_in_progress_matches_and_extra_fields_are_tolerated() {
    let body = json!({
        "correlationId": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e60",
        "orderInfo": {
            "id": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e61",
            "posId": null,
            "externalNumber": "WEB-10042",
            "organizationId": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e62",
            "timestamp": 1714580000000_i64,
            "creationStatus": "InProgress",
            "errorInfo": null,
            "order": null,
            "someFieldIikoAddsLater": 1
        }
    });
    iiko_schema::assert_valid_response(CREATE, &body);
    let mut wrong = body.clone();
    wrong["orderInfo"]["creationStatus"] = json!("Pending");
    assert!(
        iiko_schema::response_errors(CREATE, &wrong)
            .iter()
            .any(|line| line.trim_start().starts_with("/orderInfo/creationStatus: "))
    );
}

#[test]
fn command_status_responses_dispatch_on_state() {
    let path = "/api/1/commands/status";
    iiko_schema::assert_valid_response(path, &json!({"state": "InProgress"}));
    iiko_schema::assert_valid_response(path, &json!({"state": "Success"}));
    iiko_schema::assert_valid_response(
        path,
        &json!({"state": "Error", "exception": {"message": "boom"}, "errorReason": "TimeoutExceeded"}),
    );
    let errors = iiko_schema::response_errors(path, &json!({"state": "Failed"}));
    assert!(
        errors.iter().any(|line| line.starts_with("/state: ")),
        "{errors:#?}"
    );
}

#[test]
fn organization_responses_dispatch_on_response_type() {
    let path = "/api/1/organizations";
    let mut body = json!({
        "correlationId": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e60",
        "organizations": [{
            "responseType": "Simple",
            "id": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e63",
            "name": null,
            "code": null,
            "externalData": null
        }]
    });
    iiko_schema::assert_valid_response(path, &body);
    body["organizations"][0]["responseType"] = json!("Complete");
    let errors = iiko_schema::response_errors(path, &body);
    assert!(
        errors
            .iter()
            .any(|line| line.starts_with("/organizations/0/responseType: ")),
        "{errors:#?}"
    );
}

#[test]
fn loyalty_fields_that_the_schema_calls_nullable_only_in_prose_accept_null() {
    // GetCustomerInfoResponse.name is `type: string` with the description "Guest name. Can be null."
    let path = "/api/1/loyalty/iiko/customer/info";
    let mut body = json!({
        "id": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e64",
        "name": null,
        "surname": null,
        "phone": "+79990001122",
        "walletBalances": [{"id": "0b5a2a6c-8d1f-4e39-9f3c-1a2b3c4d5e65", "name": "Bonus", "type": 1, "balance": 120.5}]
    });
    iiko_schema::assert_valid_response(path, &body);
    body["walletBalances"][0]["balance"] = json!("120.5");
    let errors = iiko_schema::response_errors(path, &body);
    assert!(
        errors
            .iter()
            .any(|line| line.starts_with("/walletBalances/0/balance: ")),
        "{errors:#?}"
    );
}

#[test]
fn the_committed_schema_fixture_is_up_to_date() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let openapi = repo.join("../shared/iikocloud/openapi.json");
    if !openapi.exists() {
        println!(
            "note: {} not found; skipping the drift check of tests/fixtures/iiko-schema-subset.json",
            openapi.display()
        );
        return;
    }
    let output = Command::new("python3")
        .arg(repo.join("scripts/iiko-schema-subset.py"))
        .arg("--check")
        .arg("--openapi")
        .arg(&openapi)
        .output()
        .expect("python3 runs scripts/iiko-schema-subset.py");
    assert!(
        output.status.success(),
        "the schema fixture is stale; run `python3 scripts/iiko-schema-subset.py`:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
