//! Orders: intake, the dispatcher's leases and outcomes, the call ledger and the history.
//! Every write is one `BEGIN IMMEDIATE` transaction and none spans an HTTP call.
use std::fmt;

use futures::FutureExt;
use sqlx::{FromRow, SqliteConnection, sqlite::SqliteRow};
use tokio::sync::oneshot;

use serde_json::json;

use super::{
    Store, StoreError,
    events::{EventOrder, OrderEvent, enqueue_order_event},
    intake::Submission,
};

/// The bridge's own life cycle of an order (CONTRACT section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Queued,
    Sending,
    Retrying,
    Created,
    Fallback,
    Resolved,
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 7] = [
        Self::Queued,
        Self::Sending,
        Self::Retrying,
        Self::Created,
        Self::Fallback,
        Self::Resolved,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Retrying => "retrying",
            Self::Created => "created",
            Self::Fallback => "fallback",
            Self::Resolved => "resolved",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// The `state` column; any other text there is corrupt data.
impl TryFrom<String> for OrderState {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or_else(|| format!("order state {text:?}"))
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order about to be stored.
pub struct NewOrder {
    pub branch: String,
    pub site_id: String,
    pub raw_body: String,
    pub content_hash: String,
    pub answer: String,
    pub iiko_ids: String,
    pub iiko_order_id: String,
    pub request: Option<String>,
    pub problems: Option<String>,
    /// `Queued`, or `Fallback` at once for an order that cannot be mapped.
    pub state: OrderState,
    pub fallback_reason: Option<String>,
    pub now_ms: i64,
}

/// The Standard Webhooks id a submission was signed with, remembered until `expires_at_ms`.
pub struct WebhookId {
    pub id: String,
    pub expires_at_ms: i64,
}

#[derive(Debug)]
pub enum Inserted {
    New(StoredOrder),
    /// An order with this (branch, site id) was already stored: the caller compares content.
    Existing(StoredOrder),
    /// The webhook id was already used by another order within its window.
    ReplayedWebhook,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredOrder {
    pub id: i64,
    pub branch: String,
    pub site_id: String,
    pub raw_body: String,
    pub content_hash: String,
    pub answer: String,
    pub iiko_ids: String,
    pub iiko_order_id: String,
    pub request: Option<String>,
    pub problems: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: OrderState,
    pub fallback_reason: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub create_sent: bool,
    pub correlation_id: Option<String>,
    pub iiko_number: Option<i64>,
    pub iiko_status: Option<String>,
    pub creation_status: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The iiko status last reported to the site, and the site status it mapped to.
    pub reported_iiko_status: Option<String>,
    pub site_status: Option<String>,
    /// iiko's `timestamp` of the newest update applied (older ones are stale).
    pub iiko_timestamp: Option<i64>,
    pub status_seen_at: Option<i64>,
    /// Set after a move: the delivery (and organization) iiko knows the order by now.
    pub tracked_iiko_id: Option<String>,
    pub tracked_organization_id: Option<String>,
    pub cancel_reason: Option<String>,
    /// iiko's status is final (closed, or cancelled without a move).
    pub status_final: bool,
    /// Set while the last attempt's outcome is unclear (the dispatcher only reads the order
    /// back until then), and kept when the order went to the operators unclear.
    pub unclear_until: Option<i64>,
    /// When iiko reported creating the order after it had gone to the operators.
    pub late_created_at: Option<i64>,
}

impl StoredOrder {
    /// The delivery id iiko knows the order by now (it changes when the order is moved).
    pub fn current_iiko_id(&self) -> &str {
        self.tracked_iiko_id
            .as_deref()
            .unwrap_or(&self.iiko_order_id)
    }
}

/// One iiko call, for the ledger.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CallRecord {
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    pub operation: String,
    pub request_summary: String,
    pub http_status: Option<i64>,
    pub correlation_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HistoryEntry {
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    pub state: Option<String>,
    /// The site status this entry reports (a status change from iiko).
    pub status: Option<String>,
    pub note: Option<String>,
}

/// An attempt's end as decided by the life cycle (`orders::lifecycle`), written with the
/// lease release, its history entry and its event.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptChange {
    pub state: OrderState,
    /// `None` keeps the order's time.
    pub next_attempt_at_ms: Option<i64>,
    pub fallback_reason: Option<String>,
    /// `None` keeps the order's code (and number, status, creation status below).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub iiko_number: Option<i64>,
    pub iiko_status: Option<String>,
    pub creation_status: Option<String>,
    /// `Some` keeps the order's unclear limit, or sets this one when it has none; `None`
    /// clears it.
    pub unclear_until_ms: Option<i64>,
    pub note: String,
    pub event: Option<OrderEvent>,
}

/// An operator's change of an order's state, as decided by the life cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatorChange {
    pub state: OrderState,
    /// Sent to iiko again now: a fresh attempt budget, no fallback reason or unclear mark, and
    /// a new fallback round when the last one was handed over.
    pub requeue: bool,
    pub note: &'static str,
}

/// New iiko ids for an order iiko closed as failed (or one mapped anew), with the request
/// that carries them.
pub struct RenewedIds<'a> {
    pub order_id: &'a str,
    pub ids_json: &'a str,
    pub request: &'a str,
    pub note: &'a str,
}

