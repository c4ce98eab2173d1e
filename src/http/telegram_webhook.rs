//! The operator bot's webhook (`telegram.webhook_url`'s path): Telegram's secret-token header
//! checked in constant time (401 otherwise), the update handed to the bot, 200 once handled.
//! A store failure answers 500, so Telegram delivers the update again.
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::bot::OperatorBot;

const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Clone)]
struct Receiver {
    secret: String,
    bot: OperatorBot,
}

pub fn router<S: Clone + Send + Sync + 'static>(path: &str, bot: OperatorBot) -> Router<S> {
    let receiver = Receiver {
        secret: bot.telegram().webhook_secret(),
        bot,
    };
    Router::new()
        .route(path, post(receive))
        .with_state(receiver)
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let given = headers
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(receiver.secret.as_bytes())) {
        tracing::warn!("Telegram webhook call without the right secret token: refused");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "unauthorized"})),
        );
    }
    let update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => {
            // Telegram would send it again and again: taken, logged, dropped.
            tracing::warn!(%error, "Telegram webhook body is not an update; dropped");
            return (StatusCode::OK, Json(json!({})));
        }
    };
    match receiver.bot.handle(update).await {
        Ok(()) => (StatusCode::OK, Json(json!({}))),
        Err(error) => {
            tracing::error!(%error, "Telegram update not handled; Telegram will send it again");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "try again"})),
            )
        }
    }
}
