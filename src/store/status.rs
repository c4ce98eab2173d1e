//! Order statuses from iiko: the writes of a status report's decided change (`status::apply`
//! decides them), all of one poll's or webhook's reports in one transaction, the site's
//! cancels, the per-organization `by_revision` cursor and the inbox of webhook calls.
use super::{AttemptChange, Backend, OrderEvent, OrderState, Store, StoreError, StoredOrder};

/// An order iiko created after it went to the operators.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LateCreation {
    pub branch: String,
    pub site_id: String,
    /// The delivery iiko created.
    #[sqlx(rename = "delivery_id")]
    pub iiko_order_id: String,
    pub number: i64,
    /// `fallback` or `resolved`.
    #[sqlx(try_from = "String")]
    pub state: OrderState,
}

/// What status tracking knows of an order.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StatusRow {
    pub id: i64,
    pub branch: String,
    pub site_id: String,
    #[sqlx(try_from = "String")]
    pub state: OrderState,
    pub iiko_order_id: String,
    /// Set after a move: the delivery iiko knows the order by now.
    pub tracked_iiko_id: Option<String>,
    /// iiko's `timestamp` of the newest report applied.
    pub iiko_timestamp: Option<i64>,
    pub reported_iiko_status: Option<String>,
    pub site_status: Option<String>,
    pub cancel_reason: Option<String>,
    pub status_final: bool,
    pub late_created_at: Option<i64>,
}

impl StatusRow {
    /// The delivery id iiko knows the order by now (it changes when the order is moved).
    pub fn current_iiko_id(&self) -> &str {
        self.tracked_iiko_id
            .as_deref()
            .unwrap_or(&self.iiko_order_id)
    }
}

/// One write of a status report's decided change; a report's writes go in the given order.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusWrite {
    /// iiko was heard about the order, with nothing newer to say.
    Seen,
    /// From now on the order is followed under another delivery (iiko moved it).
    Follow {
        delivery_id: String,
        organization_id: String,
        note: String,
    },
    /// iiko ended a creation the dispatcher follows, taking its lease away. Refused once the
    /// attempt has ended otherwise; the report's later writes are then not made.
    EndCreation(AttemptChange),
    /// iiko's report on a created order.
    Report(StatusReport),
    /// iiko created an order the operators have.
    LateCreation {
        number: i64,
        iiko_status: String,
        timestamp: i64,
        note: String,
    },
    /// iiko closed a creation as failed: it will never be created, so it is not followed.
    Unfollow,
    History {
        state: Option<OrderState>,
        status: Option<String>,
        note: String,
    },
    Event(OrderEvent),
}

/// The fields a report on a created order sets.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    /// iiko's `timestamp` of the report.
    pub timestamp: i64,
    pub number: i64,
    pub iiko_status: String,
    /// Whether `iiko_status` is new to the site (remembered as reported).
    pub reported: bool,
    /// The site status, when it is new; `None` keeps the order's.
    pub site_status: Option<String>,
    /// iiko's status is final: the order is no longer followed.
    pub closed: bool,
    /// `None` keeps the order's.
    pub cancel_reason: Option<String>,
    /// The order becomes `cancelled`.
    pub cancelled: bool,
}

/// An order whose status is being followed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TrackedOrder {
    pub id: i64,
    pub branch: String,
    /// The delivery iiko knows it by now.
    pub delivery_id: String,
    /// Set when a move took it to another organization than its branch's.
    #[sqlx(rename = "tracked_organization_id")]
    pub organization_id: Option<String>,
    #[sqlx(rename = "status_seen_at")]
    pub seen_at: Option<i64>,
}

/// Status reports applied in one transaction (a poll brings hundreds at once): the caller
/// reads each report's order, decides, and writes, in turn; nothing is kept without `commit`.
pub struct StatusBatch(Batch);

/// A [`StatusBatch`]'s transaction, of its store's backend.
enum Batch {
    Sqlite(super::sqlite::SqliteStatusBatch),
    Postgres(super::postgres::PgStatusBatch),
}

