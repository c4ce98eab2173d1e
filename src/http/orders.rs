//! `POST /api/v1/orders` and `POST /api/v1/orders/check`: thin handlers over
//! [`crate::orders::service`], behind the site token, the rate limit and the signature check;
//! the order view and cancel routes share the token and the rate limit.
use std::{num::NonZeroU32, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;

use super::{AppState, error::ApiError, order_status};
use crate::orders::service;
use crate::signing::{self, SignedHeaders, WebhookSecret};

pub fn router(requests_per_second: NonZeroU32) -> Router<AppState> {
    let routes = Router::new()
        .route("/api/v1/orders", post(submit))
        .route("/api/v1/orders/check", post(check))
        .route("/api/v1/orders/{id}", get(order_status::view))
        .route("/api/v1/orders/{id}/cancel", post(order_status::cancel));
    rate_limited(routes, requests_per_second)
}

/// A runaway site (a retry loop) must not starve the store and iiko for everyone: past
/// `requests_per_second` (its own budget per call of this) the routes answer 429.
pub(super) fn rate_limited(
    routes: Router<AppState>,
    requests_per_second: NonZeroU32,
) -> Router<AppState> {
    let limiter: Arc<DefaultDirectRateLimiter> =
        Arc::new(RateLimiter::direct(Quota::per_second(requests_per_second)));
    routes.route_layer(middleware::from_fn(move |request: Request, next: Next| {
        let limiter = limiter.clone();
        async move {
            if limiter.check().is_err() {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests; slow down",
                )
                .into_response();
            }
            next.run(request).await
        }
    }))
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let now = Utc::now();
    let webhook_id = match &state.config.site.signing_secret {
        Some(secret) => Some(verified_webhook_id(
            secret.expose_secret(),
            &headers,
            &body,
            now,
        )?),
        None => None,
    };
    let accepted = service::submit_order(
        &state.store,
        &state.catalogs,
        &state.iiko,
        &state.config,
        &body,
        webhook_id.as_deref(),
        now,
    )
    .await?;
    // An identical repeat is answered from the store, as the first time but 200.
    let status = if accepted.repeat {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(accepted.body)).into_response())
}

async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let answer = service::check(&state.catalogs, &state.iiko, &state.config, &body).await?;
    Ok(Json(answer).into_response())
}

fn verified_webhook_id(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: chrono::DateTime<Utc>,
) -> Result<String, ApiError> {
    let secret = WebhookSecret::parse(secret)
        .map_err(|e| ApiError::unauthorized(format!("site.signing_secret: {e}")))?;
    signing::verify(&secret, SignedHeaders::from_map(headers), body, now)
        .map(str::to_owned)
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// `application/json`, with or without parameters such as `charset`.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the order as Content-Type: application/json",
        ))
    }
}

/// The body-limit layer answers 413 in plain text; the site gets the same JSON error as always.
pub async fn json_payload_too_large(response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the body exceeds server.max_body_bytes",
    )
    .into_response()
}
