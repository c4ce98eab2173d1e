//! `GET /api/v1/loyalty/balance` and `POST /api/v1/loyalty/calculate`: thin handlers over
//! [`crate::loyalty`], behind the site token.
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
    orders::require_json,
};
use crate::loyalty;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/loyalty/balance", get(balance))
        .route("/api/v1/loyalty/calculate", post(calculate))
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
    loyalty::balance_answer(
        &state.iiko,
        &state.config,
        query.branch.as_deref(),
        query.phone.as_deref(),
    )
    .await
    .map(Json)
}

async fn calculate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    loyalty::calculate_answer(&state.iiko, &state.catalogs, &state.config, &body)
        .await
        .map(Json)
}
