//! Order types that cannot hold invalid data: every constructor checks, so code past the edge
//! never re-validates ("parse, don't validate").
use std::fmt;

use chrono::{DateTime, FixedOffset};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// Why a value was refused: a stable machine code and a sentence for the site's developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Checks the length in characters (not bytes: Cyrillic is two bytes a letter).
pub fn bounded(value: &str, min: usize, max: usize) -> Result<String, Refusal> {
    let length = value.chars().count();
    if length < min {
        return Err(if min == 1 {
            Refusal::new("empty", "must not be empty")
        } else {
            Refusal::new("too_short", format!("must be at least {min} characters"))
        });
    }
    if length > max {
        return Err(Refusal::new(
            "too_long",
            format!("must be at most {max} characters, got {length}"),
        ));
    }
    Ok(value.to_owned())
}

macro_rules! bounded_string {
    ($(#[$meta:meta])* $name:ident, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(value: &str) -> Result<Self, Refusal> {
                bounded(value, 1, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_string!(
    /// The site's order id: the idempotency key within a branch.
    OrderId,
    64
);
bounded_string!(
    /// A `branches[].key` of the config (checked against the config by the parser).
    BranchKey,
    64
);
bounded_string!(
    /// A product or modifier article (iiko `sku` / `code`).
    Article,
    100
);

/// A phone number as iiko wants it: `+` and 8..15 digits, with the site's spaces, dashes and
/// brackets removed so that `+7 (999) 000-11-22` and `+79990001122` are one customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(value: &str) -> Result<Self, Refusal> {
        let invalid = || {
            Refusal::new(
                "invalid_phone",
                "must be + followed by 8 to 15 digits, such as +79990001122",
            )
        };
        let rest = value.trim().strip_prefix('+').ok_or_else(invalid)?;
        let mut digits = String::from("+");
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' => {}
                _ => return Err(invalid()),
            }
        }
        if !(9..=16).contains(&digits.len()) {
            return Err(invalid());
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Rubles with at most two decimals, never negative, at most iiko's payment limit.
///
/// A third decimal is refused, not rounded: a site sending `10.005` has a rounding bug, and
/// silently rounding would charge the customer a kopeck the site did not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);
    /// iiko's `sum` limit for payments (10^10).
    const MAX: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 0);

    pub fn parse(value: Decimal) -> Result<Self, Refusal> {
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(Refusal::new("negative", "must not be negative"));
        }
        if value.scale() > 2 {
            return Err(Refusal::new(
                "too_precise",
                format!("{value} has more than 2 decimals (kopecks)"),
            ));
        }
        if value > Self::MAX {
            return Err(Refusal::new("too_large", "must be at most 10000000000"));
        }
        Ok(Self(value.abs()))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

/// Rounds an exact amount to kopecks the way a receipt does: half a kopeck goes up.
pub fn to_kopecks(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The share `percent` of `base`, rounded down to kopecks: the most bonus points a percent rule
/// allows, so that spending all of it never exceeds the share.
pub fn percent_limit(base: Decimal, percent: Decimal) -> Decimal {
    (base.max(Decimal::ZERO) * percent / Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::ToZero)
}

/// An item or modifier amount: 0 < q <= 999.999 (iiko's item limit), at most 3 decimals (grams
/// of a weighed dish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    pub const ONE: Quantity = Quantity(Decimal::ONE);
    const MAX: Decimal = Decimal::from_parts(999_999, 0, 0, false, 3);

    pub fn parse(value: Decimal) -> Result<Self, Refusal> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            return Err(Refusal::new("not_positive", "must be greater than 0"));
        }
        if value > Self::MAX {
            return Err(Refusal::new("too_large", "must be at most 999.999"));
        }
        if value.scale() > 3 {
            return Err(Refusal::new(
                "too_precise",
                format!("{value} has more than 3 decimals"),
            ));
        }
        Ok(Self(value))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }
}

/// Cutlery sets, iiko `guests.count`: 1..99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Persons(u8);

