//! The retention worker: deletes what the bridge no longer needs after `store.retention_days`
//! (finished orders with their iiko calls, history and fallback messages; dead site events;
//! old iiko webhook calls), and stops following orders iiko has not closed
//! `status.give_up_days` after they were accepted (after the wanted time, for pre-orders).
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    config::Config,
    store::{Store, StoreError},
    worker::{Step, Worker},
};

/// Whether an order accepted more than `give_up` ago (the store's filter) is given up at `now`:
/// a pre-order (`deliver_at`, RFC 3339 as the site sent it) only `give_up` after its wanted time,
/// since the kitchen starts it only then.
fn give_up_due(deliver_at: Option<&str>, now: DateTime<Utc>, give_up: chrono::Duration) -> bool {
    match deliver_at.map(DateTime::parse_from_rfc3339) {
        Some(Ok(wanted)) => wanted.with_timezone(&Utc) + give_up < now,
        _ => true,
    }
}

/// How often the loop steps.
const EVERY: Duration = Duration::from_secs(60 * 60);
/// After a failed step: soon, not in an hour.
const AFTER_FAILURE: Duration = Duration::from_secs(60);

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionStep {
    pub orders: u64,
    pub fallbacks: u64,
    pub dead_events: u64,
    pub webhook_calls: u64,
    /// Orders no longer followed (`status.give_up_days`).
    pub stopped_tracking: u64,
}

#[derive(Clone)]
pub struct RetentionWorker {
    store: Store,
    retention: chrono::Duration,
    give_up: chrono::Duration,
    give_up_days: f64,
}

impl RetentionWorker {
    pub fn new(store: Store, config: &Config) -> RetentionWorker {
        let days = |days: f64| {
            chrono::Duration::from_std(Duration::from_secs_f64(days * 86_400.0))
                .unwrap_or(chrono::Duration::MAX)
        };
        RetentionWorker {
            store,
            retention: days(config.store.retention_days),
            give_up: days(config.status.give_up_days),
            give_up_days: config.status.give_up_days,
        }
    }

    /// One pass as of `now`. Does not sleep, so tests drive it with any `now`.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<RetentionStep, StoreError> {
        let note = format!(
            "iiko did not close the order within status.give_up_days ({}); its status is no longer followed",
            self.give_up_days
        );
        let candidates = self
            .store
            .followed_orders_accepted_before(before(now, self.give_up))
            .await?;
        let given_up: Vec<i64> = candidates
            .into_iter()
            .filter(|(_, wanted)| give_up_due(wanted.as_deref(), now, self.give_up))
            .map(|(id, _)| id)
            .collect();
        let stopped_tracking = self.store.stop_tracking(&given_up, &note, now).await?;
        let cutoff = before(now, self.retention);
        let mut orders = 0;
        loop {
            let pruned = self.store.prune_finished_orders(cutoff).await?;
            orders += pruned;
            if pruned == 0 {
                break;
            }
        }
        Ok(RetentionStep {
            orders,
            fallbacks: self.store.prune_orphan_fallbacks(cutoff).await?,
            dead_events: self
                .store
                .prune_dead_site_events(cutoff.timestamp_millis())
                .await?,
            webhook_calls: self.store.prune_webhook_calls(cutoff).await?,
            stopped_tracking,
        })
    }
}

/// Steps at once and then every hour; a failed step is tried again a minute later.
impl Worker for RetentionWorker {
    const NAME: &'static str = "retention";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let step = self.try_step(Utc::now()).await?;
        if step != RetentionStep::default() {
            tracing::info!(?step, "old records deleted (store.retention_days)");
        }
        Ok(Step::Wait(EVERY))
    }

    fn after_failure(&self, _failures: u32) -> Duration {
        AFTER_FAILURE
    }
}

fn before(now: DateTime<Utc>, age: chrono::Duration) -> DateTime<Utc> {
    now.checked_sub_signed(age)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_for_as_soon_as_possible_is_given_up_once_accepted_long_enough_ago() {
        assert!(give_up_due(None, Utc::now(), chrono::Duration::days(3)));
    }

    #[test]
    fn a_pre_order_is_given_up_only_the_give_up_period_after_its_wanted_time() {
        let now: DateTime<Utc> = "2026-12-20T12:00:00Z".parse().unwrap();
        let three_days = chrono::Duration::days(3);
        assert!(!give_up_due(
            Some("2026-12-18T19:00:00+03:00"),
            now,
            three_days
        ));
        assert!(give_up_due(
            Some("2026-12-17T11:00:00+03:00"),
            now,
            three_days
        ));
    }

    #[test]
    fn a_wanted_time_that_does_not_parse_does_not_keep_an_order_followed_forever() {
        assert!(give_up_due(
            Some("tomorrow"),
            Utc::now(),
            chrono::Duration::days(3)
        ));
    }
}
