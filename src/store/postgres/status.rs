//! Status reports, cursors, the site's cancels and the webhook inbox (`store::status`) on
//! PostgreSQL; a [`PgStatusBatch`] is one transaction, which locks each order it reads.
use sqlx::{Postgres, Transaction};

use super::PgStore;
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
    iiko_timestamp, reported_iiko_status, site_status, cancel_reason,
    status_final <> 0 AS status_final, late_created_at";

/// A [`crate::store::StatusBatch`] on PostgreSQL: one transaction.
pub struct PgStatusBatch {
    tx: Transaction<'static, Postgres>,
}

impl PgStatusBatch {
    /// The order iiko knows by this delivery id, now or before a move.
    pub async fn order_by_delivery(
        &mut self,
        delivery_id: &str,
    ) -> Result<Option<StatusRow>, StoreError> {
        // Locked until the commit: what is decided on this row (newer reports only ...) holds
        // against a dispatcher's attempt end or an operator's change meanwhile.
        Ok(sqlx::query_as(&format!(
            "SELECT {STATUS_COLUMNS} FROM orders
             WHERE tracked_iiko_id = $1 OR iiko_order_id = $1
             ORDER BY tracked_iiko_id IS NOT DISTINCT FROM $1 DESC LIMIT 1
             FOR UPDATE"
        ))
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
                    sqlx::query("UPDATE orders SET status_seen_at = $1 WHERE id = $2")
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
                        "UPDATE orders SET tracked_iiko_id = $1, tracked_organization_id = $2,
                             iiko_timestamp = NULL, status_seen_at = $3, updated_at = $4
                         WHERE id = $5",
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
                        "UPDATE orders SET iiko_timestamp = $1, status_seen_at = $2, iiko_number = $3,
                             iiko_status = $4, updated_at = $5,
                             reported_iiko_status = CASE WHEN $6 THEN $7 ELSE reported_iiko_status END,
                             site_status = COALESCE($8, site_status),
                             status_final = CASE WHEN $9 THEN 1 ELSE status_final END,
                             cancel_reason = COALESCE($10, cancel_reason),
                             state = CASE WHEN $11 THEN 'cancelled' ELSE state END
                         WHERE id = $12",
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
                        "UPDATE orders SET late_created_at = $1, iiko_number = $2, iiko_status = $3,
                             iiko_timestamp = $4, status_seen_at = $5, updated_at = $6
                         WHERE id = $7",
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
                    sqlx::query("UPDATE orders SET unclear_until = NULL WHERE id = $1")
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

impl PgStore {
    pub async fn status_batch(
        &self,
        seen: &[i64],
        now_ms: i64,
    ) -> Result<PgStatusBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !seen.is_empty() {
            sqlx::query("UPDATE orders SET status_seen_at = $1 WHERE id = ANY($2)")
                .bind(now_ms)
                .bind(seen)
                .execute(&mut *tx)
                .await?;
        }
        Ok(PgStatusBatch { tx })
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
            sqlx::query_scalar("SELECT revision FROM status_cursors WHERE organization_id = $1")
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
        let mut tx = self.pool.begin().await?;
        match revision {
            Some(revision) => {
                sqlx::query(
                    "INSERT INTO status_cursors (organization_id, revision, updated_at)
                     VALUES ($1, $2, $3)
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
                sqlx::query("DELETE FROM status_cursors WHERE organization_id = $1")
                    .bind(organization_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn push_webhook_calls(&self, bodies: &[&str], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for body in bodies {
            sqlx::query("INSERT INTO iiko_webhook_inbox (received_at, body) VALUES ($1, $2)")
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE orders SET late_alerted_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn webhook_calls(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, body FROM iiko_webhook_inbox ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn drop_webhook_calls(&self, last_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM iiko_webhook_inbox WHERE id <= $1")
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
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE orders SET state = 'cancelled', cancel_reason = $1, status_final = 1,
                 updated_at = $2
             WHERE id = $3 AND state IN ('queued', 'retrying') AND lease_owner IS NULL
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE orders SET cancel_reason = $1, updated_at = $2 WHERE id = $3")
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
