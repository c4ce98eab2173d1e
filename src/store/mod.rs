//! Persistence: one `Store` over SQLite (WAL, `synchronous=FULL`), the only backend in this
//! version (`store.url` takes `sqlite://PATH`). The SQL is SQLite's (`BEGIN IMMEDIATE`,
//! `json_each`), so a PostgreSQL backend will need its own behind the same methods.
//!
//! The store sits below the domain: it writes the changes `orders::lifecycle` and
//! `status::apply` decide ([`AttemptChange`], [`OperatorChange`], [`StatusWrite`]) as plain
//! data and decides nothing itself. Its SQL is grouped by aggregate: `orders` (the order,
//! its history, the operators' changes; intake in `intake`), `leases` (leases, the ledger,
//! attempt ends; group commit in `batch`), `events` (the site events outbox), `fallback`,
//! `catalog`, `status` (status reports, cursors, the webhook inbox), `retention`,
//! `sync_lock`, `claims` (the claims several instances take on events, fallback deliveries
//! and operator alerts), `duties` (the singleton duties' lease rows).
mod sqlite;

use sqlite::{batch, catalog, claims, duties, events, fallback, intake, leases, orders, status};

pub use batch::Group;
pub use catalog::{CatalogSource, NewCatalogVersion, PublicCatalogRow, StoredCatalog};
pub use claims::AlertClaim;
pub use duties::DutyLease;
pub use events::{
    DueEvent, EventAttempt, EventAttemptEnd, EventType, NewEvent, OrderEvent, RecordedAttempt,
    Redelivered, StoppedUrl, StoredEvent,
};

pub use fallback::{
    DeliveryState, FALLBACK_ATTEMPTS_BEFORE_ALERT, FallbackChannel, FallbackDelivery, NewDelivery,
    NewFallback, UndeliveredFallback,
};
pub use leases::{AttemptChange, CallRecord};
pub use orders::{
    HistoryEntry, Inserted, NewOrder, OperatorChange, OrderState, RenewedIds, StoredOrder,
    WebhookId,
};
pub use status::{LateCreation, StatusBatch, StatusReport, StatusRow, StatusWrite, TrackedOrder};

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use tokio::sync::Notify;

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

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
        match error {
            // A row that does not read as its type (an unknown order state ...).
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(error.to_string())
            }
            error => StoreError::Unavailable(error),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Group commit for the order hot path (see `batch`).
    writer: batch::Writer,
    /// Order submissions, stored a batch at a time (see `intake`).
    intake: intake::Intake,
    /// Told when this process stores a new order to send (see [`Store::orders_due`]).
    orders_due: Arc<Notify>,
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
    /// Makes this process the only `serve` of the store. SQLite serves one process, so a second
    /// one refuses to start, and the one that starts may release what a dead predecessor had
    /// claimed ([`Store::release_dead_claims`]). Other commands (`orders
    /// list` ...) take no lock.
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
            orders_due: Arc::default(),
        })
    }

    /// Fires once an order to send is stored through this handle, so a dispatcher waiting for
    /// its next poll starts it at once; the poll remains the safety net (orders stored by
    /// other processes, orders due again later).
    pub fn orders_due(&self) -> Arc<Notify> {
        self.orders_due.clone()
    }

    /// Proves the store accepts writes (for `/readyz`) without changing anything.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        tx.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
