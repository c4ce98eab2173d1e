//! The read-only commands' answers (`/orders`, `/order`, `/undelivered`, `/health`,
//! `/stoplist`, `/help`): read from the store, written in Russian as Telegram HTML pages, each
//! within [`html::MESSAGE_LIMIT`](crate::notify::html::MESSAGE_LIMIT).
use std::sync::Arc;

use crate::config::Config;
use crate::store::{Store, StoreError};

/// Writes the answers; cheap to clone.
#[derive(Clone)]
pub struct Answers {
    store: Store,
    config: Arc<Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The command was given wrongly: the text (Russian) says how to give it.
    #[error("{0}")]
    Usage(String),
    /// What the command names does not exist: the text (Russian) says so.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `/order`'s answer, with what the bot needs to add the order's buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAnswer {
    pub pages: Vec<String>,
    /// The bridge's own id of the order.
    pub order_id: i64,
    /// The order is in the fallback: the resolve and retry buttons apply.
    pub in_fallback: bool,
}

impl Answers {
    pub fn new(store: Store, config: Arc<Config>) -> Answers {
        Answers { store, config }
    }

    pub async fn orders(
        &self,
        filter: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<String>, AnswerError> {
        let _ = (&self.store, &self.config, filter, now_ms);
        Ok(vec!["…".into()])
    }

    pub async fn order(&self, id: &str, branch: Option<&str>) -> Result<OrderAnswer, AnswerError> {
        let _ = (id, branch);
        Err(AnswerError::NotFound("…".into()))
    }

    pub async fn undelivered(&self) -> Result<Vec<String>, AnswerError> {
        Ok(vec!["…".into()])
    }

    pub async fn health(&self, now_ms: i64) -> Result<Vec<String>, AnswerError> {
        let _ = now_ms;
        Ok(vec!["…".into()])
    }

    pub async fn stoplist(&self, branch: Option<&str>) -> Result<Vec<String>, AnswerError> {
        let _ = branch;
        Ok(vec!["…".into()])
    }

    pub fn help() -> String {
        "…".into()
    }
}
