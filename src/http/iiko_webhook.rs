//! iiko's webhook calls (`iiko_webhook.path`): checked, stored, answered 200; the status
//! tracker applies them afterwards. iiko wants a fast answer, so the receiver only checks the
//! token (before reading the body, which may be up to 16 MiB) and each event's envelope
//! (a body with an unreadable envelope is refused whole, 400);
//! concurrent calls are stored together in one transaction (one fsync for many), and none is
//! answered before it is stored.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::IgnoredAny};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, mpsc, oneshot};

use super::error::ApiError;
use crate::store::{Store, StoreError};

/// Calls stored per transaction at most.
const GROUP: usize = 512;
/// iiko batches many orders' events into one webhook call; the site's limit is for orders.
const MAX_BODY: usize = 16 * 1024 * 1024;

type Pending = (String, oneshot::Sender<Result<(), ()>>);

/// The queue in front of the store; cheap to clone.
#[derive(Clone)]
pub struct WebhookInbox {
    sender: mpsc::Sender<Pending>,
}

impl WebhookInbox {
    /// Starts the writer; it ends once every clone of the inbox is dropped and the queue is
    /// drained. `stored` is notified after each write (the tracker's waker).
    pub fn start(store: Store, stored: Arc<Notify>) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(GROUP * 4);
        let writer = tokio::spawn(write(store, receiver, stored));
        (Self { sender }, writer)
    }

    /// Returns once the call is durably stored.
    pub async fn push(&self, body: String) -> Result<(), ()> {
        let (done, stored) = oneshot::channel();
        self.sender.send((body, done)).await.map_err(drop)?;
        stored.await.unwrap_or(Err(()))
    }
}

async fn write(store: Store, mut receiver: mpsc::Receiver<Pending>, stored: Arc<Notify>) {
    let mut group = Vec::with_capacity(GROUP);
    while receiver.recv_many(&mut group, GROUP).await > 0 {
        let bodies: Vec<&str> = group.iter().map(|(body, _)| body.as_str()).collect();
        let result = store
            .push_webhook_calls(&bodies, Utc::now().timestamp_millis())
            .await;
        if let Err(error) = &result {
            tracing::error!(%error, "cannot store iiko webhook calls");
        }
        for (_, done) in group.drain(..) {
            let _ = done.send(result.as_ref().map(drop).map_err(drop));
        }
        stored.notify_one();
    }
}

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
    receiver.inbox.push(text.to_owned()).await.map_err(|()| {
        ApiError::unavailable(&StoreError::Corrupt(
            "the webhook inbox is unavailable".into(),
        ))
    })?;
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
