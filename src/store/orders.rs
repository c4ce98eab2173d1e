//! Orders: the stored order and its state, intake, reads, the history, renewed iiko ids and
//! the operators' changes (the dispatcher's leases and the ledger are in `leases`). Every
//! write is one transaction and none spans an HTTP call.
use std::fmt;

use super::{Store, StoreError};

/// The bridge's own life cycle of an order (CONTRACT section 3): the values of the `state`
/// column. It lives here, below the domain, because the store's own SQL speaks it too (due
/// orders are `state IN ('queued', 'sending', 'retrying')`); which state follows which is
/// decided in `orders::lifecycle` and `status::apply`.
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

#[cfg(test)]
impl NewOrder {
    /// A minimal order of branch `lenina` for the unit tests of the store and the decisions;
    /// a queued one has a request to send.
    pub(crate) fn sample(site_id: &str, state: OrderState) -> NewOrder {
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

#[cfg(test)]
impl StoredOrder {
    /// A stored order of branch `lenina` never sent, for the unit tests of the decisions and
    /// the views (each sets what it is about with `..StoredOrder::sample(..)`).
    pub(crate) fn sample(site_id: &str, state: OrderState) -> StoredOrder {
        StoredOrder {
            id: 1,
            branch: "lenina".into(),
            site_id: site_id.into(),
            raw_body: "{}".into(),
            content_hash: "h".into(),
            answer: "{}".into(),
            iiko_ids: "{}".into(),
            iiko_order_id: "00000000-0000-0000-0000-000000000001".into(),
            request: None,
            problems: None,
            state,
            fallback_reason: None,
            attempts: 0,
            next_attempt_at: 0,
            lease_owner: None,
            lease_until: None,
            create_sent: false,
            correlation_id: None,
            iiko_number: None,
            iiko_status: None,
            creation_status: None,
            error_code: None,
            error_message: None,
            created_at: 0,
            updated_at: 0,
            reported_iiko_status: None,
            site_status: None,
            iiko_timestamp: None,
            status_seen_at: None,
            tracked_iiko_id: None,
            tracked_organization_id: None,
            cancel_reason: None,
            status_final: false,
            unclear_until: None,
            late_created_at: None,
        }
    }
}

impl StoredOrder {
    /// The delivery id iiko knows the order by now (it changes when the order is moved).
    pub fn current_iiko_id(&self) -> &str {
        self.tracked_iiko_id
            .as_deref()
            .unwrap_or(&self.iiko_order_id)
    }
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

/// An operator's change of an order's state, as decided by the life cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorChange {
    pub state: OrderState,
    /// Sent to iiko again now: a fresh attempt budget, no fallback reason or unclear mark, and
    /// a new fallback round when the last one was handed over.
    pub requeue: bool,
    /// The history entry's note (reconciliation names the iiko order it matched).
    pub note: std::borrow::Cow<'static, str>,
}

/// New iiko ids for an order iiko closed as failed (or one mapped anew), with the request
/// that carries them.
pub struct RenewedIds<'a> {
    pub order_id: &'a str,
    pub ids_json: &'a str,
    pub request: &'a str,
    pub note: &'a str,
}

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
        let inserted = on_backend!(self, b => b.insert_order(new, webhook).await)?;
        if let Inserted::New(order) = &inserted
            && order.state == OrderState::Queued
        {
            self.orders_due.notify_one();
        }
        Ok(inserted)
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
        on_backend!(self, b => b.renew_iiko_ids(id, old_order_id, renewed, now_ms).await)
    }

    pub async fn order(&self, id: i64) -> Result<Option<StoredOrder>, StoreError> {
        on_backend!(self, b => b.order(id).await)
    }

    /// Orders with this site id, in every branch or in one.
    pub async fn orders_by_site_id(
        &self,
        site_id: &str,
        branch: Option<&str>,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.orders_by_site_id(site_id, branch).await)
    }

    /// The order stored under (branch, site id): the idempotency key, looked up by its index.
    pub async fn order_by_site_key(
        &self,
        branch: &str,
        site_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        on_backend!(self, b => b.order_by_site_key(branch, site_id).await)
    }

    /// Orders newest first, optionally of one state and/or branch.
    pub async fn list_orders(
        &self,
        state: Option<OrderState>,
        branch: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.list_orders(state, branch, limit).await)
    }

    /// Every order in `state`, oldest first: the fallback worker polls `fallback` here.
    pub async fn orders_in_state(&self, state: OrderState) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.orders_in_state(state).await)
    }

    /// Orders in `fallback` not yet handed to the operators' channels, oldest first, from the
    /// row after `after_id` (the caller walks the queue in rounds, so no order blocks it).
    pub async fn orders_awaiting_fallback(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.orders_awaiting_fallback(after_id, limit).await)
    }

    pub async fn order_history(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        on_backend!(self, b => b.order_history(id).await)
    }

    /// Writes an operator's change of order `id`, decided by `decide` from the order as it is
    /// inside the change's transaction, which no other writer changes meanwhile (`None`: there
    /// is no such order), with its history entry; and `renewed` iiko ids and request too, when
    /// given. The history names `actor`, and the order's fallback messages with buttons still
    /// open get the outcome and wait for the bot to edit them (`bot_messages_to_edit`).
    /// Returns the order as changed.
    pub async fn change_by_operator<E: From<StoreError>>(
        &self,
        id: i64,
        now_ms: i64,
        actor: &super::Actor,
        decide: impl FnOnce(Option<&StoredOrder>) -> Result<OperatorChange, E>,
        renewed: Option<&RenewedIds<'_>>,
    ) -> Result<StoredOrder, E> {
        on_backend!(self, b => b.change_by_operator(id, now_ms, actor, decide, renewed).await)
    }
}
