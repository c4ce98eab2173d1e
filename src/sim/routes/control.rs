//! `/sim/*`: the control API for tests and the demo (no token needed).
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::sim::Simulator;
use crate::sim::faults::FaultSettings;
use crate::sim::pos::{HandOrder, PosChange};
use crate::sim::state::StopItem;

pub fn router() -> Router<Simulator> {
    Router::new()
        .route("/sim/advance", post(advance))
        .route(
            "/sim/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/sim/requests", get(requests).delete(clear_requests))
        .route("/sim/stop_lists", post(set_stop_list))
        .route("/sim/move", post(move_delivery))
        .route("/sim/expire_revisions", post(expire_revisions))
        .route("/sim/nomenclature_update", post(nomenclature_update))
        .route("/sim/pos/enter", post(pos_enter))
        .route("/sim/pos/change", post(pos_change))
        .route("/sim/pos/delete", post(pos_delete))
}

fn control_error(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default = "one")]
    steps: u32,
}

fn one() -> u32 {
    1
}

async fn advance(State(sim): State<Simulator>, Json(request): Json<Advance>) -> Json<Value> {
    let events = {
        let mut state = sim.lock();
        state.advance(sim.seed(), sim.config(), request.steps, Utc::now())
    };
    sim.inner.webhooks.send(events);
    Json(json!({"revision": sim.lock().revision()}))
}

async fn get_faults(State(sim): State<Simulator>) -> Json<FaultSettings> {
    Json(sim.lock().faults.clone())
}

async fn set_faults(
    State(sim): State<Simulator>,
    Json(settings): Json<FaultSettings>,
) -> Json<FaultSettings> {
    let mut state = sim.lock();
    if settings.expire_tokens {
        let expired = Utc::now() - chrono::Duration::seconds(1);
        state
            .tokens
            .values_mut()
            .for_each(|expiry| *expiry = expired);
    }
    state.faults = FaultSettings {
        expire_tokens: false,
        ..settings
    };
    Json(state.faults.clone())
}

async fn clear_faults(State(sim): State<Simulator>) -> Json<FaultSettings> {
    let mut state = sim.lock();
    state.faults = FaultSettings::default();
    Json(state.faults.clone())
}

async fn requests(State(sim): State<Simulator>) -> Json<Value> {
    Json(Value::Array(sim.lock().requests.clone()))
}

async fn clear_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.lock().requests.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopListRequest {
    terminal_group_id: Uuid,
    #[serde(default)]
    items: Vec<StopListEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopListEntry {
    product_id: Uuid,
    #[serde(default)]
    size_id: Option<Uuid>,
    #[serde(default)]
    balance: Decimal,
}

/// Replaces a terminal group's stop list and fires `StopListUpdate`.
async fn set_stop_list(
    State(sim): State<Simulator>,
    Json(request): Json<StopListRequest>,
) -> Response {
    let Some((organization, _)) = sim.seed().terminal_group(request.terminal_group_id) else {
        return control_error(format!(
            "terminal group {} not found",
            request.terminal_group_id
        ));
    };
    if let Some(unknown) = request
        .items
        .iter()
        .find(|i| sim.seed().product(i.product_id).is_none())
    {
        return control_error(format!("product {} not found", unknown.product_id));
    }
    let now = Utc::now();
    let items: Vec<StopItem> = request
        .items
        .iter()
        .map(|i| StopItem {
            product_id: i.product_id,
            size_id: i.size_id,
            balance: i.balance,
            date_add: now,
        })
        .collect();
    let event = {
        let mut state = sim.lock();
        state.stop_lists.insert(request.terminal_group_id, items);
        state.organization_event(
            organization.id,
            "StopListUpdate",
            json!({"terminalGroupsStopListsUpdates": [{"id": request.terminal_group_id, "isFull": true}]}),
        )
    };
    sim.inner.webhooks.send(event.into_iter().collect());
    Json(json!({"terminalGroupId": request.terminal_group_id, "items": request.items.len()}))
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveRequest {
    order_id: Uuid,
    terminal_group_id: Uuid,
}

async fn move_delivery(State(sim): State<Simulator>, Json(request): Json<MoveRequest>) -> Response {
    let moved = {
        let mut state = sim.lock();
        state.move_delivery(
            sim.seed(),
            request.order_id,
            request.terminal_group_id,
            Utc::now(),
        )
    };
    match moved {
        Ok((new_id, events)) => {
            sim.inner.webhooks.send(events);
            Json(json!({"newOrderId": new_id})).into_response()
        }
        Err(message) => control_error(message),
    }
}

/// Every revision issued so far becomes too old for `by_revision`.
async fn expire_revisions(State(sim): State<Simulator>) -> Json<Value> {
    let mut state = sim.lock();
    state.revision_floor = state.revision() + 1;
    Json(json!({"revisionFloor": state.revision_floor}))
}

async fn nomenclature_update(State(sim): State<Simulator>) -> Json<Value> {
    let (revision, events) = {
        let mut state = sim.lock();
        state.menu_revision += 1;
        let events: Vec<_> = sim
            .seed()
            .organizations
            .iter()
            .filter_map(|o| {
                state.organization_event(
                    o.id,
                    "NomenclatureUpdate",
                    json!({"organizationId": o.id}),
                )
            })
            .collect();
        (state.menu_revision, events)
    };
    sim.inner.webhooks.send(events);
    Json(json!({"revision": revision}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PosEnter {
    organization_id: Uuid,
    phone: String,
    sum: Decimal,
    #[serde(default)]
    complete_before: Option<String>,
    #[serde(default)]
    source_key: Option<String>,
    #[serde(default)]
    external_number: Option<String>,
}

async fn pos_enter(State(sim): State<Simulator>, Json(request): Json<PosEnter>) -> Response {
    let order = HandOrder {
        organization_id: request.organization_id,
        phone: request.phone,
        sum: request.sum,
        complete_before: request.complete_before,
        source_key: request.source_key,
        external_number: request.external_number,
    };
    let entered = sim
        .lock()
        .enter_by_hand(sim.seed(), sim.config(), order, Utc::now());
    match entered {
        Ok(id) => Json(json!({"orderId": id})).into_response(),
        Err(message) => control_error(message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PosChangeRequest {
    order_id: Uuid,
    #[serde(default)]
    sum: Option<Decimal>,
    #[serde(default)]
    items: Option<Value>,
    #[serde(default)]
    status: Option<String>,
}

async fn pos_change(
    State(sim): State<Simulator>,
    Json(request): Json<PosChangeRequest>,
) -> Response {
    let change = PosChange {
        sum: request.sum,
        items: request.items,
        status: request.status,
    };
    match sim.lock().change_at_pos(request.order_id, change) {
        Ok(()) => Json(json!({"orderId": request.order_id})).into_response(),
        Err(message) => control_error(message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PosDelete {
    order_id: Uuid,
}

async fn pos_delete(State(sim): State<Simulator>, Json(request): Json<PosDelete>) -> Response {
    match sim.lock().delete_at_pos(request.order_id) {
        Ok(()) => Json(json!({"orderId": request.order_id})).into_response(),
        Err(message) => control_error(message),
    }
}
