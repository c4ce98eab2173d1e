//! A small hand-made catalog for the tests of the pure functions.
use chrono::{TimeZone, Utc};
use rust_decimal_macros::dec;
use uuid::Uuid;

use super::catalog::{Catalog, Group, MenuFormat, Modifier, ModifierGroup, Product, Size};

pub const PIZZA: Uuid = Uuid::from_u128(0x101);
pub const SMALL: Uuid = Uuid::from_u128(0x201);
pub const LARGE: Uuid = Uuid::from_u128(0x202);
pub const COLA: Uuid = Uuid::from_u128(0x102);
pub const CHEESE: Uuid = Uuid::from_u128(0x401);

/// A pizza in two sizes with a cheese extra, and a drink without a size scale.
pub fn catalog() -> Catalog {
    let size = |article: &str, name: &str, price, default, id| Size {
        article: Some(article.into()),
        name: Some(name.into()),
        price,
        default,
        available: true,
        iiko_id: Some(id),
    };
    Catalog {
        branch: "lenina".into(),
        format: MenuFormat::ExternalV2,
        iiko_revision: Some(17),
        synced_at: Utc.with_ymd_and_hms(2026, 11, 22, 7, 0, 0).unwrap(),
        groups: vec![Group {
            id: "g1".into(),
            name: "Пицца".into(),
            parent: None,
            iiko_id: "00000000-0000-0000-0000-000000000501".into(),
        }],
        products: vec![
            Product {
                article: "PZ-1".into(),
                name: "Маргарита".into(),
                description: Some("Томаты, моцарелла".into()),
                group: Some("g1".into()),
                hidden: false,
                available: true,
                iiko_id: PIZZA,
                sizes: vec![
                    size("PZ-1-25", "25 см", dec!(450), true, SMALL),
                    size("PZ-1-30", "30 см", dec!(600), false, LARGE),
                ],
                modifier_groups: vec![ModifierGroup {
                    name: "Добавки".into(),
                    min: 0,
                    max: 3,
                    required: false,
                    free_quantity: 0,
                    iiko_id: Some(Uuid::from_u128(0x301)),
                    items: vec![Modifier {
                        article: "M-1".into(),
                        name: "Сыр".into(),
                        price: dec!(79),
                        iiko_id: CHEESE,
                    }],
                }],
            },
            Product {
                article: "DR-1".into(),
                name: "Кола".into(),
                description: None,
                group: None,
                hidden: false,
                available: true,
                iiko_id: COLA,
                sizes: vec![Size {
                    article: None,
                    name: None,
                    price: dec!(120),
                    default: true,
                    available: true,
                    iiko_id: None,
                }],
                modifier_groups: Vec::new(),
            },
        ],
    }
}
