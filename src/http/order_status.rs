//! `GET /api/v1/orders/{id}?branch=KEY` and `POST /api/v1/orders/{id}/cancel?branch=KEY`: thin
//! handlers over [`crate::status::order_view`] and [`crate::status::cancel_order`].
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{AppState, branch::Branch, error::ApiError};
use crate::orders::FieldProblem;
use crate::status;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

/// The longest cancellation reason kept (it goes to iiko's `cancelComment`).
const MAX_REASON: usize = 500;

pub async fn view(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Branch(branch): Branch,
) -> Result<Response, ApiError> {
    let view = status::order_view(&state.store, &branch, &id).await?;
    Ok(Json(view).into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Branch(branch): Branch,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reason = reason(&body)?;
    let view = status::cancel_order(
        &state.store,
        &state.iiko,
        &state.config,
        &branch,
        &id,
        reason.as_deref(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// An empty body, or `{"reason"?: string}`.
fn reason(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let body: CancelBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("the body must be {{\"reason\"?: string}}: {e}"),
        )
    })?;
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return Err(ApiError::invalid(vec![FieldProblem::new(
            "reason",
            "too_long",
            format!("at most {MAX_REASON} characters"),
        )]));
    }
    Ok(reason)
}
