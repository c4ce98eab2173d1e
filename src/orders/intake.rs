//! The site's order body parsed into an [`Order`], or every problem with it at once.
use chrono::{DateTime, Duration, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::domain::{
    Address, Article, BranchKey, Customer, Discount, FieldProblem, Item, ItemModifier, Money,
    Order, OrderId, Payment, PaymentMethod, Persons, Phone, Quantity, Service, items_sum,
    percent_limit,
};
use super::reader::{Object, Reader, get, join};
use crate::config::{BranchConfig, Config};

/// How far in the past `deliver_at` may lie: the customer's clock and the network lag a little.
const PAST_GRACE: Duration = Duration::minutes(5);
/// iiko accepts `completeBefore` up to 60 days ahead.
const MAX_AHEAD: Duration = Duration::days(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    /// Not JSON at all (400).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// JSON, but invalid content (422): one entry per problem.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldProblem>),
}

const ORDER_FIELDS: &[&str] = &[
    "id",
    "branch",
    "number",
    "service",
    "deliver_at",
    "customer",
    "address",
    "persons",
    "comment",
    "items",
    "discount",
    "bonus",
    "payment",
    "total",
];

/// Parses an order body. `require_id` is false for `/orders/check`.
pub fn parse_order(raw: &[u8], config: &Config, require_id: bool) -> Result<Order, IntakeError> {
    parse_order_at(raw, config, require_id, Utc::now())
}

/// [`parse_order`] at a given instant, for the `deliver_at` window.
pub fn parse_order_at(
    raw: &[u8],
    config: &Config,
    require_id: bool,
    now: DateTime<Utc>,
) -> Result<Order, IntakeError> {
    parse(
        raw,
        config,
        Need {
            id: require_id,
            total: true,
        },
        now,
    )
}

/// A cart for loyalty calculation: an order body whose `id` and `total` may be left out (the
/// total is then the items less discount and bonus).
pub fn parse_cart(raw: &[u8], config: &Config) -> Result<Order, IntakeError> {
    parse(
        raw,
        config,
        Need {
            id: false,
            total: false,
        },
        Utc::now(),
    )
}

/// Which fields a body must carry.
#[derive(Clone, Copy)]
struct Need {
    id: bool,
    total: bool,
}

fn parse(
    raw: &[u8],
    config: &Config,
    need: Need,
    now: DateTime<Utc>,
) -> Result<Order, IntakeError> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| IntakeError::Malformed(e.to_string()))?;
    let mut r = Reader::default();
    let Some(body) = r.object(&value, "", ORDER_FIELDS) else {
        return Err(IntakeError::Invalid(r.problems));
    };
    let order = read_order(&mut r, body, config, need, now);
    match order {
        Some(order) if r.problems.is_empty() => Ok(order),
        _ => Err(IntakeError::Invalid(r.problems)),
    }
}

fn read_order(
    r: &mut Reader,
    body: &Object,
    config: &Config,
    need: Need,
    now: DateTime<Utc>,
) -> Option<Order> {
    let id = match get(body, "id") {
        Some(value) => r
            .string(value, "id", 1, OrderId::MAX_CHARS)
            .map(|s| OrderId::parse(&s).ok()),
        None if need.id => {
            r.missing("id");
            None
        }
        None => Some(None),
    };
    let branch = read_branch(r, body, config);
    let number = r.optional_string(body, "", "number", 50);
    let service = read_service(r, body);
    let deliver_at = read_deliver_at(r, body, now);
    let customer = r
        .required(body, "", "customer")
        .and_then(|value| read_customer(r, value));
    let address = get(body, "address").map(|value| read_address(r, value));
    let service = match (service, address) {
        (Some(true), Some(address)) => address.map(|a| Service::Delivery(Box::new(a))),
        (Some(true), None) => {
            r.problem("address", "required", "is required for a delivery");
            None
        }
        // An address on a pickup order is checked but not kept: sites often send the last one typed.
        (Some(false), _) => Some(Service::Pickup),
        (None, _) => None,
    };
    let persons = match get(body, "persons") {
        None => Some(Persons::default()),
        Some(value) => read_persons(r, value),
    };
    let comment = r.optional_string(body, "", "comment", 500);
    let items = r
        .required(body, "", "items")
        .and_then(|value| read_items(r, value));
    let discount = match get(body, "discount") {
        None => Some(None),
        Some(value) => read_discount(r, value).map(Some),
    };
    let bonus = match get(body, "bonus") {
        None => Some(Money::ZERO),
        Some(value) => read_amount(r, value, "bonus", &["amount"]),
    };
    let payment = r
        .required(body, "", "payment")
        .and_then(|value| read_payment(r, value));
    // `Some(None)`: a cart without a total, which is then computed.
    let total = match get(body, "total") {
        Some(value) => r.parsed(value, "total", Money::parse).map(Some),
        None if need.total => {
            r.missing("total");
            None
        }
        None => Some(None),
    };

    // The money rules run whenever their own inputs parsed, so a wrong total is reported
    // beside, say, a bad phone rather than after the site fixed it.
    let mut total = total;
    if let (Some(items), Some(discount), Some(bonus), Some(given)) =
        (&items, &discount, &bonus, &total)
    {
        let items = items_sum(items);
        let discount = discount
            .as_ref()
            .map_or(Decimal::ZERO, |d| d.amount.amount());
        let bonus = bonus.amount();
        let computed = Money::parse(items - discount - bonus).ok();
        let sums = Sums {
            items,
            discount,
            bonus,
            total: given.or(computed),
        };
        check_sums(r, &sums, branch.as_ref().map(|b| b.1), payment.as_ref());
        total = sums.total.map(Some);
    }
    let total = total.flatten();
    let (
        Some(id),
        Some((branch, _)),
        Some(number),
        Some(service),
        Some(deliver_at),
        Some(customer),
        Some(persons),
        Some(comment),
        Some(items),
        Some(discount),
        Some(bonus),
        Some(payment),
        Some(total),
    ) = (
        id, branch, number, service, deliver_at, customer, persons, comment, items, discount,
        bonus, payment, total,
    )
    else {
        return None;
    };
    Some(Order {
        id,
        branch,
        number,
        service,
        deliver_at,
        customer,
        persons,
        comment,
        items,
        discount,
        bonus,
        payment,
        total,
    })
}

