//! `GET /api/v1/catalog?branch=KEY`: the branch's last synced catalog, with an ETag.
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, branch::Branch, error::ApiError};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/catalog", get(catalog))
}

async fn catalog(
    State(state): State<AppState>,
    Branch(branch): Branch,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stored = state
        .store
        .current_public_catalog(&branch)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("branch {branch:?} has no synced catalog yet"))
        })?;
    let etag = HeaderValue::from_str(&stored.etag).expect("an ETag is ASCII hex in quotes");
    let common = [
        (header::ETAG, etag),
        // The site may cache it, but must ask again every time: prices change.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if if_none_match(&headers, &stored.etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((common, [content_type], stored.public_json).into_response())
}

/// RFC 9110: `*` or a list of (possibly weak) tags.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}
