//! iiko's webhook calls (`iiko_webhook.path`): checked, stored, answered 200; the status
//! tracker applies them afterwards. iiko wants a fast answer, so the receiver only checks the
//! token (before reading the body, which may be up to 16 MiB) and each event's envelope
//! (a body with an unreadable envelope is refused whole, 400), and none is answered before the
//! inbox (`status/inbox.rs`) has stored it.
use std::sync::atomic::{AtomicBool, Ordering};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::IgnoredAny};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::status::WebhookInbox;

/// iiko batches many orders' events into one webhook call; the site's limit is for orders.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the receiver checks of each event: iiko's envelope. The payload is decoded by the
/// tracker afterwards (an unreadable one is logged and skipped there), which keeps the answer
/// fast.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "eventType")]
    _event_type: String,
    #[serde(rename = "organizationId")]
    _organization_id: uuid::Uuid,
    #[serde(rename = "eventInfo")]
    _event_info: IgnoredAny,
}

#[derive(Clone)]
struct Receiver {
    token: Option<SecretString>,
    inbox: WebhookInbox,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    path: &str,
    token: Option<SecretString>,
    inbox: WebhookInbox,
) -> Router<S> {
    let receiver = Receiver { token, inbox };
    Router::new()
        .route(path, post(receive))
        .route_layer(middleware::from_fn_with_state(
            receiver.clone(),
            require_token,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

/// Runs before the body is read: a caller without the token costs no more than its headers.
async fn require_token(
    State(receiver): State<Receiver>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    log_header_names_once(request.headers());
    check_token(receiver.token.as_ref(), request.headers())?;
    Ok(next.run(request).await)
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| malformed("the body is not UTF-8"))?;
    let events: Vec<Envelope> = serde_json::from_str(text)
        .map_err(|e| malformed(&format!("not a JSON array of iiko events: {e}")))?;
    if events.is_empty() {
        return Ok((StatusCode::OK, Json(json!({"stored": 0}))).into_response());
    }
    receiver
        .inbox
        .push(text.to_owned())
        .await
        .map_err(|error| ApiError::unavailable(&error))?;
    Ok((StatusCode::OK, Json(json!({"stored": events.len()}))).into_response())
}

/// iiko passes `authToken` in `Authorization`, bare or as `Bearer <token>`; compared in
/// constant time. Without a configured token nothing is accepted.
fn check_token(expected: Option<&SecretString>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::unauthorized(
            "iiko_webhook.auth_token is not configured",
        ));
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.strip_prefix("Bearer ").unwrap_or(value).trim())
        .ok_or_else(|| ApiError::unauthorized("missing Authorization"))?;
    if bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        Ok(())
    } else {
        tracing::warn!("iiko webhook call with a wrong token refused");
        Err(ApiError::unauthorized("wrong token"))
    }
}

fn malformed(message: &str) -> ApiError {
    tracing::warn!(message, "malformed iiko webhook call refused");
    ApiError::new(StatusCode::BAD_REQUEST, "malformed", message)
}

/// iiko does not document how `authToken` arrives; the names (never values) of the first
/// call's headers show it.
fn log_header_names_once(headers: &HeaderMap) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        let names: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
        tracing::info!(?names, "first iiko webhook call: header names");
    }
}
