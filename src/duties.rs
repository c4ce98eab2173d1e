//! Singleton duties: work that must run in one `serve` at a time among all those sharing the
//! store (the status poller, the menu schedule, retention, the terminal watch). Each duty has a
//! lease row (`store::DutyLease`): an instance takes it when it is free or its lease ran out,
//! renews it every third of `store.lease_seconds`, and gives it up on shutdown; a renewal that
//! finds the lease gone (or fails) means the duty was lost, and its work stops at once. So
//! another instance takes a duty over at most `store.lease_seconds` after its holder died.
//!
//! [`Duties::hold`] wraps any worker so that its steps run only while the duty is held: the
//! workers themselves do not know, and their `try_step` stays what tests drive.
use std::{
    collections::BTreeSet,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};
use uuid::Uuid;

use crate::{
    store::Store,
    worker::{Step, Worker},
};

/// Never retry taking a duty sooner than this (a race lost to another instance a moment ago).
const MIN_RETRY: Duration = Duration::from_millis(100);

/// This `serve` process among the instances sharing the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Made at start; what a lease row names.
    pub id: Uuid,
    /// The host name and pid, for humans reading logs and `iiko-bridge duties`.
    pub label: String,
}

impl Instance {
    pub fn new() -> Instance {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|host| host.trim().to_owned())
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| "unknown host".to_owned());
        Instance {
            id: Uuid::new_v4(),
            label: format!("{host} pid {}", std::process::id()),
        }
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.label)
    }
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    lease_id: Uuid,
    renewed_at_ms: i64,
    expires_at_ms: i64,
}

/// What a duty's keeper does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Take,
    Renew,
    /// The lease ran out before a renewal got through: another instance may hold the duty now.
    Lost,
    Wait(Duration),
}

/// How often a holder renews: a third of the lease, so two renewals may fail before it runs out.
pub fn renew_every(lease: Duration) -> Duration {
    lease / 3
}

/// Whether a lease running until `expires_at_ms` has run out at `now_ms` (and so may be taken
/// over: `Store::take_duty` applies the same rule).
pub fn expired(expires_at_ms: i64, now_ms: i64) -> bool {
    expires_at_ms <= now_ms
}

/// The decision of a duty's keeper as of `now_ms`: take the duty when not holding it, renew it
/// every third of the lease, and count it lost once its lease has run out unrenewed.
fn next(held: Option<&Held>, now_ms: i64, lease: Duration) -> Next {
    let Some(held) = held else {
        return Next::Take;
    };
    if expired(held.expires_at_ms, now_ms) {
        return Next::Lost;
    }
    let renew_at = held
        .renewed_at_ms
        .saturating_add(millis(renew_every(lease)));
    if now_ms >= renew_at {
        Next::Renew
    } else {
        Next::Wait(Duration::from_millis((renew_at - now_ms) as u64))
    }
}

