//! The catalog versions (`store::catalog`) on PostgreSQL: a save, its pruning and its
//! `catalog.updated` event in one transaction.
use sqlx::{FromRow, postgres::PgRow};

use super::PgStore;
use super::events::enqueue_event;
use crate::store::catalog::{ALL_COLUMNS, CATALOG_VERSIONS_KEPT, CatalogRow, Version};
use crate::store::{
    CatalogSource, EventType, NewCatalogVersion, NewEvent, PublicCatalogRow, StoreError,
    StoredCatalog,
};

impl PgStore {
    pub async fn save_catalog(&self, new: NewCatalogVersion<'_>) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog_versions
                 (branch, revision, synced_at, etag, catalog, public_catalog, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.branch)
        .bind(new.revision)
        .bind(new.synced_at.to_rfc3339())
        .bind(new.etag)
        .bind(new.catalog_json)
        .bind(new.public_json)
        .bind(new.report_json)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO catalog_current (branch, version_id, previous_id) VALUES ($1, $2, NULL)
             ON CONFLICT (branch) DO UPDATE
             SET previous_id = catalog_current.version_id, version_id = excluded.version_id",
        )
        .bind(new.branch)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Old versions are history only; the current and previous ones are always among the newest.
        sqlx::query(
            "DELETE FROM catalog_versions WHERE branch = $1 AND id NOT IN (
                 SELECT id FROM catalog_versions WHERE branch = $2 ORDER BY id DESC LIMIT $3)
             AND id NOT IN (SELECT version_id FROM catalog_current WHERE branch = $4)
             AND id NOT IN (SELECT previous_id FROM catalog_current WHERE branch = $5 AND previous_id IS NOT NULL)",
        )
        .bind(new.branch)
        .bind(new.branch)
        .bind(CATALOG_VERSIONS_KEPT)
        .bind(new.branch)
        .bind(new.branch)
        .execute(&mut *tx)
        .await?;
        if let Some(data) = new.updated_event {
            let event = NewEvent {
                kind: EventType::CatalogUpdated,
                branch: new.branch,
                order_id: None,
                data,
                at_ms: new.synced_at.timestamp_millis(),
            };
            enqueue_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn current_catalog(&self, branch: &str) -> Result<Option<StoredCatalog>, StoreError> {
        let row: Option<CatalogRow> = self
            .version_row(branch, Version::Current, ALL_COLUMNS)
            .await?;
        row.map(StoredCatalog::try_from).transpose()
    }

    pub async fn previous_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<StoredCatalog>, StoreError> {
        let row: Option<CatalogRow> = self
            .version_row(branch, Version::Previous, ALL_COLUMNS)
            .await?;
        row.map(StoredCatalog::try_from).transpose()
    }

    pub async fn current_catalog_source(
        &self,
        branch: &str,
    ) -> Result<Option<CatalogSource>, StoreError> {
        self.version_row(branch, Version::Current, "v.catalog, v.report")
            .await
    }

    pub async fn current_catalog_id(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version_id FROM catalog_current WHERE branch = $1")
                .bind(branch)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn current_catalog_document(
        &self,
        branch: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        self.version_row(branch, Version::Current, "v.id, v.catalog")
            .await
    }

    pub async fn current_iiko_revision(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(Option<i64>,)> = self
            .version_row(branch, Version::Current, "v.revision")
            .await?;
        Ok(row.and_then(|(revision,)| revision))
    }

    pub async fn current_public_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<PublicCatalogRow>, StoreError> {
        self.version_row(branch, Version::Current, "v.etag, v.public_catalog")
            .await
    }

    /// Some columns of a branch's current or previous version; reading only what the caller
    /// needs matters, as a large catalog's documents run to tens of megabytes.
    async fn version_row<T>(
        &self,
        branch: &str,
        version: Version,
        columns: &str,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let pointer = version.pointer();
        // `columns` and `pointer` are fixed strings of this module, never user input.
        let sql = format!(
            "SELECT {columns} FROM catalog_current c JOIN catalog_versions v ON v.id = c.{pointer}
             WHERE c.branch = $1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(branch)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn rollback_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<StoredCatalog>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let swapped = sqlx::query(
            "UPDATE catalog_current SET version_id = previous_id, previous_id = version_id
             WHERE branch = $1 AND previous_id IS NOT NULL",
        )
        .bind(branch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if swapped == 0 {
            return Ok(None);
        }
        self.current_catalog(branch).await
    }
}
