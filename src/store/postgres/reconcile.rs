//! Reconciliation (`store::reconcile`) on PostgreSQL.
use super::PgStore;
use super::orders::ORDER_COLUMNS;
use crate::store::reconcile::owed_text;
use crate::store::{NewReconcileReport, StoreError, StoredOrder, StoredReconcileReport};

impl PgStore {
    pub async fn orders_wanted_between(
        &self,
        branch: &str,
        from_ms: i64,
        to_ms: i64,
        accepted: (i64, i64),
    ) -> Result<Vec<StoredOrder>, StoreError> {
        // A null `deliver_at` is "as soon as possible": the acceptance time counts.
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM (
                 SELECT *, COALESCE((extract(epoch FROM
                     ((raw_body::jsonb) ->> 'deliver_at')::timestamptz) * 1000)::bigint,
                     created_at) AS wanted_at
                 FROM orders WHERE branch = $1 AND created_at >= $4 AND created_at < $5
             ) AS o
             WHERE wanted_at >= $2 AND wanted_at < $3
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)
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
             WHERE summary_owed IS NOT NULL AND summary_retry_at_ms <= $1
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
        sqlx::query("UPDATE reconcile_reports SET summary_owed = $1, summary_retry_at_ms = $2 WHERE id = $3")
            .bind(owed)
            .bind(retry_at_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn daily_report_exists(&self, branch: &str, day: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM reconcile_reports WHERE branch = $1 AND from_day = $2 AND daily = 1",
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
                          WHERE $1::text IS NULL OR branch = $1 GROUP BY branch)
             ORDER BY branch",
        )
        .bind(branch)
        .fetch_all(&self.pool)
        .await?)
    }
}
