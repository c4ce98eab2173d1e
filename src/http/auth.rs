//! Bearer-token authentication of the site's calls.
use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::Response,
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{AppState, error::ApiError};

/// Rejects `/api/v1` calls without `Authorization: Bearer <site.token>`; the comparison takes
/// the same time whatever the token, so it cannot be guessed byte by byte.
pub async fn require_site_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = state.config.site.token.as_ref() else {
        return Err(ApiError::unauthorized("site.token is not configured"));
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    if bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::unauthorized("wrong token"))
    }
}