pub(super) const ORDER_COLUMNS: &str =
    "id, branch, site_id, raw_body, content_hash, answer, iiko_ids,
    iiko_order_id, request, problems, state, fallback_reason, attempts, next_attempt_at,
    lease_owner, lease_until, create_sent, correlation_id, iiko_number, iiko_status,
    creation_status, error_code, error_message, created_at, updated_at, reported_iiko_status,
    site_status, iiko_timestamp, status_seen_at, tracked_iiko_id, tracked_organization_id,
    cancel_reason, status_final, unclear_until, late_created_at";

impl Store {
    /// Stores a new order with its first history entry and its webhook id, or finds the one
    /// already stored under (branch, site id); returns once it is committed. Submissions are
    /// stored in batches by one writer, so two concurrent submissions of one order cannot both
    /// insert (UNIQUE backs this up).
    pub async fn insert_order(
        &self,
        new: NewOrder,
        webhook: Option<WebhookId>,
    ) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            new,
            webhook,
            reply,
        };
        let stopped = || StoreError::CommitFailed("the store's intake has stopped".into());
        self.intake.send(submission).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Leases up to `limit` due orders until `lease_until_ms` and marks them `sending`. Each
    /// lease gets its own id (`owner/…`, in the returned order's `lease_owner`), so no two
    /// attempts of one order can both write its end. `skip` are orders the caller still has in
    /// flight. An order whose lease ran out (its worker died) is due again.
    pub async fn lease_due_orders(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip: &[i64],
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let owner = owner.to_owned();
        let skip = serde_json::to_string(skip).expect("ids serialize");
        self.writer
            .run(move |conn| {
                lease_due_orders(conn, owner, now_ms, lease_until_ms, limit, skip).boxed()
            })
            .await
    }

    /// Appends one iiko call to the order's ledger (and keeps the last correlation id).
    /// The caller does not wait for the commit: the record goes out with the next batch, ahead
    /// of the attempt's outcome, and a failure is logged by the writer.
    pub async fn record_call(&self, id: i64, call: &CallRecord) {
        self.writer.record(id, call.clone()).await;
    }

    /// Writes an attempt's end and releases the lease, but only while `owner` still holds
    /// it: a worker whose lease ran out must not overwrite the one that took the order over.
    /// Returns whether the write happened.
    pub async fn finish_attempt(
        &self,
        id: i64,
        owner: &str,
        change: AttemptChange,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| finish_attempt(conn, id, owner, change, now_ms).boxed())
            .await
    }

    /// Replaces the iiko ids and request of an order iiko closed as failed, but only while it
    /// still has `old_order_id`: of two workers, only one renews. Returns whether it did.
    pub async fn renew_iiko_ids(
        &self,
        id: i64,
        old_order_id: &str,
        renewed: &RenewedIds<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query(
            "UPDATE orders SET iiko_order_id = ?, iiko_ids = ?, request = ?, create_sent = 1,
                 creation_status = NULL, updated_at = ?
             WHERE id = ? AND iiko_order_id = ?",
        )
        .bind(renewed.order_id)
        .bind(renewed.ids_json)
        .bind(renewed.request)
        .bind(now_ms)
        .bind(id)
        .bind(old_order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            history(&mut tx, id, now_ms, None, None, renewed.note).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn order(&self, id: i64) -> Result<Option<StoredOrder>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Orders with this site id, in every branch or in one.
    pub async fn orders_by_site_id(
        &self,
        site_id: &str,
        branch: Option<&str>,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE site_id = ? AND (? IS NULL OR branch = ?) ORDER BY id"
        ))
        .bind(site_id)
        .bind(branch)
        .bind(branch)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The order stored under (branch, site id): the idempotency key, looked up by its index.
    pub async fn order_by_site_key(
        &self,
        branch: &str,
        site_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE branch = ? AND site_id = ?"
        ))
        .bind(branch)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Orders newest first, optionally of one state and/or branch.
    pub async fn list_orders(
        &self,
        state: Option<OrderState>,
        branch: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let state = state.map(OrderState::as_str);
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE (? IS NULL OR state = ?) AND (? IS NULL OR branch = ?)
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(state)
        .bind(state)
        .bind(branch)
        .bind(branch)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every order in `state`, oldest first: the fallback worker polls `fallback` here.
    pub async fn orders_in_state(&self, state: OrderState) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = ? ORDER BY id"
        ))
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Orders in `fallback` not yet handed to the operators' channels, oldest first, from the
    /// row after `after_id` (the caller walks the queue in rounds, so no order blocks it).
    pub async fn orders_awaiting_fallback(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             WHERE state = 'fallback' AND id > ? AND NOT EXISTS (
                 SELECT 1 FROM fallback_orders f WHERE f.branch = o.branch
                     AND f.order_id = o.site_id AND f.round = o.fallback_round)
             ORDER BY id LIMIT ?"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn order_calls(&self, id: i64) -> Result<Vec<CallRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, operation, request_summary, http_status, correlation_id, error_code,
                 error_message, latency_ms
             FROM order_attempts WHERE order_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn order_history(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, state, status, note FROM order_history WHERE order_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes an operator's change of order `id`, decided by `decide` from the order as it
    /// is under the write lock (`None`: there is no such order), with its history entry; and
    /// `renewed` iiko ids and request too, when given. Returns the order as changed.
    pub async fn change_by_operator<E: From<StoreError>>(
        &self,
        id: i64,
        now_ms: i64,
        decide: impl FnOnce(Option<&StoredOrder>) -> Result<OperatorChange, E>,
        renewed: Option<&RenewedIds<'_>>,
    ) -> Result<StoredOrder, E> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from)?;
        let order = match fetch(&mut tx, id).await {
            Ok(order) => Some(order),
            Err(StoreError::Unavailable(sqlx::Error::RowNotFound)) => None,
            Err(other) => return Err(other.into()),
        };
        let OperatorChange {
            state,
            requeue,
            note,
        } = decide(order.as_ref())?;
        sqlx::query(
            "UPDATE orders SET state = ?, updated_at = ?,
                 attempts = CASE WHEN ? THEN 0 ELSE attempts END,
                 next_attempt_at = CASE WHEN ? THEN ? ELSE next_attempt_at END,
                 fallback_reason = CASE WHEN ? THEN NULL ELSE fallback_reason END,
                 unclear_until = CASE WHEN ? THEN NULL ELSE unclear_until END,
                 -- Once handed over, a retried order that fails again is handed over anew.
                 fallback_round = fallback_round + CASE WHEN ? AND EXISTS (
                     SELECT 1 FROM fallback_orders f WHERE f.branch = orders.branch
                         AND f.order_id = orders.site_id AND f.round = orders.fallback_round)
                     THEN 1 ELSE 0 END
             WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(now_ms)
        .bind(requeue)
        .bind(requeue)
        .bind(now_ms)
        .bind(requeue)
        .bind(requeue)
        .bind(requeue)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if let Some(renewed) = renewed {
            sqlx::query(
                "UPDATE orders SET iiko_order_id = ?, iiko_ids = ?, request = ?, problems = NULL,
                     create_sent = 0, creation_status = NULL, error_code = NULL,
                     error_message = NULL
                 WHERE id = ?",
            )
            .bind(renewed.order_id)
            .bind(renewed.ids_json)
            .bind(renewed.request)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            history(&mut tx, id, now_ms, None, None, renewed.note).await?;
        }
        history(&mut tx, id, now_ms, Some(state), None, note).await?;
        let order = fetch(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(order)
    }
}

/// See [`Store::lease_due_orders`]; runs inside a group-commit batch.
async fn lease_due_orders(
    conn: &mut SqliteConnection,
    owner: String,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
    skip: String,
) -> Result<Vec<StoredOrder>, StoreError> {
    let mut leased: Vec<StoredOrder> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE state IN ('queued', 'retrying', 'sending') AND next_attempt_at <= ?
           AND (lease_until IS NULL OR lease_until <= ?)
           AND id NOT IN (SELECT value FROM json_each(?))
         ORDER BY next_attempt_at, id LIMIT ?"
    ))
    .bind(now_ms)
    .bind(now_ms)
    .bind(skip)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if leased.is_empty() {
        return Ok(leased);
    }
    let leases: Vec<(i64, String)> = leased
        .iter()
        .map(|order| {
            (
                order.id,
                format!("{owner}/{}", uuid::Uuid::new_v4().simple()),
            )
        })
        .collect();
    // One statement for the whole lease. A mappable order is marked as possibly sent before
    // any call, so whatever happens to this attempt, the next one reads iiko back first; the
    // snapshot keeps the earlier flag, which is what this attempt must go by.
    sqlx::query(
        "UPDATE orders SET state = 'sending', lease_owner = l.value->>1, lease_until = ?,
             updated_at = ?, create_sent = CASE WHEN request IS NULL THEN create_sent ELSE 1 END
         FROM json_each(?) AS l WHERE orders.id = l.value->>0",
    )
    .bind(lease_until_ms)
    .bind(now_ms)
    .bind(serde_json::to_string(&leases).expect("leases serialize"))
    .execute(&mut *conn)
    .await?;
    for (order, (_, lease)) in leased.iter_mut().zip(leases) {
        order.state = OrderState::Sending;
        order.lease_owner = Some(lease);
        order.lease_until = Some(lease_until_ms);
        order.updated_at = now_ms;
    }
    Ok(leased)
}

