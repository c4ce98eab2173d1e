//! Reconciliation (`store::reconcile`) on SQLite.
use super::SqliteStore;
use super::orders::ORDER_COLUMNS;
use crate::store::reconcile::owed_text;
use crate::store::{NewReconcileReport, StoreError, StoredOrder, StoredReconcileReport};

impl SqliteStore {
    pub async fn orders_wanted_between(
        &self,
        branch: &str,
        from_ms: i64,
        to_ms: i64,
        accepted: (i64, i64),
    ) -> Result<Vec<StoredOrder>, StoreError> {
        // `unixepoch` reads RFC 3339 with its offset; a null `deliver_at` is "as soon as possible".
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE branch = ?1 AND created_at >= ?4 AND created_at < ?5
               AND COALESCE(unixepoch(raw_body ->> '$.deliver_at') * 1000, created_at) >= ?2
               AND COALESCE(unixepoch(raw_body ->> '$.deliver_at') * 1000, created_at) < ?3
             ORDER BY id"
        ))
        .bind(branch)
        .bind(from_ms)
        .bind(to_ms)
        .bind(accepted.0)
        .bind(accepted.1)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_reconcile_report(
        &self,
        report: &NewReconcileReport<'_>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO reconcile_reports (branch, from_day, to_day, daily, report, created_at_ms,
                                            summary_owed)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (branch, from_day) WHERE daily = 1 DO NOTHING",
        )
        .bind(report.branch)
        .bind(report.from_day)
        .bind(report.to_day)
        .bind(i64::from(report.daily))
        .bind(report.report)
        .bind(report.now_ms)
        .bind(owed_text(report.summary_owed))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn owed_reconcile_summaries(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, branch, report, summary_owed FROM reconcile_reports
             WHERE summary_owed IS NOT NULL AND summary_retry_at_ms <= ?
             ORDER BY id",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_reconcile_summary_owed(
        &self,
        id: i64,
        owed: Option<&str>,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE reconcile_reports SET summary_owed = ?, summary_retry_at_ms = ? WHERE id = ?",
        )
        .bind(owed)
        .bind(retry_at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn daily_report_exists(&self, branch: &str, day: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM reconcile_reports WHERE branch = ? AND from_day = ? AND daily = 1",
        )
        .bind(branch)
        .bind(day)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    pub async fn last_reconcile_reports(
        &self,
        branch: Option<&str>,
    ) -> Result<Vec<StoredReconcileReport>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, branch, from_day, to_day, daily, report, created_at_ms
             FROM reconcile_reports
             WHERE id IN (SELECT MAX(id) FROM reconcile_reports
                          WHERE ?1 IS NULL OR branch = ?1 GROUP BY branch)
             ORDER BY branch",
        )
        .bind(branch)
        .fetch_all(&self.pool)
        .await?)
    }
}
