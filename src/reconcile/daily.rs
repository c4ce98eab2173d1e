//! The daily run: every morning at `reconcile.daily_at` (branch local time) `serve`
//! reconciles each branch's day before, stores the report and tells the operators when there
//! is something to say. A singleton duty (`Duties::hold`); the stored report is what makes a
//! restart, or a second instance taking the duty over, skip a day already done.
//!
//! The summary is sent at least once: the report row records the chats it still owes, and each
//! step sends what is owed, so a summary Telegram failed to take (5xx, 429, no answer) goes out
//! on a later step; a chat that refuses for good (not found, bot blocked) is given up. Only the
//! instance holding the duty sends, so the owed rows need no claim of their own; a crash
//! between a send and its record repeats that summary, which beats losing it.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::period::{Period, previous};
use super::{BranchReport, Reconciler, summary_html};
use crate::config::BranchConfig;
use crate::notify::telegram::Telegram;
use crate::store::{NewReconcileReport, OwedSummary, StoreError};
use crate::worker::{Step, Worker};

/// How often the worker looks whether a branch's morning has come, retries a day iiko could
/// not answer for completely, and retries summaries Telegram did not take.
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
    /// (branch, day) whose summary reached every chat it was owed to by this step.
    pub notified: Vec<(String, NaiveDate)>,
    /// (branch, day) whose summary some chat still awaits: Telegram failed transiently.
    pub owed: Vec<(String, NaiveDate)>,
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
    /// is not stored yet, then sends the summaries still owed.
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
            let something_to_say = self.telegram.is_some() && !report.is_clean();
            let stored = store
                .insert_reconcile_report(&NewReconcileReport {
                    branch: &branch.key,
                    from_day: &day.to_string(),
                    to_day: &day.to_string(),
                    daily: true,
                    report: &json,
                    now_ms: now.timestamp_millis(),
                    summary_owed: match something_to_say {
                        true => &self.operator_chats,
                        false => &[],
                    },
                })
                .await?;
            if stored {
                step.reported.push((branch.key.clone(), day));
            }
        }
        self.send_owed(now, &mut step).await?;
        Ok(step)
    }

    /// Sends each summary still owed to the chats still awaiting it, and records what is left.
    async fn send_owed(&self, now: DateTime<Utc>, step: &mut DailyStep) -> Result<(), StoreError> {
        let Some(telegram) = &self.telegram else {
            return Ok(());
        };
        let store = self.reconciler.store();
        // Telegram's flood control: once it asks for a pause, nothing more goes in this step.
        let mut paused_until: Option<DateTime<Utc>> = None;
        for owed in store
            .owed_reconcile_summaries(now.timestamp_millis())
            .await?
        {
            let Some((report, text)) = self.summary(&owed) else {
                store.set_reconcile_summary_owed(owed.id, &[], 0).await?;
                continue;
            };
            let mut still = Vec::new();
            let mut delivered = false;
            let mut retry_at = now;
            for chat in owed.chats {
                if let Some(until) = paused_until {
                    still.push(chat);
                    retry_at = retry_at.max(until);
                    continue;
                }
                match telegram.send_html(chat, &text).await {
                    Ok(()) => delivered = true,
                    Err(error) if error.is_retryable() => {
                        tracing::warn!(%error, chat, branch = %owed.branch, day = %report.from,
                            "the reconciliation summary was not sent; it is tried again later");
                        still.push(chat);
                        if let Some(wait) = error.retry_after() {
                            let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
                            paused_until = Some(until);
                            retry_at = retry_at.max(until);
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, chat, branch = %owed.branch, day = %report.from,
                            "the reconciliation summary cannot reach this chat; given up")
                    }
                }
            }
            store
                .set_reconcile_summary_owed(owed.id, &still, retry_at.timestamp_millis())
                .await?;
            let key = (owed.branch.clone(), report.from);
            match (still.is_empty(), delivered) {
                (false, _) => step.owed.push(key),
                (true, true) => step.notified.push(key),
                (true, false) => {}
            }
        }
        Ok(())
    }

    /// The stored report of an owed summary and its text; None when there is nothing to send
    /// (an unreadable row is logged: it must not block the others).
    fn summary(&self, owed: &OwedSummary) -> Option<(BranchReport, String)> {
        let report: BranchReport = serde_json::from_str(&owed.report)
            .map_err(|error| {
                tracing::error!(%error, id = owed.id, "a stored reconciliation report is unreadable; its summary is dropped")
            })
            .ok()?;
        let name = self
            .branches
            .iter()
            .find(|b| b.key == owed.branch)
            .map_or(owed.branch.as_str(), |b| b.name.as_str());
        let text = summary_html(&report, name)?;
        Some((report, text))
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
        for (branch, day) in &step.notified {
            tracing::info!(%branch, %day, "the reconciliation summary went to the operators");
        }
        Ok(Step::Wait(CHECK_EVERY))
    }
}
