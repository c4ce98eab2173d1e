//! Persistence: one `Store` over SQLite (WAL, `synchronous=FULL`), the only backend in this
//! version (`store.url` takes `sqlite://PATH`). The SQL is SQLite's (`BEGIN IMMEDIATE`,
//! `json_each`), so a PostgreSQL backend will need its own behind the same methods.
mod batch;
mod events;
mod fallback;
mod intake;
mod orders;
mod retention;
mod status;
mod sync_lock;

pub use events::{
    DueEvent, EventAttempt, EventAttemptEnd, EventType, NewEvent, OrderEvent, RecordedAttempt,
    Redelivered, StoppedUrl, StoredEvent,
};

pub use fallback::{
    DeliveryState, FALLBACK_ATTEMPTS_BEFORE_ALERT, FallbackChannel, FallbackDelivery, NewDelivery,
    NewFallback, UndeliveredFallback,
};
pub use orders::{
    AttemptChange, CallRecord, HistoryEntry, Inserted, NewOrder, OperatorChange, OrderState,
    RenewedIds, StoredOrder, WebhookId,
};
pub use status::{LateCreation, StatusBatch, StatusReport, StatusRow, StatusWrite, TrackedOrder};

use std::{path::Path, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    Row, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

const ALL_COLUMNS: &str =
    "v.id, v.branch, v.revision, v.synced_at, v.etag, v.catalog, v.public_catalog, v.report";

#[derive(Clone, Copy)]
enum Version {
    Current,
    Previous,
}

/// How many catalog versions per branch are kept (the current one, the rollback target, history).
const CATALOG_VERSIONS_KEPT: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.url {0}: {1}")]
    Url(String, String),
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("migrating the store: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store could not commit: {0}")]
    CommitFailed(String),
    #[error(
        "store.url {0}: another process holds {1} (a second `serve` on this store?); \
         SQLite serves one process: stop the other one first"
    )]
    InUse(String, String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Unavailable(error)
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Group commit for the order hot path (see `batch`).
    writer: batch::Writer,
    /// Order submissions, stored a batch at a time (see `intake`).
    intake: tokio::sync::mpsc::Sender<intake::Submission>,
}

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
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSource {
    pub catalog_json: String,
    pub report_json: String,
}

/// What the catalog API serves.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicCatalogRow {
    pub etag: String,
    pub public_json: String,
}

/// `<db>.lock`, held (an OS file lock) for as long as this value lives; the OS lets go of it
/// when the process ends, however it ends.
#[derive(Debug)]
pub struct ServeLock {
    _file: std::fs::File,
}

/// The path of a SQLite store: `sqlite://PATH?options` -> `PATH`.
fn sqlite_path(url: &str) -> Result<&str, StoreError> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Err(StoreError::Url(
            url.to_owned(),
            "only sqlite://PATH is supported in this version".into(),
        ));
    };
    Ok(path.split('?').next().unwrap_or(path))
}

