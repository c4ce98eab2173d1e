//! Status reports, cursors, the site's cancels and the webhook inbox (`store::status`) on
//! SQLite; a [`SqliteStatusBatch`] is one `BEGIN IMMEDIATE` transaction.
use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use super::events::enqueue_order_event;
use super::leases::{Guard, end_attempt};
use super::orders::{fetch, history};
use crate::store::events::EventOrder;
use crate::store::{
    LateCreation, OrderEvent, OrderState, StatusRow, StatusWrite, StoreError, StoredOrder,
    TrackedOrder,
};

/// A [`LateCreation`] with the order's row id.
#[derive(sqlx::FromRow)]
struct UnalertedLateCreation {
    id: i64,
    #[sqlx(flatten)]
    late: LateCreation,
}

/// The columns status tracking reads (not the order's large JSON documents).
const STATUS_COLUMNS: &str = "id, branch, site_id, state, iiko_order_id, tracked_iiko_id,
    iiko_timestamp, reported_iiko_status, site_status, cancel_reason, status_final,
    late_created_at";

/// A [`crate::store::StatusBatch`] on SQLite: one `BEGIN IMMEDIATE` transaction.
pub struct SqliteStatusBatch {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteStatusBatch {
    /// The order iiko knows by this delivery id, now or before a move.
    pub async fn order_by_delivery(
        &mut self,
        delivery_id: &str,
    ) -> Result<Option<StatusRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {STATUS_COLUMNS} FROM orders WHERE tracked_iiko_id = ?
             UNION ALL SELECT {STATUS_COLUMNS} FROM orders WHERE iiko_order_id = ? LIMIT 1"
        ))
        .bind(delivery_id)
        .bind(delivery_id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Writes one report's change of `order`, in order; returns false when an
    /// [`StatusWrite::EndCreation`] was refused (and the writes after it were not made).
    pub async fn write(
        &mut self,
        order: &StatusRow,
        writes: &[StatusWrite],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let tx = &mut *self.tx;
        let id = order.id;
        for write in writes {
            match write {
                StatusWrite::Seen => {
                    sqlx::query("UPDATE orders SET status_seen_at = ? WHERE id = ?")
                        .bind(now_ms)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                StatusWrite::Follow {
                    delivery_id,
                    organization_id,
                    note,
                } => {
                    sqlx::query(
                        "UPDATE orders SET tracked_iiko_id = ?, tracked_organization_id = ?,
                             iiko_timestamp = NULL, status_seen_at = ?, updated_at = ?
                         WHERE id = ?",
                    )
                    .bind(delivery_id)
                    .bind(organization_id)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    history(tx, id, now_ms, None, None, note).await?;
                }
                StatusWrite::EndCreation(change) => {
                    if !end_attempt(tx, id, Guard::Unfinished, change, now_ms).await? {
                        return Ok(false);
                    }
                }
                StatusWrite::Report(report) => {
                    // One statement per report: a poll may bring thousands.
                    sqlx::query(
                        "UPDATE orders SET iiko_timestamp = ?, status_seen_at = ?, iiko_number = ?,
                             iiko_status = ?, updated_at = ?,
                             reported_iiko_status = CASE WHEN ? THEN ? ELSE reported_iiko_status END,
                             site_status = COALESCE(?, site_status),
                             status_final = status_final OR ?,
                             cancel_reason = COALESCE(?, cancel_reason),
                             state = CASE WHEN ? THEN 'cancelled' ELSE state END
                         WHERE id = ?",
                    )
                    .bind(report.timestamp)
                    .bind(now_ms)
                    .bind(report.number)
                    .bind(&report.iiko_status)
                    .bind(now_ms)
                    .bind(report.reported)
                    .bind(&report.iiko_status)
                    .bind(&report.site_status)
                    .bind(report.closed)
                    .bind(&report.cancel_reason)
                    .bind(report.cancelled)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if report.cancelled {
                        // An order with the staff that iiko had after all, now cancelled there.
                        super::bot::close_bot_messages(&mut *tx, id, "cancelled", "iiko", now_ms)
                            .await?;
                    }
                }
                StatusWrite::LateCreation {
                    number,
                    iiko_status,
                    timestamp,
                    note,
                } => {
                    sqlx::query(
                        "UPDATE orders SET late_created_at = ?, iiko_number = ?, iiko_status = ?,
                             iiko_timestamp = ?, status_seen_at = ?, updated_at = ?
                         WHERE id = ?",
                    )
                    .bind(now_ms)
                    .bind(number)
                    .bind(iiko_status)
                    .bind(timestamp)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    history(tx, id, now_ms, None, None, note).await?;
                }
                StatusWrite::Unfollow => {
                    sqlx::query("UPDATE orders SET unclear_until = NULL WHERE id = ?")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                StatusWrite::History {
                    state,
                    status,
                    note,
                } => history(tx, id, now_ms, *state, status.as_deref(), note).await?,
                StatusWrite::Event(event) => {
                    let about = EventOrder {
                        branch: &order.branch,
                        site_id: &order.site_id,
                        iiko_order_id: &order.iiko_order_id,
                    };
                    enqueue_order_event(tx, about, event, now_ms).await?;
                }
            }
        }
        Ok(true)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

impl SqliteStore {
    pub async fn status_batch(
        &self,
        seen: &[i64],
        now_ms: i64,
    ) -> Result<SqliteStatusBatch, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if !seen.is_empty() {
            let marks = vec!["?"; seen.len()].join(", ");
            let sql = format!("UPDATE orders SET status_seen_at = ? WHERE id IN ({marks})");
            let mut query = sqlx::query(&sql).bind(now_ms);
            for id in seen {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await?;
        }
        Ok(SqliteStatusBatch { tx })
    }

    pub async fn tracked_orders(&self) -> Result<Vec<TrackedOrder>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, branch, COALESCE(tracked_iiko_id, iiko_order_id) AS delivery_id,
                 tracked_organization_id, status_seen_at
             FROM orders WHERE status_final = 0 AND (state = 'created'
                 OR (state IN ('fallback', 'resolved') AND unclear_until IS NOT NULL
                     AND late_created_at IS NULL))
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn status_cursor(&self, organization_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM status_cursors WHERE organization_id = ?")
                .bind(organization_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn save_status_cursor(
        &self,
        organization_id: &str,
        revision: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        match revision {
            Some(revision) => {
                sqlx::query(
                    "INSERT INTO status_cursors (organization_id, revision, updated_at)
                     VALUES (?, ?, ?)
                     ON CONFLICT (organization_id) DO UPDATE
                     SET revision = excluded.revision, updated_at = excluded.updated_at",
                )
                .bind(organization_id)
                .bind(revision)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM status_cursors WHERE organization_id = ?")
                    .bind(organization_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn push_webhook_calls(&self, bodies: &[&str], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for body in bodies {
            sqlx::query("INSERT INTO iiko_webhook_inbox (received_at, body) VALUES (?, ?)")
                .bind(now_ms)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn unalerted_late_creations(&self) -> Result<Vec<(i64, LateCreation)>, StoreError> {
        let rows: Vec<UnalertedLateCreation> = sqlx::query_as(
            "SELECT id, branch, site_id, COALESCE(tracked_iiko_id, iiko_order_id) AS delivery_id,
                 COALESCE(iiko_number, 0) AS number, state
             FROM orders WHERE late_created_at IS NOT NULL AND late_alerted_at IS NULL
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row.late)).collect())
    }

    pub async fn mark_late_alerted(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE orders SET late_alerted_at = ? WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn webhook_calls(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, body FROM iiko_webhook_inbox ORDER BY id LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn drop_webhook_calls(&self, last_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM iiko_webhook_inbox WHERE id <= ?")
            .bind(last_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn cancel_before_iiko(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query(
            "UPDATE orders SET state = 'cancelled', cancel_reason = ?, status_final = 1,
                 updated_at = ?
             WHERE id = ? AND state IN ('queued', 'retrying') AND lease_owner IS NULL
               AND create_sent = 0",
        )
        .bind(reason)
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        history(
            &mut tx,
            id,
            now_ms,
            Some(OrderState::Cancelled),
            None,
            &format!("отменён сайтом до передачи в iiko: {reason}"),
        )
        .await?;
        let order = fetch(&mut tx, id).await?;
        let about = EventOrder {
            branch: &order.branch,
            site_id: &order.site_id,
            iiko_order_id: &order.iiko_order_id,
        };
        let cancelled = OrderEvent::Cancelled {
            reason: reason.to_owned(),
        };
        enqueue_order_event(&mut tx, about, &cancelled, now_ms).await?;
        tx.commit().await?;
        Ok(Some(order))
    }

    pub async fn note_cancel_request(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE orders SET cancel_reason = ?, updated_at = ? WHERE id = ?")
            .bind(reason)
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        history(
            &mut tx,
            id,
            now_ms,
            None,
            None,
            &format!("сайт просит отменить заказ: {reason}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
