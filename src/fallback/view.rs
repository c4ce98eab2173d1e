//! The order as the fallback templates see it: every value already formatted for staff, so a
//! template edit can rearrange the message but cannot get money or time formatting wrong.
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::BranchConfig;
use crate::menu::{Catalog, Product};
use crate::orders::{Address, Item, ItemModifier, Order, PaymentMethod, Service};

/// Shown instead of a time when the customer wants the order as soon as possible.
const ASAP: &str = "как можно скорее";

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub number: String,
    pub order_id: String,
    pub branch_key: String,
    pub branch_name: String,
    pub reason: String,
    pub delivery: bool,
    pub service: &'static str,
    pub deliver_at: String,
    pub customer: CustomerView,
    pub address: Option<Address>,
    pub persons: u8,
    pub items: Vec<LineView>,
    pub items_sum: String,
    pub discount: Option<DiscountView>,
    pub bonus: Option<String>,
    pub payment: PaymentView,
    pub total: String,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CustomerView {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LineView {
    pub position: usize,
    /// The catalog's name; `None` when the catalog does not know the article (shown as sent).
    pub name: Option<String>,
    pub article: String,
    pub size: Option<String>,
    pub quantity: String,
    pub price: String,
    pub sum: String,
    pub comment: Option<String>,
    pub modifiers: Vec<ModifierView>,
}

#[derive(Debug, Serialize)]
pub struct ModifierView {
    pub name: Option<String>,
    pub article: String,
    pub quantity: String,
    pub price: String,
}

#[derive(Debug, Serialize)]
pub struct DiscountView {
    pub amount: String,
    pub promo_code: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub method: &'static str,
    pub change_from: Option<String>,
    pub transaction_id: Option<String>,
    pub paid_online: bool,
}

impl OrderView {
    pub fn new(
        order: &Order,
        branch: &BranchConfig,
        catalog: Option<&Catalog>,
        reason: &str,
    ) -> OrderView {
        let order_id = order
            .id
            .as_ref()
            .map_or_else(String::new, |id| id.as_str().to_owned());
        let address = match &order.service {
            Service::Delivery(address) => Some(Address::clone(address)),
            Service::Pickup => None,
        };
        OrderView {
            number: order.external_number().unwrap_or_default().to_owned(),
            order_id,
            branch_key: branch.key.clone(),
            branch_name: branch.name.clone(),
            reason: reason.to_owned(),
            delivery: address.is_some(),
            service: if address.is_some() {
                "Доставка"
            } else {
                "Самовывоз"
            },
            deliver_at: order.deliver_at.map_or_else(
                || ASAP.to_owned(),
                |at| local_time(at.with_timezone(&branch.timezone)),
            ),
            customer: CustomerView {
                name: order.customer.name.clone(),
                phone: order.customer.phone.as_str().to_owned(),
                email: order.customer.email.clone(),
            },
            address,
            persons: order.persons.count(),
            items: order
                .items
                .iter()
                .enumerate()
                .map(|(at, item)| line(at + 1, item, catalog))
                .collect(),
            items_sum: rubles(order.items_sum()),
            discount: order.discount.as_ref().map(|discount| DiscountView {
                amount: rubles(discount.amount.amount()),
                promo_code: discount.promo_code.clone(),
            }),
            bonus: (!order.bonus.is_zero()).then(|| rubles(order.bonus.amount())),
            payment: PaymentView {
                method: match order.payment.method {
                    PaymentMethod::Cash => "наличными",
                    PaymentMethod::Card => "картой при получении",
                    PaymentMethod::Online => "онлайн на сайте",
                },
                change_from: order.payment.change_from.map(|m| rubles(m.amount())),
                transaction_id: order.payment.transaction_id.clone(),
                paid_online: order.payment.method == PaymentMethod::Online,
            },
            total: rubles(order.total.amount()),
            comment: order.comment.clone(),
        }
    }
}

fn line(position: usize, item: &Item, catalog: Option<&Catalog>) -> LineView {
    let product = catalog.and_then(|catalog| catalog.product(item.article.as_str()));
    // A size is sent by article or name; staff need the name when the catalog has one.
    let size = item.size.as_ref().map(|sent| {
        product
            .and_then(|p| p.size(Some(sent)))
            .and_then(|size| size.name.clone())
            .unwrap_or_else(|| sent.clone())
    });
    LineView {
        position,
        name: product.map(|p| p.name.clone()),
        article: item.article.to_string(),
        size,
        quantity: quantity(item.quantity.amount()),
        price: rubles(item.price.amount()),
        sum: rubles(item.line_total()),
        comment: item.comment.clone(),
        modifiers: item
            .modifiers
            .iter()
            .map(|modifier| modifier_line(modifier, product))
            .collect(),
    }
}

fn modifier_line(modifier: &ItemModifier, product: Option<&Product>) -> ModifierView {
    let article = modifier.article.as_str();
    ModifierView {
        name: product
            .and_then(|p| p.modifier(article))
            .map(|(_, m)| m.name.clone()),
        article: article.to_owned(),
        quantity: quantity(modifier.quantity.amount()),
        price: rubles(modifier.price().amount()),
    }
}

/// `1150,00 ₽`: two decimals with a comma, as Russian receipts print money.
pub fn rubles(amount: Decimal) -> String {
    format!("{:.2} ₽", amount).replace('.', ",")
}

/// `2`, `0,335`: no trailing zeros, a comma for weighed dishes.
fn quantity(amount: Decimal) -> String {
    amount.normalize().to_string().replace('.', ",")
}

fn local_time(at: chrono::DateTime<Tz>) -> String {
    at.format("%d.%m.%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn money_has_two_decimals_a_comma_and_the_rouble_sign() {
        assert_eq!(rubles(dec!(1150)), "1150,00 ₽");
        assert_eq!(rubles(dec!(0.5)), "0,50 ₽");
        assert_eq!(rubles(dec!(99.99)), "99,99 ₽");
    }

    #[test]
    fn quantities_drop_trailing_zeros_and_use_a_comma() {
        assert_eq!(quantity(dec!(2.000)), "2");
        assert_eq!(quantity(dec!(0.335)), "0,335");
    }
}
