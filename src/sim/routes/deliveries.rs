//! Deliveries: create (asynchronous), command status, readers and cancel.
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    ApiError, ApiResult, known_organizations, ok, parse, required_uuid, uuid_list, valid_phone,
};
use crate::sim::Simulator;
use crate::sim::orders::{self, decimal};
use crate::sim::state::{self, Command, CommandKind, Creation, Delivery};

const MAX_IDS: usize = 200;

pub async fn create(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let seed = sim.seed();
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let order = &body["order"];
    if !order.is_object() {
        return Err(ApiError::bad_request("The order field is required."));
    }
    let phone = order["phone"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The order.phone field is required."))?;
    if !valid_phone(phone) {
        return Err(ApiError::bad_request(format!(
            "Phone '{phone}' is incorrect: it must start with '+', contain at least 8 digits and be 8 to 40 characters long"
        ))
        .code("Validation_IncorrectPhone"));
    }
    let items = order["items"]
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("The order.items field is required and must not be empty.")
                .code("OrderItemsNotExists")
        })?;
    for item in items {
        let amount = decimal(&item["amount"])
            .ok_or_else(|| ApiError::bad_request("Order item amount is required."))?;
        if amount < rust_decimal::Decimal::ZERO || amount > rust_decimal::Decimal::new(999_999, 3) {
            return Err(ApiError::bad_request(format!(
                "Order item amount {amount} is out of range 0..999.999"
            )));
        }
    }

    let courier = match (
        order["orderTypeId"].is_null(),
        order["orderServiceType"].as_str(),
    ) {
        (false, None) => {
            let type_id = orders::uuid(&order["orderTypeId"]);
            seed.order_types
                .iter()
                .find(|t| Some(t.id) == type_id)
                .is_none_or(|t| t.service_type == "DeliveryByCourier")
        }
        (true, Some("DeliveryByCourier")) => true,
        (true, Some("DeliveryByClient")) => false,
        (true, Some(other)) => {
            return Err(ApiError::bad_request(format!(
                "Unknown orderServiceType '{other}': expected DeliveryByCourier or DeliveryByClient"
            )));
        }
        _ => {
            return Err(ApiError::bad_request(
                "Exactly one of order.orderTypeId and order.orderServiceType must be set.",
            ));
        }
    };
    if courier && order["deliveryPoint"].is_null() {
        return Err(ApiError::bad_request(
            "order.deliveryPoint is required for courier delivery.",
        ));
    }

    let organization = seed.organization(organization_id).expect("checked above");
    let terminal_group_id = match body["terminalGroupId"].is_null() {
        true => organization
            .terminal_groups
            .iter()
            .find(|tg| !tg.in_sleep)
            .map(|tg| tg.id)
            .ok_or_else(|| {
                ApiError::bad_request("Terminal group is not determined")
                    .code("TerminalGroupIdNotDetermined")
            })?,
        false => {
            let id = required_uuid(&body, "terminalGroupId")?;
            if !organization.terminal_groups.iter().any(|tg| tg.id == id) {
                return Err(ApiError::bad_request(format!(
                    "Terminal group {id} not found in organization {organization_id}"
                ))
                .code("TerminalGroupUnregistered"));
            }
            id
        }
    };
    let order_id = match order["id"].is_null() {
        true => Uuid::new_v4(),
        false => orders::uuid(&order["id"])
            .ok_or_else(|| ApiError::bad_request("order.id is not a valid UUID."))?,
    };

    let mut prepared = orders::prepare(seed, organization_id, order);
    let correlation_id = Uuid::new_v4();
    let until =
        Utc::now() + chrono::Duration::from_std(sim.config().creation_delay).unwrap_or_default();
    let mut state = sim.lock();
    if body["createOrderSettings"]["checkStopList"] == true {
        let stopped = stopped_items(&state, terminal_group_id, items);
        if !stopped.is_empty() {
            prepared = Err(orders::CreationError::new(
                "Common",
                format!("Products are in the stop list: {}", stopped.join(", ")),
            ));
        }
    }
    if state.deliveries.contains_key(&order_id) {
        return Err(
            ApiError::bad_request(format!("Order with id {order_id} already exists"))
                .code("DuplicatedOrderId"),
        );
    }
    state.add_delivery(
        Delivery {
            id: order_id,
            organization_id,
            terminal_group_id,
            external_number: order["externalNumber"].as_str().map(str::to_owned),
            source_key: order["sourceKey"].as_str().map(str::to_owned),
            revision: 0,
            creation: Creation::InProgress { until, prepared },
        },
        correlation_id,
    );
    let info = state.order_info(seed, &state.deliveries[&order_id]);
    drop(state);
    Ok(axum::Json(json!({"correlationId": correlation_id, "orderInfo": info})).into_response())
}

