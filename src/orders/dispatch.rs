//! The dispatcher: takes stored orders to iiko `deliveries/create`, follows the asynchronous
//! creation to its end, retries transient failures and hands the rest to the operators
//! (state `fallback`, picked up by the fallback worker through `Store::orders_awaiting_fallback`).
//! An order iiko may hold is never handed over on a guess: after an unclear last attempt it
//! is only read back until iiko says it does not have it, or `delivery.unclear_grace_seconds`
//! runs out (then staff are told to check iikoFront first). Each attempt has its own lease id,
//! short (`store.lease_seconds`) and renewed while the attempt runs, so another instance takes
//! the order over soon after this one dies; no order has two attempts in flight here.
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::{sync::Notify, task::JoinSet};
use uuid::Uuid;

use super::follow::{Attempt, Courier};
use super::lifecycle::{AttemptEnd, attempt_change};
use crate::config::{Config, DeliveryConfig};
use crate::iiko::IikoClient;
use crate::notify::{OperatorAlerter, OperatorChats};
use crate::retry::Backoff;
use crate::store::{Store, StoreError, StoredOrder};
use crate::worker::{Step, Worker};

/// How often the loop looks for due orders.
const TICK: Duration = Duration::from_millis(500);
/// The iiko client waits this much longer than the `Timeout` header (see `iiko::client`).
const HTTP_MARGIN: Duration = Duration::from_secs(5);
/// iiko calls one attempt may make outside the creation follow-up: read back, create, read back.
const CALLS_PER_ATTEMPT: u32 = 4;
/// The longest pause between two read-backs of an unclear order (unless the retry interval
/// is longer).
const MAX_UNCLEAR_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// This many orders were attempted.
    Dispatched(usize),
    Idle,
}

pub struct Dispatcher {
    store: Store,
    courier: Courier,
    config: Arc<Config>,
    /// This worker's part of every lease id; each attempt's lease has its own id besides.
    owner: String,
    /// An attempt's lease, renewed every third of it while the attempt runs.
    lease: Duration,
    /// The hard limit of one attempt.
    attempt_limit: Duration,
    /// Tells the operators when iiko keeps failing for a branch, and when it works again.
    alerter: OperatorAlerter,
    /// Orders with an attempt running here: never leased again before it ends.
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// One lease at a time, so two steps cannot both take an order before either marks it.
    leasing: tokio::sync::Mutex<()>,
    /// The attempts the loop's steps started, each on its own task.
    attempts: tokio::sync::Mutex<JoinSet<()>>,
    /// Told when an order to send is stored here, or an attempt ends (its slot is free for
    /// the next order).
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(store: Store, iiko: IikoClient, config: Arc<Config>) -> Self {
        let creation_wait = Duration::from_secs_f64(config.delivery.creation_wait_seconds);
        let call = Duration::from_secs(config.iiko.timeout_seconds) + HTTP_MARGIN;
        // An attempt is cut off at its limit whatever it waits for (iiko's 429s, a token
        // refresh); its lease is renewed meanwhile, so a live worker keeps its order and a
        // dead worker's orders are due again once the short lease runs out.
        let attempt_limit = config
            .delivery
            .attempt_timeout_seconds
            .map(Duration::from_secs_f64)
            .unwrap_or(call * CALLS_PER_ATTEMPT + creation_wait);
        let wake = store.orders_due();
        Self {
            courier: Courier::new(store.clone(), iiko, creation_wait),
            alerter: OperatorAlerter::shared(
                OperatorChats::from_config(&config.telegram),
                store.clone(),
            ),
            store,
            owner: Uuid::new_v4().simple().to_string(),
            lease: Duration::from_secs_f64(config.store.lease_seconds),
            attempt_limit,
            config,
            in_flight: Arc::default(),
            leasing: tokio::sync::Mutex::new(()),
            attempts: tokio::sync::Mutex::default(),
            wake,
        }
    }

