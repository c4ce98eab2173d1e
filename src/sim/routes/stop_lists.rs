//! `/api/1/stop_lists` and `/api/1/stop_lists/check`.
use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, known_organizations, ok, parse, required_uuid, uuid_list};
use crate::sim::Simulator;
use crate::sim::orders::{decimal, uuid};
use crate::sim::state::{StopItem, utc_time};

fn stop_item(sim: &Simulator, item: &StopItem, with_size: bool) -> Value {
    let product = sim.seed().product(item.product_id);
    let sku = product.map(|p| {
        item.size_id
            .and_then(|size| p.sizes.iter().find(|s| s.size_id == size))
            .map_or(p.sku.as_str(), |s| s.sku.as_str())
    });
    json!({
        "balance": item.balance,
        "productId": item.product_id,
        "sizeId": if with_size { item.size_id } else { None },
        "sku": sku,
        "dateAdd": utc_time(item.date_add),
    })
}

pub async fn stop_lists(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organizations = uuid_list(&body, "organizationIds")?;
    known_organizations(&sim, &organizations)?;
    let with_size = body["returnSize"].as_bool().unwrap_or(false);
    let only = match body["terminalGroupsIds"].is_null() {
        true => None,
        false => Some(uuid_list(&body, "terminalGroupsIds")?),
    };
    let state = sim.lock();
    let lists: Vec<Value> = organizations
        .iter()
        .filter_map(|id| sim.seed().organization(*id))
        .map(|organization| {
            let groups: Vec<Value> = organization
                .terminal_groups
                .iter()
                .filter(|tg| only.as_ref().is_none_or(|ids| ids.contains(&tg.id)))
                .map(|tg| {
                    let items: Vec<Value> = state
                        .stop_lists
                        .get(&tg.id)
                        .into_iter()
                        .flatten()
                        .map(|item| stop_item(&sim, item, with_size))
                        .collect();
                    json!({"terminalGroupId": tg.id, "items": items})
                })
                .collect();
            json!({"organizationId": organization.id, "items": groups})
        })
        .collect();
    drop(state);
    ok(json!({"terminalGroupStopLists": lists}))
}

/// Items whose wanted amount exceeds the stop-list balance come back in `rejectedItems`.
pub async fn check(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let terminal_group_id = required_uuid(&body, "terminalGroupId")?;
    let items = body["items"]
        .as_array()
        .ok_or_else(|| ApiError::bad_request("The items field is required."))?;
    let state = sim.lock();
    let stopped = state.stop_lists.get(&terminal_group_id);
    let rejected: Vec<Value> = items
        .iter()
        .filter_map(|item| {
            let product = uuid(&item["productId"])?;
            let size = uuid(&item["productSizeId"]);
            let amount = decimal(&item["amount"]).unwrap_or_default();
            stopped?
                .iter()
                .find(|s| {
                    s.product_id == product
                        && (s.size_id.is_none() || s.size_id == size)
                        && s.balance < amount
                })
                .map(|s| stop_item(&sim, s, true))
        })
        .collect();
    drop(state);
    ok(json!({"rejectedItems": rejected}))
}
