//! The daily run: every morning at `reconcile.daily_at` (branch local time) `serve`
//! reconciles each branch's day before, stores the report and tells the operators when there
//! is something to say. A singleton duty (`Duties::hold`); the stored report is what makes a
//! restart, or a second instance taking the duty over, skip a day already done.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::period::{Period, previous};
use super::{Reconciler, summary_html};
use crate::config::BranchConfig;
use crate::notify::telegram::Telegram;
use crate::store::{NewReconcileReport, StoreError};
use crate::worker::{Step, Worker};

/// How often the worker looks whether a branch's morning has come, and retries a day iiko
/// could not answer for completely.
const CHECK_EVERY: Duration = Duration::from_secs(60);

pub struct DailyRun {
    reconciler: Reconciler,
    branches: Vec<BranchConfig>,
    daily_at: NaiveTime,
    telegram: Option<Telegram>,
    operator_chats: Vec<i64>,
}

/// What one step did, per branch.
#[derive(Debug, Default, PartialEq)]
pub struct DailyStep {
    /// (branch, day) reported and stored by this step.
    pub reported: Vec<(String, NaiveDate)>,
    /// (branch, day) whose report went to the operators.
    pub notified: Vec<(String, NaiveDate)>,
    /// (branch, day) left for a later step: iiko did not answer for the whole day.
    pub postponed: Vec<(String, NaiveDate)>,
}

impl DailyRun {
    pub fn new(
        reconciler: Reconciler,
        branches: Vec<BranchConfig>,
        daily_at: NaiveTime,
        telegram: Option<Telegram>,
        operator_chats: Vec<i64>,
    ) -> DailyRun {
        DailyRun {
            reconciler,
            branches,
            daily_at,
            telegram,
            operator_chats,
        }
    }

    /// Reconciles the day before for each branch whose local morning has come and whose day
    /// is not stored yet.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<DailyStep, StoreError> {
        let mut step = DailyStep::default();
        for branch in &self.branches {
            let local = now.with_timezone(&branch.timezone);
            if local.time() < self.daily_at {
                continue;
            }
            let day = previous(local.date_naive());
            let store = self.reconciler.store();
            if store
                .daily_report_exists(&branch.key, &day.to_string())
                .await?
            {
                continue;
            }
            let report = self.reconciler.branch(branch, Period::day(day)).await?;
            if !report.incomplete_days.is_empty() {
                step.postponed.push((branch.key.clone(), day));
                continue;
            }
            let json = serde_json::to_string(&report).expect("a report serializes");
            let stored = store
                .insert_reconcile_report(&NewReconcileReport {
                    branch: &branch.key,
                    from_day: &day.to_string(),
                    to_day: &day.to_string(),
                    daily: true,
                    report: &json,
                    now_ms: now.timestamp_millis(),
                })
                .await?;
            // Another instance stored the day meanwhile: it tells the operators.
            if !stored {
                continue;
            }
            step.reported.push((branch.key.clone(), day));
            if let (Some(telegram), Some(text)) =
                (&self.telegram, summary_html(&report, &branch.name))
            {
                for chat in &self.operator_chats {
                    if let Err(error) = telegram.send_html(*chat, &text).await {
                        tracing::error!(%error, chat, "the reconciliation summary was not sent");
                    }
                }
                step.notified.push((branch.key.clone(), day));
            }
        }
        Ok(step)
    }
}

impl Worker for DailyRun {
    const NAME: &'static str = "reconcile";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let step = self.try_step(Utc::now()).await?;
        for (branch, day) in &step.reported {
            tracing::info!(%branch, %day, "reconciled the day before");
        }
        Ok(Step::Wait(CHECK_EVERY))
    }
}