    /// Attempts every order due at `now` (up to `delivery.concurrency`) and waits for them to finish.
    /// Tests drive the dispatcher through this without sleeping.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<StepOutcome, StoreError> {
        let orders = self.take(now, self.concurrency()).await?;
        if orders.is_empty() {
            return Ok(StepOutcome::Idle);
        }
        let count = orders.len();
        let results = futures::future::join_all(
            orders
                .into_iter()
                .map(|(order, guard)| self.dispatch(order, guard)),
        )
        .await;
        for result in results {
            log_unrecorded(result);
        }
        Ok(StepOutcome::Dispatched(count))
    }

    /// Orders in flight at once (and taken per step): bounds the concurrent calls to iiko.
    fn concurrency(&self) -> usize {
        self.config.delivery.concurrency as usize
    }

    /// Leases up to `limit` due orders that have no attempt running here, each with its own
    /// lease id, and marks them in flight until their guard drops.
    async fn take(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(StoredOrder, InFlight)>, StoreError> {
        let _one_at_a_time = self.leasing.lock().await;
        let lease_until = now + chrono::Duration::from_std(self.lease).expect("a short lease");
        let running: Vec<i64> = lock(&self.in_flight).iter().copied().collect();
        let orders = self
            .store
            .lease_due_orders(
                &self.owner,
                now.timestamp_millis(),
                lease_until.timestamp_millis(),
                limit as i64,
                &running,
            )
            .await?;
        let mut set = lock(&self.in_flight);
        Ok(orders
            .into_iter()
            .map(|order| {
                set.insert(order.id);
                let guard = InFlight {
                    set: self.in_flight.clone(),
                    id: order.id,
                };
                (order, guard)
            })
            .collect())
    }

    /// One attempt of one leased order, cut off at the attempt limit, then its outcome
    /// written under the attempt's own lease id; alerts go out after that, outside the lease.
    /// Every log line of the attempt (iiko calls included) carries the order and its branch.
    #[tracing::instrument(name = "dispatch", skip_all, fields(branch = %order.branch, order = %order.site_id))]
    async fn dispatch(&self, order: StoredOrder, _in_flight: InFlight) -> Result<(), StoreError> {
        let started = Instant::now();
        let attempt = self.renewing_lease(&order, self.attempt(&order));
        let attempt = match tokio::time::timeout(self.attempt_limit, attempt).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Transient {
                reason: format!(
                    "попытка не уложилась в {} с",
                    self.attempt_limit.as_secs_f64()
                ),
                unclear: true,
            },
        };
        let now = Utc::now();
        let failure = match &attempt {
            Attempt::Transient { reason, .. } => Some(reason.clone()),
            Attempt::Created { .. } | Attempt::Rejected { .. } => None,
        };
        let (end, creation_status) = attempt_end(
            order.attempts,
            order.unclear_until,
            attempt,
            &self.config.delivery,
            now,
        );
        let lease = order.lease_owner.as_deref().unwrap_or_default();
        let change = attempt_change(&end, creation_status, now.timestamp_millis());
        let written = self
            .store
            .finish_attempt(order.id, lease, change, now.timestamp_millis())
            .await?;
        if written {
            metrics::counter!("iiko_bridge_dispatch_outcomes_total", "branch" => order.branch.clone(), "outcome" => end.outcome()).increment(1);
            tracing::info!(branch = %order.branch, order = %order.site_id, attempt = order.attempts + 1,
                outcome = ?end, elapsed_ms = started.elapsed().as_millis() as u64, "order dispatched");
        } else {
            // Usual when iiko's webhook reports the creation first; only a lease that ran out
            // (another worker took the order over) is worth a look, and that is logged there.
            tracing::info!(branch = %order.branch, order = %order.site_id,
                "the order was finished elsewhere (an iiko webhook or poll, or another worker)");
        }
        if let Some(branch) = self.config.branch(&order.branch) {
            // Anything but a transient failure means iiko answered.
            self.alerter
                .record_iiko_result(branch, failure.is_none(), failure.as_deref())
                .await;
        }
        Ok(())
    }

    /// Runs `attempt` while renewing the order's lease every third of it (two renewals may
    /// fail before it runs out). A lease found taken over is not fought for: the attempt ends
    /// as it would (same iiko ids, so iiko keeps one order) and its outcome is refused.
    async fn renewing_lease<T>(&self, order: &StoredOrder, attempt: impl Future<Output = T>) -> T {
        let lease = order.lease_owner.as_deref().unwrap_or_default();
        let renew = async {
            let mut every = tokio::time::interval(self.lease / 3);
            every.tick().await;
            loop {
                every.tick().await;
                let until =
                    Utc::now() + chrono::Duration::from_std(self.lease).expect("a short lease");
                match self
                    .store
                    .renew_order_lease(order.id, lease, until.timestamp_millis())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(order = %order.site_id, "the order's lease was taken over during its attempt");
                        return std::future::pending().await;
                    }
                    Err(error) => {
                        tracing::warn!(order = %order.site_id, %error, "renewing the order's lease failed")
                    }
                }
            }
        };
        tokio::select! {
            outcome = attempt => outcome,
            never = renew => never,
        }
    }

    /// What iiko says of the order this time: a send (reading back first when an earlier one
    /// may have got through), or only a read-back while the outcome is unclear.
    async fn attempt(&self, order: &StoredOrder) -> Attempt {
        let Some(request) = &order.request else {
            return Attempt::Rejected {
                reason: "заказ не сопоставлен с меню iiko".into(),
                code: None,
            };
        };
        if order.unclear_until.is_some() {
            return self.courier.confirm(order, request).await;
        }
        let attempt = self.courier.attempt(order, request).await;
        let last = order.attempts + 1 >= i64::from(self.config.delivery.max_attempts);
        let Attempt::Transient {
            reason,
            unclear: true,
        } = &attempt
        else {
            return attempt;
        };
        if !last {
            return attempt;
        }
        // The last allowed attempt: the operators get the order only once iiko says it does
        // not have it. The attempt may have renewed the iiko ids: read the current ones.
        let current = match self.store.order(order.id).await {
            Ok(Some(current)) => current,
            _ => return attempt,
        };
        let Some(request) = &current.request else {
            return attempt;
        };
        match self.courier.confirm(&current, request).await {
            confirmed @ (Attempt::Created { .. } | Attempt::Rejected { .. }) => confirmed,
            Attempt::Transient {
                reason: absent,
                unclear: false,
            } => Attempt::Transient {
                reason: format!("{reason}; {absent}"),
                unclear: false,
            },
            Attempt::Transient { unclear: true, .. } => attempt,
        }
    }
}

