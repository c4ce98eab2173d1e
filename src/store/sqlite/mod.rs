//! The SQLite backend (WAL, `synchronous=FULL`): the SQL of every aggregate of the face, one
//! file each, as methods of [`SqliteStore`] named as the face's. Its writes are `BEGIN
//! IMMEDIATE` transactions (SQLite has one writer at a time, so a transaction that will write
//! takes the lock first instead of failing on upgrade); the order hot path and intake go
//! through one group-commit writer (`batch`, `intake`).
mod batch;
mod bot;
mod catalog;
mod claims;
mod copy;
mod duties;
mod events;
mod fallback;
mod intake;
mod leases;
mod orders;
mod overview;
mod reconcile;
mod retention;
mod status;
mod sync_lock;

pub use copy::exists;
pub use status::SqliteStatusBatch;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{ServeLock, StoreError};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Group commit for the order hot path (see `batch`).
    writer: batch::Writer,
    /// Order submissions, stored a batch at a time (see `intake`).
    intake: intake::Intake,
}

/// The path of a SQLite store: `sqlite://PATH?options` -> `PATH`.
fn sqlite_path(url: &str) -> Result<&str, StoreError> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Err(super::unsupported(url));
    };
    Ok(path.split('?').next().unwrap_or(path))
}

/// `<db>.lock`, held (an OS file lock) for as long as the returned value lives.
pub fn lock_for_serving(url: &str) -> Result<ServeLock, StoreError> {
    let path = format!("{}.lock", sqlite_path(url)?);
    if let Some(dir) = Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Url(url.to_owned(), e.to_string()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Url(url.to_owned(), format!("{path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { file: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(url.to_owned(), path)),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Url(
            url.to_owned(),
            format!("locking {path}: {e}"),
        )),
    }
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
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
        Ok(SqliteStore {
            intake: intake::start(writer.clone()),
            writer,
            pool,
        })
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        tx.rollback().await?;
        Ok(())
    }
}
