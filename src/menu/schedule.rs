//! `serve`'s menu schedule: full syncs, prices syncs and stop-list refreshes, each on its own
//! interval, one at a time per branch, and sooner when iiko's webhooks say something changed.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::{MenuSyncer, SyncKind, SyncOptions};
use crate::config::{BranchConfig, MenuConfig};
use crate::worker::{Step, Worker};

/// After a failed sync, try again this soon rather than a whole interval later.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// How often the loop looks for due syncs.
const TICK: Duration = Duration::from_secs(1);

pub struct MenuScheduler {
    syncer: MenuSyncer,
    branches: Vec<BranchConfig>,
    intervals: [(SyncKind, Duration); 3],
    next_due: Mutex<HashMap<(String, SyncKind), Instant>>,
    trigger: MenuTrigger,
}

/// Asks the schedule for a sync of a branch now (iiko's StopListUpdate and NomenclatureUpdate
/// webhooks); cheap to clone, never waits for the sync.
#[derive(Clone, Default)]
pub struct MenuTrigger {
    requested: Arc<Mutex<HashSet<(String, SyncKind)>>>,
    wake: Arc<Notify>,
}

impl MenuTrigger {
    pub fn request(&self, branch: &str, kind: SyncKind) {
        self.requested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((branch.to_owned(), kind));
        self.wake.notify_one();
    }

    fn take(&self) -> HashSet<(String, SyncKind)> {
        std::mem::take(&mut *self.requested.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl MenuScheduler {
    /// Every branch gets a full sync at once; the cheaper kinds follow their intervals.
    pub fn new(
        syncer: MenuSyncer,
        branches: Vec<BranchConfig>,
        menu: &MenuConfig,
        now: Instant,
    ) -> Self {
        let intervals = [
            (
                SyncKind::Full,
                Duration::from_secs_f64(menu.sync_interval_minutes * 60.0),
            ),
            (
                SyncKind::Prices,
                Duration::from_secs_f64(menu.prices_interval_minutes * 60.0),
            ),
            (
                SyncKind::StopList,
                Duration::from_secs_f64(menu.stop_list_interval_seconds),
            ),
        ];
        let mut next_due = HashMap::new();
        for branch in &branches {
            for (kind, interval) in intervals {
                let due = if kind == SyncKind::Full {
                    now
                } else {
                    now + interval
                };
                next_due.insert((branch.key.clone(), kind), due);
            }
        }
        Self {
            syncer,
            branches,
            intervals,
            next_due: Mutex::new(next_due),
            trigger: MenuTrigger::default(),
        }
    }

    /// The handle that makes a branch's sync due at once.
    pub fn trigger(&self) -> MenuTrigger {
        self.trigger.clone()
    }

    /// Runs the syncs due at `now`, the most thorough kind first (it also covers the cheaper
    /// ones), and returns how many ran. Tests drive the schedule through this.
    pub async fn try_step(&self, now: Instant) -> usize {
        for key in self.trigger.take() {
            self.next_due().insert(key, now);
        }
        let mut ran = 0;
        for branch in &self.branches {
            let due = self
                .intervals
                .iter()
                .map(|(kind, _)| *kind)
                .find(|kind| self.next_due()[&(branch.key.clone(), *kind)] <= now);
            let Some(kind) = due else { continue };
            ran += 1;
            let result = self
                .syncer
                .sync(branch, kind, SyncOptions::default(), &|_| {})
                .await;
            let covered = self.intervals.iter().skip_while(|(k, _)| *k != kind);
            match result {
                Ok(outcome) => {
                    tracing::info!(branch = %branch.key, ?kind, result = ?outcome.result,
                        changes = ?outcome.diff.counts(), "menu sync");
                    for (covered_kind, interval) in covered {
                        self.next_due()
                            .insert((branch.key.clone(), *covered_kind), now + *interval);
                    }
                }
                Err(error) => {
                    tracing::warn!(branch = %branch.key, ?kind, %error, "menu sync failed");
                    self.next_due()
                        .insert((branch.key.clone(), kind), now + RETRY_AFTER_FAILURE);
                }
            }
        }
        ran
    }

    fn next_due(&self) -> std::sync::MutexGuard<'_, HashMap<(String, SyncKind), Instant>> {
        self.next_due.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Steps every second, and at once when a sync is asked for; a sync in flight finishes first.
impl Worker for MenuScheduler {
    const NAME: &'static str = "menu";
    /// A failed sync is logged and tried again [`RETRY_AFTER_FAILURE`] later.
    type Error = std::convert::Infallible;

    async fn step(self: Arc<Self>) -> Result<Step, Self::Error> {
        self.try_step(Instant::now()).await;
        Ok(Step::Wait(TICK))
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.trigger.wake.clone())
    }
}
