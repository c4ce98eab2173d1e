//! A parsed [`Order`] onto iiko's `deliveries/create` request for its branch.
use rust_decimal::Decimal;

use super::domain::{FieldProblem, Order, PaymentMethod, Service};
use super::ids::OrderIds;
use super::lines::map_line;
use crate::config::BranchConfig;
use crate::iiko::IikoDateTime;
use crate::iiko::types::deliveries::{
    Address, CreateDeliveryRequest, CreateOrderSettings, Customer, DeliveryOrder, DeliveryPoint,
    DeliveryServiceKind, Discount, DiscountsInfo, ExternalPaymentData, Guests, LegacyAddress,
    LoyaltyCardPaymentData, LoyaltyInfo, Payment, PaymentAdditionalData, PaymentKind,
    RegularCustomer, RmsDiscount, SearchScope, Street,
};
use crate::menu::Catalog;

/// Seconds iikoFront has to take the order before iiko voids it. iiko's default of 8 s voids
/// orders whenever the restaurant's internet hiccups; a minute rides that out and still sends
/// a truly offline restaurant's order to the operators within a minute or two.
pub const TRANSPORT_TO_FRONT_TIMEOUT_SECONDS: i32 = 60;

/// iiko's `externalNumber` limit. A longer site id (up to 64) is cut for display only: the
/// bridge keeps the whole id as the idempotency key.
const EXTERNAL_NUMBER_MAX_CHARS: usize = 50;

/// Why an order cannot go to iiko as it is, in two renderings: `reason` in Russian for
/// restaurant staff, who get the order by hand instead (the fallback texts, the bot), and
/// `message` in English for the site, which reads it in the API's `problems` and `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    pub field: String,
    pub code: &'static str,
    pub reason: String,
    pub message: String,
}

