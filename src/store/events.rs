//! The site events outbox: written inside the transaction of the change it reports, so an
//! event exists exactly when its change does.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Store, StoreError};

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

/// An event about one order, as decided by its life cycle or a status report (CONTRACT
/// section 2).
#[derive(Debug, Clone, PartialEq)]
pub enum OrderEvent {
    /// `order.created`, with the iiko id the order has when it is written: fresh ids may have
    /// replaced the one the deciding worker read.
    Created {
        iiko_number: Option<i64>,
    },
    Fallback {
        reason: String,
    },
    Status {
        status: String,
        iiko_status: String,
    },
    Cancelled {
        reason: String,
    },
}

/// The order an [`OrderEvent`] is about, as stored.
pub(super) struct EventOrder<'a> {
    pub branch: &'a str,
    pub site_id: &'a str,
    pub iiko_order_id: &'a str,
}

impl OrderEvent {
    /// The event to write for `order` at `at_ms`.
    pub(super) fn about<'a>(&self, order: EventOrder<'a>, at_ms: i64) -> NewEvent<'a> {
        let (kind, data) = match self {
            OrderEvent::Created { iiko_number } => (
                EventType::OrderCreated,
                json!({ "iiko_order_id": order.iiko_order_id, "iiko_number": iiko_number }),
            ),
            OrderEvent::Fallback { reason } => {
                (EventType::OrderFallback, json!({ "reason": reason }))
            }
            OrderEvent::Status {
                status,
                iiko_status,
            } => (
                EventType::OrderStatus,
                json!({ "status": status, "iiko_status": iiko_status }),
            ),
            OrderEvent::Cancelled { reason } => {
                (EventType::OrderCancelled, json!({ "reason": reason }))
            }
        };
        NewEvent {
            kind,
            branch: order.branch,
            order_id: Some(order.site_id),
            data,
            at_ms,
        }
    }
}

/// A pending event whose turn has come (every earlier event of its order is delivered),
/// claimed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueEvent {
    pub id: i64,
    pub event_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub branch: String,
    pub order_id: Option<String>,
    /// The exact bytes to POST, the same on every attempt.
    pub body: String,
    pub attempts: i64,
    /// When it was queued (written, or re-queued by `events redeliver`): the give-up counts
    /// from here.
    #[sqlx(rename = "queued_at")]
    pub queued_at_ms: i64,
    /// This claim's own id: the attempt's outcome is recorded under it.
    pub lease_id: String,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAttemptEnd {
    /// The site answered 2xx.
    Delivered,
    /// Try again at `next_attempt_at_ms`.
    Retry { next_attempt_at_ms: i64 },
    /// The site answered 410 Gone: this URL takes no more events.
    Gone,
    /// The site kept refusing it for `site.events_give_up_hours`: no more attempts, and the
    /// order's later events go on without it.
    Dead,
}

/// What `events redeliver ID` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redelivered {
    /// Queued again.
    Queued,
    NotFound,
    /// Only dead and stopped events are sent again; this one is in the given state.
    Refused(String),
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAttempt<'a> {
    pub at_ms: i64,
    pub url: &'a str,
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
    pub latency_ms: i64,
}

/// An attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordedAttempt {
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    pub url: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// A stored event, for `events list`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: i64,
    pub event_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub branch: String,
    pub order_id: Option<String>,
    pub state: String,
    pub attempts: i64,
    #[sqlx(rename = "created_at")]
    pub created_at_ms: i64,
    #[sqlx(rename = "next_attempt_at")]
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    #[sqlx(rename = "delivered_at")]
    pub delivered_at_ms: Option<i64>,
}

/// An event URL that answered 410 Gone.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoppedUrl {
    #[sqlx(rename = "stopped_at")]
    pub stopped_at_ms: i64,
    pub alerted: bool,
}