/// Appends a batch's ledger lines (and keeps each order's last create correlation id).
pub(super) async fn insert_calls(
    conn: &mut SqliteConnection,
    calls: Vec<(i64, CallRecord)>,
) -> Result<(), StoreError> {
    let rows: Vec<serde_json::Value> = calls
        .iter()
        .map(|(order, c)| {
            json!([
                order,
                c.at_ms,
                c.operation,
                c.request_summary,
                c.http_status,
                c.correlation_id,
                c.error_code,
                c.error_message,
                c.latency_ms
            ])
        })
        .collect();
    sqlx::query(
        "INSERT INTO order_attempts (order_id, at, operation, request_summary, http_status,
             correlation_id, error_code, error_message, latency_ms)
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6,
             value->>7, value->>8
         FROM json_each(?) ORDER BY key",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut *conn)
    .await?;
    let created: Vec<serde_json::Value> = calls
        .iter()
        .filter(|(_, c)| c.operation == "create" && c.correlation_id.is_some())
        .map(|(order, c)| json!([order, c.correlation_id]))
        .collect();
    if !created.is_empty() {
        sqlx::query(
            "UPDATE orders SET correlation_id = c.value->>1
             FROM json_each(?) AS c WHERE orders.id = c.value->>0",
        )
        .bind(serde_json::Value::Array(created).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// See [`Store::finish_attempt`]; runs inside a group-commit batch.
async fn finish_attempt(
    conn: &mut SqliteConnection,
    id: i64,
    owner: String,
    change: AttemptChange,
    now_ms: i64,
) -> Result<bool, StoreError> {
    end_attempt(conn, id, Guard::Lease(&owner), &change, now_ms).await
}

/// Who may write an attempt's end.
pub(super) enum Guard<'a> {
    /// The dispatcher worker holding the lease.
    Lease(&'a str),
    /// iiko itself (a webhook or a poll) for an order whose creation may have reached it and
    /// has not ended yet; it takes the lease away, so the dispatcher's own end is refused.
    Unfinished,
}

/// Writes an attempt's end with its history entry and site event; returns whether the guard
/// allowed it.
pub(super) async fn end_attempt(
    tx: &mut sqlx::SqliteConnection,
    id: i64,
    guard: Guard<'_>,
    change: &AttemptChange,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let owner = match guard {
        Guard::Lease(owner) => Some(owner),
        Guard::Unfinished => None,
    };
    let changed = sqlx::query(
        "UPDATE orders SET state = ?, attempts = attempts + 1,
             next_attempt_at = COALESCE(?, next_attempt_at),
             fallback_reason = ?, error_code = COALESCE(?, error_code),
             error_message = ?, iiko_number = COALESCE(?, iiko_number),
             iiko_status = COALESCE(?, iiko_status),
             creation_status = COALESCE(?, creation_status),
             unclear_until = CASE WHEN ? IS NULL THEN NULL ELSE COALESCE(unclear_until, ?) END,
             lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE id = ? AND (lease_owner = ? OR (? AND state IN ('queued', 'sending', 'retrying')
             AND create_sent = 1))",
    )
    .bind(change.state.as_str())
    .bind(change.next_attempt_at_ms)
    .bind(&change.fallback_reason)
    .bind(&change.error_code)
    .bind(&change.error_message)
    .bind(change.iiko_number)
    .bind(&change.iiko_status)
    .bind(&change.creation_status)
    .bind(change.unclear_until_ms)
    .bind(change.unclear_until_ms)
    .bind(now_ms)
    .bind(id)
    .bind(owner)
    .bind(owner.is_none())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 1 {
        history(tx, id, now_ms, Some(change.state), None, &change.note).await?;
        if let Some(event) = &change.event {
            let order = fetch(tx, id).await?;
            let about = EventOrder {
                branch: &order.branch,
                site_id: &order.site_id,
                iiko_order_id: &order.iiko_order_id,
            };
            enqueue_order_event(tx, about, event, now_ms).await?;
        }
    }
    Ok(changed == 1)
}

pub(super) async fn history(
    tx: &mut sqlx::SqliteConnection,
    id: i64,
    at_ms: i64,
    state: Option<OrderState>,
    status: Option<&str>,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO order_history (order_id, at, state, status, note) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(at_ms)
    .bind(state.map(OrderState::as_str))
    .bind(status)
    .bind(note)
    .execute(tx)
    .await?;
    Ok(())
}

pub(super) async fn fetch(
    tx: &mut sqlx::SqliteConnection,
    id: i64,
) -> Result<StoredOrder, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"))
            .bind(id)
            .fetch_one(tx)
            .await?,
    )
}

/// For the intake's batches, which read orders with their own statements.
pub(super) fn stored_order(row: &SqliteRow) -> Result<StoredOrder, StoreError> {
    Ok(StoredOrder::from_row(row)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        (Store::open(&url).await.unwrap(), dir)
    }

    fn new_order(site_id: &str, state: OrderState) -> NewOrder {
        NewOrder {
            branch: "lenina".into(),
            site_id: site_id.into(),
            raw_body: "{}".into(),
            content_hash: "h".into(),
            answer: "{}".into(),
            iiko_ids: "{}".into(),
            iiko_order_id: "00000000-0000-0000-0000-000000000001".into(),
            request: (state == OrderState::Queued).then(|| "{}".into()),
            problems: None,
            state,
            fallback_reason: None,
            now_ms: 1_000,
        }
    }

    async fn insert(store: &Store, site_id: &str, state: OrderState) -> StoredOrder {
        match store
            .insert_order(new_order(site_id, state), None)
            .await
            .unwrap()
        {
            Inserted::New(order) => order,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_live_lease_keeps_other_workers_off_and_only_its_owner_finishes() {
        let (store, _dir) = store().await;
        let order = insert(&store, "A", OrderState::Queued).await;
        assert_eq!(
            store
                .lease_due_orders("w1", 999, 5_000, 8, &[])
                .await
                .unwrap(),
            vec![],
            "not due yet"
        );
        let leased = store
            .lease_due_orders("w1", 1_000, 5_000, 8, &[])
            .await
            .unwrap();
        let lease = leased[0].lease_owner.clone().unwrap();
        assert_eq!(leased[0].state, OrderState::Sending);
        assert!(
            store
                .lease_due_orders("w2", 4_999, 9_000, 8, &[])
                .await
                .unwrap()
                .is_empty()
        );
        let retry = AttemptChange {
            state: OrderState::Retrying,
            next_attempt_at_ms: Some(6_000),
            fallback_reason: None,
            error_code: None,
            error_message: Some("503".into()),
            iiko_number: None,
            iiko_status: None,
            creation_status: None,
            unclear_until_ms: None,
            note: "503".into(),
            event: None,
        };
        assert!(
            !store
                .finish_attempt(order.id, "w2", retry.clone(), 2_000)
                .await
                .unwrap()
        );
        assert!(
            store
                .finish_attempt(order.id, &lease, retry, 2_000)
                .await
                .unwrap()
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!((stored.state, stored.attempts), (OrderState::Retrying, 1));
        assert_eq!(stored.lease_owner, None);
        assert_eq!(
            store
                .lease_due_orders("w2", 6_000, 9_000, 8, &[])
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
