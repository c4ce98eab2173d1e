//! Menus: `/api/2/menu`, `/api/2/menu/by_id`, `/api/menu/v3/by_id`, `/api/1/nomenclature`.
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, ApiResult, known_organizations, ok, parse, required_uuid, uuid_list};
use crate::sim::Simulator;
use crate::sim::menu_shapes::{MenuKey, MenuShape};

pub async fn external_menus(State(sim): State<Simulator>) -> ApiResult {
    let seed = sim.seed();
    let categories: Vec<Value> = seed
        .price_categories
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name}))
        .collect();
    ok(json!({
        "externalMenus": [{"id": seed.external_menu.id, "name": seed.external_menu.name}],
        "priceCategories": categories,
    }))
}

fn check_menu(sim: &Simulator, body: &Value) -> Result<Option<String>, ApiError> {
    let menu = body["externalMenuId"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The externalMenuId field is required."))?;
    if menu != sim.seed().external_menu.id {
        return Err(ApiError::bad_request(format!(
            "External menu {menu} not found"
        )));
    }
    let category = body["priceCategoryId"].as_str().filter(|c| !c.is_empty());
    if let Some(category) = category
        && !sim.seed().price_categories.iter().any(|c| c.id == category)
    {
        return Err(ApiError::bad_request(format!(
            "Price category {category} not found"
        )));
    }
    Ok(category.map(str::to_owned))
}

/// Builds (or takes from the cache) a menu body off the async threads.
async fn menu_response(sim: Simulator, key: MenuKey) -> ApiResult {
    let body = tokio::task::spawn_blocking(move || sim.inner.menus.menu(&sim.inner.seed, key))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        Body::from(body),
    )
        .into_response())
}

pub async fn external_menu_by_id(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let price_category = check_menu(&sim, &body)?;
    let mut organizations = uuid_list(&body, "organizationIds")?;
    known_organizations(&sim, &organizations)?;
    organizations.sort();
    organizations.dedup();
    let version = match body["version"].as_i64() {
        None | Some(2) => 2,
        Some(3) => 3,
        Some(4) => 4,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported menu version {other}"
            )));
        }
    };
    let revision = sim.lock().menu_revision;
    let key = MenuKey {
        shape: MenuShape::External(version),
        organizations,
        price_category,
        revision,
    };
    menu_response(sim, key).await
}

pub async fn menu_v3_by_id(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let price_category = check_menu(&sim, &body)?;
    let organization = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization])?;
    let revision = sim.lock().menu_revision;
    let key = MenuKey {
        shape: MenuShape::MenuV3,
        organizations: vec![organization],
        price_category,
        revision,
    };
    menu_response(sim, key).await
}

/// With `startRevision` equal to the current revision nothing changed: empty arrays.
pub async fn nomenclature(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization])?;
    let revision = sim.lock().menu_revision;
    if body["startRevision"].as_i64() == Some(revision) {
        return ok(json!({
            "revision": revision,
            "groups": [],
            "productCategories": [],
            "products": [],
            "sizes": [],
        }));
    }
    let full = tokio::task::spawn_blocking(move || {
        sim.inner
            .menus
            .nomenclature(&sim.inner.seed, organization, revision)
    })
    .await
    .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(with_correlation_id(&full)),
    )
        .into_response())
}

/// Prepends `"correlationId"` to a cached JSON object without re-serializing it.
fn with_correlation_id(object: &Bytes) -> Vec<u8> {
    let prefix = format!("{{\"correlationId\":\"{}\",", Uuid::new_v4());
    let mut out = Vec::with_capacity(object.len() + prefix.len());
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&object[1..]);
    out
}
