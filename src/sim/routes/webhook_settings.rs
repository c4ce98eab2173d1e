//! `/api/1/webhooks/settings` and `/api/1/webhooks/update_settings`.
use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, known_organizations, ok, parse, required_uuid};
use crate::sim::state::WebhookSettings;
use crate::sim::{Simulator, demo_ids};

pub async fn settings(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let settings = sim.lock().webhooks.get(&organization_id).cloned();
    ok(json!({
        "apiLoginName": demo_ids::API_LOGIN,
        "webHooksUri": settings.as_ref().map(|s| &s.uri),
        "authToken": settings.as_ref().and_then(|s| s.auth_token.as_ref()),
        "webHooksFilter": settings.and_then(|s| s.filter).unwrap_or(Value::Null),
    }))
}

pub async fn update_settings(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let organization_id = required_uuid(&body, "organizationId")?;
    known_organizations(&sim, &[organization_id])?;
    let uri = body["webHooksUri"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The webHooksUri field is required."))?;
    url::Url::parse(uri)
        .map_err(|e| ApiError::bad_request(format!("webHooksUri is not a valid URI: {e}")))?;
    let settings = WebhookSettings {
        uri: uri.to_owned(),
        auth_token: body["authToken"].as_str().map(str::to_owned),
        filter: Some(body["webHooksFilter"].clone()).filter(|f| !f.is_null()),
    };
    sim.lock().webhooks.insert(organization_id, settings);
    ok(json!({}))
}
