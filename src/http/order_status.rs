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

use super::{
    AppState,
    error::{ApiError, FieldProblem, Query},
};
use crate::status::{self, ViewError};

#[derive(Deserialize)]
pub struct BranchQuery {
    branch: Option<String>,
}

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
    Query(query): Query<BranchQuery>,
) -> Result<Response, ApiError> {
    let branch = branch(&state, query)?;
    let view = status::order_view(&state.store, &branch, &id)
        .await
        .map_err(view_error)?;
    Ok(Json(view).into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<BranchQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let branch = branch(&state, query)?;
    let reason = reason(&body)?;
    let view = status::cancel_order(
        &state.store,
        &state.iiko,
        &state.config,
        &branch,
        &id,
        reason.as_deref(),
    )
    .await
    .map_err(view_error)?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

fn branch(state: &AppState, query: BranchQuery) -> Result<String, ApiError> {
    let Some(branch) = query.branch else {
        return Err(ApiError::invalid(vec![FieldProblem::new(
            "branch",
            "required",
            "give ?branch=KEY",
        )]));
    };
    if !state.config.branches.iter().any(|b| b.key == branch) {
        return Err(ApiError::not_found(format!("unknown branch {branch:?}")));
    }
    Ok(branch)
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

fn view_error(error: ViewError) -> ApiError {
    match error {
        ViewError::NotFound(id) => ApiError::not_found(format!("no order {id:?} in this branch")),
        ViewError::Refused(why) => ApiError::new(StatusCode::CONFLICT, "cannot_cancel", why),
        ViewError::Iiko(error) => {
            tracing::warn!(%error, "cancelling in iiko failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "iiko_unavailable",
                "iiko did not answer; try again",
            )
        }
        ViewError::Store(error) => ApiError::unavailable(&error),
    }
}