fn read_branch<'c>(
    r: &mut Reader,
    body: &Object,
    config: &'c Config,
) -> Option<(BranchKey, &'c BranchConfig)> {
    let key = r.required_string(body, "", "branch", BranchKey::MAX_CHARS)?;
    let Some(branch) = config.branch(&key) else {
        r.problem(
            "branch",
            "unknown_branch",
            format!("no branch {key:?} is configured"),
        );
        return None;
    };
    Some((BranchKey::parse(&key).ok()?, branch))
}

/// True for delivery, false for pickup.
fn read_service(r: &mut Reader, body: &Object) -> Option<bool> {
    match r.required(body, "", "service")? {
        Value::String(s) if s == "delivery" => Some(true),
        Value::String(s) if s == "pickup" => Some(false),
        _ => {
            r.problem(
                "service",
                "invalid_value",
                "must be \"delivery\" or \"pickup\"",
            );
            None
        }
    }
}

fn read_deliver_at(
    r: &mut Reader,
    body: &Object,
    now: DateTime<Utc>,
) -> Option<Option<DateTime<FixedOffset>>> {
    let Some(value) = get(body, "deliver_at") else {
        return Some(None);
    };
    let text = r.string(value, "deliver_at", 1, 64)?;
    let Ok(at) = DateTime::parse_from_rfc3339(&text) else {
        r.problem(
            "deliver_at",
            "invalid_datetime",
            "must be RFC 3339 with an offset, such as 2026-05-01T19:30:00+03:00",
        );
        return None;
    };
    if at < now - PAST_GRACE {
        r.problem(
            "deliver_at",
            "in_past",
            format!("{text} has already passed"),
        );
        return None;
    }
    if at > now + MAX_AHEAD {
        r.problem(
            "deliver_at",
            "too_far",
            "must be at most 60 days ahead (iiko's limit)",
        );
        return None;
    }
    Some(Some(at))
}

fn read_customer(r: &mut Reader, value: &Value) -> Option<Customer> {
    let path = "customer";
    let object = r.object(value, path, &["name", "phone", "email", "loyalty"])?;
    let name = r.required_string(object, path, "name", 60);
    let phone = r.required(object, path, "phone").and_then(|value| {
        let text = r.string(value, "customer.phone", 1, 40)?;
        Phone::parse(&text)
            .map_err(|e| r.refuse("customer.phone", e))
            .ok()
    });
    let email = r
        .optional_string(object, path, "email", 255)
        .and_then(|email| match email {
            Some(email) if !email.contains('@') => {
                r.problem(
                    "customer.email",
                    "invalid_email",
                    "must be an e-mail address",
                );
                None
            }
            email => Some(email),
        });
    let loyalty = match get(object, "loyalty") {
        None => Some(true),
        Some(value) => r.boolean(value, "customer.loyalty"),
    };
    Some(Customer {
        name: name?,
        phone: phone?,
        email: email?,
        loyalty: loyalty?,
    })
}

