//! Reconciliation (`src/reconcile/`): the bridge's orders of a period, and the reports kept so
//! `reconcile --last` can show the last one and the daily run reports each day once.
use super::{Store, StoreError, StoredOrder};

/// A pre-order may be accepted up to 60 days (iiko's limit on `completeBefore`) before it is
/// wanted, and `deliver_at` may lie a little in the past; the bounds on acceptance keep the
/// period's scan to that window of rows.
const ACCEPTED_AHEAD_MS: i64 = 61 * 24 * 3_600_000;
const ACCEPTED_AFTER_MS: i64 = 3_600_000;

/// A report about to be stored.
pub struct NewReconcileReport<'a> {
    pub branch: &'a str,
    pub from_day: &'a str,
    pub to_day: &'a str,
    /// The daily run's report of one day: stored once per branch and day.
    pub daily: bool,
    /// The branch's entry of the contract's JSON.
    pub report: &'a str,
    pub now_ms: i64,
    /// The operator chats its Telegram summary has to reach (none: nothing to send).
    pub summary_owed: &'a [i64],
}

/// A daily report whose Telegram summary some chats have not received yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OwedSummary {
    pub id: i64,
    pub branch: String,
    pub report: String,
    pub chats: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredReconcileReport {
    pub id: i64,
    pub branch: String,
    pub from_day: String,
    pub to_day: String,
    /// 1 for the daily run's.
    pub daily: i64,
    pub report: String,
    pub created_at_ms: i64,
}

impl Store {
    /// The orders of `branch` wanted in `from_ms..to_ms`: by `deliver_at`, or by acceptance
    /// (`created_at`) for "as soon as possible" orders; oldest first.
    pub async fn orders_wanted_between(
        &self,
        branch: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let accepted = (from_ms - ACCEPTED_AHEAD_MS, to_ms + ACCEPTED_AFTER_MS);
        on_backend!(self, b => b.orders_wanted_between(branch, from_ms, to_ms, accepted).await)
    }

    /// Stores a report; `false` when it is a daily one of a (branch, day) already stored.
    pub async fn insert_reconcile_report(
        &self,
        report: &NewReconcileReport<'_>,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.insert_reconcile_report(report).await)
    }

    /// The summaries still owed whose retry time has come (`summary_retry_at_ms <= now_ms`),
    /// oldest first.
    pub async fn owed_reconcile_summaries(
        &self,
        now_ms: i64,
    ) -> Result<Vec<OwedSummary>, StoreError> {
        let rows: Vec<(i64, String, String, String)> =
            on_backend!(self, b => b.owed_reconcile_summaries(now_ms).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, branch, report, owed)| OwedSummary {
                id,
                branch,
                report,
                // Written by `owed_text` only; unreadable would mean nothing is owed.
                chats: serde_json::from_str(&owed).unwrap_or_default(),
            })
            .collect())
    }

    /// What report `id` still owes after a sending attempt: `chats` (none: done), not before
    /// `retry_at_ms`.
    pub async fn set_reconcile_summary_owed(
        &self,
        id: i64,
        chats: &[i64],
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        let owed = owed_text(chats);
        on_backend!(self, b => b.set_reconcile_summary_owed(id, owed.as_deref(), retry_at_ms).await)
    }

    /// Whether the daily run already reported `day` (`YYYY-MM-DD`) of `branch`.
    pub async fn daily_report_exists(&self, branch: &str, day: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.daily_report_exists(branch, day).await)
    }

    /// The last report of each branch, or of one; by branch.
    pub async fn last_reconcile_reports(
        &self,
        branch: Option<&str>,
    ) -> Result<Vec<StoredReconcileReport>, StoreError> {
        on_backend!(self, b => b.last_reconcile_reports(branch).await)
    }
}

/// The `summary_owed` column's value: a JSON array of chat ids, or NULL when none is owed.
pub(super) fn owed_text(chats: &[i64]) -> Option<String> {
    (!chats.is_empty()).then(|| serde_json::to_string(chats).expect("ids serialize"))
}