impl StatusBatch {
    /// The order iiko knows by this delivery id, now or before a move.
    pub async fn order_by_delivery(
        &mut self,
        delivery_id: &str,
    ) -> Result<Option<StatusRow>, StoreError> {
        match &mut self.0 {
            Batch::Sqlite(batch) => batch.order_by_delivery(delivery_id).await,
            Batch::Postgres(batch) => batch.order_by_delivery(delivery_id).await,
        }
    }

    /// Writes one report's change of `order`, in order; returns false when an
    /// [`StatusWrite::EndCreation`] was refused (and the writes after it were not made).
    pub async fn write(
        &mut self,
        order: &StatusRow,
        writes: &[StatusWrite],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        match &mut self.0 {
            Batch::Sqlite(batch) => batch.write(order, writes, now_ms).await,
            Batch::Postgres(batch) => batch.write(order, writes, now_ms).await,
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Batch::Sqlite(batch) => batch.commit().await,
            Batch::Postgres(batch) => batch.commit().await,
        }
    }
}

impl Store {
    /// Starts applying status reports; `seen` are orders iiko was asked about and answered for
    /// (also those it no longer returns), so they are not asked again too soon.
    pub async fn status_batch(&self, seen: &[i64], now_ms: i64) -> Result<StatusBatch, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => Ok(StatusBatch(Batch::Sqlite(
                b.status_batch(seen, now_ms).await?,
            ))),
            Backend::Postgres(b) => Ok(StatusBatch(Batch::Postgres(
                b.status_batch(seen, now_ms).await?,
            ))),
        }
    }

    /// Created orders whose iiko status is not final yet, and orders handed to the operators
    /// while iiko may have had them (until iiko reports them).
    pub async fn tracked_orders(&self) -> Result<Vec<TrackedOrder>, StoreError> {
        on_backend!(self, b => b.tracked_orders().await)
    }

    pub async fn status_cursor(&self, organization_id: &str) -> Result<Option<i64>, StoreError> {
        on_backend!(self, b => b.status_cursor(organization_id).await)
    }

    /// Stores the next `by_revision` cursor; `None` forgets it (it became too old).
    pub async fn save_status_cursor(
        &self,
        organization_id: &str,
        revision: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.save_status_cursor(organization_id, revision, now_ms).await)
    }

    /// Stores iiko webhook calls (one body each) in one transaction, before they are answered.
    pub async fn push_webhook_calls(&self, bodies: &[&str], now_ms: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.push_webhook_calls(bodies, now_ms).await)
    }

    /// Orders iiko created after they went to the operators whose operators have not been
    /// told yet, oldest first, with their row ids.
    pub async fn unalerted_late_creations(&self) -> Result<Vec<(i64, LateCreation)>, StoreError> {
        on_backend!(self, b => b.unalerted_late_creations().await)
    }

    /// The operators were told that iiko created order `id` after it went to them.
    pub async fn mark_late_alerted(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.mark_late_alerted(id, now_ms).await)
    }

    /// The oldest stored webhook calls: (inbox id, body).
    pub async fn webhook_calls(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        on_backend!(self, b => b.webhook_calls(limit).await)
    }

    /// Drops processed webhook calls, up to and including `last_id`.
    pub async fn drop_webhook_calls(&self, last_id: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.drop_webhook_calls(last_id).await)
    }

    /// The site cancelled an order iiko does not have: it is not sent. Refused once the
    /// dispatcher may have reached iiko (the order is then cancelled in iiko instead).
    pub async fn cancel_before_iiko(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<StoredOrder>, StoreError> {
        on_backend!(self, b => b.cancel_before_iiko(id, reason, now_ms).await)
    }

    /// Notes the site's reason before a cancellation is sent to iiko, with a history entry.
    pub async fn note_cancel_request(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.note_cancel_request(id, reason, now_ms).await)
    }
}
