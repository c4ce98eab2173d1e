//! Turns a `deliveries/create` order into the response order body (Deliveries.Response.Order),
//! or into the creation error iiko would report asynchronously.
use std::collections::HashSet;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::seed::{ModifierGroup, ModifierItem, Seed};

/// A validated order waiting for its creation delay to run out.
pub struct PreparedOrder {
    /// The static part of the response order; status, number and times are added on render.
    pub body: Map<String, Value>,
    pub pickup: bool,
    /// As requested (terminal-local); None = as soon as possible.
    pub complete_before: Option<String>,
    /// A bonus payment to debit from the customer's wallet on success.
    pub bonus: Option<(Uuid, Decimal)>,
}

/// `errorInfo` of a failed creation.
#[derive(Debug, Clone)]
pub struct CreationError {
    pub code: String,
    pub message: String,
}

impl CreationError {
    pub fn new(code: &str, message: impl Into<String>) -> CreationError {
        CreationError {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "description": self.message,
            "additionalData": Value::Null,
            "errorReason": Value::Null,
        })
    }
}

/// A JSON number (or numeric string) as an exact decimal.
pub fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => n
            .to_string()
            .parse()
            .ok()
            .or_else(|| n.as_f64().and_then(Decimal::from_f64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn uuid(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn money(value: Decimal) -> Decimal {
    value.round_dp(2)
}

/// Sum over lines of amount × (price + Σ modifier amount × price), as a loyalty basket or an order.
pub fn basket_sum(items: &[Value]) -> Decimal {
    items
        .iter()
        .map(|item| {
            let amount = decimal(&item["amount"]).unwrap_or_default();
            let price = decimal(&item["price"]).unwrap_or_default();
            let modifiers: Decimal = item["modifiers"]
                .as_array()
                .map(|mods| {
                    mods.iter()
                        .map(|m| {
                            decimal(&m["amount"]).unwrap_or_default()
                                * decimal(&m["price"]).unwrap_or_default()
                        })
                        .sum()
                })
                .unwrap_or_default();
            amount * (price + modifiers)
        })
        .sum()
}

fn find_modifier(seed: &Seed, id: Uuid) -> Option<(&ModifierGroup, &ModifierItem)> {
    seed.modifier_groups
        .iter()
        .find_map(|g| g.items.iter().find(|i| i.id == id).map(|i| (g, i)))
}

/// Checks the order against the catalogue and dictionaries of `organization_id` and builds the
/// response body. The terminal group's liveness and the wallet balance are checked later, when
/// the creation delay runs out.
pub fn prepare(
    seed: &Seed,
    organization_id: Uuid,
    order: &Value,
) -> Result<PreparedOrder, CreationError> {
    let mut positions = HashSet::new();
    let mut items = Vec::new();
    let mut items_total = Decimal::ZERO;
    for item in order["items"].as_array().into_iter().flatten() {
        let (line, total) = order_item(seed, item, &mut positions)?;
        items_total += total;
        items.push(line);
    }

    let (discounts, discount_total) = discounts(seed, order, items_total)?;
    let sum = money((items_total - discount_total).max(Decimal::ZERO));

    let mut bonus = None;
    let mut payments = Vec::new();
    let mut processed = Decimal::ZERO;
    for payment in order["payments"].as_array().into_iter().flatten() {
        let (line, charge) = payment_line(seed, organization_id, payment)?;
        if line["isProcessedExternally"] == json!(true) {
            processed += decimal(&line["sum"]).unwrap_or_default();
        }
        if let Some(charge) = charge {
            bonus = Some(charge);
        }
        payments.push(line);
    }

    let (order_type, pickup) = order_type(seed, order)?;
    let phone = order["phone"].as_str().unwrap_or_default();
    let mut body = Map::new();
    let fields = [
        ("parentDeliveryId", Value::Null),
        (
            "customer",
            customer(seed, organization_id, phone, &order["customer"]),
        ),
        ("phone", json!(phone)),
        ("phoneExtension", order["phoneExtension"].clone()),
        ("deliveryPoint", delivery_point(&order["deliveryPoint"])),
        ("courierInfo", Value::Null),
        ("comment", order["comment"].clone()),
        ("problem", Value::Null),
        ("operator", Value::Null),
        ("marketingSource", Value::Null),
        ("deliveryDuration", order["deliveryDuration"].clone()),
        ("indexInCourierRoute", Value::Null),
        ("isDeleted", json!(false)),
        (
            "whenReceivedByApi",
            json!(super::state::utc_time(chrono::Utc::now())),
        ),
        ("whenReceivedFromFront", Value::Null),
        ("whenPrinted", Value::Null),
        ("externalCourierService", Value::Null),
        ("menuId", order["menuId"].clone()),
        ("deliveryZone", order["deliveryZone"].clone()),
        ("lockedAt", Value::Null),
        ("estimatedTime", Value::Null),
        ("whenPacked", Value::Null),
        ("whenBillPrinted", Value::Null),
        ("priceCategory", Value::Null),
        ("trackingLink", Value::Null),
        ("sum", json!(sum)),
        ("sourceKey", order["sourceKey"].clone()),
        ("conception", Value::Null),
        (
            "guestsInfo",
            json!({"count": order["guests"]["count"].as_i64().unwrap_or(1), "splitBetweenPersons": false}),
        ),
        ("items", Value::Array(items)),
        ("combos", json!([])),
        ("payments", Value::Array(payments)),
        ("tips", json!([])),
        ("discounts", Value::Array(discounts)),
        ("orderType", order_type),
        ("processedPaymentsSum", json!(money(processed))),
        (
            "loyaltyInfo",
            json!({"coupon": order["loyaltyInfo"]["coupon"], "appliedManualConditions": Value::Null}),
        ),
        ("externalData", order["externalData"].clone()),
    ];
    for (key, value) in fields {
        body.insert(key.into(), value);
    }
    Ok(PreparedOrder {
        body,
        pickup,
        complete_before: order["completeBefore"].as_str().map(str::to_owned),
        bonus,
    })
}

fn order_item(
    seed: &Seed,
    item: &Value,
    positions: &mut HashSet<Uuid>,
) -> Result<(Value, Decimal), CreationError> {
    let kind = item["type"].as_str().unwrap_or_default();
    let source = match kind {
        "Product" => item,
        "Compound" => &item["primaryComponent"],
        other => {
            return Err(CreationError::new(
                "Incorrect",
                format!("Unknown order item type '{other}'"),
            ));
        }
    };
    let product_ref = uuid(&source["productId"]).ok_or_else(|| {
        CreationError::new("ProductNotFound", "Order item has no valid productId")
    })?;
    let product = seed.product(product_ref).ok_or_else(|| {
        CreationError::new(
            "ProductNotFound",
            format!("Product with id {product_ref} not found"),
        )
    })?;
    let size_ref = item["productSizeId"].as_str().filter(|s| !s.is_empty());
    let size = match (size_ref, product.sizes.is_empty()) {
        (None, true) => None,
        (Some(size), false) => {
            let size_id: Option<Uuid> = size.parse().ok();
            let known = product.sizes.iter().any(|s| Some(s.size_id) == size_id);
            let size = seed
                .sizes
                .iter()
                .find(|s| Some(s.id) == size_id)
                .filter(|_| known)
                .ok_or_else(|| {
                    CreationError::new(
                        "ProductSizeNotFound",
                        format!("Size {size} not found for product {product_ref}"),
                    )
                })?;
            Some(json!({"id": size.id, "name": size.name}))
        }
        (None, false) => {
            return Err(CreationError::new(
                "ProductSizeNotFound",
                format!("Product {product_ref} has a size scale; productSizeId is required"),
            ));
        }
        (Some(size), true) => {
            return Err(CreationError::new(
                "ProductSizeNotFound",
                format!("Size {size} not found for product {product_ref}"),
            ));
        }
    };
    let amount = decimal(&item["amount"]).unwrap_or_default();
    let price = decimal(&source["price"]).unwrap_or(product.price);
    let position_id = take_position(item, positions)?;

    let mut modifiers = Vec::new();
    let mut modifiers_total = Decimal::ZERO;
    for modifier in source["modifiers"].as_array().into_iter().flatten() {
        let modifier_ref = uuid(&modifier["productId"]).ok_or_else(|| {
            CreationError::new("ProductNotFound", "Modifier has no valid productId")
        })?;
        let (group, entry) = find_modifier(seed, modifier_ref).ok_or_else(|| {
            CreationError::new(
                "ProductNotFound",
                format!("Modifier product with id {modifier_ref} not found"),
            )
        })?;
        let group_ref = modifier["productGroupId"].as_str();
        if group_ref.is_some_and(|g| g.parse() != Ok(group.id)) {
            return Err(CreationError::new(
                "ProductGroupNotFound",
                format!(
                    "Modifier group {} not found for modifier {modifier_ref}",
                    group_ref.unwrap_or_default()
                ),
            ));
        }
        let modifier_amount = decimal(&modifier["amount"]).unwrap_or_default();
        let modifier_price = decimal(&modifier["price"]).unwrap_or(entry.price);
        let result = money(modifier_amount * amount * modifier_price);
        modifiers_total += result;
        modifiers.push(json!({
            "product": {"id": entry.id, "name": entry.name},
            "amount": modifier_amount,
            "amountIndependentOfParentAmount": false,
            "productGroup": group_ref.map(|_| json!({"id": group.id, "name": group.name})),
            "price": modifier_price,
            "pricePredefined": true,
            "resultSum": result,
            "deleted": Value::Null,
            "positionId": take_position(modifier, positions)?,
            "defaultAmount": Value::Null,
            "hideIfDefaultAmount": false,
            "taxPercent": Value::Null,
            "freeOfChargeAmount": group.free_quantity,
        }));
    }
    let cost = money(amount * price);
    let line = json!({
        "type": "Product",
        "status": "Added",
        "deleted": Value::Null,
        "amount": amount,
        "comment": item["comment"],
        "whenPrinted": Value::Null,
        "size": size,
        "comboInformation": item["comboInformation"],
        "product": {"id": product.id, "name": product.name},
        "modifiers": modifiers,
        "price": price,
        "cost": cost,
        "pricePredefined": true,
        "positionId": position_id,
        "taxPercent": Value::Null,
        "resultSum": money(cost + modifiers_total),
    });
    Ok((line, cost + modifiers_total))
}

/// The line's `positionId` (generated when absent); duplicates are an error as in iiko.
fn take_position(line: &Value, positions: &mut HashSet<Uuid>) -> Result<Uuid, CreationError> {
    let id = uuid(&line["positionId"]).unwrap_or_else(Uuid::new_v4);
    if !positions.insert(id) {
        return Err(CreationError::new(
            "NonUnqiueOrderItemPosition",
            format!("Position id {id} is used more than once"),
        ));
    }
    Ok(id)
}

fn discounts(
    seed: &Seed,
    order: &Value,
    items_total: Decimal,
) -> Result<(Vec<Value>, Decimal), CreationError> {
    let mut lines = Vec::new();
    let mut total = Decimal::ZERO;
    for discount in order["discountsInfo"]["discounts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let type_ref = uuid(&discount["discountTypeId"]);
        let (id, name, sum) = match discount["type"].as_str() {
            Some("RMS") => {
                let kind = type_ref
                    .and_then(|id| seed.discounts.iter().find(|d| d.id == id))
                    .ok_or_else(|| {
                        CreationError::new("InvalidDiscountItem", "Discount type not found")
                    })?;
                let sum = match kind.mode.as_str() {
                    "FlexibleSum" => decimal(&discount["sum"]).ok_or_else(|| {
                        CreationError::new(
                            "DiscountSumNotSpecified",
                            format!("Discount '{}' needs a sum", kind.name),
                        )
                    })?,
                    "FixedSum" => kind.sum,
                    _ => items_total * kind.percent / Decimal::ONE_HUNDRED,
                };
                (kind.id, kind.name.clone(), sum)
            }
            Some("iikoCard") => (
                type_ref.unwrap_or_default(),
                discount["programName"]
                    .as_str()
                    .unwrap_or("iikoCard")
                    .to_owned(),
                decimal(&discount["sum"]).unwrap_or_default(),
            ),
            _ => {
                return Err(CreationError::new(
                    "InvalidDiscountItem",
                    "Unknown discount type",
                ));
            }
        };
        total += money(sum);
        lines.push(discount_line(
            id,
            &name,
            money(sum),
            &discount["selectivePositions"],
        ));
    }
    let coupon = order["loyaltyInfo"]["coupon"].as_str().unwrap_or_default();
    if let Some(found) = seed.coupons.iter().find(|c| c.number == coupon) {
        total += found.discount;
        lines.push(discount_line(
            seed.loyalty.coupon_campaign_id,
            &format!("Купон {coupon}"),
            found.discount,
            &Value::Null,
        ));
    }
    Ok((lines, total))
}

fn discount_line(id: Uuid, name: &str, sum: Decimal, positions: &Value) -> Value {
    json!({
        "discountType": {"id": id, "name": name},
        "sum": sum,
        "selectivePositions": positions,
        "selectivePositionsWithSum": Value::Null,
    })
}

fn payment_line(
    seed: &Seed,
    organization_id: Uuid,
    payment: &Value,
) -> Result<(Value, Option<(Uuid, Decimal)>), CreationError> {
    let type_ref = uuid(&payment["paymentTypeId"]);
    let kind = payment["paymentTypeKind"].as_str().unwrap_or_default();
    let payment_type = type_ref
        .and_then(|id| seed.payment_types.iter().find(|p| p.id == id))
        .ok_or_else(|| {
            CreationError::new(
                "PaymentTypeNotFound",
                format!("Payment type {} not found", payment["paymentTypeId"]),
            )
        })?;
    let expected = if kind == "LoyaltyCard" {
        "IikoCard"
    } else {
        kind
    };
    if payment_type.kind != expected {
        return Err(CreationError::new(
            "PaymentTypeNotFound",
            format!("Payment type '{}' is not of kind {kind}", payment_type.name),
        ));
    }
    let sum = decimal(&payment["sum"]).unwrap_or_default();
    if sum < Decimal::ZERO {
        return Err(CreationError::new(
            "PaymentSumShouldBePositive",
            "Payment sum should be positive",
        ));
    }
    let external = payment["isProcessedExternally"].as_bool().unwrap_or(false);
    if external && payment_type.processing_type == "Internal" {
        return Err(CreationError::new(
            "PaymentTypeCanNotBeUsedAsExternal",
            format!(
                "Payment type '{}' cannot be processed externally",
                payment_type.name
            ),
        ));
    }
    let charge = if kind == "LoyaltyCard" {
        Some(loyalty_charge(
            seed,
            organization_id,
            &payment["paymentAdditionalData"],
            sum,
        )?)
    } else {
        None
    };
    let line = json!({
        "paymentType": {
            "id": payment_type.id,
            "name": payment_type.name,
            // The response enum has no IikoCard.
            "kind": if payment_type.kind == "IikoCard" { "Unknown" } else { payment_type.kind.as_str() },
        },
        "sum": money(sum),
        "isPreliminary": false,
        "isExternal": payment_type.kind == "External",
        "isProcessedExternally": external,
        "isFiscalizedExternally": payment["isFiscalizedExternally"].as_bool().unwrap_or(false),
        "isPrepay": false,
    });
    Ok((line, charge))
}

fn loyalty_charge(
    seed: &Seed,
    organization_id: Uuid,
    data: &Value,
    sum: Decimal,
) -> Result<(Uuid, Decimal), CreationError> {
    if data["type"] != "LoyaltyCard" || !data["searchScope"].is_string() {
        return Err(CreationError::new(
            "Iikocard51PaymentAdditionalDataCanNotBeParsed",
            "paymentAdditionalData must be {type: LoyaltyCard, credential, searchScope}",
        ));
    }
    let credential = data["credential"].as_str().unwrap_or_default();
    let loyalty = seed
        .organization(organization_id)
        .is_some_and(|o| o.loyalty_enabled);
    let customer = seed
        .customers
        .iter()
        .find(|c| loyalty && c.organization_id == organization_id && c.phone == credential)
        .ok_or_else(|| {
            CreationError::new(
                "Iikocard51PaymentCredentialNotFound",
                format!("Loyalty customer '{credential}' not found"),
            )
        })?;
    Ok((customer.id, sum))
}

fn order_type(seed: &Seed, order: &Value) -> Result<(Value, bool), CreationError> {
    let found = match (
        uuid(&order["orderTypeId"]),
        order["orderServiceType"].as_str(),
    ) {
        (Some(id), _) => seed.order_types.iter().find(|t| t.id == id),
        (None, Some("DeliveryByClient")) => seed
            .order_types
            .iter()
            .find(|t| t.service_type == "DeliveryPickUp"),
        (None, Some(_)) => seed
            .order_types
            .iter()
            .find(|t| t.service_type == "DeliveryByCourier"),
        (None, None) => None,
    };
    let order_type =
        found.ok_or_else(|| CreationError::new("OrderTypeNotFound", "Order type not found"))?;
    let pickup = order_type.service_type == "DeliveryPickUp";
    let service = if pickup {
        "DeliveryByClient"
    } else {
        "DeliveryByCourier"
    };
    Ok((
        json!({"id": order_type.id, "name": order_type.name, "orderServiceType": service}),
        pickup,
    ))
}

fn customer(seed: &Seed, organization_id: Uuid, phone: &str, requested: &Value) -> Value {
    match requested["type"].as_str() {
        Some("one-time") => json!({"type": "one-time", "name": requested["name"]}),
        None if requested.is_null() => Value::Null,
        _ => {
            let known = seed
                .customers
                .iter()
                .find(|c| c.organization_id == organization_id && c.phone == phone);
            json!({
                "type": "regular",
                "id": uuid(&requested["id"]).or(known.map(|c| c.id)).unwrap_or_else(Uuid::new_v4),
                "name": requested["name"].as_str().or(known.map(|c| c.name.as_str())),
                "surname": requested["surname"],
                "comment": requested["comment"],
                "gender": requested["gender"].as_str().unwrap_or("NotSpecified"),
                "inBlacklist": false,
                "blacklistReason": Value::Null,
                "birthdate": requested["birthdate"],
            })
        }
    }
}

fn delivery_point(point: &Value) -> Value {
    if point.is_null() {
        return Value::Null;
    }
    let address = &point["address"];
    let street = &address["street"];
    json!({
        "coordinates": point["coordinates"],
        "address": if address.is_null() { Value::Null } else { json!({
            "street": {
                "id": street["id"].as_str().or(street["classifierId"].as_str()).map_or_else(|| json!(Uuid::new_v4()), |id| json!(id)),
                "name": street["name"],
                "city": {"id": Uuid::new_v4(), "name": street["city"]},
            },
            "index": address["index"],
            "house": address["house"],
            "building": address["building"],
            "flat": address["flat"],
            "entrance": address["entrance"],
            "floor": address["floor"],
            "doorphone": address["doorphone"],
            "region": Value::Null,
            "line1": address["line1"],
        })},
        "externalCartographyId": point["externalCartographyId"],
        "comment": point["comment"],
    })
}
