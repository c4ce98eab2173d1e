//! The dispatcher: takes stored orders to iiko `deliveries/create`, follows the asynchronous
//! creation to its end, retries transient failures and hands the rest to the operators
//! (state `fallback`, picked up by the fallback worker through `Store::orders_awaiting_fallback`).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};
use uuid::Uuid;

use super::follow::{Attempt, Courier};
use crate::config::Config;
use crate::iiko::IikoClient;
use crate::notify::{OperatorAlerter, OperatorChats};
use crate::store::{AttemptEnd, Store, StoreError, StoredOrder};

/// How often `run` looks for due orders.
const TICK: Duration = Duration::from_millis(500);
/// The iiko client waits this much longer than the `Timeout` header (see `iiko::client`).
const HTTP_MARGIN: Duration = Duration::from_secs(5);
/// iiko calls one attempt may make outside the creation follow-up: read back, create, read back.
const CALLS_PER_ATTEMPT: u32 = 4;

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
    /// Identifies this worker's leases, so it never finishes an order another worker took over.
    owner: String,
    lease: Duration,
    /// Tells the operators when iiko keeps failing for a branch, and when it works again.
    alerter: OperatorAlerter,
}

impl Dispatcher {
    pub fn new(store: Store, iiko: IikoClient, config: Arc<Config>) -> Self {
        let creation_wait = Duration::from_secs_f64(config.delivery.creation_wait_seconds);
        let call = Duration::from_secs(config.iiko.timeout_seconds) + HTTP_MARGIN;
        // The lease outlives the longest attempt (every call timing out plus the whole creation
        // follow-up), so a live worker never loses its order to another one; when a worker dies,
        // its orders are due again once the lease runs out. Should a lease still run out (iiko's
        // 429 waits), the other worker reads back first and both send the same iiko order id,
        // which iiko refuses to create twice.
        let lease = call * CALLS_PER_ATTEMPT + creation_wait + HTTP_MARGIN;
        Self {
            courier: Courier::new(store.clone(), iiko, creation_wait),
            store,
            owner: Uuid::new_v4().to_string(),
            lease,
            alerter: OperatorAlerter::new(OperatorChats::from_config(&config.telegram)),
            config,
        }
    }

    /// Attempts every order due at `now` (up to `delivery.concurrency`) and waits for them to finish.
    /// Tests drive the dispatcher through this without sleeping.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<StepOutcome, StoreError> {
        let orders = self.lease(now, self.concurrency() as i64).await?;
        if orders.is_empty() {
            return Ok(StepOutcome::Idle);
        }
        let count = orders.len();
        let results =
            futures::future::join_all(orders.into_iter().map(|order| self.dispatch(order))).await;
        for result in results {
            log_unrecorded(result);
        }
        Ok(StepOutcome::Dispatched(count))
    }

    /// Dispatches until `shutdown` turns true, then lets the attempts in flight finish.
    /// Each order runs on its own, so one slow branch (a creation followed for a minute) never
    /// holds up the others' orders; at most `delivery.concurrency` are in flight at once.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let this = self;
        let slots = Arc::new(Semaphore::new(this.concurrency()));
        let mut in_flight = JoinSet::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // A finished order frees a slot: look for the next one at once.
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits();
            if free == 0 {
                continue;
            }
            let orders = match this.lease(Utc::now(), free as i64).await {
                Ok(orders) => orders,
                Err(error) => {
                    tracing::error!(%error, "dispatcher cannot read the store");
                    continue;
                }
            };
            for order in orders {
                let slot = slots
                    .clone()
                    .try_acquire_owned()
                    .expect("leased only free slots");
                let this = this.clone();
                in_flight.spawn(async move {
                    log_unrecorded(this.dispatch(order).await);
                    drop(slot);
                });
            }
        }
        // Stopping mid-attempt would leave orders leased until the lease runs out.
        while in_flight.join_next().await.is_some() {}
    }

    /// Orders in flight at once (and taken per step): bounds the concurrent calls to iiko.
    fn concurrency(&self) -> usize {
        self.config.delivery.concurrency as usize
    }

    async fn lease(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<StoredOrder>, StoreError> {
        let lease_until = now + chrono::Duration::from_std(self.lease).expect("a short lease");
        self.store
            .lease_due_orders(
                &self.owner,
                now.timestamp_millis(),
                lease_until.timestamp_millis(),
                limit,
            )
            .await
    }

    // Every log line of the attempt (iiko calls included) carries the order and its branch.
    #[tracing::instrument(name = "dispatch", skip_all, fields(branch = %order.branch, order = %order.site_id))]
    async fn dispatch(&self, order: StoredOrder) -> Result<(), StoreError> {
        let started = Instant::now();
        let attempt = match &order.request {
            Some(request) => self.courier.attempt(&order, request).await,
            None => Attempt::Rejected {
                reason: "заказ не сопоставлен с меню iiko".into(),
                code: None,
            },
        };
        if let Some(branch) = self.config.branches.iter().find(|b| b.key == order.branch) {
            // Anything but a transient failure means iiko answered.
            let failure = match &attempt {
                Attempt::Transient { reason } => Some(reason.as_str()),
                Attempt::Created { .. } | Attempt::Rejected { .. } => None,
            };
            self.alerter
                .record_iiko_result(branch, failure.is_none(), failure)
                .await;
        }
        let now = Utc::now();
        let attempts = order.attempts + 1;
        let max_attempts = i64::from(self.config.delivery.max_attempts);
        let (end, creation_status) = match attempt {
            Attempt::Created { number, status } => (
                AttemptEnd::Created { number, status },
                Some("Success".to_owned()),
            ),
            Attempt::Rejected { reason, code } => (
                AttemptEnd::Fallback {
                    reason: format!("iiko отклонил заказ: {reason}"),
                    error_code: code,
                },
                Some("Error".to_owned()),
            ),
            Attempt::Transient { reason } if attempts >= max_attempts => (
                AttemptEnd::Fallback {
                    reason: format!("iiko не принял заказ после {attempts} попыток: {reason}"),
                    error_code: None,
                },
                None,
            ),
            Attempt::Transient { reason } => {
                let interval = Duration::from_secs_f64(self.config.delivery.retry_interval_seconds);
                let next = now + chrono::Duration::from_std(interval).expect("a short interval");
                (
                    AttemptEnd::Retrying {
                        reason,
                        next_attempt_at_ms: next.timestamp_millis(),
                    },
                    None,
                )
            }
        };
        let written = self
            .store
            .finish_attempt(
                order.id,
                &self.owner,
                &end,
                creation_status.as_deref(),
                now.timestamp_millis(),
            )
            .await?;
        if written {
            metrics::counter!("iiko_bridge_dispatch_outcomes_total", "branch" => order.branch.clone(), "outcome" => end.outcome()).increment(1);
            tracing::info!(branch = %order.branch, order = %order.site_id, attempt = attempts,
                outcome = ?end, elapsed_ms = started.elapsed().as_millis() as u64, "order dispatched");
        } else {
            // Usual when iiko's webhook reports the creation first; only a lease that ran out
            // (another worker took the order over) is worth a look, and that is logged there.
            tracing::info!(branch = %order.branch, order = %order.site_id,
                "the order was finished elsewhere (an iiko webhook or poll, or another worker)");
        }
        Ok(())
    }
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
            .finish_non_exhaustive()
    }
}
