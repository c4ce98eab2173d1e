//! The one place where failures become HTTP answers: `{"error", "message", "details"}`, and the
//! status code of each refusal the domain gives.
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::orders::{FieldProblem, RequestError};
use crate::status::ViewError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldProblem>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldProblem]>::is_empty")]
    details: &'a [FieldProblem],
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(details: Vec<FieldProblem>) -> Self {
        Self {
            details,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "the request has invalid fields",
            )
        }
    }

    /// The store failing is our problem, not the caller's: 503 tells the site to retry later,
    /// and the cause goes to the log, not to the client.
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, "store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "temporarily unavailable, try again",
        )
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Malformed(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
            }
            RequestError::Invalid(details) => ApiError::invalid(details),
            RequestError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            RequestError::Unauthorized(message) => ApiError::unauthorized(message),
            RequestError::IikoUnavailable(error) => {
                tracing::warn!(%error, "loyalty: iiko did not answer");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "iiko_unavailable",
                    error.to_string(),
                )
            }
            RequestError::Store(error) => ApiError::unavailable(&error),
        }
    }
}

impl From<ViewError> for ApiError {
    fn from(error: ViewError) -> Self {
        match error {
            ViewError::NotFound(id) => {
                ApiError::not_found(format!("no order {id:?} in this branch"))
            }
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code,
            message: &self.message,
            details: &self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

/// axum's `Query` whose refusal (a parameter given twice, a wrong type) is a JSON 400 like every
/// other error, not axum's plain text.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(query)| Query(query))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_query",
                    rejection.body_text(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn each_refusal_of_the_order_api_has_its_status() {
        let status = |error: RequestError| ApiError::from(error).status;
        assert_eq!(status(RequestError::Malformed("eof".into())), 400);
        assert_eq!(status(RequestError::Invalid(vec![])), 422);
        assert_eq!(status(RequestError::Conflict("taken".into())), 409);
        assert_eq!(status(RequestError::Unauthorized("replayed".into())), 401);
        let store = RequestError::Store(StoreError::Corrupt("answer".into()));
        assert_eq!(status(store), 503);
    }
}