/// Product ids of the order items the terminal group's stop list cannot cover.
fn stopped_items(state: &state::State, terminal_group_id: Uuid, items: &[Value]) -> Vec<String> {
    let stop_list = state
        .stop_lists
        .get(&terminal_group_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter(|item| {
            let product = orders::uuid(&item["productId"]);
            let size = orders::uuid(&item["productSizeId"]);
            let amount = decimal(&item["amount"]).unwrap_or_default();
            stop_list.iter().any(|s| {
                Some(s.product_id) == product
                    && (s.size_id.is_none() || s.size_id == size)
                    && s.balance < amount
            })
        })
        .map(|item| item["productId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub async fn command_status(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    let correlation_id = required_uuid(&body, "correlationId")?;
    let status = sim.lock().command_status(correlation_id, organization_id);
    status
        .map(|s| Ok(axum::Json(s).into_response()))
        .unwrap_or_else(|| {
            Err(ApiError::bad_request(format!(
                "Command {correlation_id} not found"
            )))
        })
}

fn source_keys(body: &Value) -> Option<Vec<String>> {
    body["sourceKeys"].as_array().map(|keys| {
        keys.iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    })
}

fn matches_source(delivery: &Delivery, keys: &Option<Vec<String>>) -> bool {
    keys.as_ref().is_none_or(|keys| {
        keys.is_empty()
            || delivery
                .source_key
                .as_ref()
                .is_some_and(|k| keys.contains(k))
    })
}

pub async fn by_id(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let ids = match (body["orderIds"].is_null(), body["posOrderIds"].is_null()) {
        (false, true) => uuid_list(&body, "orderIds")?,
        // Simulated orders have no POS ids, so nothing matches.
        (true, false) => {
            uuid_list(&body, "posOrderIds")?;
            Vec::new()
        }
        _ => {
            return Err(ApiError::bad_request(
                "Exactly one of orderIds and posOrderIds must be set.",
            ));
        }
    };
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "Too many ids: at most {MAX_IDS} are allowed"
        )));
    }
    let keys = source_keys(&body);
    let state = sim.lock();
    let orders: Vec<Value> = ids
        .iter()
        .filter_map(|id| state.deliveries.get(id))
        .filter(|d| d.organization_id == organization_id && matches_source(d, &keys))
        .map(|d| state.order_info(sim.seed(), d))
        .collect();
    drop(state);
    ok(json!({"orders": orders}))
}

/// `ordersByOrganizations` for the deliveries that pass `keep`, oldest change first.
fn by_organizations(
    sim: &Simulator,
    organizations: &[Uuid],
    keep: impl Fn(&Delivery) -> bool,
) -> Value {
    let state = sim.lock();
    let grouped: Vec<Value> = organizations
        .iter()
        .map(|organization_id| {
            let mut matching: Vec<&Delivery> = state
                .deliveries
                .values()
                .filter(|d| d.organization_id == *organization_id && keep(d))
                .collect();
            matching.sort_by_key(|d| d.revision);
            let orders: Vec<Value> = matching
                .iter()
                .map(|d| state.order_info(sim.seed(), d))
                .collect();
            json!({"organizationId": organization_id, "orders": orders})
        })
        .collect();
    json!({"maxRevision": state.revision(), "ordersByOrganizations": grouped})
}

pub async fn by_revision(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let start = body["startRevision"]
        .as_i64()
        .ok_or_else(|| ApiError::bad_request("The startRevision field is required."))?;
    let organizations = uuid_list(&body, "organizationIds")?;
    known_organizations(&sim, &organizations)?;
    let floor = sim.lock().revision_floor;
    if start < floor {
        return Err(ApiError::bad_request(format!(
            "startRevision {start} is too old: revisions can be read back at most 3 hours (current floor {floor})"
        ))
        .code("RevisionTooOld"));
    }
    let keys = source_keys(&body);
    ok(by_organizations(&sim, &organizations, |d| {
        d.revision > start && matches_source(d, &keys)
    }))
}

