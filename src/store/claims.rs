//! Claims on the queues several instances share (site events, fallback deliveries, operator
//! alerts), modelled on the orders' leases: a claimer (a worker's instance id) takes an item
//! under a lease id of its own until an expiry; only that lease records the outcome; a claim
//! whose time is up (its process died) lets the item be taken again. The decisions are the
//! pure functions below; the SQL of each queue makes the claim atomic (on SQLite one `BEGIN
//! IMMEDIATE` transaction or one conditional statement; `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL).
use std::collections::HashMap;

use super::{Backend, Store, StoreError};

/// A fresh lease id for one claim by `claimer`: its own id, so a claimer's stale claim of an
/// item never passes for its newer one.
pub fn new_lease_id(claimer: &str) -> String {
    format!("{claimer}/{}", uuid::Uuid::new_v4().simple())
}

/// Whether a claim expiring at `expires_at_ms` still keeps others off at `now_ms`. From the
/// expiry on it counts as lost (its holder died or hangs): the item may be claimed again.
pub fn claim_holds(expires_at_ms: Option<i64>, now_ms: i64) -> bool {
    expires_at_ms.is_some_and(|expires| expires > now_ms)
}

/// A pending site event as the claim decision sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingEvent {
    pub id: i64,
    pub branch: String,
    /// `None`: a branch-wide event, queued per branch.
    pub order_id: Option<String>,
    #[sqlx(rename = "next_attempt_at")]
    pub next_attempt_at_ms: i64,
    pub lease_expires_at_ms: Option<i64>,
}

/// The events of `pending` that may be claimed at `now_ms`, at most `limit`, the longest due
/// first. Events queue per order (per branch without one): only a queue's earliest pending
/// event may go, once due, and nothing of a queue goes while any of its events is held, so
/// two events of one order are never in flight (a redelivered older event waits for the one
/// in flight, too). `pending` must hold, for each queue it names, its earliest pending event
/// and every held one.
pub fn claimable_events(pending: &[PendingEvent], now_ms: i64, limit: usize) -> Vec<i64> {
    // Per queue (branch, order id): its earliest event and whether any of its events is held.
    type Queue<'a> = (Option<&'a PendingEvent>, bool);
    let mut queues: HashMap<(&str, Option<&str>), Queue> = HashMap::new();
    for event in pending {
        let (head, held) = queues
            .entry((&event.branch, event.order_id.as_deref()))
            .or_default();
        if head.is_none_or(|head| event.id < head.id) {
            *head = Some(event);
        }
        *held |= claim_holds(event.lease_expires_at_ms, now_ms);
    }
    let mut due: Vec<&PendingEvent> = queues
        .into_values()
        .filter(|(_, held)| !held)
        .filter_map(|(head, _)| head)
        .filter(|head| head.next_attempt_at_ms <= now_ms)
        .collect();
    due.sort_by_key(|event| (event.next_attempt_at_ms, event.id));
    due.into_iter().take(limit).map(|event| event.id).collect()
}

/// One kind of operator alert claimed for sending (see [`Store::claim_alerts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertClaim {
    pub kind: String,
    pub lease_id: String,
}

impl Store {
    /// Claims the sending of one kind of operator alert until `expires_at_ms`: `None` while
    /// another claimer's claim holds (its own earlier claim, left by a failed step, the
    /// claimer takes back). One conditional statement, so of two instances racing one wins.
    /// The holder reads what is still unalerted only after this, marks what it sent and then
    /// releases: whoever claims next reads the marks.
    pub async fn claim_alerts(
        &self,
        kind: &str,
        claimer: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Option<AlertClaim>, StoreError> {
        on_backend!(self, b => b.claim_alerts(kind, claimer, now_ms, expires_at_ms).await)
    }

    /// Records that operators are told `key`'s `watch` is now `down` (or back), unless some
    /// process recorded it already: true when this call changed it, so its caller alone
    /// sends the message.
    pub async fn flip_alert_state(
        &self,
        key: &str,
        watch: &str,
        down: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.flip_alert_state(key, watch, down, now_ms).await)
    }

    /// Releases every claim on the shared queues and every singleton duty's lease, for a store
    /// this process alone serves
    /// (SQLite under [`Store::lock_for_serving`]): a claim found there was left by a process
    /// that died, so its items go again now rather than when its lease runs out (a fallback
    /// message headed as a possible repeat, an event under its own `webhook-id`). Returns how
    /// many were released.
    pub async fn release_dead_claims(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.release_dead_claims().await,
            // Processes share a PostgreSQL store: a claim there may be a live instance's, and
            // a dead one's run out (`serve` never asks, see `ServeLock::alone`).
            Backend::Postgres(_) => Ok(0),
        }
    }

    /// Gives a claim of [`Store::claim_alerts`] back (a lapsed one another claimer took over
    /// stays theirs).
    pub async fn release_alerts(&self, claim: &AlertClaim) -> Result<(), StoreError> {
        on_backend!(self, b => b.release_alerts(claim).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, order: Option<&str>, due: i64, held_until: Option<i64>) -> PendingEvent {
        PendingEvent {
            id,
            branch: "lenina".into(),
            order_id: order.map(str::to_owned),
            next_attempt_at_ms: due,
            lease_expires_at_ms: held_until,
        }
    }

    #[test]
    fn a_claim_holds_until_its_expiry_and_is_lost_from_then_on() {
        assert!(claim_holds(Some(1_000), 999));
        assert!(!claim_holds(Some(1_000), 1_000));
        assert!(!claim_holds(None, 0), "never claimed");
    }

    #[test]
    fn only_the_earliest_due_event_of_a_queue_nobody_holds_may_be_claimed() {
        let pending = [
            event(1, Some("A"), 10, None),
            event(2, Some("A"), 10, None),
            event(3, Some("B"), 50, None),
            event(4, Some("C"), 5, Some(200)),
            event(5, Some("C"), 5, None),
            event(6, None, 20, None),
            event(7, Some("D"), 5, Some(90)),
        ];
        assert_eq!(
            claimable_events(&pending, 100, 10),
            [7, 1, 6, 3],
            "C is held; D's claim ran out; longest due first"
        );
        assert_eq!(claimable_events(&pending, 30, 10), [1, 6], "B not due yet");
        assert_eq!(claimable_events(&pending, 100, 2), [7, 1]);
    }

    #[test]
    fn an_older_event_queued_again_waits_for_a_later_one_in_flight() {
        let pending = [
            event(1, Some("A"), 10, None),
            event(2, Some("A"), 10, Some(200)),
        ];
        assert!(claimable_events(&pending, 100, 10).is_empty());
        assert_eq!(claimable_events(&pending, 200, 10), [1]);
    }
}
