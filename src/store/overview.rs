//! Read-only views across aggregates for the operators (the bot's `/orders`, `/health`): counts
//! and small rows, never the large documents, so asking often costs the store little.
use chrono::{DateTime, Utc};

use super::{OrderState, Store, StoreError, StoredOrder};

/// How many orders of one branch are in one state, and since when the oldest of them is there.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderCount {
    pub branch: String,
    #[sqlx(try_from = "String")]
    pub state: OrderState,
    pub count: i64,
    /// The oldest one's `created_at`.
    pub oldest_created_at: i64,
}

/// What operators were last told about one kind of trouble of one branch (the shared
/// `alert_states` rows the dispatcher and the terminal watch flip).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    /// The branch key (empty for the store itself).
    pub key: String,
    /// `iiko`, `terminal`.
    pub watch: String,
    /// Operators were told it is down, and not yet that it is back.
    pub down: bool,
    pub changed_at_ms: i64,
}

/// A branch's current catalog version as the operators' overview needs it: when it was
/// stored and its article-integrity report, without the catalog documents.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogReport {
    pub branch: String,
    pub synced_at: DateTime<Utc>,
    pub report_json: String,
}

impl Store {
    /// Orders not finished with (`queued`, `sending`, `retrying`, `fallback`), counted per
    /// branch and state.
    pub async fn open_order_counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        on_backend!(self, b => b.open_order_counts().await)
    }

    /// Every recorded alert state.
    pub async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        on_backend!(self, b => b.alert_states().await)
    }

    /// Pending site events per branch.
    pub async fn pending_site_events_by_branch(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(self, b => b.pending_site_events_by_branch().await)
    }

    /// Each branch's current catalog version, by branch.
    pub async fn catalog_reports(&self) -> Result<Vec<CatalogReport>, StoreError> {
        on_backend!(self, b => b.catalog_reports().await)
    }

    /// A branch's orders created at or after `since_ms`, newest first, at most `limit`.
    pub async fn orders_created_since(
        &self,
        branch: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.orders_created_since(branch, since_ms, limit).await)
    }

    /// How many orders of a branch were created at or after `since_ms`.
    pub async fn count_orders_created_since(
        &self,
        branch: &str,
        since_ms: i64,
    ) -> Result<i64, StoreError> {
        on_backend!(self, b => b.count_orders_created_since(branch, since_ms).await)
    }
}

/// An `alert_states` row as stored (`down` is an integer in both backends).
pub(super) type AlertStateRow = (String, String, i64, i64);

pub(super) fn alert_state((key, watch, down, changed_at_ms): AlertStateRow) -> AlertState {
    AlertState {
        key,
        watch,
        down: down != 0,
        changed_at_ms,
    }
}

/// A `catalog_versions` (branch, synced_at, report) row as stored: the time is RFC 3339 text.
pub(super) fn catalog_report(
    (branch, synced_at, report_json): (String, String, String),
) -> Result<CatalogReport, StoreError> {
    let synced_at = DateTime::parse_from_rfc3339(&synced_at)
        .map_err(|e| StoreError::Corrupt(format!("catalog synced_at {synced_at:?}: {e}")))?
        .with_timezone(&Utc);
    Ok(CatalogReport {
        branch,
        synced_at,
        report_json,
    })
}

/// The states [`Store::open_order_counts`] counts, as the SQL lists them.
pub(super) const OPEN_STATES: &str = "('queued', 'sending', 'retrying', 'fallback')";
