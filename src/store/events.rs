//! The site events outbox: written inside the transaction of the change it reports, so an
//! event exists exactly when its change does.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::StoreError;

/// The event types of CONTRACT section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    OrderCreated,
    OrderStatus,
    OrderFallback,
    OrderCancelled,
    CatalogUpdated,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderStatus => "order.status",
            EventType::OrderFallback => "order.fallback",
            EventType::OrderCancelled => "order.cancelled",
            EventType::CatalogUpdated => "catalog.updated",
        }
    }
}

/// One event about to be written to the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub kind: EventType,
    pub branch: &'a str,
    /// The site's order id; `None` for branch-wide events.
    pub order_id: Option<&'a str>,
    pub data: Value,
    pub at_ms: i64,
}

impl NewEvent<'_> {
    /// The body as the site receives it: `{"type", "at", "branch", "order_id"?, "data"}`.
    pub fn body(&self) -> Value {
        let at = DateTime::<Utc>::from_timestamp_millis(self.at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut body = json!({
            "type": self.kind.as_str(),
            "at": at,
            "branch": self.branch,
            "data": self.data,
        });
        if let Some(order_id) = self.order_id {
            body["order_id"] = json!(order_id);
        }
        body
    }
}

/// Writes `event` to the outbox within the caller's transaction; returns its webhook id.
pub(crate) async fn enqueue_event(
    tx: &mut sqlx::SqliteConnection,
    event: &NewEvent<'_>,
) -> Result<String, StoreError> {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO site_events (event_id, type, branch, order_id, body, created_at,
             next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&event_id)
    .bind(event.kind.as_str())
    .bind(event.branch)
    .bind(event.order_id)
    .bind(event.body().to_string())
    .bind(event.at_ms)
    .bind(event.at_ms)
    .execute(tx)
    .await?;
    Ok(event_id)
}