/// When to try taking a duty again after another instance had it: as its lease runs out (so a
/// dead holder's duty is taken over at once), but at least every third of a lease (a holder that
/// gave it up frees it sooner).
fn retry_take_after(holder_expires_at_ms: Option<i64>, now_ms: i64, lease: Duration) -> Duration {
    let until_expiry = holder_expires_at_ms.map_or(Duration::ZERO, |expires| {
        Duration::from_millis(expires.saturating_sub(now_ms).max(0) as u64)
    });
    until_expiry.min(renew_every(lease)).max(MIN_RETRY)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Makes duty-holding workers for this instance; cheap to clone.
#[derive(Clone)]
pub struct Duties {
    store: Store,
    instance: Arc<Instance>,
    lease: Duration,
    /// The duties held so far: two workers of one instance under one duty would take it from
    /// each other (an instance may take its own row again) on every renewal.
    held: Arc<Mutex<BTreeSet<String>>>,
}

impl Duties {
    pub fn new(store: Store, instance: Instance, lease: Duration) -> Duties {
        Duties {
            store,
            instance: Arc::new(instance),
            lease,
            held: Arc::default(),
        }
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// `worker`, stepped only while this instance holds `duty`.
    ///
    /// # Panics
    /// When this instance already gave `duty` to another worker.
    pub fn hold<W: Worker>(&self, duty: &str, worker: W) -> Duty<W> {
        let new = (self.held.lock().unwrap_or_else(|p| p.into_inner())).insert(duty.to_owned());
        assert!(new, "duty {duty} given to two workers");
        metrics::gauge!("iiko_bridge_duty_held", "duty" => duty.to_owned()).set(0.0);
        let (held, _) = watch::channel(false);
        Duty {
            lease: Arc::new(Lease {
                store: self.store.clone(),
                instance: self.instance.clone(),
                duty: duty.to_owned(),
                length: self.lease,
                wake: worker.wake().unwrap_or_default(),
                held: Mutex::new(None),
                held_now: held,
            }),
            worker: Arc::new(worker),
            keeper: Mutex::new(None),
        }
    }
}

/// One duty's lease as this instance sees it; shared by the worker and its keeper.
struct Lease {
    store: Store,
    instance: Arc<Instance>,
    duty: String,
    length: Duration,
    /// The worker's wake-up, fired when the duty is taken so its work starts at once.
    wake: Arc<Notify>,
    held: Mutex<Option<Held>>,
    /// Whether the duty is held; the worker's step stops when it turns false.
    held_now: watch::Sender<bool>,
}

impl Lease {
    fn held(&self) -> Option<Held> {
        *self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, held: Option<Held>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = held;
        let holds = held.is_some();
        metrics::gauge!("iiko_bridge_duty_held", "duty" => self.duty.clone()).set(if holds {
            1.0
        } else {
            0.0
        });
        self.held_now
            .send_if_modified(|was| std::mem::replace(was, holds) != holds);
    }

    /// Takes, renews and loses the duty for as long as it runs (aborted when the worker stops).
    async fn keep(self: Arc<Self>) {
        loop {
            let now = now_ms();
            match next(self.held().as_ref(), now, self.length) {
                Next::Wait(wait) => tokio::time::sleep(wait).await,
                Next::Take => {
                    if let Some(retry) = self.take(now).await {
                        tokio::time::sleep(retry).await;
                    }
                }
                Next::Renew => self.renew(now).await,
                Next::Lost => self.lose("its lease ran out before a renewal got through"),
            }
        }
    }

    /// Takes the duty if it is free; otherwise says when to try again.
    async fn take(&self, now: i64) -> Option<Duration> {
        let lease_id = Uuid::new_v4();
        let expires = now.saturating_add(millis(self.length));
        let taken = self
            .store
            .take_duty(
                &self.duty,
                &self.instance.id.to_string(),
                &self.instance.label,
                &lease_id.to_string(),
                now,
                expires,
            )
            .await;
        match taken {
            Ok(true) => {
                tracing::info!(duty = %self.duty, instance = %self.instance, "duty taken");
                self.set(Some(Held {
                    lease_id,
                    renewed_at_ms: now,
                    expires_at_ms: expires,
                }));
                self.wake.notify_one();
                None
            }
            Ok(false) => Some(match self.store.duty_lease(&self.duty).await {
                Ok(holder) => retry_take_after(holder.map(|h| h.expires_at_ms), now, self.length),
                Err(_) => renew_every(self.length),
            }),
            Err(error) => {
                tracing::warn!(duty = %self.duty, %error, "cannot take the duty");
                Some(renew_every(self.length))
            }
        }
    }

    /// Renews the lease, bounded by its expiry; a renewal that finds the lease gone or fails
    /// loses the duty (another instance may take it once the lease runs out).
    async fn renew(&self, now: i64) {
        let Some(held) = self.held() else { return };
        let expires = now.saturating_add(millis(self.length));
        let left = Duration::from_millis(held.expires_at_ms.saturating_sub(now).max(0) as u64);
        let lease_id = held.lease_id.to_string();
        let renewal = self.store.renew_duty(&self.duty, &lease_id, now, expires);
        match tokio::time::timeout(left, renewal).await {
            Ok(Ok(true)) => self.set(Some(Held {
                renewed_at_ms: now,
                expires_at_ms: expires,
                ..held
            })),
            Ok(Ok(false)) => self.lose("another instance took it over"),
            Ok(Err(error)) => self.lose(&format!("renewing its lease failed: {error}")),
            Err(_) => self.lose("renewing its lease took until it ran out"),
        }
    }

    fn lose(&self, why: &str) {
        tracing::warn!(duty = %self.duty, instance = %self.instance, why, "duty lost; its work stops");
        self.set(None);
    }

    /// Frees the duty at once for another instance (on shutdown).
    async fn give_up(&self) {
        let Some(held) = self.held() else { return };
        self.set(None);
        match self
            .store
            .give_up_duty(&self.duty, &held.lease_id.to_string())
            .await
        {
            Ok(()) => tracing::info!(duty = %self.duty, "duty given up"),
            // Its lease runs out on its own.
            Err(error) => tracing::warn!(duty = %self.duty, %error, "cannot give the duty up"),
        }
    }
}

/// A worker stepped only while this instance holds its duty (see [`Duties::hold`]). Its name,
/// pauses and wake-up are the worker's; dropping it (a dead process) stops renewing the lease.
pub struct Duty<W> {
    worker: Arc<W>,
    lease: Arc<Lease>,
    /// Takes and renews the lease; started by the first step.
    keeper: Mutex<Option<JoinHandle<()>>>,
}

impl<W> Duty<W> {
    /// Starts the keeper, or starts it again if it ended (it only ends by panicking).
    fn keep(&self) {
        let mut keeper = self.keeper.lock().unwrap_or_else(|p| p.into_inner());
        if keeper.as_ref().is_none_or(JoinHandle::is_finished) {
            *keeper = Some(tokio::spawn(self.lease.clone().keep()));
        }
    }

    fn stop_keeping(&self) -> Option<JoinHandle<()>> {
        let keeper = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(keeper) = &keeper {
            keeper.abort();
        }
        keeper
    }
}

impl<W> Drop for Duty<W> {
    fn drop(&mut self) {
        self.stop_keeping();
    }
}

/// Not holding the duty is no failure: `/readyz` stays green while another instance holds it.
impl<W: Worker> Worker for Duty<W> {
    const NAME: &'static str = W::NAME;
    type Error = W::Error;

    async fn step(self: Arc<Self>) -> Result<Step, W::Error> {
        self.keep();
        let mut held = self.lease.held_now.subscribe();
        if !*held.borrow_and_update() {
            // The keeper wakes the worker when it takes the duty.
            return Ok(Step::Wait(self.lease.length));
        }
        tokio::select! {
            step = self.worker.clone().step() => step,
            // Lost mid-step: the step is dropped at once, its work left to the new holder.
            _ = held.wait_for(|held| !*held) => Ok(Step::Wait(self.lease.length)),
        }
    }

    fn after_failure(&self, failures: u32) -> Duration {
        self.worker.after_failure(failures)
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.lease.wake.clone())
    }

    async fn drain(self: Arc<Self>) {
        if let Some(keeper) = self.stop_keeping() {
            let _ = keeper.await;
        }
        self.worker.clone().drain().await;
        self.lease.give_up().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    fn held(renewed_at_ms: i64) -> Held {
        Held {
            lease_id: Uuid::nil(),
            renewed_at_ms,
            expires_at_ms: renewed_at_ms + 30_000,
        }
    }

    #[test]
    fn an_instance_holding_nothing_tries_to_take_the_duty() {
        assert_eq!(next(None, 0, LEASE), Next::Take);
    }

    #[test]
    fn a_holder_renews_every_third_of_the_lease() {
        assert_eq!(
            next(Some(&held(0)), 4_000, LEASE),
            Next::Wait(Duration::from_secs(6))
        );
        assert_eq!(next(Some(&held(0)), 10_000, LEASE), Next::Renew);
        assert_eq!(next(Some(&held(0)), 29_999, LEASE), Next::Renew);
    }

    #[test]
    fn a_lease_that_ran_out_unrenewed_is_no_longer_the_holders() {
        assert_eq!(next(Some(&held(0)), 30_000, LEASE), Next::Lost);
        assert_eq!(next(Some(&held(0)), 90_000, LEASE), Next::Lost);
    }

    #[test]
    fn a_lease_runs_out_at_its_expiry() {
        assert!(!expired(30_000, 29_999));
        assert!(expired(30_000, 30_000));
    }

    #[test]
    fn another_instance_tries_again_as_the_holders_lease_runs_out_but_at_least_every_third() {
        assert_eq!(
            retry_take_after(Some(5_000), 0, LEASE),
            Duration::from_secs(5)
        );
        assert_eq!(
            retry_take_after(Some(25_000), 0, LEASE),
            Duration::from_secs(10),
            "a holder giving up frees it sooner"
        );
        assert_eq!(
            retry_take_after(Some(0), 10, LEASE),
            MIN_RETRY,
            "a race lost a moment ago"
        );
        assert_eq!(retry_take_after(None, 0, LEASE), MIN_RETRY, "given up");
    }

    #[tokio::test]
    #[should_panic(expected = "duty status given to two workers")]
    async fn one_instance_gives_a_duty_to_one_worker_only() {
        struct Idle;
        impl Worker for Idle {
            const NAME: &'static str = "idle";
            type Error = std::convert::Infallible;
            async fn step(self: Arc<Self>) -> Result<Step, Self::Error> {
                Ok(Step::Wait(Duration::from_secs(60)))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bridge.db", dir.path().display()))
            .await
            .unwrap();
        let duties = Duties::new(store, Instance::new(), LEASE);
        let _first = duties.hold("status", Idle);
        let _second = duties.hold("status", Idle);
    }

    #[test]
    fn an_instance_is_labelled_with_its_host_and_pid() {
        let instance = Instance::new();
        assert!(
            instance
                .label
                .ends_with(&format!(" pid {}", std::process::id())),
            "{}",
            instance.label
        );
        assert_ne!(instance.id, Instance::new().id);
    }
}