impl Persons {
    pub fn parse(value: u64) -> Result<Self, Refusal> {
        match u8::try_from(value) {
            Ok(count @ 1..=99) => Ok(Self(count)),
            _ => Err(Refusal::new("out_of_range", "must be between 1 and 99")),
        }
    }

    pub fn count(self) -> u8 {
        self.0
    }
}

impl Default for Persons {
    fn default() -> Self {
        Self(1)
    }
}

/// A well-formed order; only [`parse_order`](super::parse_order) makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Always `Some` when parsed with `require_id` (order submission); `/orders/check` may omit it.
    pub id: Option<OrderId>,
    pub branch: BranchKey,
    /// Shown to staff; `None` means the id is used.
    pub number: Option<String>,
    pub service: Service,
    /// `None` = as soon as possible.
    pub deliver_at: Option<DateTime<FixedOffset>>,
    pub customer: Customer,
    pub persons: Persons,
    pub comment: Option<String>,
    /// 1..=200 lines.
    pub items: Vec<Item>,
    pub discount: Option<Discount>,
    /// Bonus points to spend, 1 point = 1 ruble; zero when none.
    pub bonus: Money,
    pub payment: Payment,
    /// What the customer pays: items - discount - bonus, checked to the kopeck.
    pub total: Money,
}

impl Order {
    pub const MAX_ITEMS: usize = 200;

    /// The number staff see and iiko's `externalNumber`: the site's number, else its id.
    pub fn external_number(&self) -> Option<&str> {
        self.number
            .as_deref()
            .or(self.id.as_ref().map(OrderId::as_str))
    }

    /// The items' sum before discount and bonus.
    pub fn items_sum(&self) -> Decimal {
        items_sum(&self.items)
    }
}

/// The sum of the lines, each rounded to kopecks.
pub fn items_sum(items: &[Item]) -> Decimal {
    items.iter().map(Item::line_total).sum()
}

/// Delivery carries its address, so a delivery without one cannot exist.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    Delivery(Box<Address>),
    Pickup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// 1..60 characters (iiko's limit).
    pub name: String,
    pub phone: Phone,
    pub email: Option<String>,
    /// False sends a one-time (anonymous) customer to iiko.
    pub loyalty: bool,
}

/// A street address within iiko's `legacy` address limits. Serialized as the fallback
/// templates' `address`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    pub city: String,
    pub street: String,
    pub house: String,
    pub building: Option<String>,
    pub flat: Option<String>,
    pub entrance: Option<String>,
    pub floor: Option<String>,
    pub doorphone: Option<String>,
    /// For the courier (iiko `deliveryPoint.comment`).
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub article: Article,
    /// The size's article or name, for products with sizes.
    pub size: Option<String>,
    pub quantity: Quantity,
    /// Unit price without modifiers.
    pub price: Money,
    pub comment: Option<String>,
    pub modifiers: Vec<ItemModifier>,
}

