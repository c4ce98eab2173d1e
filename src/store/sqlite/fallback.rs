//! Fallback orders and their deliveries (`store::fallback`) on SQLite; a claim of due
//! deliveries is one `BEGIN IMMEDIATE` transaction.
use chrono::{DateTime, Utc};

use super::SqliteStore;
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
           AND (d.state = 'delivered' OR (d.state = 'pending' AND d.attempts < ?)))";

const DELIVERY_COLUMNS: &str = "id, branch, order_id, channel, recipient, subject, body, html,
     state, attempts, next_attempt_at, last_error, delivered_at, sending_at, lease_id";

impl SqliteStore {
    pub async fn insert_fallback(&self, new: &NewFallback<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let round: i64 = sqlx::query_scalar(
            "SELECT COALESCE(
                 (SELECT fallback_round FROM orders WHERE branch = ? AND site_id = ?), 1)",
        )
        .bind(new.branch)
        .bind(new.order_id)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO fallback_orders (branch, order_id, round, number, reason, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (branch, order_id, round) DO NOTHING",
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
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        let due = due_deliveries(&mut *self.pool.acquire().await?, now, 1).await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut due = due_deliveries(&mut tx, now, limit).await?;
        for delivery in &mut due {
            delivery.lease_id = Some(new_lease_id(claimer));
        }
        let leases: Vec<(i64, &str)> = due
            .iter()
            .map(|d| (d.id, d.lease_id.as_deref().unwrap_or_default()))
            .collect();
        sqlx::query(
            "UPDATE fallback_deliveries SET sending_at = ?, claimed_by = ?,
                 lease_id = l.value->>1, lease_expires_at_ms = ?
             FROM json_each(?) AS l WHERE fallback_deliveries.id = l.value->>0",
        )
        .bind(now.timestamp_millis())
        .bind(claimer)
        .bind(expires_at.timestamp_millis())
        .bind(serde_json::to_string(&leases).expect("leases serialize"))
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
             WHERE branch = ? AND order_id = ? ORDER BY round, channel, id"
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
            "state = 'delivered', delivered_at = ?, last_error = NULL",
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
            "last_error = ?, next_attempt_at = ?",
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
            "state = 'failed_permanently', last_error = ?",
            id,
            lease_id,
            error.to_owned(),
            None,
        )
        .await
    }

    /// One attempt's outcome: `set` (a fixed string of this module) binds `first`, then
    /// `second` when given.
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
             WHERE id = ? AND lease_id = ?"
        );
        let mut query = sqlx::query(&sql).bind(first);
        if let Some(second) = second {
            query = query.bind(second);
        }
        Ok(query
            .bind(id)
            .bind(lease_id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
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
        sqlx::query("UPDATE fallback_orders SET alerted_at = ? WHERE branch = ? AND order_id = ?")
            .bind(now.to_rfc3339())
            .bind(branch)
            .bind(order_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn undelivered(&self, sql: &str) -> Result<Vec<UndeliveredFallback>, StoreError> {
        let rows: Vec<UndeliveredRow> = sqlx::query_as(sql)
            .bind(FALLBACK_ATTEMPTS_BEFORE_ALERT)
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
/// the longest waiting first.
async fn due_deliveries(
    conn: &mut sqlx::SqliteConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<FallbackDelivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM fallback_deliveries
         WHERE state = 'pending' AND next_attempt_at <= ?
           AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?)
         ORDER BY next_attempt_at, id LIMIT ?"
    );
    let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
        .bind(now.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(FallbackDelivery::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeliveryState, FallbackChannel, NewDelivery, Store};

    async fn two_stores() -> (Store, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let one = Store::open(&url).await.unwrap();
        let two = Store::open(&url).await.unwrap();
        (one, two, dir)
    }

    fn fallback(order_id: &str) -> NewFallback<'_> {
        NewFallback {
            branch: "lenina",
            order_id,
            number: order_id,
            reason: "iiko refused",
            created_at: DateTime::from_timestamp_millis(0).unwrap(),
            deliveries: ["a@example.com", "b@example.com"]
                .into_iter()
                .map(|to| NewDelivery {
                    channel: FallbackChannel::Email,
                    recipient: to.to_owned(),
                    subject: Some("order"),
                    body: "order",
                    html: None,
                })
                .collect(),
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[tokio::test]
    async fn two_workers_handing_one_order_over_at_once_store_its_deliveries_once() {
        let (one, two, _dir) = two_stores().await;
        let (a, b) = (fallback("WEB-1"), fallback("WEB-1"));
        let (first, second) = tokio::join!(one.insert_fallback(&a), two.insert_fallback(&b));
        assert_eq!(
            [first.unwrap(), second.unwrap()]
                .iter()
                .filter(|&&new| new)
                .count(),
            1
        );
        assert_eq!(
            one.fallback_deliveries("lenina", "WEB-1")
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn each_delivery_is_claimed_by_one_instance_until_its_claim_runs_out() {
        let (one, two, _dir) = two_stores().await;
        for order in ["WEB-1", "WEB-2", "WEB-3"] {
            one.insert_fallback(&fallback(order)).await.unwrap();
        }
        let (first, second) = tokio::join!(
            one.claim_fallback_deliveries("one", at(10), at(100), 4),
            two.claim_fallback_deliveries("two", at(10), at(100), 4)
        );
        let mut ids: Vec<i64> = first
            .unwrap()
            .iter()
            .chain(&second.unwrap())
            .map(|d| d.id)
            .collect();
        ids.sort();
        assert_eq!(ids.len(), 6);
        ids.dedup();
        assert_eq!(ids.len(), 6, "never one delivery to both");
        assert!(
            one.claim_fallback_deliveries("one", at(99), at(200), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_serve_alone_on_its_store_takes_back_at_once_what_a_dead_one_had_claimed() {
        let (dead, serving, _dir) = two_stores().await;
        let mut single = fallback("WEB-1");
        single.deliveries.truncate(1);
        dead.insert_fallback(&single).await.unwrap();
        let claimed = dead
            .claim_fallback_deliveries("dead", at(10), at(1_000), 10)
            .await
            .unwrap();
        let alert = dead.claim_alerts("fallback", "dead", 10, 1_000_000).await;
        assert!(alert.unwrap().is_some());
        let duty = dead.take_duty("status", "dead", "host pid 1", "l1", 10, 1_000_000);
        assert!(duty.await.unwrap());

        assert_eq!(serving.release_dead_claims().await.unwrap(), 3);
        let again = serving
            .claim_fallback_deliveries("serving", at(11), at(100), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1, "long before the dead claim would run out");
        assert_eq!(
            again[0].sending_at,
            Some(at(10)),
            "headed as a possible repeat"
        );
        let stale = claimed[0].lease_id.as_deref().unwrap();
        assert!(
            !dead
                .mark_fallback_delivered(claimed[0].id, stale, at(12))
                .await
                .unwrap()
        );
        let alert = serving
            .claim_alerts("fallback", "serving", 11, 100_000)
            .await;
        assert!(alert.unwrap().is_some());
        let duty = serving.take_duty("status", "serving", "host pid 2", "l2", 11, 100_000);
        assert!(duty.await.unwrap());
    }

    #[tokio::test]
    async fn a_dead_instances_delivery_comes_back_as_a_possible_repeat_and_its_late_outcome_is_ignored()
     {
        let (one, two, _dir) = two_stores().await;
        let mut single = fallback("WEB-1");
        single.deliveries.truncate(1);
        one.insert_fallback(&single).await.unwrap();
        let first = one
            .claim_fallback_deliveries("one", at(10), at(100), 10)
            .await
            .unwrap();
        assert_eq!(first[0].sending_at, None, "a first send");

        // `one` stops renewing (it died mid-send): the delivery is due again at the expiry.
        let again = two
            .claim_fallback_deliveries("two", at(100), at(200), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].sending_at, Some(at(10)), "perhaps sent already");
        let stale = first[0].lease_id.as_deref().unwrap();
        assert!(
            !one.mark_fallback_delivered(first[0].id, stale, at(101))
                .await
                .unwrap()
        );
        let lease = again[0].lease_id.as_deref().unwrap();
        assert!(
            two.mark_fallback_retry(again[0].id, lease, "421", at(150))
                .await
                .unwrap()
        );

        let row = &one.fallback_deliveries("lenina", "WEB-1").await.unwrap()[0];
        assert_eq!((row.state, row.attempts), (DeliveryState::Pending, 1));
        assert_eq!((row.sending_at, row.lease_id.as_deref()), (None, None));
        assert!(
            !two.mark_fallback_failed(row.id, lease, "late")
                .await
                .unwrap(),
            "given back"
        );
    }
}