/// Each order runs on its own task, so one slow branch (a creation followed for a minute)
/// never holds up the others' orders; at most `delivery.concurrency` are in flight at once.
impl Worker for Dispatcher {
    const NAME: &'static str = "dispatcher";
    type Error = StoreError;

    /// Leases due orders for the free slots and starts their attempts without waiting for them.
    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let mut attempts = self.attempts.lock().await;
        while attempts.try_join_next().is_some() {}
        let free = self
            .concurrency()
            .saturating_sub(lock(&self.in_flight).len());
        if free > 0 {
            for (order, guard) in self.take(Utc::now(), free).await? {
                let this = self.clone();
                attempts.spawn(async move {
                    log_unrecorded(this.dispatch(order, guard).await);
                    this.wake.notify_one();
                });
            }
        }
        Ok(Step::Wait(TICK))
    }

    fn after_failure(&self, _failures: u32) -> Duration {
        TICK
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }

    /// Stopping mid-attempt would leave orders leased until the lease runs out.
    async fn drain(self: Arc<Self>) {
        let mut attempts = self.attempts.lock().await;
        while attempts.join_next().await.is_some() {}
    }
}

/// How an attempt ends the order's turn, and the `creationStatus` iiko gave. An attempt that
/// leaves iiko possibly holding the order never hands it over while attempts remain or the
/// unclear time (`delivery.unclear_grace_seconds`, from the first unclear end) lasts; when
/// that runs out the operators are warned that iiko may have it.
fn attempt_end(
    attempts_before: i64,
    unclear_until: Option<i64>,
    attempt: Attempt,
    delivery: &DeliveryConfig,
    now: DateTime<Utc>,
) -> (AttemptEnd, Option<&'static str>) {
    let attempts = attempts_before + 1;
    let max_attempts = i64::from(delivery.max_attempts);
    let (reason, unclear) = match attempt {
        Attempt::Created { number, status } => {
            return (AttemptEnd::Created { number, status }, Some("Success"));
        }
        Attempt::Rejected { reason, code } => {
            let end = AttemptEnd::Fallback {
                reason: format!("iiko отклонил заказ: {reason}"),
                error_code: code,
            };
            return (end, Some("Error"));
        }
        Attempt::Transient { reason, unclear } => (reason, unclear),
    };
    let at = |pause: Duration| {
        chrono::Duration::from_std(pause)
            .ok()
            .and_then(|pause| now.checked_add_signed(pause))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp_millis()
    };
    let retry_interval = Duration::from_secs_f64(delivery.retry_interval_seconds);
    if unclear_until.is_none() && attempts < max_attempts {
        let end = AttemptEnd::Retrying {
            reason,
            next_attempt_at_ms: at(retry_interval),
        };
        return (end, None);
    }
    if !unclear {
        let end = AttemptEnd::Fallback {
            reason: format!(
                "iiko не принял заказ после {} попыток: {reason}",
                attempts.min(max_attempts)
            ),
            error_code: None,
        };
        return (end, None);
    }
    let until = unclear_until
        .unwrap_or_else(|| at(Duration::from_secs_f64(delivery.unclear_grace_seconds)));
    if now.timestamp_millis() >= until {
        let end = AttemptEnd::GaveUp {
            reason: format!(
                "iiko так и не ответил, принят ли заказ ({reason}). ВНИМАНИЕ: iiko, возможно, \
                 уже принял этот заказ — сначала проверьте iikoFront и вводите заказ вручную, \
                 только если его там нет."
            ),
        };
        return (end, None);
    }
    let reads = u32::try_from(attempts - max_attempts).unwrap_or(0);
    let end = AttemptEnd::Unclear {
        reason,
        next_attempt_at_ms: at(unclear_pause(retry_interval, reads)).min(until),
        until_ms: until,
    };
    (end, None)
}

