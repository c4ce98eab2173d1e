//! Watches each branch's terminal group: while iiko says it is not alive, iiko cannot pass
//! orders to iikoFront (they end in "Creation timeout expired"), so operators hear of it at
//! once, and again when it is back (CONTRACT section 3), rather than from failed orders.
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::config::{BranchConfig, Config};
use crate::iiko::{IikoClient, IikoError, types::dictionaries::TerminalGroupsIsAliveRequest};
use crate::notify::{OperatorAlerter, OperatorChats};
use crate::store::Store;
use crate::worker::{Step, Worker};

pub struct TerminalWatch {
    iiko: IikoClient,
    config: Arc<Config>,
    alerter: OperatorAlerter,
    /// When the loop checks next.
    next_check: Mutex<Instant>,
}

/// What one check saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalReport {
    /// Branches whose terminal group iiko reports alive.
    pub alive: usize,
    /// Branches whose terminal group is not alive (or iiko did not mention it).
    pub offline: Vec<String>,
}

impl TerminalWatch {
    pub fn new(store: Store, iiko: IikoClient, config: Arc<Config>) -> TerminalWatch {
        let every = Duration::from_secs_f64(config.status.terminal_check_seconds);
        TerminalWatch {
            iiko,
            next_check: Mutex::new(Instant::now() + every),
            alerter: OperatorAlerter::shared(OperatorChats::from_config(&config.telegram), store),
            config,
        }
    }

    /// Asks iiko once per organization and tells operators of every change. An organization
    /// iiko does not answer for is skipped: iiko being down is the dispatcher's alert.
    pub async fn try_step(&self) -> Result<TerminalReport, IikoError> {
        let mut by_organization: BTreeMap<Uuid, Vec<&BranchConfig>> = BTreeMap::new();
        for branch in &self.config.branches {
            by_organization
                .entry(branch.organization_id)
                .or_default()
                .push(branch);
        }
        let mut report = TerminalReport::default();
        let mut failure = None;
        for (organization, branches) in by_organization {
            let request = TerminalGroupsIsAliveRequest {
                organization_ids: vec![organization],
                terminal_group_ids: branches.iter().map(|b| b.terminal_group_id).collect(),
            };
            let answer = match self.iiko.terminal_groups_is_alive(&request).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::warn!(%organization, %error, "cannot ask iiko whether terminals are alive");
                    failure = Some(error);
                    continue;
                }
            };
            for branch in branches {
                let alive = answer
                    .is_alive_status
                    .iter()
                    .any(|s| s.terminal_group_id == branch.terminal_group_id && s.is_alive);
                if alive {
                    report.alive += 1;
                    self.alerter.terminal_back(branch).await;
                } else {
                    report.offline.push(branch.key.clone());
                    self.alerter.terminal_offline(branch).await;
                }
            }
        }
        match failure {
            Some(error) if report == TerminalReport::default() => Err(error),
            _ => Ok(report),
        }
    }
}

/// Checks every `status.terminal_check_seconds`, the first time one interval after the start:
/// at start the dispatcher's own calls tell first.
impl Worker for TerminalWatch {
    const NAME: &'static str = "terminals";
    /// A failed check is logged in `try_step` and waits for the next one.
    type Error = std::convert::Infallible;

    async fn step(self: Arc<Self>) -> Result<Step, Self::Error> {
        let every = Duration::from_secs_f64(self.config.status.terminal_check_seconds);
        let due = *lock(&self.next_check);
        let now = Instant::now();
        if now < due {
            return Ok(Step::Wait(due - now));
        }
        if let Ok(report) = self.try_step().await
            && !report.offline.is_empty()
        {
            tracing::warn!(branches = ?report.offline, "terminal groups not alive");
        }
        *lock(&self.next_check) = Instant::now() + every;
        Ok(Step::Wait(every))
    }
}

fn lock(next: &Mutex<Instant>) -> std::sync::MutexGuard<'_, Instant> {
    next.lock().unwrap_or_else(|p| p.into_inner())
}
