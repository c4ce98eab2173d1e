//! Catalog versions per branch: the current one, the rollback target and a short history,
//! each saved with its `catalog.updated` event.
use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// A catalog about to be stored: the documents are opaque JSON to the store.
pub struct NewCatalogVersion<'a> {
    pub branch: &'a str,
    pub revision: Option<i64>,
    pub synced_at: DateTime<Utc>,
    pub etag: &'a str,
    pub catalog_json: &'a str,
    pub public_json: &'a str,
    pub report_json: &'a str,
    /// The `data` of the `catalog.updated` event written with this version (the diff counts);
    /// `None` writes no event.
    pub updated_event: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCatalog {
    pub id: i64,
    pub branch: String,
    pub revision: Option<i64>,
    pub synced_at: DateTime<Utc>,
    pub etag: String,
    pub catalog_json: String,
    pub public_json: String,
    pub report_json: String,
}

/// What a sync needs of the current version: not the served document, which is the largest.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CatalogSource {
    #[sqlx(rename = "catalog")]
    pub catalog_json: String,
    #[sqlx(rename = "report")]
    pub report_json: String,
}

/// What the catalog API serves.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PublicCatalogRow {
    pub etag: String,
    #[sqlx(rename = "public_catalog")]
    pub public_json: String,
}

impl Store {
    /// Stores a new catalog version and makes it current, keeping the old current one as the
    /// rollback target, in one transaction with its `catalog.updated` event: a crash never
    /// leaves a branch without a catalog, nor the site without news of a stored change.
    pub async fn save_catalog(&self, new: NewCatalogVersion<'_>) -> Result<i64, StoreError> {
        on_backend!(self, b => b.save_catalog(new).await)
    }

    pub async fn current_catalog(&self, branch: &str) -> Result<Option<StoredCatalog>, StoreError> {
        on_backend!(self, b => b.current_catalog(branch).await)
    }

    pub async fn previous_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<StoredCatalog>, StoreError> {
        on_backend!(self, b => b.previous_catalog(branch).await)
    }

    pub async fn current_catalog_source(
        &self,
        branch: &str,
    ) -> Result<Option<CatalogSource>, StoreError> {
        on_backend!(self, b => b.current_catalog_source(branch).await)
    }

    /// The id of a branch's current catalog version: a cheap way to tell whether a parsed copy
    /// is still current.
    pub async fn current_catalog_id(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        on_backend!(self, b => b.current_catalog_id(branch).await)
    }

    /// The current version's id with its internal catalog document.
    pub async fn current_catalog_document(
        &self,
        branch: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        on_backend!(self, b => b.current_catalog_document(branch).await)
    }

    /// iiko's revision behind the current version (the nomenclature cursor), if any.
    pub async fn current_iiko_revision(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        on_backend!(self, b => b.current_iiko_revision(branch).await)
    }

    pub async fn current_public_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<PublicCatalogRow>, StoreError> {
        on_backend!(self, b => b.current_public_catalog(branch).await)
    }

    /// Makes the previous version current again (and the current one the new rollback target).
    /// `None` when there is nothing to roll back to.
    pub async fn rollback_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<StoredCatalog>, StoreError> {
        on_backend!(self, b => b.rollback_catalog(branch).await)
    }
}

/// Every column of a version, read `FROM catalog_versions v` (both backends).
pub(super) const ALL_COLUMNS: &str =
    "v.id, v.branch, v.revision, v.synced_at, v.etag, v.catalog, v.public_catalog, v.report";

/// A branch's current version, or the one before it (the rollback target).
#[derive(Clone, Copy)]
pub(super) enum Version {
    Current,
    Previous,
}

impl Version {
    /// Its `catalog_current` column.
    pub(super) fn pointer(self) -> &'static str {
        match self {
            Version::Current => "version_id",
            Version::Previous => "previous_id",
        }
    }
}

/// How many catalog versions per branch are kept (the current one, the rollback target, history).
pub(super) const CATALOG_VERSIONS_KEPT: i64 = 10;

/// A `catalog_versions` row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct CatalogRow {
    pub(super) id: i64,
    pub(super) branch: String,
    pub(super) revision: Option<i64>,
    pub(super) synced_at: String,
    pub(super) etag: String,
    pub(super) catalog: String,
    pub(super) public_catalog: String,
    pub(super) report: String,
}

impl TryFrom<CatalogRow> for StoredCatalog {
    type Error = StoreError;

    fn try_from(row: CatalogRow) -> Result<Self, StoreError> {
        let synced_at = DateTime::parse_from_rfc3339(&row.synced_at)
            .map_err(|e| {
                StoreError::Corrupt(format!("catalog synced_at {:?}: {e}", row.synced_at))
            })?
            .with_timezone(&Utc);
        Ok(StoredCatalog {
            id: row.id,
            branch: row.branch,
            revision: row.revision,
            synced_at,
            etag: row.etag,
            catalog_json: row.catalog,
            public_json: row.public_catalog,
            report_json: row.report,
        })
    }
}
