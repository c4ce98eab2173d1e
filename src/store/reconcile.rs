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
