//! Leases, the ledger and attempt ends (`store::leases`) on SQLite. These writes come many at
//! a time and go through the group-commit writer (`batch`); a batch's rows travel as one JSON
//! parameter (`json_each`, `->>`).
use futures::FutureExt;
use serde_json::json;
use sqlx::SqliteConnection;

use super::SqliteStore;
use super::events::enqueue_order_event;
use super::orders::{ORDER_COLUMNS, fetch, history};
use crate::store::events::EventOrder;
use crate::store::{AttemptChange, CallRecord, OrderState, StoreError, StoredOrder};

impl SqliteStore {
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
                        "UPDATE orders SET lease_until = ? WHERE id = ? AND lease_owner = ?",
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
             FROM order_attempts WHERE order_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Inserted, NewOrder, Store};

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        (Store::open(&url).await.unwrap(), dir)
    }

    async fn insert(store: &Store, site_id: &str, state: OrderState) -> StoredOrder {
        match store
            .insert_order(NewOrder::sample(site_id, state), None)
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
