//! Leases, the ledger and attempt ends (`store::leases`) on PostgreSQL. These writes come many
//! at a time and go through the group-commit writer (`batch`); a batch's rows travel as arrays.
//! Due orders are taken `FOR UPDATE SKIP LOCKED`: instances leasing at once take different
//! orders, and none waits for another's transaction.
use futures::FutureExt;
use sqlx::PgConnection;

use super::PgStore;
use super::events::enqueue_order_event;
use super::orders::{ORDER_COLUMNS, fetch, history};
use crate::store::events::EventOrder;
use crate::store::{AttemptChange, CallRecord, OrderState, StoreError, StoredOrder};

impl PgStore {
    pub async fn lease_due_orders(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip: &[i64],
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let owner = owner.to_owned();
        let skip = skip.to_vec();
        self.writer
            .run(move |conn| {
                lease_due_orders(conn, owner, now_ms, lease_until_ms, limit, skip).boxed()
            })
            .await
    }

    pub async fn record_call(&self, id: i64, call: &CallRecord) {
        self.writer.record(id, call.clone()).await;
    }

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

    pub async fn renew_order_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                async move {
                    let renewed = sqlx::query(
                        "UPDATE orders SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
                    )
                    .bind(lease_until_ms)
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *conn)
                    .await?;
                    Ok(renewed.rows_affected() == 1)
                }
                .boxed()
            })
            .await
    }

    pub async fn order_calls(&self, id: i64) -> Result<Vec<CallRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, operation, request_summary, http_status, correlation_id, error_code,
                 error_message, latency_ms
             FROM order_attempts WHERE order_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// See [`Store::lease_due_orders`]; runs inside a group-commit batch.
async fn lease_due_orders(
    conn: &mut PgConnection,
    owner: String,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
    skip: Vec<i64>,
) -> Result<Vec<StoredOrder>, StoreError> {
    let mut leased: Vec<StoredOrder> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE state IN ('queued', 'retrying', 'sending') AND next_attempt_at <= $1
           AND (lease_until IS NULL OR lease_until <= $1)
           AND id <> ALL($2)
         ORDER BY next_attempt_at, id LIMIT $3
         FOR UPDATE SKIP LOCKED"
    ))
    .bind(now_ms)
    .bind(&skip)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if leased.is_empty() {
        return Ok(leased);
    }
    let ids: Vec<i64> = leased.iter().map(|order| order.id).collect();
    let leases: Vec<String> = leased
        .iter()
        .map(|_| format!("{owner}/{}", uuid::Uuid::new_v4().simple()))
        .collect();
    // One statement for the whole lease. A mappable order is marked as possibly sent before
    // any call, so whatever happens to this attempt, the next one reads iiko back first; the
    // snapshot keeps the earlier flag, which is what this attempt must go by.
    sqlx::query(
        "UPDATE orders SET state = 'sending', lease_owner = l.lease, lease_until = $1,
             updated_at = $2, create_sent = CASE WHEN request IS NULL THEN create_sent ELSE 1 END
         FROM UNNEST($3::bigint[], $4::text[]) AS l(id, lease) WHERE orders.id = l.id",
    )
    .bind(lease_until_ms)
    .bind(now_ms)
    .bind(&ids)
    .bind(&leases)
    .execute(&mut *conn)
    .await?;
    for (order, lease) in leased.iter_mut().zip(leases) {
        order.state = OrderState::Sending;
        order.lease_owner = Some(lease);
        order.lease_until = Some(lease_until_ms);
        order.updated_at = now_ms;
    }
    Ok(leased)
}

/// Appends a batch's ledger lines (and keeps each order's last create correlation id).
pub(super) async fn insert_calls(
    conn: &mut PgConnection,
    calls: Vec<(i64, CallRecord)>,
) -> Result<(), StoreError> {
    let mut columns = CallColumns::default();
    for (order, call) in &calls {
        columns.push(*order, call);
    }
    let CallColumns {
        orders,
        at,
        operations,
        summaries,
        statuses,
        correlations,
        codes,
        messages,
        latencies,
    } = columns;
    sqlx::query(
        "INSERT INTO order_attempts (order_id, at, operation, request_summary, http_status,
             correlation_id, error_code, error_message, latency_ms)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
             $6::text[], $7::text[], $8::text[], $9::bigint[])",
    )
    .bind(&orders)
    .bind(&at)
    .bind(&operations)
    .bind(&summaries)
    .bind(&statuses)
    .bind(&correlations)
    .bind(&codes)
    .bind(&messages)
    .bind(&latencies)
    .execute(&mut *conn)
    .await?;
    let (created, correlations): (Vec<i64>, Vec<&str>) = calls
        .iter()
        .filter(|(_, c)| c.operation == "create")
        .filter_map(|(order, c)| Some((*order, c.correlation_id.as_deref()?)))
        .unzip();
    if !created.is_empty() {
        sqlx::query(
            "UPDATE orders SET correlation_id = c.correlation
             FROM UNNEST($1::bigint[], $2::text[]) AS c(id, correlation) WHERE orders.id = c.id",
        )
        .bind(&created)
        .bind(&correlations)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A batch's ledger lines, a column each (for `UNNEST`).
#[derive(Default)]
struct CallColumns {
    orders: Vec<i64>,
    at: Vec<i64>,
    operations: Vec<String>,
    summaries: Vec<String>,
    statuses: Vec<Option<i64>>,
    correlations: Vec<Option<String>>,
    codes: Vec<Option<String>>,
    messages: Vec<Option<String>>,
    latencies: Vec<i64>,
}

impl CallColumns {
    fn push(&mut self, order: i64, call: &CallRecord) {
        self.orders.push(order);
        self.at.push(call.at_ms);
        self.operations.push(call.operation.clone());
        self.summaries.push(call.request_summary.clone());
        self.statuses.push(call.http_status);
        self.correlations.push(call.correlation_id.clone());
        self.codes.push(call.error_code.clone());
        self.messages.push(call.error_message.clone());
        self.latencies.push(call.latency_ms);
    }
}

/// See [`Store::finish_attempt`]; runs inside a group-commit batch.
async fn finish_attempt(
    conn: &mut PgConnection,
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
    tx: &mut sqlx::PgConnection,
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
        "UPDATE orders SET state = $1, attempts = attempts + 1,
             next_attempt_at = COALESCE($2, next_attempt_at),
             fallback_reason = $3, error_code = COALESCE($4, error_code),
             error_message = $5, iiko_number = COALESCE($6, iiko_number),
             iiko_status = COALESCE($7, iiko_status),
             creation_status = COALESCE($8, creation_status),
             unclear_until = CASE WHEN $9 IS NULL THEN NULL ELSE COALESCE(unclear_until, $10) END,
             lease_owner = NULL, lease_until = NULL, updated_at = $11
         WHERE id = $12 AND (lease_owner = $13 OR ($14 AND state IN ('queued', 'sending', 'retrying')
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
