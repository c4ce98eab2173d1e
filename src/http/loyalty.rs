//! `GET /api/v1/loyalty/balance` and `POST /api/v1/loyalty/calculate`: thin handlers over
//! [`crate::orders::balance_answer`] and [`crate::orders::calculate_answer`], behind the site
//! token and a rate limit of their own (each call reaches iiko; a flood of them must not use up
//! the order API's budget).
use std::num::NonZeroU32;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    AppState,
    error::{ApiError, Query},
    orders::{rate_limited, require_json},
};
use crate::orders;

/// `requests_per_second`: `site.requests_per_second`, counted apart from the order API's.
pub fn router(requests_per_second: NonZeroU32) -> Router<AppState> {
    let routes = Router::new()
        .route("/api/v1/loyalty/balance", get(balance))
        .route("/api/v1/loyalty/calculate", post(calculate));
    rate_limited(routes, requests_per_second)
}

#[derive(Deserialize)]
struct BalanceQuery {
    branch: Option<String>,
    phone: Option<String>,
}

async fn balance(
    State(state): State<AppState>,
    Query(query): Query<BalanceQuery>,
) -> Result<Json<Value>, ApiError> {
    let answer = orders::balance_answer(
        &state.iiko,
        &state.config,
        query.branch.as_deref(),
        query.phone.as_deref(),
    )
    .await?;
    Ok(Json(answer))
}

async fn calculate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let answer =
        orders::calculate_answer(&state.iiko, &state.catalogs, &state.config, &body).await?;
    Ok(Json(answer))
}
