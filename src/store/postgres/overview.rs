//! The operators' read-only overview (`store::overview`) on PostgreSQL.
use super::{PgStore, orders::ORDER_COLUMNS};
use crate::store::{
    StoreError, StoredOrder,
    overview::{
        AlertState, AlertStateRow, CatalogReport, OPEN_STATES, OrderCount, alert_state,
        catalog_report,
    },
};

impl PgStore {
    pub async fn open_order_counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT branch, state, COUNT(*) AS count, MIN(created_at) AS oldest_created_at
             FROM orders WHERE state IN {OPEN_STATES}
             GROUP BY branch, state ORDER BY branch, state"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        let rows: Vec<AlertStateRow> = sqlx::query_as(
            "SELECT key, watch, down, changed_at_ms FROM alert_states ORDER BY key, watch",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(alert_state).collect())
    }

    pub async fn pending_site_events_by_branch(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT branch, COUNT(*) FROM site_events WHERE state = 'pending'
             GROUP BY branch ORDER BY branch",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn catalog_reports(&self) -> Result<Vec<CatalogReport>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT v.branch, v.synced_at, v.report
             FROM catalog_current c JOIN catalog_versions v ON v.id = c.version_id
             ORDER BY v.branch",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(catalog_report).collect()
    }

    pub async fn orders_created_since(
        &self,
        branch: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE branch = $1 AND created_at >= $2
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(branch)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_orders_created_since(
        &self,
        branch: &str,
        since_ms: i64,
    ) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM orders WHERE branch = $1 AND created_at >= $2",
            )
            .bind(branch)
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?,
        )
    }
}
