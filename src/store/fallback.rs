//! Fallback deliveries: each order iiko did not take, and one row per channel and recipient
//! that the fallback worker sends and retries on its own.
use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// Attempts on a channel after which it counts as not getting through (it is still retried):
/// when no channel of an order has got through, operators are alerted.
pub const FALLBACK_ATTEMPTS_BEFORE_ALERT: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackChannel {
    Email,
    Telegram,
}

impl FallbackChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackChannel::Email => "email",
            FallbackChannel::Telegram => "telegram",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "email" => Ok(FallbackChannel::Email),
            "telegram" => Ok(FallbackChannel::Telegram),
            other => Err(StoreError::Corrupt(format!("fallback channel {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    FailedPermanently,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::FailedPermanently => "failed_permanently",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed_permanently" => Ok(DeliveryState::FailedPermanently),
            other => Err(StoreError::Corrupt(format!("fallback state {other:?}"))),
        }
    }
}

/// An order to hand to staff, with what to send to whom.
#[derive(Debug, Clone)]
pub struct NewFallback<'a> {
    pub branch: &'a str,
    pub order_id: &'a str,
    pub number: &'a str,
    pub reason: &'a str,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<NewDelivery<'a>>,
}

#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub channel: FallbackChannel,
    pub recipient: String,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub html: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FallbackDelivery {
    pub id: i64,
    pub branch: String,
    pub order_id: String,
    pub channel: FallbackChannel,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set while it is being sent; still set on a due row when the process sending it stopped
    /// before recording the outcome.
    pub sending_at: Option<DateTime<Utc>>,
}

/// An order no channel has got through to staff: every delivery failed for good, or keeps
/// failing, or the branch has no recipients at all.
#[derive(Debug, Clone, PartialEq)]
pub struct UndeliveredFallback {
    pub branch: String,
    pub order_id: String,
    pub number: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub alerted_at: Option<DateTime<Utc>>,
    pub deliveries: Vec<FallbackDelivery>,
}

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
     state, attempts, next_attempt_at, last_error, delivered_at, sending_at";

impl Store {
    /// Stores the order's hand-over (of its current round: `orders.fallback_round`, 1 for an
    /// order the store does not hold) and all its deliveries in one transaction; `false` when
    /// this round was already handed over, whose deliveries are then left as they are (no
    /// duplicate messages).
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

    /// Pending deliveries due at `now`, the longest waiting first.
    pub async fn due_fallback_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FallbackDelivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM fallback_deliveries
             WHERE state = 'pending' AND next_attempt_at <= ?
             ORDER BY next_attempt_at, id LIMIT ?"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(now.timestamp_millis())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(FallbackDelivery::try_from).collect()
    }

    /// Every delivery of one order, e-mail first.
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

    /// Marks deliveries as being sent, before they are: a failed write sends nothing.
    pub async fn mark_fallback_sending(
        &self,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for id in ids {
            sqlx::query("UPDATE fallback_deliveries SET sending_at = ? WHERE id = ?")
                .bind(now.timestamp_millis())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn mark_fallback_delivered(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fallback_deliveries
             SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL,
                 sending_at = NULL
             WHERE id = ?",
        )
        .bind(now.to_rfc3339())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a failed attempt and schedules the next one.
    pub async fn mark_fallback_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fallback_deliveries
             SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, sending_at = NULL
             WHERE id = ?",
        )
        .bind(error)
        .bind(next_attempt_at.timestamp_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_fallback_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE fallback_deliveries
             SET state = 'failed_permanently', attempts = attempts + 1, last_error = ?,
                 sending_at = NULL
             WHERE id = ?",
        )
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Orders no channel has got through to staff, oldest first (for the `orders` CLI).
    pub async fn undelivered_fallbacks(&self) -> Result<Vec<UndeliveredFallback>, StoreError> {
        self.undelivered(&format!("{UNDELIVERED} ORDER BY o.created_at"))
            .await
    }

    /// Undelivered orders operators have not been told about yet.
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

/// A `fallback_deliveries` row as stored: times as milliseconds or RFC 3339 text.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    branch: String,
    order_id: String,
    channel: String,
    recipient: String,
    subject: Option<String>,
    body: String,
    html: Option<String>,
    state: String,
    attempts: u32,
    next_attempt_at: i64,
    last_error: Option<String>,
    delivered_at: Option<String>,
    sending_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for FallbackDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let next_attempt_at = row.next_attempt_at;
        Ok(FallbackDelivery {
            id: row.id,
            branch: row.branch,
            order_id: row.order_id,
            channel: FallbackChannel::parse(&row.channel)?,
            recipient: row.recipient,
            subject: row.subject,
            body: row.body,
            html: row.html,
            state: DeliveryState::parse(&row.state)?,
            attempts: row.attempts,
            next_attempt_at: DateTime::from_timestamp_millis(next_attempt_at).ok_or_else(|| {
                StoreError::Corrupt(format!("fallback next_attempt_at {next_attempt_at}"))
            })?,
            last_error: row.last_error,
            delivered_at: row.delivered_at.map(time).transpose()?,
            sending_at: row.sending_at.and_then(DateTime::from_timestamp_millis),
        })
    }
}

/// A `fallback_orders` row as stored.
#[derive(sqlx::FromRow)]
struct UndeliveredRow {
    branch: String,
    order_id: String,
    number: String,
    reason: String,
    created_at: String,
    alerted_at: Option<String>,
}

fn time(text: String) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("fallback time {text:?}: {e}")))
}