impl Store {
    /// Makes this process the only `serve` of the store. SQLite serves one process: two would
    /// each send every operator message and site event (only orders are leased), so the
    /// second one refuses to start. Other commands (`orders list` ...) take no lock.
    pub fn lock_for_serving(url: &str) -> Result<ServeLock, StoreError> {
        let path = format!("{}.lock", sqlite_path(url)?);
        if let Some(dir) = Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Url(url.to_owned(), e.to_string()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Url(url.to_owned(), format!("{path}: {e}")))?;
        match file.try_lock() {
            Ok(()) => Ok(ServeLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(url.to_owned(), path)),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Url(
                url.to_owned(),
                format!("locking {path}: {e}"),
            )),
        }
    }

    /// Opens (creating if needed) the store at `store.url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let path = sqlite_path(url)?;
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Url(url.to_owned(), e.to_string()))?;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Url(url.to_owned(), e.to_string()))?
            .create_if_missing(true)
            // WAL lets readers (the catalog API) run while a writer commits.
            .journal_mode(SqliteJournalMode::Wal)
            // An accepted order must survive a power cut: fsync on every commit.
            .synchronous(SqliteSynchronous::Full)
            // Writers queue for the lock instead of failing at once under load.
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let writer = batch::Writer::start(pool.clone());
        Ok(Store {
            intake: intake::start(writer.clone()),
            writer,
            pool,
        })
    }

    /// Proves the store accepts writes (for `/readyz`) without changing anything.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        tx.rollback().await?;
        Ok(())
    }

    /// Stores a new catalog version and makes it current, keeping the old current one as the
    /// rollback target, in one transaction with its `catalog.updated` event: a crash never
    /// leaves a branch without a catalog, nor the site without news of a stored change.
    pub async fn save_catalog(&self, new: NewCatalogVersion<'_>) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query(
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
        .await?
        .get(0);
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
            events::enqueue_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn current_catalog(&self, branch: &str) -> Result<Option<StoredCatalog>, StoreError> {
        let row = self
            .version_row(branch, Version::Current, ALL_COLUMNS)
            .await?;
        row.map(|row| stored_catalog(&row)).transpose()
    }

    pub async fn previous_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<StoredCatalog>, StoreError> {
        let row = self
            .version_row(branch, Version::Previous, ALL_COLUMNS)
            .await?;
        row.map(|row| stored_catalog(&row)).transpose()
    }

    pub async fn current_catalog_source(
        &self,
        branch: &str,
    ) -> Result<Option<CatalogSource>, StoreError> {
        let row = self
            .version_row(branch, Version::Current, "v.catalog, v.report")
            .await?;
        Ok(row.map(|row| CatalogSource {
            catalog_json: row.get("catalog"),
            report_json: row.get("report"),
        }))
    }

    /// The id of a branch's current catalog version: a cheap way to tell whether a parsed copy
    /// is still current.
    pub async fn current_catalog_id(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version_id FROM catalog_current WHERE branch = ?")
                .bind(branch)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The current version's id with its internal catalog document.
    pub async fn current_catalog_document(
        &self,
        branch: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row = self
            .version_row(branch, Version::Current, "v.id, v.catalog")
            .await?;
        Ok(row.map(|row| (row.get("id"), row.get("catalog"))))
    }

    /// iiko's revision behind the current version (the nomenclature cursor), if any.
    pub async fn current_iiko_revision(&self, branch: &str) -> Result<Option<i64>, StoreError> {
        let row = self
            .version_row(branch, Version::Current, "v.revision")
            .await?;
        Ok(row.and_then(|row| row.get("revision")))
    }

    pub async fn current_public_catalog(
        &self,
        branch: &str,
    ) -> Result<Option<PublicCatalogRow>, StoreError> {
        let row = self
            .version_row(branch, Version::Current, "v.etag, v.public_catalog")
            .await?;
        Ok(row.map(|row| PublicCatalogRow {
            etag: row.get("etag"),
            public_json: row.get("public_catalog"),
        }))
    }

    /// Some columns of a branch's current or previous version; reading only what the caller
    /// needs matters, as a large catalog's documents run to tens of megabytes.
    async fn version_row(
        &self,
        branch: &str,
        version: Version,
        columns: &str,
    ) -> Result<Option<SqliteRow>, StoreError> {
        let pointer = match version {
            Version::Current => "version_id",
            Version::Previous => "previous_id",
        };
        // `columns` and `pointer` are fixed strings of this module, never user input.
        let sql = format!(
            "SELECT {columns} FROM catalog_current c JOIN catalog_versions v ON v.id = c.{pointer}
             WHERE c.branch = ?"
        );
        Ok(sqlx::query(&sql)
            .bind(branch)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Makes the previous version current again (and the current one the new rollback target).
    /// `None` when there is nothing to roll back to.
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

fn stored_catalog(row: &SqliteRow) -> Result<StoredCatalog, StoreError> {
    let synced_at: String = row.get("synced_at");
    Ok(StoredCatalog {
        id: row.get("id"),
        branch: row.get("branch"),
        revision: row.get("revision"),
        synced_at: DateTime::parse_from_rfc3339(&synced_at)
            .map_err(|e| StoreError::Corrupt(format!("catalog synced_at {synced_at:?}: {e}")))?
            .with_timezone(&Utc),
        etag: row.get("etag"),
        catalog_json: row.get("catalog"),
        public_json: row.get("public_catalog"),
        report_json: row.get("report"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            sqlx::query("SELECT COUNT(*) FROM catalog_versions WHERE branch = 'lenina'")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .get(0);
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

    #[test]
    fn a_second_serve_lock_on_one_store_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/bridge.db", dir.path().display());
        let first = Store::lock_for_serving(&url).unwrap();
        let error = Store::lock_for_serving(&url).unwrap_err();
        assert!(matches!(error, StoreError::InUse(..)), "{error}");
        assert!(error.to_string().contains("bridge.db.lock"), "{error}");
        drop(first);
        Store::lock_for_serving(&url).unwrap();
    }

    #[tokio::test]
    async fn an_unsupported_url_is_named() {
        let error = Store::open("postgres://localhost/bridge")
            .await
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("store.url postgres://localhost/bridge:")
        );
    }
}