impl Item {
    /// quantity x (price + sum of modifier quantity x price), rounded once to kopecks per line
    /// as a receipt line is: rounding every factor would drift from what the site showed.
    pub fn line_total(&self) -> Decimal {
        let modifiers: Decimal = self
            .modifiers
            .iter()
            .map(|m| m.quantity.amount() * m.price().amount())
            .sum();
        to_kopecks(self.quantity.amount() * (self.price.amount() + modifiers))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemModifier {
    pub article: Article,
    /// Per unit of the parent line, as iiko reads a modifier amount.
    pub quantity: Quantity,
    /// `None` when the site sent none: the site charged nothing for it.
    pub price: Option<Money>,
}

impl ItemModifier {
    /// What the site charged per unit: an omitted price is free.
    pub fn price(&self) -> Money {
        self.price.unwrap_or(Money::ZERO)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Discount {
    pub amount: Money,
    pub promo_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    /// Cash to the courier or at the counter.
    Cash,
    /// A card on delivery or at the counter.
    Card,
    /// Already paid on the site.
    Online,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub method: PaymentMethod,
    /// Cash only: the note the customer will pay with, at least the total.
    pub change_from: Option<Money>,
    /// Online only: the acquirer's transaction id.
    pub transaction_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn phone_is_normalised_and_checked() {
        assert_eq!(
            Phone::parse("+7 (999) 000-11-22").unwrap().as_str(),
            "+79990001122"
        );
        assert_eq!(Phone::parse("+12345678").unwrap().as_str(), "+12345678");
        for bad in [
            "89990001122",
            "+1234567",
            "+1234567890123456",
            "+7999abc1122",
            "+",
        ] {
            assert_eq!(
                Phone::parse(bad).unwrap_err().code,
                "invalid_phone",
                "{bad}"
            );
        }
    }

    #[test]
    fn money_accepts_kopecks_and_refuses_a_third_decimal_or_a_negative() {
        assert_eq!(Money::parse(dec!(10.50)).unwrap().amount(), dec!(10.5));
        assert_eq!(Money::parse(dec!(10.500)).unwrap().amount(), dec!(10.5));
        assert_eq!(Money::parse(dec!(10.005)).unwrap_err().code, "too_precise");
        assert_eq!(Money::parse(dec!(-1)).unwrap_err().code, "negative");
        assert_eq!(Money::parse(dec!(-0.00)).unwrap(), Money::ZERO);
        assert!(Money::parse(dec!(10000000000)).is_ok());
        assert_eq!(
            Money::parse(dec!(10000000000.01)).unwrap_err().code,
            "too_large"
        );
    }

    #[test]
    fn quantity_is_positive_bounded_and_at_most_grams() {
        assert!(Quantity::parse(dec!(999.999)).is_ok());
        assert!(Quantity::parse(dec!(0.001)).is_ok());
        assert_eq!(Quantity::parse(dec!(0)).unwrap_err().code, "not_positive");
        assert_eq!(Quantity::parse(dec!(-2)).unwrap_err().code, "not_positive");
        assert_eq!(Quantity::parse(dec!(1000)).unwrap_err().code, "too_large");
        assert_eq!(
            Quantity::parse(dec!(1.0001)).unwrap_err().code,
            "too_precise"
        );
    }

    #[test]
    fn persons_range_from_one_to_ninety_nine() {
        assert_eq!(Persons::parse(1).unwrap().count(), 1);
        assert_eq!(Persons::parse(99).unwrap().count(), 99);
        assert!(Persons::parse(0).is_err() && Persons::parse(100).is_err());
        assert!(Persons::parse(u64::MAX).is_err());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(bounded(&"я".repeat(60), 1, 60).is_ok());
        assert_eq!(
            bounded(&"я".repeat(61), 1, 60).unwrap_err().code,
            "too_long"
        );
        assert_eq!(OrderId::parse("").unwrap_err().code, "empty");
    }

    #[test]
    fn percent_limit_rounds_down_to_kopecks() {
        // 50 % of 99.99 is 49.995: 49.99 may be spent, 50.00 would be over the share.
        assert_eq!(percent_limit(dec!(99.99), dec!(50)), dec!(49.99));
        assert_eq!(percent_limit(dec!(99.98), dec!(100)), dec!(99.98));
        assert_eq!(percent_limit(dec!(0.01), dec!(33)), dec!(0));
        assert_eq!(percent_limit(dec!(-5), dec!(50)), dec!(0));
    }

    #[test]
    fn line_total_rounds_once_per_line_half_up() {
        let item = |quantity, price| Item {
            article: Article::parse("A").unwrap(),
            size: None,
            quantity: Quantity::parse(quantity).unwrap(),
            price: Money::parse(price).unwrap(),
            comment: None,
            modifiers: vec![],
        };
        assert_eq!(item(dec!(3), dec!(33.33)).line_total(), dec!(99.99));
        // 0.335 kg x 100.01 = 33.50335 -> 33.50; 0.5 x 0.01 = 0.005 -> 0.01 (half up).
        assert_eq!(item(dec!(0.335), dec!(100.01)).line_total(), dec!(33.50));
        assert_eq!(item(dec!(0.5), dec!(0.01)).line_total(), dec!(0.01));
    }
}
