//! iikoCard loyalty: customer info, calculate, program, coupon info.
use axum::body::Bytes;
use axum::extract::State;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, ok, parse, required_uuid, valid_phone};
use crate::sim::Simulator;
use crate::sim::orders::basket_sum;
use crate::sim::seed::{Customer, Organization};

/// The organization, which must have loyalty; otherwise iiko answers `Common_OrganizationNotFound`.
fn loyalty_organization<'a>(
    sim: &'a Simulator,
    body: &Value,
) -> Result<&'a Organization, ApiError> {
    let id = required_uuid(body, "organizationId")?;
    sim.seed()
        .organization(id)
        .filter(|o| o.loyalty_enabled)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Organization {id} is not found in the loyalty system"
            ))
            .code("Common_OrganizationNotFound")
        })
}

fn find_customer<'a>(
    sim: &'a Simulator,
    organization: &Organization,
    phone: &str,
) -> Option<&'a Customer> {
    sim.seed()
        .customers
        .iter()
        .find(|c| c.organization_id == organization.id && c.phone == phone)
}

fn check_phone(phone: &str) -> Result<(), ApiError> {
    if valid_phone(phone) {
        Ok(())
    } else {
        Err(
            ApiError::bad_request(format!("Incorrect phone number '{phone}'"))
                .code("Validation_IncorrectPhone"),
        )
    }
}

pub async fn customer_info(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization = loyalty_organization(&sim, &body)?;
    let customer = match body["type"].as_str() {
        Some("phone") => {
            let phone = body["phone"]
                .as_str()
                .ok_or_else(|| ApiError::bad_request("The phone field is required."))?;
            check_phone(phone)?;
            find_customer(&sim, organization, phone)
        }
        Some("id") => {
            let id = body["id"].as_str().unwrap_or_default();
            sim.seed().customers.iter().find(|c| c.id.to_string() == id)
        }
        Some("cardTrack" | "cardNumber" | "email") => None,
        _ => {
            return Err(ApiError::bad_request(
                "The type field must be phone, cardTrack, cardNumber, email or id.",
            ));
        }
    };
    let customer = customer
        .ok_or_else(|| ApiError::bad_request("There is no user with the specified credentials"))?;
    let balance = sim
        .lock()
        .wallets
        .get(&customer.id)
        .copied()
        .unwrap_or_default();
    let program = &sim.seed().loyalty;
    ok(json!({
        "id": customer.id,
        "referrerId": Value::Null,
        "name": customer.name,
        "surname": Value::Null,
        "middleName": Value::Null,
        "comment": Value::Null,
        "phone": customer.phone,
        "cultureName": "ru-RU",
        "birthday": Value::Null,
        "email": Value::Null,
        "sex": 0,
        "consentStatus": 1,
        "anonymized": false,
        "cards": [],
        "categories": [],
        "walletBalances": [{"id": program.wallet_id, "name": program.wallet_name, "type": 1, "balance": balance}],
        "userData": Value::Null,
        "shouldReceivePromoActionsInfo": false,
        "shouldReceiveLoyaltyInfo": true,
        "shouldReceiveOrderStatusInfo": true,
        "isDeleted": false,
        "whenRegistered": "2024-01-15 12:00:00.000",
        "lastProcessedOrderDate": Value::Null,
        "firstOrderDate": Value::Null,
        "lastVisitedOrganizationId": Value::Null,
        "registrationOrganizationId": organization.id,
    }))
}

