//! Retention's deletes (`store::retention`) on PostgreSQL, a bounded batch per transaction.
use chrono::{DateTime, Utc};

use super::PgStore;
use super::orders::history;
use crate::store::StoreError;

/// Orders deleted per transaction: their row locks are never held for long.
const BATCH: i64 = 500;

/// Finished: created and closed (or given up) in iiko, resolved by an operator, or cancelled.
const FINISHED: &str =
    "(state IN ('resolved', 'cancelled') OR (state = 'created' AND status_final = 1))";

impl PgStore {
    pub async fn prune_finished_orders(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // `FINISHED` is a fixed string of this module.
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM orders WHERE {FINISHED} AND updated_at < $1 ORDER BY id LIMIT $2
             FOR UPDATE SKIP LOCKED"
        ))
        .bind(before.timestamp_millis())
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let of_orders = "(SELECT UNNEST($1::bigint[]))";
        for sql in [
            format!("DELETE FROM order_attempts WHERE order_id IN {of_orders}"),
            format!("DELETE FROM order_history WHERE order_id IN {of_orders}"),
            format!("DELETE FROM seen_webhook_ids WHERE order_id IN {of_orders}"),
            format!("DELETE FROM bot_messages WHERE order_id IN {of_orders}"),
            format!(
                "DELETE FROM fallback_deliveries WHERE (branch, order_id) IN
                     (SELECT branch, site_id FROM orders WHERE id IN {of_orders})"
            ),
            format!(
                "DELETE FROM fallback_orders WHERE (branch, order_id) IN
                     (SELECT branch, site_id FROM orders WHERE id IN {of_orders})"
            ),
            format!("DELETE FROM orders WHERE id IN {of_orders}"),
        ] {
            sqlx::query(&sql).bind(&ids).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    pub async fn prune_orphan_fallbacks(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let orphans = "SELECT branch, order_id FROM fallback_orders f WHERE f.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.branch = f.branch AND o.site_id = f.order_id)";
        let cutoff = before.to_rfc3339();
        sqlx::query(&format!(
            "DELETE FROM fallback_deliveries WHERE (branch, order_id) IN ({orphans})"
        ))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?;
        let pruned = sqlx::query(&format!(
            "DELETE FROM fallback_orders WHERE (branch, order_id) IN ({orphans})"
        ))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(pruned)
    }

    pub async fn prune_webhook_calls(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM iiko_webhook_inbox WHERE received_at < $1")
                .bind(before.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn followed_orders_accepted_before(
        &self,
        accepted_before: DateTime<Utc>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, raw_body::jsonb ->> 'deliver_at' FROM orders
             WHERE state = 'created' AND status_final = 0 AND created_at < $1",
        )
        .bind(accepted_before.timestamp_millis())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn stop_tracking(
        &self,
        ids: &[i64],
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut stopped = 0;
        for &id in ids {
            let updated = sqlx::query(
                "UPDATE orders SET status_final = 1, updated_at = $1
                 WHERE id = $2 AND state = 'created' AND status_final = 0",
            )
            .bind(now.timestamp_millis())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                history(&mut tx, id, now.timestamp_millis(), None, None, note).await?;
                stopped += 1;
            }
        }
        tx.commit().await?;
        Ok(stopped)
    }
}