/// The outer `Option` is "given"; the inner one "valid".
fn read_address(r: &mut Reader, value: &Value) -> Option<Address> {
    let path = "address";
    let fields = [
        "city",
        "street",
        "house",
        "building",
        "flat",
        "entrance",
        "floor",
        "doorphone",
        "comment",
    ];
    let object = r.object(value, path, &fields)?;
    // iiko's legacy address limits (REFERENCE §6.3); house, city and street have none there.
    let city = r.required_string(object, path, "city", 100);
    let street = r.required_string(object, path, "street", 200);
    let house = r.required_string(object, path, "house", 100);
    let building = r.optional_string(object, path, "building", 10);
    let flat = r.optional_string(object, path, "flat", 10);
    let entrance = r.optional_string(object, path, "entrance", 10);
    let floor = r.optional_string(object, path, "floor", 10);
    let doorphone = r.optional_string(object, path, "doorphone", 10);
    let comment = r.optional_string(object, path, "comment", 500);
    Some(Address {
        city: city?,
        street: street?,
        house: house?,
        building: building?,
        flat: flat?,
        entrance: entrance?,
        floor: floor?,
        doorphone: doorphone?,
        comment: comment?,
    })
}

fn read_persons(r: &mut Reader, value: &Value) -> Option<Persons> {
    match value.as_u64() {
        Some(count) => Persons::parse(count)
            .map_err(|e| r.refuse("persons", e))
            .ok(),
        None if value.is_number() => {
            r.problem(
                "persons",
                "out_of_range",
                "must be a whole number between 1 and 99",
            );
            None
        }
        None => {
            r.wrong_type("persons", "an integer", value);
            None
        }
    }
}

fn read_items(r: &mut Reader, value: &Value) -> Option<Vec<Item>> {
    let Value::Array(lines) = value else {
        r.wrong_type("items", "an array", value);
        return None;
    };
    let mut complete = true;
    if lines.is_empty() {
        r.problem("items", "empty", "must have at least one line");
        complete = false;
    }
    if lines.len() > Order::MAX_ITEMS {
        r.problem(
            "items",
            "too_many",
            format!(
                "must have at most {} lines, got {}",
                Order::MAX_ITEMS,
                lines.len()
            ),
        );
        complete = false;
    }
    let mut items = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match read_item(r, line, &format!("items[{index}]")) {
            Some(item) => items.push(item),
            None => complete = false,
        }
    }
    complete.then_some(items)
}

fn read_article(r: &mut Reader, object: &Object, path: &str) -> Option<Article> {
    let text = r.required_string(object, path, "article", Article::MAX_CHARS)?;
    Article::parse(&text).ok()
}

fn read_quantity(r: &mut Reader, object: &Object, path: &str) -> Option<Quantity> {
    let value = r.required(object, path, "quantity")?;
    r.parsed(value, &join(path, "quantity"), Quantity::parse)
}

fn read_item(r: &mut Reader, value: &Value, path: &str) -> Option<Item> {
    let fields = [
        "article",
        "size",
        "quantity",
        "price",
        "comment",
        "modifiers",
    ];
    let object = r.object(value, path, &fields)?;
    let article = read_article(r, object, path);
    let size = r.optional_string(object, path, "size", 100);
    let quantity = read_quantity(r, object, path);
    let price = r
        .required(object, path, "price")
        .and_then(|value| r.parsed(value, &join(path, "price"), Money::parse));
    let comment = r.optional_string(object, path, "comment", 255);
    let modifiers = match get(object, "modifiers") {
        None => Some(Vec::new()),
        Some(value) => read_modifiers(r, value, &join(path, "modifiers")),
    };
    Some(Item {
        article: article?,
        size: size?,
        quantity: quantity?,
        price: price?,
        comment: comment?,
        modifiers: modifiers?,
    })
}

fn read_modifiers(r: &mut Reader, value: &Value, path: &str) -> Option<Vec<ItemModifier>> {
    let Value::Array(entries) = value else {
        r.wrong_type(path, "an array", value);
        return None;
    };
    let mut modifiers: Vec<ItemModifier> = Vec::with_capacity(entries.len());
    let mut complete = true;
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("{path}[{index}]");
        let Some(object) = r.object(entry, &path, &["article", "quantity", "price"]) else {
            complete = false;
            continue;
        };
        let article = read_article(r, object, &path);
        let quantity = read_quantity(r, object, &path);
        let price = match get(object, "price") {
            None => Some(None),
            Some(value) => r
                .parsed(value, &join(&path, "price"), Money::parse)
                .map(Some),
        };
        let (Some(article), Some(quantity), Some(price)) = (article, quantity, price) else {
            complete = false;
            continue;
        };
        // iiko refuses a line with the same modifier twice (ModifierDuplicated).
        if modifiers.iter().any(|m| m.article == article) {
            r.problem(
                join(&path, "article"),
                "duplicate",
                format!(
                    "modifier {article} appears twice in this line; send it once with a quantity"
                ),
            );
            complete = false;
            continue;
        }
        modifiers.push(ItemModifier {
            article,
            quantity,
            price,
        });
    }
    complete.then_some(modifiers)
}

