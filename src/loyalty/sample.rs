//! A ready order with a discount, a promo code and bonus points, for `demo` and tests.
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::menu::Catalog;
use crate::sim::demo_ids;

/// An order body for `branch` with the first plain dish of `catalog` (one size, no modifiers,
/// on sale): enough portions for at least 1000 ₽, a 150 ₽ discount with the simulator's coupon
/// `SIM-100`, and 200 points of the simulator's guest with 1500. Both limits hold (200 is under
/// a quarter of what is left to pay) and, with `promo.send_codes`, the coupon's 100 ₽ in iiko
/// fits inside the discount. `None` when the catalog has no plain dish.
pub fn sample_order(catalog: &Catalog, branch: &str, id: &str) -> Option<Value> {
    let dish = catalog.products.iter().find(|p| {
        !p.hidden
            && p.available
            && p.modifier_groups.is_empty()
            && p.sizes.len() == 1
            && p.sizes[0].available
            && p.sizes[0].price > Decimal::ZERO
    })?;
    let price = dish.sizes[0].price;
    let quantity = (Decimal::from(1000) / price).ceil();
    let (discount, bonus) = (Decimal::from(150), Decimal::from(200));
    let total = quantity * price - discount - bonus;
    Some(json!({
        "id": id,
        "branch": branch,
        "service": "delivery",
        "customer": {"name": "Ирина", "phone": demo_ids::CUSTOMER_PHONE},
        "address": {"city": "Москва", "street": "Ленина", "house": "12", "flat": "7"},
        "items": [{"article": dish.article, "quantity": quantity, "price": price}],
        "discount": {"amount": discount, "promo_code": demo_ids::COUPON_100},
        "bonus": {"amount": bonus},
        "payment": {"method": "card"},
        "total": total,
    }))
}
