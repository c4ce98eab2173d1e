//! `?branch=KEY` on the routes scoped to one branch: required, and a configured branch.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use super::{
    AppState,
    error::{ApiError, Query},
};
use crate::orders::FieldProblem;

/// The key of a configured branch, from the `branch` query parameter.
pub struct Branch(pub String);

#[derive(Deserialize)]
struct BranchQuery {
    branch: Option<String>,
}

impl FromRequestParts<AppState> for Branch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Query(query) = Query::<BranchQuery>::from_request_parts(parts, state).await?;
        let Some(branch) = query.branch else {
            return Err(ApiError::invalid(vec![FieldProblem::new(
                "branch",
                "required",
                "give ?branch=KEY",
            )]));
        };
        if state.config.branch(&branch).is_none() {
            return Err(ApiError::not_found(format!("unknown branch {branch:?}")));
        }
        Ok(Branch(branch))
    }
}
