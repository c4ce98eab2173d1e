//! iiko's webhook calls, stored before they are answered (the tracker applies them
//! afterwards). iiko wants a fast answer, so calls that arrive together are stored together:
//! one transaction, one fsync for many.
use std::sync::Arc;

use chrono::Utc;
use tokio::{sync::Notify, task::JoinHandle};

use crate::store::{Group, Store, StoreError};

/// Calls stored per transaction at most.
const GROUP: usize = 512;

/// The queue in front of the store; cheap to clone.
#[derive(Clone)]
pub struct WebhookInbox {
    calls: Group<String, Result<(), String>>,
}

impl WebhookInbox {
    /// Starts the writer; it ends once every clone of the inbox is dropped and the queue is
    /// drained. `stored` is notified after each write (the tracker's waker).
    pub fn start(store: Store, stored: Arc<Notify>) -> (WebhookInbox, JoinHandle<()>) {
        let (calls, writer) = Group::start(GROUP, GROUP * 4, move |bodies: Vec<String>| {
            let (store, stored) = (store.clone(), stored.clone());
            async move {
                let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
                let result = store
                    .push_webhook_calls(&bodies, Utc::now().timestamp_millis())
                    .await
                    .map_err(|error| error.to_string());
                if let Err(error) = &result {
                    tracing::error!(%error, "cannot store iiko webhook calls");
                }
                stored.notify_one();
                vec![result; bodies.len()]
            }
        });
        (WebhookInbox { calls }, writer)
    }

    /// Returns once the call is durably stored.
    pub async fn push(&self, body: String) -> Result<(), StoreError> {
        self.calls
            .call(body)
            .await
            .unwrap_or_else(|| Err("the webhook inbox is unavailable".to_owned()))
            .map_err(StoreError::CommitFailed)
    }
}