/// The pause before the next read-back of an unclear order: the retry interval, doubling with
/// each read, up to a minute (or the retry interval when that is longer).
fn unclear_pause(retry_interval: Duration, reads: u32) -> Duration {
    let cap = MAX_UNCLEAR_PAUSE.max(retry_interval);
    Backoff::doubling(retry_interval, cap).wait(reads.saturating_add(1))
}

/// Marks an order in flight in this process until dropped (also when its task panics).
struct InFlight {
    set: Arc<Mutex<HashSet<i64>>>,
    id: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

fn lock(set: &Mutex<HashSet<i64>>) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One order's store failure must not hide the others' outcomes; its lease runs out and it is
/// attempted again (reading iiko back first).
fn log_unrecorded(result: Result<(), StoreError>) {
    if let Err(error) = result {
        tracing::error!(%error, "could not record a dispatch outcome");
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.owner)
            .field("lease", &self.lease)
            .field("attempt_limit", &self.attempt_limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> DeliveryConfig {
        DeliveryConfig {
            retry_interval_seconds: 10.0,
            max_attempts: 3,
            unclear_grace_seconds: 300.0,
            ..DeliveryConfig::default()
        }
    }

    fn unclear() -> Attempt {
        Attempt::Transient {
            reason: "408".into(),
            unclear: true,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + seconds, 0).unwrap()
    }

    fn ms(seconds: i64) -> i64 {
        at(seconds).timestamp_millis()
    }

    #[test]
    fn an_unclear_last_attempt_is_read_back_until_the_grace_runs_out_then_handed_over_with_a_warning()
     {
        let (end, _) = attempt_end(1, None, unclear(), &delivery(), at(0));
        assert!(
            matches!(end, AttemptEnd::Retrying { .. }),
            "attempts remain"
        );
        let (end, _) = attempt_end(2, None, unclear(), &delivery(), at(0));
        assert_eq!(
            end,
            AttemptEnd::Unclear {
                reason: "408".into(),
                next_attempt_at_ms: ms(10),
                until_ms: ms(300),
            }
        );
        // The grace is kept from the first unclear end; reads come farther apart, never past it.
        let (end, _) = attempt_end(4, Some(ms(300)), unclear(), &delivery(), at(290));
        assert_eq!(
            end,
            AttemptEnd::Unclear {
                reason: "408".into(),
                next_attempt_at_ms: ms(300),
                until_ms: ms(300),
            }
        );
        let (end, _) = attempt_end(5, Some(ms(300)), unclear(), &delivery(), at(300));
        let AttemptEnd::GaveUp { reason } = end else {
            panic!("{end:?}");
        };
        assert!(reason.contains("сначала проверьте iikoFront"), "{reason}");
    }

    #[test]
    fn iiko_saying_it_has_no_such_order_hands_it_over_at_once_without_a_warning() {
        let absent = Attempt::Transient {
            reason: "iiko подтвердил, что заказа у него нет".into(),
            unclear: false,
        };
        for (before, until) in [(2, None), (5, Some(ms(300)))] {
            let (end, _) = attempt_end(before, until, absent.clone(), &delivery(), at(10));
            let AttemptEnd::Fallback { reason, .. } = end else {
                panic!("{end:?}");
            };
            assert!(
                reason.starts_with("iiko не принял заказ после 3 попыток"),
                "{reason}"
            );
            assert!(!reason.contains("iikoFront"), "{reason}");
        }
        let created = Attempt::Created {
            number: Some(7),
            status: None,
        };
        let (end, status) = attempt_end(5, Some(ms(300)), created, &delivery(), at(10));
        assert!(matches!(end, AttemptEnd::Created { .. }) && status == Some("Success"));
    }

    #[test]
    fn no_grace_hands_an_unclear_order_over_at_once_with_the_warning() {
        let config = DeliveryConfig {
            unclear_grace_seconds: 0.0,
            ..delivery()
        };
        let (end, _) = attempt_end(2, None, unclear(), &config, at(0));
        assert!(matches!(end, AttemptEnd::GaveUp { .. }), "{end:?}");
    }

    #[test]
    fn read_backs_of_an_unclear_order_come_farther_apart_up_to_a_minute() {
        let pauses: Vec<u64> = (0..5)
            .map(|reads| unclear_pause(Duration::from_secs(10), reads).as_secs())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 60, 60]);
        assert_eq!(
            unclear_pause(Duration::from_secs(90), 3),
            Duration::from_secs(90)
        );
    }
}
