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

    pub(super) fn parse(text: &str) -> Result<Self, StoreError> {
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

    pub(super) fn parse(text: &str) -> Result<Self, StoreError> {
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
    /// The claim it is being sent under, on a claimed delivery: only it records the outcome.
    pub lease_id: Option<String>,
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

impl Store {
    /// Stores the order's hand-over (of its current round: `orders.fallback_round`, 1 for an
    /// order the store does not hold) and all its deliveries in one transaction; `false` when
    /// this round was already handed over, whose deliveries are then left as they are (no
    /// duplicate messages). Two instances handing one order over at once: the conditional
    /// insert of the hand-over decides, in the transaction that adds the deliveries, so one
    /// stores them and the other nothing (on PostgreSQL the loser's `ON CONFLICT` waits for
    /// the winner's commit).
    pub async fn insert_fallback(&self, new: &NewFallback<'_>) -> Result<bool, StoreError> {
        on_backend!(self, b => b.insert_fallback(new).await)
    }

    /// Claims up to `limit` pending deliveries due at `now`, the longest waiting first, for
    /// `claimer` until `expires_at`, each under a lease id of its own, and marks them as being
    /// sent, before they are: a failed write sends nothing. A delivery whose claim ran out
    /// (its process died, perhaps after sending) is due again, its `sending_at` still set
    /// from then; the returned deliveries carry the `sending_at` they had before this claim.
    pub async fn claim_fallback_deliveries(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FallbackDelivery>, StoreError> {
        on_backend!(self, b => b.claim_fallback_deliveries(claimer, now, expires_at, limit).await)
    }

    /// Every delivery of one order, e-mail first.
    pub async fn fallback_deliveries(
        &self,
        branch: &str,
        order_id: &str,
    ) -> Result<Vec<FallbackDelivery>, StoreError> {
        on_backend!(self, b => b.fallback_deliveries(branch, order_id).await)
    }

    /// Records a delivery's outcome and gives its claim back, but only while `lease_id` still
    /// holds it; `false` when another claim took it over (this one ran out): nothing written.
    pub async fn mark_fallback_delivered(
        &self,
        id: i64,
        lease_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.mark_fallback_delivered(id, lease_id, now).await)
    }

    /// Counts a failed attempt and schedules the next one (see
    /// [`Store::mark_fallback_delivered`] for `lease_id`).
    pub async fn mark_fallback_retry(
        &self,
        id: i64,
        lease_id: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.mark_fallback_retry(id, lease_id, error, next_attempt_at).await)
    }

    /// See [`Store::mark_fallback_delivered`] for `lease_id`.
    pub async fn mark_fallback_failed(
        &self,
        id: i64,
        lease_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.mark_fallback_failed(id, lease_id, error).await)
    }

    /// Orders no channel has got through to staff, oldest first (for the `orders` CLI).
    pub async fn undelivered_fallbacks(&self) -> Result<Vec<UndeliveredFallback>, StoreError> {
        on_backend!(self, b => b.undelivered_fallbacks().await)
    }

    /// Undelivered orders operators have not been told about yet.
    pub async fn fallbacks_to_alert(&self) -> Result<Vec<UndeliveredFallback>, StoreError> {
        on_backend!(self, b => b.fallbacks_to_alert().await)
    }

    pub async fn mark_fallback_alerted(
        &self,
        branch: &str,
        order_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.mark_fallback_alerted(branch, order_id, now).await)
    }
}

/// A `fallback_deliveries` row as stored: times as milliseconds or RFC 3339 text.
#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    pub(super) id: i64,
    pub(super) branch: String,
    pub(super) order_id: String,
    pub(super) channel: String,
    pub(super) recipient: String,
    pub(super) subject: Option<String>,
    pub(super) body: String,
    pub(super) html: Option<String>,
    pub(super) state: String,
    pub(super) attempts: i64,
    pub(super) next_attempt_at: i64,
    pub(super) last_error: Option<String>,
    pub(super) delivered_at: Option<String>,
    pub(super) sending_at: Option<i64>,
    pub(super) lease_id: Option<String>,
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
            attempts: u32::try_from(row.attempts)
                .map_err(|_| StoreError::Corrupt(format!("fallback attempts {}", row.attempts)))?,
            next_attempt_at: DateTime::from_timestamp_millis(next_attempt_at).ok_or_else(|| {
                StoreError::Corrupt(format!("fallback next_attempt_at {next_attempt_at}"))
            })?,
            last_error: row.last_error,
            delivered_at: row.delivered_at.map(time).transpose()?,
            sending_at: row.sending_at.and_then(DateTime::from_timestamp_millis),
            lease_id: row.lease_id,
        })
    }
}

/// A `fallback_orders` row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct UndeliveredRow {
    pub(super) branch: String,
    pub(super) order_id: String,
    pub(super) number: String,
    pub(super) reason: String,
    pub(super) created_at: String,
    pub(super) alerted_at: Option<String>,
}

pub(super) fn time(text: String) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("fallback time {text:?}: {e}")))
}