impl MappingProblem {
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

impl From<MappingProblem> for FieldProblem {
    fn from(problem: MappingProblem) -> Self {
        FieldProblem::new(problem.field, problem.code, problem.message)
    }
}

/// Builds the request, or says every reason it cannot. `ids` must come from
/// [`OrderIds::generate`] for this order (and be stored with it); the same ids give the same request.
pub fn map_order(
    order: &Order,
    branch: &BranchConfig,
    catalog: &Catalog,
    ids: &OrderIds,
    source_key: &str,
) -> Result<CreateDeliveryRequest, Vec<MappingProblem>> {
    let mut problems = Vec::new();
    if ids.position_ids.len() != OrderIds::positions_needed(order) {
        problems.push(MappingProblem::new(
            "items",
            "ids_mismatch",
            "Внутренняя ошибка моста: идентификаторы позиций не соответствуют заказу",
            "internal error of the bridge: the position ids do not match the order",
        ));
        return Err(problems);
    }
    check_arithmetic(order, &mut problems);
    let mut positions = ids.position_ids.iter().copied();
    let items: Vec<_> = order
        .items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| map_line(item, index, catalog, &mut positions, &mut problems))
        .collect();
    let payments = payments(order, branch, &mut problems);
    let discounts_info = discounts(order, branch, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let (order_type_id, order_service_type) = service_type(order, branch);
    let delivery = DeliveryOrder {
        id: Some(ids.order_id),
        external_number: order
            .external_number()
            .map(|n| n.chars().take(EXTERNAL_NUMBER_MAX_CHARS).collect()),
        complete_before: order
            .deliver_at
            .map(|at| IikoDateTime::local_at(&at, branch.timezone)),
        phone: order.customer.phone.to_string(),
        order_type_id,
        order_service_type,
        delivery_point: delivery_point(order),
        comment: comment(order),
        customer: Some(customer(order)),
        guests: Some(Guests {
            count: i32::from(order.persons.count()),
            split_between_persons: None,
        }),
        items,
        payments,
        source_key: Some(source_key.to_owned()),
        discounts_info,
        loyalty_info: order
            .discount
            .as_ref()
            .and_then(|d| d.promo_code.clone())
            .filter(|_| branch.promo.send_codes)
            .map(|coupon| LoyaltyInfo {
                coupon: Some(coupon),
                ..Default::default()
            }),
        ..Default::default()
    };
    Ok(CreateDeliveryRequest {
        organization_id: branch.organization_id,
        terminal_group_id: Some(branch.terminal_group_id),
        create_order_settings: Some(CreateOrderSettings {
            transport_to_front_timeout: Some(TRANSPORT_TO_FRONT_TIMEOUT_SECONDS),
            // The bridge checks its own synced stop list first; iiko's check would only turn a
            // sellable order into a creation error the customer never hears about.
            check_stop_list: false,
        }),
        order: delivery,
    })
}

/// Repeats the parser's arithmetic, since an [`Order`] built in code has not been through it.
fn check_arithmetic(order: &Order, problems: &mut Vec<MappingProblem>) {
    let expected = order.items_sum() - discount_amount(order) - order.bonus.amount();
    if expected != order.total.amount() {
        problems.push(MappingProblem::new(
            "total",
            "mismatch",
            format!(
                "Сумма позиций за вычетом скидки и бонусов {expected:.2} ₽, а к оплате указано {} ₽",
                order.total
            ),
            format!(
                "the items less the discount and bonus points come to {expected:.2}, but total is {}",
                order.total
            ),
        ));
    }
}

fn discount_amount(order: &Order) -> Decimal {
    order
        .discount
        .as_ref()
        .map_or(Decimal::ZERO, |d| d.amount.amount())
}

/// Exactly one of `orderTypeId` and `orderServiceType`: the configured order type, else the service kind.
fn service_type(
    order: &Order,
    branch: &BranchConfig,
) -> (Option<uuid::Uuid>, Option<DeliveryServiceKind>) {
    let (configured, kind) = match order.service {
        Service::Delivery(_) => (
            branch.order_types.delivery,
            DeliveryServiceKind::DeliveryByCourier,
        ),
        Service::Pickup => (
            branch.order_types.pickup,
            DeliveryServiceKind::DeliveryByClient,
        ),
    };
    match configured {
        Some(id) => (Some(id), None),
        None => (None, Some(kind)),
    }
}

fn delivery_point(order: &Order) -> Option<DeliveryPoint> {
    let Service::Delivery(address) = &order.service else {
        return None;
    };
    Some(DeliveryPoint {
        address: Some(Address::Legacy(LegacyAddress {
            street: Street {
                name: Some(address.street.clone()),
                city: Some(address.city.clone()),
                ..Default::default()
            },
            house: address.house.clone(),
            building: address.building.clone(),
            flat: address.flat.clone(),
            entrance: address.entrance.clone(),
            floor: address.floor.clone(),
            doorphone: address.doorphone.clone(),
            ..Default::default()
        })),
        comment: address.comment.clone(),
        ..Default::default()
    })
}

/// The site's comment, then what staff must see that iiko has no field for.
fn comment(order: &Order) -> Option<String> {
    let mut lines: Vec<String> = order.comment.iter().cloned().collect();
    if let Some(change_from) = order.payment.change_from {
        lines.push(format!("Сдача с {change_from}"));
    }
    if let Some(code) = order.discount.as_ref().and_then(|d| d.promo_code.as_ref()) {
        lines.push(format!("Промокод: {code}"));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn customer(order: &Order) -> Customer {
    let customer = &order.customer;
    if customer.loyalty {
        Customer::Regular(RegularCustomer {
            name: Some(customer.name.clone()),
            email: customer.email.clone(),
            ..Default::default()
        })
    } else {
        Customer::OneTime {
            name: customer.name.clone(),
        }
    }
}

/// The payment lines. Invariant: their sum is the items' sum minus the discount, that is the
/// site's `total` plus the bonus, so iiko's bill equals what the customer was shown. Zero lines
/// are left out: iiko refuses them (`PaymentSumShouldBePositive`).
fn payments(
    order: &Order,
    branch: &BranchConfig,
    problems: &mut Vec<MappingProblem>,
) -> Vec<Payment> {
    let mut payments = Vec::new();
    if !order.total.is_zero() {
        let types = &branch.payment_types;
        let (kind, payment_type_id, external) = match order.payment.method {
            PaymentMethod::Cash => (PaymentKind::Cash, types.cash, false),
            PaymentMethod::Card => (PaymentKind::Card, types.card, false),
            PaymentMethod::Online => (PaymentKind::External, types.online, true),
        };
        payments.push(Payment {
            payment_type_kind: kind,
            sum: order.total.amount(),
            payment_type_id,
            is_processed_externally: external,
            payment_additional_data: order
                .payment
                .transaction_id
                .clone()
                .filter(|_| external)
                .map(|custom_data| {
                    PaymentAdditionalData::External(ExternalPaymentData { custom_data })
                }),
            is_fiscalized_externally: false,
        });
    }
    if !order.bonus.is_zero() {
        match branch
            .bonus
            .payment_type_id
            .filter(|_| branch.bonus.enabled)
        {
            Some(payment_type_id) => payments.push(Payment {
                payment_type_kind: PaymentKind::LoyaltyCard,
                sum: order.bonus.amount(),
                payment_type_id,
                // The POS charges the wallet when it processes the order (REFERENCE §10.4).
                is_processed_externally: false,
                payment_additional_data: Some(PaymentAdditionalData::LoyaltyCard(
                    LoyaltyCardPaymentData {
                        credential: order.customer.phone.to_string(),
                        search_scope: SearchScope::Phone,
                    },
                )),
                is_fiscalized_externally: false,
            }),
            None => problems.push(MappingProblem::new(
                "bonus.amount",
                "bonus_not_configured",
                format!(
                    "Гость списывает {} бонусов, но оплата бонусами для филиала не настроена",
                    order.bonus
                ),
                format!(
                    "{} bonus points to spend, but the branch takes no bonus payment",
                    order.bonus
                ),
            )),
        }
    }
    // Holds whenever `check_arithmetic` found nothing; a failure here is a bug in this module.
    let paid: Decimal = payments.iter().map(|p| p.sum).sum();
    debug_assert!(
        !problems.is_empty() || paid == order.items_sum() - discount_amount(order),
        "payments {paid} must equal the items less the discount"
    );
    payments
}

/// The site's discount as the branch's universal ("assign amount") discount.
fn discounts(
    order: &Order,
    branch: &BranchConfig,
    problems: &mut Vec<MappingProblem>,
) -> Option<DiscountsInfo> {
    let amount = order
        .discount
        .as_ref()
        .map(|d| d.amount)
        .filter(|a| !a.is_zero())?;
    let Some(discount_type_id) = branch.universal_discount_id else {
        problems.push(MappingProblem::new(
            "discount.amount",
            "discount_not_configured",
            format!("Скидка сайта {amount} ₽, но универсальная скидка для филиала не настроена"),
            format!("a site discount of {amount}, but the branch has no universal discount set up"),
        ));
        return None;
    };
    Some(DiscountsInfo {
        discounts: vec![Discount::Rms(RmsDiscount {
            discount_type_id,
            sum: Some(amount.amount()),
            selective_positions: None,
        })],
        ..Default::default()
    })
}