/// Coupon discounts, and the bonus limit min(wallet balance, program percent of the sum after
/// discounts) for the order's customer.
pub async fn calculate(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization = loyalty_organization(&sim, &body)?;
    let order = &body["order"];
    if !order.is_object() {
        return Err(ApiError::bad_request("The order field is required."));
    }
    let phone = order["phone"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The order.phone field is required."))?;
    check_phone(phone)?;
    let items = order["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let total = basket_sum(items);
    let program = &sim.seed().loyalty;

    let coupon = order["loyaltyInfo"]["coupon"]
        .as_str()
        .or(body["coupon"].as_str());
    let mut results = Vec::new();
    let mut warnings = Vec::new();
    let mut validation_warnings = Vec::new();
    let mut discount = Decimal::ZERO;
    if let Some(number) = coupon.filter(|c| !c.is_empty()) {
        match sim.seed().coupons.iter().find(|c| c.number == number) {
            Some(found) => {
                discount = found.discount.min(total);
                results.push(json!({
                    "marketingCampaignId": program.coupon_campaign_id,
                    "name": format!("Купон {number}"),
                    "discounts": [{"code": 0, "positionId": Value::Null, "orderItemId": Value::Null,
                                   "discountSum": discount, "amount": 1, "comment": format!("Купон {number}")}],
                    "upsales": [],
                    "freeProducts": [],
                    "availableComboSpecifications": [],
                    "availableCombos": [],
                    "needToActivateCertificate": false,
                }));
            }
            None => {
                let message = format!("Купон {number} не найден");
                warnings.push(json!({"Code": "CouponNotFound", "ErrorCode": "CouponNotFound", "Message": message}));
                validation_warnings.push(json!(message));
            }
        }
    }

    let balance = match find_customer(&sim, organization, phone) {
        Some(customer) => sim
            .lock()
            .wallets
            .get(&customer.id)
            .copied()
            .unwrap_or_default(),
        None => Decimal::ZERO,
    };
    let cap = ((total - discount) * program.max_payment_percent / Decimal::ONE_HUNDRED).round_dp(2);
    let max_sum = balance.min(cap).max(Decimal::ZERO);
    ok(json!({
        "loyaltyProgramResults": results,
        "availablePayments": [{
            "id": program.campaign_id,
            "maxSum": max_sum,
            "order": 0,
            "walletInfos": [{"id": program.wallet_id, "maxSum": max_sum, "canHoldMoney": true}],
        }],
        "validationWarnings": validation_warnings,
        "Warnings": warnings,
        "loyaltyTrace": Value::Null,
    }))
}

pub async fn program(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization = loyalty_organization(&sim, &body)?;
    let program = &sim.seed().loyalty;
    let campaigns = if body["withoutMarketingCampaigns"].as_bool().unwrap_or(false) {
        json!([])
    } else {
        json!([{
            "id": program.campaign_id,
            "programId": program.program_id,
            "name": program.campaign_name,
            "description": format!("Оплата бонусами до {}% заказа", program.max_payment_percent),
            "isActive": true,
            "periodFrom": "2024-01-01 00:00:00.000",
            "periodTo": Value::Null,
            "orderActionConditionBindings": [],
            "periodicDiscountConditionBindings": [],
            "overdraftConditionBindings": [],
            "guestRegistrationConditionBindings": [],
        }])
    };
    ok(json!({
        "Programs": [{
            "id": program.program_id,
            "name": program.name,
            "description": "Бонусы за заказы",
            "serviceFrom": "2024-01-01 00:00:00.000",
            "serviceTo": Value::Null,
            "notifyAboutBalanceChanges": true,
            "programType": 1,
            "isActive": true,
            "walletId": program.wallet_id,
            "marketingCampaigns": campaigns,
            "appliedOrganizations": [organization.id],
            "templateType": 0,
            "isExchangeRateEnabled": false,
            "refillType": 0,
        }],
    }))
}

pub async fn coupon_info(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    loyalty_organization(&sim, &body)?;
    let number = body["number"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The number field is required."))?;
    let program = &sim.seed().loyalty;
    let found: Vec<Value> = sim
        .seed()
        .coupons
        .iter()
        .enumerate()
        .filter(|(_, c)| c.number == number)
        .map(|(index, c)| {
            // A stable id per coupon, derived from the campaign id.
            let id =
                uuid::Uuid::from_u128(program.coupon_campaign_id.as_u128() + 0x100 + index as u128);
            json!({"id": id, "number": c.number,
                   "seriesName": "Промокоды сайта", "seriesId": program.coupon_campaign_id,
                   "whenActivated": Value::Null, "isDeleted": false})
        })
        .collect();
    ok(json!({"couponInfo": found}))
}
