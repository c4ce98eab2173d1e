//! A config with two branches and a valid order body that tests change one field at a time.
use serde_json::{Value, json};

use crate::config::Config;
use crate::sim::demo_ids as ids;

pub fn config() -> Config {
    serde_json::from_value(json!({
        "iiko": {"api_login": "x"},
        "branches": [branch_json("lenina", true), branch_json("mira", false)],
    }))
    .unwrap()
}

pub fn branch_json(key: &str, bonus: bool) -> Value {
    json!({
        "key": key, "name": key, "organization_id": ids::ORG_LENINA,
        "terminal_group_id": ids::TG_LENINA, "timezone": "Europe/Moscow",
        "menu": {"external_menu_id": ids::EXTERNAL_MENU_ID},
        "payment_types": {"cash": ids::PAYMENT_CASH, "card": ids::PAYMENT_CARD, "online": ids::PAYMENT_ONLINE},
        "bonus": {"enabled": bonus, "payment_type_id": ids::PAYMENT_BONUS, "limit_percent": 50},
        "universal_discount_id": ids::DISCOUNT_UNIVERSAL,
    })
}

/// 2 x (450 + 50) + 1 x 150 = 1150 - 100 discount - 50 bonus = 1000.
pub fn order_json() -> Value {
    json!({
        "id": "WEB-1", "branch": "lenina", "service": "delivery",
        "customer": {"name": "Иван", "phone": "+79990001122"},
        "address": {"city": "Москва", "street": "Ленина", "house": "10", "flat": "5"},
        "items": [
            {"article": "PZ-1", "size": "30", "quantity": 2, "price": 450,
             "modifiers": [{"article": "MOD-1", "quantity": 1, "price": 50}]},
            {"article": "DR-1", "quantity": 1, "price": 150}
        ],
        "discount": {"amount": 100, "promo_code": "SIM-100"},
        "bonus": {"amount": 50},
        "payment": {"method": "cash", "change_from": 5000},
        "total": 1000
    })
}
