//! Fallback orders and their deliveries (`store::fallback`) on PostgreSQL; due deliveries are
//! claimed `FOR UPDATE SKIP LOCKED`, so instances claiming at once take different ones.
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::claims::new_lease_id;
use crate::store::fallback::{DeliveryRow, UndeliveredRow, time};
use crate::store::{
    FALLBACK_ATTEMPTS_BEFORE_ALERT, FallbackDelivery, NewFallback, StoreError, UndeliveredFallback,
};

/// Orders whose latest hand-over has no delivered row and no row still within its first
/// attempts.
const UNDELIVERED: &str =
    "SELECT o.branch, o.order_id, o.number, o.reason, o.created_at, o.alerted_at
     FROM fallback_orders o
     WHERE o.round = (SELECT MAX(round) FROM fallback_orders l
                      WHERE l.branch = o.branch AND l.order_id = o.order_id)
       AND NOT EXISTS (
         SELECT 1 FROM fallback_deliveries d
         WHERE d.branch = o.branch AND d.order_id = o.order_id AND d.round = o.round
           AND (d.state = 'delivered' OR (d.state = 'pending' AND d.attempts < $1)))";

const DELIVERY_COLUMNS: &str = "id, branch, order_id, channel, recipient, subject, body, html,
     state, attempts, next_attempt_at, last_error, delivered_at, sending_at, lease_id";

impl PgStore {
    pub async fn insert_fallback(&self, new: &NewFallback<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let round: i64 = sqlx::query_scalar(
            "SELECT COALESCE(
                 (SELECT fallback_round FROM orders WHERE branch = $1 AND site_id = $2), 1)",
        )
        .bind(new.branch)
        .bind(new.order_id)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO fallback_orders (branch, order_id, round, number, reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (branch, order_id, round) DO NOTHING",
        )
        .bind(new.branch)
        .bind(new.order_id)
        .bind(round)
        .bind(new.number)
        .bind(new.reason)
        .bind(new.created_at.to_rfc3339())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for delivery in &new.deliveries {
                sqlx::query(
                    "INSERT INTO fallback_deliveries (branch, order_id, round, channel, recipient,
                         subject, body, html, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (branch, order_id, round, channel, recipient) DO NOTHING",
                )
                .bind(new.branch)
                .bind(new.order_id)
                .bind(round)
                .bind(delivery.channel.as_str())
                .bind(&delivery.recipient)
                .bind(delivery.subject)
                .bind(delivery.body)
                .bind(delivery.html)
                .bind(new.created_at.timestamp_millis())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn claim_fallback_deliveries(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FallbackDelivery>, StoreError> {
        // Read first, so an idle step does not take the store's write lock every second.
        let due = due_deliveries(&mut *self.pool.acquire().await?, now, 1, "").await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let mut due = due_deliveries(&mut tx, now, limit, "FOR UPDATE SKIP LOCKED").await?;
        for delivery in &mut due {
            delivery.lease_id = Some(new_lease_id(claimer));
        }
        let (ids, leases): (Vec<i64>, Vec<&str>) = due
            .iter()
            .map(|d| (d.id, d.lease_id.as_deref().unwrap_or_default()))
            .unzip();
        sqlx::query(
            "UPDATE fallback_deliveries SET sending_at = $1, claimed_by = $2,
                 lease_id = l.lease, lease_expires_at_ms = $3
             FROM UNNEST($4::bigint[], $5::text[]) AS l(id, lease)
             WHERE fallback_deliveries.id = l.id",
        )
        .bind(now.timestamp_millis())
        .bind(claimer)
        .bind(expires_at.timestamp_millis())
        .bind(&ids)
        .bind(&leases)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(due)
    }

    pub async fn fallback_deliveries(
        &self,
        branch: &str,
        order_id: &str,
    ) -> Result<Vec<FallbackDelivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM fallback_deliveries
             WHERE branch = $1 AND order_id = $2 ORDER BY round, channel, id"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(branch)
            .bind(order_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(FallbackDelivery::try_from).collect()
    }

    pub async fn mark_fallback_delivered(
        &self,
        id: i64,
        lease_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.finish_delivery(
            "state = 'delivered', delivered_at = $3, last_error = NULL",
            id,
            lease_id,
            now.to_rfc3339(),
            None,
        )
        .await
    }

    pub async fn mark_fallback_retry(
        &self,
        id: i64,
        lease_id: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.finish_delivery(
            "last_error = $3, next_attempt_at = $4",
            id,
            lease_id,
            error.to_owned(),
            Some(next_attempt_at.timestamp_millis()),
        )
        .await
    }

    pub async fn mark_fallback_failed(
        &self,
        id: i64,
        lease_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.finish_delivery(
            "state = 'failed_permanently', last_error = $3",
            id,
            lease_id,
            error.to_owned(),
            None,
        )
        .await
    }

    /// One attempt's outcome: `set` (a fixed string of this module) binds `first` as `$3`,
    /// then `second` as `$4` when given.
    async fn finish_delivery(
        &self,
        set: &str,
        id: i64,
        lease_id: &str,
        first: String,
        second: Option<i64>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE fallback_deliveries
             SET {set}, attempts = attempts + 1, sending_at = NULL, claimed_by = NULL,
                 lease_id = NULL, lease_expires_at_ms = NULL
             WHERE id = $1 AND lease_id = $2"
        );
        let mut query = sqlx::query(&sql).bind(id).bind(lease_id).bind(first);
        if let Some(second) = second {
            query = query.bind(second);
        }
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    pub async fn undelivered_fallbacks(&self) -> Result<Vec<UndeliveredFallback>, StoreError> {
        self.undelivered(&format!("{UNDELIVERED} ORDER BY o.created_at"))
            .await
    }

    pub async fn fallbacks_to_alert(&self) -> Result<Vec<UndeliveredFallback>, StoreError> {
        self.undelivered(&format!(
            "{UNDELIVERED} AND o.alerted_at IS NULL ORDER BY o.created_at"
        ))
        .await
    }

    pub async fn mark_fallback_alerted(
        &self,
        branch: &str,
        order_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fallback_orders SET alerted_at = $1 WHERE branch = $2 AND order_id = $3",
        )
        .bind(now.to_rfc3339())
        .bind(branch)
        .bind(order_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn undelivered(&self, sql: &str) -> Result<Vec<UndeliveredFallback>, StoreError> {
        let rows: Vec<UndeliveredRow> = sqlx::query_as(sql)
            .bind(i64::from(FALLBACK_ATTEMPTS_BEFORE_ALERT))
            .fetch_all(&self.pool)
            .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            let deliveries = self.fallback_deliveries(&row.branch, &row.order_id).await?;
            orders.push(UndeliveredFallback {
                number: row.number,
                reason: row.reason,
                created_at: time(row.created_at)?,
                alerted_at: row.alerted_at.map(time).transpose()?,
                branch: row.branch,
                order_id: row.order_id,
                deliveries,
            });
        }
        Ok(orders)
    }
}

/// Pending deliveries due at `now` that no claim holds (the rule of `claims::claim_holds`),
/// the longest waiting first; `locking` is empty or a fixed locking clause.
async fn due_deliveries(
    conn: &mut sqlx::PgConnection,
    now: DateTime<Utc>,
    limit: u32,
    locking: &str,
) -> Result<Vec<FallbackDelivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM fallback_deliveries
         WHERE state = 'pending' AND next_attempt_at <= $1
           AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $1)
         ORDER BY next_attempt_at, id LIMIT $2 {locking}"
    );
    let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
        .bind(now.timestamp_millis())
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(FallbackDelivery::try_from).collect()
}