impl Store {
    /// Claims up to `limit` pending events due at `now_ms` for `claimer` until
    /// `expires_at_ms`, each under a lease id of its own (in the returned event): at most one
    /// per order, its earliest not yet delivered, and none of an order whose event another
    /// claim holds (see [`claimable_events`]). Branch-wide events (no order id) queue per branch
    /// the same way. An event whose claim ran out (its process died) is due again.
    pub async fn claim_site_events(
        &self,
        claimer: &str,
        now_ms: i64,
        expires_at_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueEvent>, StoreError> {
        on_backend!(self, b => b.claim_site_events(claimer, now_ms, expires_at_ms, limit).await)
    }

    /// Records an attempt and its consequence in one transaction, and gives the claim back,
    /// but only while `lease_id` still holds event `id`: `None` when another claim took it
    /// over (this one ran out), and then nothing is written. `Gone` also remembers the URL as
    /// stopped and stops every pending event; returns how many events that stopped.
    pub async fn finish_site_event_attempt(
        &self,
        id: i64,
        lease_id: &str,
        attempt: &EventAttempt<'_>,
        end: &EventAttemptEnd,
    ) -> Result<Option<u64>, StoreError> {
        on_backend!(self, b => b.finish_site_event_attempt(id, lease_id, attempt, end).await)
    }

    /// Whether `url` answered 410 Gone before.
    pub async fn stopped_event_url(&self, url: &str) -> Result<Option<StoppedUrl>, StoreError> {
        on_backend!(self, b => b.stopped_event_url(url).await)
    }

    /// Stops events written after their URL answered 410; returns how many.
    pub async fn stop_pending_site_events(&self, reason: &str) -> Result<u64, StoreError> {
        on_backend!(self, b => b.stop_pending_site_events(reason).await)
    }

    pub async fn mark_event_url_alerted(&self, url: &str, at_ms: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.mark_event_url_alerted(url, at_ms).await)
    }

    /// Deletes events (with their attempts) written before `before_ms` that are done with:
    /// delivered or stopped, and, when `undeliverable` (no `site.events_url`), pending ones too.
    pub async fn prune_site_events(
        &self,
        before_ms: i64,
        undeliverable: bool,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_site_events(before_ms, undeliverable).await)
    }

    /// Events waiting to be delivered (the backlog gauge).
    pub async fn pending_site_events(&self) -> Result<i64, StoreError> {
        on_backend!(self, b => b.pending_site_events().await)
    }

    /// Dead events operators have not been told about, oldest first.
    pub async fn dead_site_events_to_alert(&self) -> Result<Vec<StoredEvent>, StoreError> {
        on_backend!(self, b => b.dead_site_events_to_alert().await)
    }

    pub async fn mark_dead_site_events_alerted(
        &self,
        ids: &[i64],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.mark_dead_site_events_alerted(ids, at_ms).await)
    }

    /// Queues a dead or stopped event again (by row id or webhook id), due at `now_ms`, with
    /// a fresh give-up period.
    pub async fn redeliver_site_event(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Redelivered, StoreError> {
        on_backend!(self, b => b.redeliver_site_event(id, now_ms).await)
    }

    /// Queues every dead event again; returns how many.
    pub async fn redeliver_dead_site_events(&self, now_ms: i64) -> Result<u64, StoreError> {
        on_backend!(self, b => b.redeliver_dead_site_events(now_ms).await)
    }

    /// Deletes dead events (with their attempts) written before `before_ms`.
    pub async fn prune_dead_site_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_dead_site_events(before_ms).await)
    }

    /// The newest events first, optionally in one state (`pending`, `delivered`, `stopped`,
    /// `dead`).
    pub async fn list_site_events(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        on_backend!(self, b => b.list_site_events(state, limit).await)
    }

    /// The site events written for one order, oldest first, as their JSON bodies.
    pub async fn site_events_of(
        &self,
        branch: &str,
        order_id: &str,
    ) -> Result<Vec<Value>, StoreError> {
        on_backend!(self, b => b.site_events_of(branch, order_id).await)
    }

    /// The attempts of one event, oldest first.
    pub async fn site_event_attempts(&self, id: i64) -> Result<Vec<RecordedAttempt>, StoreError> {
        on_backend!(self, b => b.site_event_attempts(id).await)
    }
}
