//! The catalog versions (`store::catalog`) on SQLite: a save, its pruning and its
//! `catalog.updated` event in one `BEGIN IMMEDIATE` transaction.
use sqlx::{FromRow, sqlite::SqliteRow};

use super::SqliteStore;
use super::events::enqueue_event;
use crate::store::catalog::{ALL_COLUMNS, CATALOG_VERSIONS_KEPT, CatalogRow, Version};
use crate::store::{
    CatalogSource, EventType, NewCatalogVersion, NewEvent, PublicCatalogRow, StoreError,
    StoredCatalog,
};

impl SqliteStore {
    pub async fn save_catalog(&self, new: NewCatalogVersion<'_>) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog_versions
                 (branch, revision, synced_at, etag, catalog, public_catalog, report)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            "INSERT INTO catalog_current (branch, version_id, previous_id) VALUES (?, ?, NULL)
             ON CONFLICT (branch) DO UPDATE
             SET previous_id = catalog_current.version_id, version_id = excluded.version_id",
        )
        .bind(new.branch)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Old versions are history only; the current and previous ones are always among the newest.
        sqlx::query(
            "DELETE FROM catalog_versions WHERE branch = ? AND id NOT IN (
                 SELECT id FROM catalog_versions WHERE branch = ? ORDER BY id DESC LIMIT ?)
             AND id NOT IN (SELECT version_id FROM catalog_current WHERE branch = ?)
             AND id NOT IN (SELECT previous_id FROM catalog_current WHERE branch = ? AND previous_id IS NOT NULL)",
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
            sqlx::query_scalar("SELECT version_id FROM catalog_current WHERE branch = ?")
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
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let pointer = version.pointer();
        // `columns` and `pointer` are fixed strings of this module, never user input.
        let sql = format!(
            "SELECT {columns} FROM catalog_current c JOIN catalog_versions v ON v.id = c.{pointer}
             WHERE c.branch = ?"
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let swapped = sqlx::query(
            "UPDATE catalog_current SET version_id = previous_id, previous_id = version_id
             WHERE branch = ? AND previous_id IS NOT NULL",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::Utc;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/bridge.db", dir.path().display());
        (Store::open(&url).await.unwrap(), dir)
    }

    async fn save(store: &Store, branch: &str, etag: &str) -> i64 {
        store
            .save_catalog(NewCatalogVersion {
                branch,
                revision: Some(7),
                synced_at: Utc::now(),
                etag,
                catalog_json: &format!("{{\"etag\":\"{etag}\"}}"),
                public_json: "{}",
                report_json: "{}",
                updated_event: None,
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_catalog_becomes_current_and_the_old_one_the_rollback_target() {
        let (store, _dir) = store().await;
        assert_eq!(store.current_catalog("lenina").await.unwrap(), None);
        save(&store, "lenina", "a").await;
        save(&store, "lenina", "b").await;
        save(&store, "mira", "m").await;
        assert_eq!(
            store.current_catalog("lenina").await.unwrap().unwrap().etag,
            "b"
        );
        assert_eq!(
            store
                .previous_catalog("lenina")
                .await
                .unwrap()
                .unwrap()
                .etag,
            "a"
        );
        assert_eq!(
            store.current_catalog("mira").await.unwrap().unwrap().etag,
            "m"
        );
        assert_eq!(store.previous_catalog("mira").await.unwrap(), None);
    }

    #[tokio::test]
    async fn rollback_swaps_current_and_previous_and_needs_a_previous() {
        let (store, _dir) = store().await;
        save(&store, "lenina", "a").await;
        assert_eq!(store.rollback_catalog("lenina").await.unwrap(), None);
        save(&store, "lenina", "b").await;
        let restored = store.rollback_catalog("lenina").await.unwrap().unwrap();
        assert_eq!(restored.etag, "a");
        assert_eq!(restored.catalog_json, "{\"etag\":\"a\"}");
        assert_eq!(
            store
                .previous_catalog("lenina")
                .await
                .unwrap()
                .unwrap()
                .etag,
            "b"
        );
    }

    #[tokio::test]
    async fn old_versions_are_pruned_but_current_and_previous_survive() {
        let (store, _dir) = store().await;
        for n in 0..15 {
            save(&store, "lenina", &format!("v{n}")).await;
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM catalog_versions WHERE branch = 'lenina'")
                .fetch_one(&store.sqlite().pool)
                .await
                .unwrap();
        assert_eq!(count, CATALOG_VERSIONS_KEPT);
        assert_eq!(
            store.current_catalog("lenina").await.unwrap().unwrap().etag,
            "v14"
        );
        assert_eq!(
            store
                .previous_catalog("lenina")
                .await
                .unwrap()
                .unwrap()
                .etag,
            "v13"
        );
    }

    #[tokio::test]
    async fn the_store_survives_a_reopen_and_reports_itself_writable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        save(&store, "lenina", "a").await;
        store.check_writable().await.unwrap();
        drop(store);
        let reopened = Store::open(&url).await.unwrap();
        assert_eq!(
            reopened
                .current_catalog("lenina")
                .await
                .unwrap()
                .unwrap()
                .etag,
            "a"
        );
    }
}
