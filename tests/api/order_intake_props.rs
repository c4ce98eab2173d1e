//! `parse_order` and `content_hash` never panic, whatever the site sends.
use proptest::prelude::*;
use serde_json::{Value, json};

use iiko_bridge::config::Config;
use iiko_bridge::orders::{IntakeError, content_hash, parse_order};

fn config() -> Config {
    serde_json::from_value(json!({
        "iiko": {"api_login": "x"},
        "branches": [{
            "key": "lenina", "name": "Ленина",
            "organization_id": "7c1a0001-0000-4000-8000-000000000001",
            "terminal_group_id": "7c1a0002-0000-4000-8000-000000000001",
            "timezone": "Europe/Moscow", "menu": {"external_menu_id": "4821"},
            "payment_types": {"cash": "7c1a0003-0000-4000-8000-000000000001",
                              "card": "7c1a0003-0000-4000-8000-000000000002",
                              "online": "7c1a0003-0000-4000-8000-000000000003"},
            "bonus": {"enabled": true, "payment_type_id": "7c1a0003-0000-4000-8000-000000000004"},
        }],
    }))
    .unwrap()
}

/// Any JSON value, with the order's own keys likely so that deep paths are reached.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("id".to_owned()),
        Just("branch".to_owned()),
        Just("service".to_owned()),
        Just("customer".to_owned()),
        Just("phone".to_owned()),
        Just("items".to_owned()),
        Just("article".to_owned()),
        Just("quantity".to_owned()),
        Just("price".to_owned()),
        Just("modifiers".to_owned()),
        Just("total".to_owned()),
        Just("payment".to_owned()),
        Just("method".to_owned()),
        Just("amount".to_owned()),
        Just("deliver_at".to_owned()),
        Just("address".to_owned()),
        Just("persons".to_owned()),
        Just("bonus".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("lenina".to_owned()),
            Just("delivery".to_owned()),
            Just("+79990001122".to_owned()),
            ".{0,20}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let config = config();
        let _ = parse_order(&raw, &config, true);
        let _ = content_hash(&raw);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic_and_are_never_called_malformed(value in json_value()) {
        let raw = value.to_string();
        let config = config();
        for require_id in [true, false] {
            let result = parse_order(raw.as_bytes(), &config, require_id);
            prop_assert!(!matches!(result, Err(IntakeError::Malformed(_))));
            if let Err(IntakeError::Invalid(problems)) = result {
                prop_assert!(!problems.is_empty());
            }
        }
        prop_assert!(content_hash(raw.as_bytes()).is_ok());
    }
}
