//! Organizations, terminal groups and the order-related dictionaries.
use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, ApiResult, known_organizations, ok, parse, uuid_list};
use crate::sim::Simulator;
use crate::sim::seed::{Organization, TerminalGroup};

/// `organizationIds` of a dictionary request, all known.
fn organizations_of(sim: &Simulator, body: &Value) -> Result<Vec<Uuid>, ApiError> {
    let ids = uuid_list(body, "organizationIds")?;
    known_organizations(sim, &ids)?;
    Ok(ids)
}

pub async fn organizations(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let wanted = if body["organizationIds"].is_null() {
        None
    } else {
        Some(uuid_list(&body, "organizationIds")?)
    };
    let extended = body["returnAdditionalInfo"].as_bool().unwrap_or(false);
    let list: Vec<Value> = sim
        .seed()
        .organizations
        .iter()
        .filter(|o| wanted.as_ref().is_none_or(|ids| ids.contains(&o.id)))
        .map(|o| organization(o, extended))
        .collect();
    ok(json!({"organizations": list}))
}

fn organization(o: &Organization, extended: bool) -> Value {
    let mut info = json!({
        "responseType": if extended { "Extended" } else { "Simple" },
        "id": o.id,
        "name": o.name,
        "code": Value::Null,
        "externalData": Value::Null,
    });
    if extended {
        let extra = json!({
            "country": "Россия",
            "restaurantAddress": o.address,
            "latitude": 55.75,
            "longitude": 37.62,
            "useUaeAddressingSystem": false,
            "version": "9.1.6014.0",
            "currencyIsoName": "RUB",
            "currencyMinimumDenomination": 0.01,
            "countryPhoneCode": "7",
            "marketingSourceRequiredInDelivery": false,
            "defaultDeliveryCityId": Value::Null,
            "deliveryCityIds": [],
            "deliveryServiceType": "CourierAndSelfService",
            "deliveryOrderPaymentSettings": "WhenOrderOnTheWay",
            "defaultCallCenterPaymentTypeId": Value::Null,
            "orderItemCommentEnabled": true,
            "inn": "7700000000",
            "addressFormatType": "Legacy",
            "isConfirmationEnabled": false,
            "confirmAllowedIntervalInMinutes": 0,
            "isCloud": true,
            "isAnonymousGuestsAllowed": false,
            "addressLookup": [],
        });
        if let (Value::Object(info), Value::Object(extra)) = (&mut info, extra) {
            info.extend(extra);
        }
    }
    info
}

fn terminal_group(organization: Uuid, tg: &TerminalGroup) -> Value {
    json!({
        "id": tg.id,
        "organizationId": organization,
        "name": tg.name,
        "address": tg.address,
        "timeZone": tg.timezone_name,
        "externalData": Value::Null,
    })
}

pub async fn terminal_groups(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let ids = organizations_of(&sim, &body)?;
    let wrapped = |sleeping: bool| -> Vec<Value> {
        ids.iter()
            .filter_map(|id| sim.seed().organization(*id))
            .map(|o| {
                let items: Vec<Value> = o
                    .terminal_groups
                    .iter()
                    .filter(|tg| tg.in_sleep == sleeping)
                    .map(|tg| terminal_group(o.id, tg))
                    .collect();
                json!({"organizationId": o.id, "items": items})
            })
            .collect()
    };
    ok(json!({"terminalGroups": wrapped(false), "terminalGroupsInSleep": wrapped(true)}))
}

pub async fn terminal_groups_alive(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organizations = if body["organizationIds"].is_null() && !body["organizationId"].is_null() {
        vec![super::required_uuid(&body, "organizationId")?]
    } else {
        organizations_of(&sim, &body)?
    };
    let groups = uuid_list(&body, "terminalGroupIds")?;
    let state = sim.lock();
    let statuses: Vec<Value> = groups
        .iter()
        .filter_map(|id| sim.seed().terminal_group(*id))
        .filter(|(o, _)| organizations.contains(&o.id))
        .map(|(o, tg)| {
            json!({
                "isAlive": state.terminal_is_alive(sim.seed(), tg.id),
                "terminalGroupId": tg.id,
                "organizationId": o.id,
            })
        })
        .collect();
    drop(state);
    ok(json!({"isAliveStatus": statuses}))
}

/// Every terminal group of the requested organizations, for `PaymentType.terminalGroups`.
fn all_terminal_groups(sim: &Simulator, organizations: &[Uuid]) -> Vec<Value> {
    organizations
        .iter()
        .filter_map(|id| sim.seed().organization(*id))
        .flat_map(|o| o.terminal_groups.iter().map(|tg| terminal_group(o.id, tg)))
        .collect()
}

pub async fn payment_types(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let ids = organizations_of(&sim, &body)?;
    let terminal_groups = all_terminal_groups(&sim, &ids);
    let list: Vec<Value> = sim
        .seed()
        .payment_types
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "code": p.code,
                "name": p.name,
                "comment": "",
                "combinable": true,
                "externalRevision": 1,
                "applicableMarketingCampaigns": p.marketing_campaigns,
                "isDeleted": false,
                "printCheque": p.kind != "External",
                "paymentProcessingType": p.processing_type,
                "paymentTypeKind": p.kind,
                "terminalGroups": terminal_groups,
            })
        })
        .collect();
    ok(json!({"paymentTypes": list}))
}

/// `[{organizationId, items}]` with the same items for every organization.
fn rms_wrapped(ids: &[Uuid], items: &[Value]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"organizationId": id, "items": items}))
            .collect(),
    )
}

pub async fn order_types(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let ids = organizations_of(&sim, &body)?;
    let items: Vec<Value> = sim
        .seed()
        .order_types
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "orderServiceType": t.service_type,
                "isDeleted": false,
                "externalRevision": 1,
                "isDefault": true,
            })
        })
        .collect();
    ok(json!({"orderTypes": rms_wrapped(&ids, &items)}))
}

pub async fn discounts(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let ids = organizations_of(&sim, &body)?;
    let items: Vec<Value> = sim
        .seed()
        .discounts
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.name,
                "percent": d.percent,
                "isCategorisedDiscount": false,
                "productCategoryDiscounts": [],
                "comment": Value::Null,
                "canBeAppliedSelectively": d.is_manual,
                "minOrderSum": Value::Null,
                "mode": d.mode,
                "sum": d.sum,
                "canApplyByCardNumber": false,
                "isManual": d.is_manual,
                "isCard": false,
                "isAutomatic": d.is_automatic,
                "isDeleted": false,
            })
        })
        .collect();
    ok(json!({"discounts": rms_wrapped(&ids, &items)}))
}

pub async fn cancel_causes(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    organizations_of(&sim, &body)?;
    let list: Vec<Value> = sim
        .seed()
        .cancel_causes
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "isDeleted": false}))
        .collect();
    ok(json!({"cancelCauses": list}))
}