fn read_amount(r: &mut Reader, value: &Value, path: &str, fields: &[&str]) -> Option<Money> {
    let object = r.object(value, path, fields)?;
    let amount = r.required(object, path, "amount")?;
    r.parsed(amount, &join(path, "amount"), Money::parse)
}

fn read_discount(r: &mut Reader, value: &Value) -> Option<Discount> {
    let amount = read_amount(r, value, "discount", &["amount", "promo_code"]);
    let promo_code = match value {
        Value::Object(object) => r.optional_string(object, "discount", "promo_code", 50),
        _ => None,
    };
    Some(Discount {
        amount: amount?,
        promo_code: promo_code?,
    })
}

fn read_payment(r: &mut Reader, value: &Value) -> Option<Payment> {
    let path = "payment";
    let object = r.object(value, path, &["method", "change_from", "transaction_id"])?;
    let method = match r.required(object, path, "method") {
        Some(Value::String(s)) if s == "cash" => Some(PaymentMethod::Cash),
        Some(Value::String(s)) if s == "card" => Some(PaymentMethod::Card),
        Some(Value::String(s)) if s == "online" => Some(PaymentMethod::Online),
        Some(_) => {
            r.problem(
                "payment.method",
                "invalid_value",
                "must be \"cash\", \"card\" or \"online\"",
            );
            None
        }
        None => None,
    };
    let change_from = match get(object, "change_from") {
        None => Some(None),
        Some(value) => r
            .parsed(value, "payment.change_from", Money::parse)
            .map(Some),
    };
    let transaction_id = r.optional_string(object, path, "transaction_id", 100);
    let payment = Payment {
        method: method?,
        change_from: change_from?,
        transaction_id: transaction_id?,
    };
    // A field that does not fit the method means the site and the customer disagree on how
    // the order is paid; staff must not guess.
    if payment.change_from.is_some() && payment.method != PaymentMethod::Cash {
        r.problem(
            "payment.change_from",
            "not_allowed",
            "is only for cash payments",
        );
    }
    if payment.transaction_id.is_some() && payment.method != PaymentMethod::Online {
        r.problem(
            "payment.transaction_id",
            "not_allowed",
            "is only for online payments",
        );
    }
    Some(payment)
}

struct Sums {
    items: Decimal,
    discount: Decimal,
    bonus: Decimal,
    /// `None` for a cart whose discount and bonus exceed its items.
    total: Option<Money>,
}

/// The arithmetic (CONTRACT §1) and the money rules that need several fields.
fn check_sums(
    r: &mut Reader,
    sums: &Sums,
    branch: Option<&BranchConfig>,
    payment: Option<&Payment>,
) {
    let Sums {
        items,
        discount,
        bonus,
        total,
    } = *sums;
    let expected = items - discount - bonus;
    if discount > items {
        r.problem(
            "discount.amount",
            "over_items",
            format!("{discount:.2} is more than the items' sum {items:.2}"),
        );
    }
    match total {
        Some(total) if expected != total.amount() => r.problem(
            "total",
            "mismatch",
            format!(
                "items {items:.2} - discount {discount:.2} - bonus {bonus:.2} = {expected:.2}, but total is {total}"
            ),
        ),
        None if discount <= items => r.problem(
            "bonus.amount",
            "over_items",
            format!("{bonus:.2} is more than the items' sum less the discount, {:.2}", items - discount),
        ),
        _ => {}
    }
    if let Some(branch) = branch.filter(|_| !bonus.is_zero()) {
        if !branch.bonus.enabled {
            r.problem(
                "bonus.amount",
                "bonus_disabled",
                "this branch does not take bonus points",
            );
        } else {
            let limit = percent_limit(items - discount, branch.bonus.limit_percent);
            if bonus > limit {
                r.problem(
                    "bonus.amount",
                    "over_limit",
                    format!(
                        "at most {}% of the order ({limit:.2}) may be paid with bonus points",
                        branch.bonus.limit_percent
                    ),
                );
            }
        }
    }
    if let Some((change_from, total)) = payment
        .and_then(|p| p.change_from)
        .zip(total)
        .filter(|(c, t)| c < t)
    {
        r.problem(
            "payment.change_from",
            "less_than_total",
            format!("{change_from} is less than the total {total}"),
        );
    }
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