pub async fn by_delivery_date_and_status(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organizations = uuid_list(&body, "organizationIds")?;
    known_organizations(&sim, &organizations)?;
    let from = body["deliveryDateFrom"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The deliveryDateFrom field is required."))?
        .to_owned();
    let to = body["deliveryDateTo"].as_str().map(str::to_owned);
    let statuses: Option<Vec<String>> = body["statuses"].as_array().map(|s| {
        s.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let keys = source_keys(&body);
    let seed = sim.seed();
    ok(by_organizations(&sim, &organizations, |d| {
        let Creation::Success(placed) = &d.creation else {
            return false;
        };
        // Both sides are `yyyy-MM-dd HH:mm:ss.fff` in terminal time, so text order is time order.
        let delivery_date = delivery_date(seed, d, placed);
        delivery_date.as_str() >= from.as_str()
            && to.as_deref().is_none_or(|to| delivery_date.as_str() <= to)
            && statuses
                .as_ref()
                .is_none_or(|s| s.is_empty() || s.iter().any(|s| s == placed.status))
            && matches_source(d, &keys)
    }))
}

/// The order's delivery date as iiko filters on it: `completeBefore`, or an hour after creation
/// for an "as soon as possible" order (as `render_order` shows it).
fn delivery_date(seed: &crate::sim::seed::Seed, d: &Delivery, placed: &state::Placed) -> String {
    placed.complete_before.clone().unwrap_or_else(|| {
        state::local_time(
            seed,
            d.terminal_group_id,
            placed.history[0].1 + chrono::Duration::hours(1),
        )
    })
}

/// The created deliveries of `organizations` whose delivery date lies in the body's
/// `deliveryDateFrom..=deliveryDateTo` and that pass `keep`, sorted and cut as asked
/// (`sortProperty`: `Number`, else `CompleteBefore`; `rowsCount`).
fn by_delivery_date(
    sim: &Simulator,
    body: &Value,
    keep: impl Fn(&Delivery, &state::Placed) -> bool,
) -> Result<Value, ApiError> {
    let organizations = uuid_list(body, "organizationIds")?;
    known_organizations(sim, &organizations)?;
    let from = body["deliveryDateFrom"].as_str();
    let to = body["deliveryDateTo"].as_str();
    let rows = match &body["rowsCount"] {
        Value::Null => None,
        value => Some(
            value
                .as_u64()
                .ok_or_else(|| ApiError::bad_request("rowsCount must be a positive integer."))?
                as usize,
        ),
    };
    let by_number = body["sortProperty"] == "Number";
    let descending = body["sortDirection"] == "Descending";
    let seed = sim.seed();
    let state = sim.lock();
    let grouped: Vec<Value> = organizations
        .iter()
        .map(|organization_id| {
            let mut matching: Vec<(String, i64, &Delivery)> = state
                .deliveries
                .values()
                .filter(|d| d.organization_id == *organization_id)
                .filter_map(|d| match &d.creation {
                    Creation::Success(placed) => {
                        let date = delivery_date(seed, d, placed);
                        let inside = from.is_none_or(|from| date.as_str() >= from)
                            && to.is_none_or(|to| date.as_str() <= to);
                        (inside && keep(d, placed)).then_some((date, placed.number, d))
                    }
                    _ => None,
                })
                .collect();
            matching.sort_by(|a, b| match by_number {
                true => a.1.cmp(&b.1),
                false => (&a.0, a.1).cmp(&(&b.0, b.1)),
            });
            if descending {
                matching.reverse();
            }
            let orders: Vec<Value> = matching
                .iter()
                .take(rows.unwrap_or(usize::MAX))
                .map(|(_, _, d)| state.order_info(seed, d))
                .collect();
            json!({"organizationId": organization_id, "orders": orders})
        })
        .collect();
    Ok(json!({"maxRevision": state.revision(), "ordersByOrganizations": grouped}))
}

fn strings(body: &Value, field: &str) -> Option<Vec<String>> {
    body[field].as_array().map(|values| {
        values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

pub async fn by_delivery_date_and_source_key_and_filter(
    State(sim): State<Simulator>,
    body: Bytes,
) -> ApiResult {
    let body = parse(&body)?;
    let keys = source_keys(&body);
    let statuses = strings(&body, "statuses");
    let terminal_groups = match body["terminalGroupIds"].is_null() {
        true => None,
        false => Some(uuid_list(&body, "terminalGroupIds")?),
    };
    ok(by_delivery_date(&sim, &body, |d, placed| {
        matches_source(d, &keys)
            && statuses
                .as_ref()
                .is_none_or(|s| s.is_empty() || s.iter().any(|s| s == placed.status))
            && terminal_groups
                .as_ref()
                .is_none_or(|t| t.is_empty() || t.contains(&d.terminal_group_id))
    })?)
}

pub async fn by_delivery_date_and_phone(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let phone = body["phone"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The phone field is required."))?
        .to_owned();
    let keys = source_keys(&body);
    ok(by_delivery_date(&sim, &body, |d, placed| {
        placed.body.get("phone").and_then(Value::as_str) == Some(phone.as_str())
            && matches_source(d, &keys)
    })?)
}

pub async fn cancel(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let order_id = required_uuid(&body, "orderId")?;
    let cause = match body["cancelCauseId"].is_null() {
        true => None,
        false => {
            let id = required_uuid(&body, "cancelCauseId")?;
            let cause = sim.seed().cancel_causes.iter().find(|c| c.id == id);
            Some(
                cause
                    .cloned()
                    .ok_or_else(|| ApiError::bad_request(format!("Cancel cause {id} not found")))?,
            )
        }
    };
    let mut state = sim.lock();
    if state
        .deliveries
        .get(&order_id)
        .is_none_or(|d| d.organization_id != organization_id)
    {
        return Err(
            ApiError::bad_request(format!("Delivery order {order_id} not found"))
                .code("OrderNotFound"),
        );
    }
    let correlation_id = Uuid::new_v4();
    let resolve_at =
        Utc::now() + chrono::Duration::from_std(sim.config().creation_delay).unwrap_or_default();
    state.commands.insert(
        correlation_id,
        Command {
            organization_id,
            kind: CommandKind::Cancel {
                order_id,
                cause,
                comment: body["cancelComment"].as_str().map(str::to_owned),
                resolve_at,
                result: None,
            },
        },
    );
    drop(state);
    Ok(axum::Json(json!({"correlationId": correlation_id})).into_response())
}
