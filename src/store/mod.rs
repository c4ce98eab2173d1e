//! Persistence: one public face, [`Store`], over a backend that holds the SQL: SQLite
//! (`store.url = "sqlite://PATH"`, `sqlite/`) for one process, or PostgreSQL
//! (`postgres://...`, `postgres/`) for any number of processes sharing it.
//!
//! The store sits below the domain: it writes the changes `orders::lifecycle` and
//! `status::apply` decide ([`AttemptChange`], [`OperatorChange`], [`StatusWrite`]) as plain
//! data and decides nothing itself. The face (this module and its files, one per aggregate:
//! `orders` (the order, its history, the operators' changes), `leases` (leases, the ledger,
//! attempt ends), `events` (the site events outbox), `fallback`, `catalog`, `status` (status
//! reports, cursors, the webhook inbox), `retention`, `sync_lock`, `claims` (the claims several
//! instances take on events, fallback deliveries and operator alerts), `duties` (the singleton
//! duties' lease rows), `overview` (read-only counts across them, for the operators), `reconcile` (the kept
//! reconciliation reports)) holds what every backend shares: the data types the domain passes in
//! and gets back, the pure decisions (`claims::claimable_events`, `claims::claim_holds`), group
//! commit ([`Group`]) and the documented methods of [`Store`]. A backend's module has one file
//! per aggregate with the same methods, SQL only.
//!
//! How a backend plugs in: a module (`postgres/`) with a `Clone` store type whose methods have
//! the face's names and signatures, a variant of `Backend`, its arm in `on_backend!` (and in
//! [`StatusBatch`]), and its scheme in [`Store::open`]. Callers do not change. An enum rather
//! than a trait: the face's methods are `async fn`s, some generic (`change_by_operator`), so a
//! `dyn` backend would need boxed futures and no generics; an enum keeps `Store: Clone` and
//! static dispatch, and the compiler names every method a new backend still lacks.

/// Runs `$call` on the store's backend, bound to `$b`: every backend has the face's methods,
/// so the one expression serves each arm.
macro_rules! on_backend {
    ($store:expr, $b:ident => $call:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($b) => $call,
            $crate::store::Backend::Postgres($b) => $call,
        }
    };
}

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
mod postgres;
mod reconcile;
mod retention;
mod sqlite;
mod status;
mod sync_lock;

pub use batch::Group;
pub use bot::{Actor, BotMessage};
pub use catalog::{CatalogSource, NewCatalogVersion, PublicCatalogRow, StoredCatalog};
pub use claims::AlertClaim;
pub use copy::{CopiedTable, CopyError};
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
pub use overview::{AlertState, CatalogReport, OrderCount};
pub use reconcile::{NewReconcileReport, OwedSummary, StoredReconcileReport};
pub use status::{LateCreation, StatusBatch, StatusReport, StatusRow, StatusWrite, TrackedOrder};

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::StoreConfig;

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
    backend: Backend,
    /// Told when an order to send is stored (see [`Store::orders_due`]).
    orders_due: Arc<Notify>,
}

/// The backend a [`Store`] runs on, picked by the scheme of `store.url`.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// On SQLite, `<db>.lock`, held (an OS file lock) for as long as this value lives; the OS
/// lets go of it when the process ends, however it ends. PostgreSQL takes no lock: several
/// processes serve it.
#[derive(Debug)]
pub struct ServeLock {
    file: Option<std::fs::File>,
}

impl ServeLock {
    /// Whether this process alone serves the store, so whatever is claimed in it was claimed
    /// by a process that is gone.
    pub fn alone(&self) -> bool {
        self.file.is_some()
    }
}

/// The refusal of a `store.url` no backend takes.
fn unsupported(url: &str) -> StoreError {
    StoreError::Url(
        StoreConfig::at(url).display_url(),
        "expected sqlite://PATH or postgres://[user[:password]@]host[:port]/database".into(),
    )
}

impl Store {
    /// Makes this process the only `serve` of the store. SQLite serves one process, so a second
    /// one refuses to start, and the one that starts may release what a dead predecessor had
    /// claimed ([`Store::release_dead_claims`]). Other commands (`orders
    /// list` ...) take no lock.
    pub fn lock_for_serving(url: &str) -> Result<ServeLock, StoreError> {
        match url {
            _ if url.starts_with("sqlite://") => sqlite::lock_for_serving(url),
            _ if is_postgres(url) => Ok(ServeLock { file: None }),
            _ => Err(unsupported(url)),
        }
    }

    /// Opens the store at `url` with the other store settings at their defaults.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::connect(&StoreConfig::at(url)).await
    }

    /// Opens (creating a SQLite file if needed) the store `settings` name and brings its
    /// schema up to date.
    pub async fn connect(settings: &StoreConfig) -> Result<Store, StoreError> {
        let url = settings.url.as_str();
        let orders_due = Arc::default();
        let backend = match url {
            _ if url.starts_with("sqlite://") => {
                Backend::Sqlite(sqlite::SqliteStore::open(url).await?)
            }
            _ if is_postgres(url) => {
                Backend::Postgres(postgres::PgStore::open(settings, &orders_due).await?)
            }
            _ => return Err(unsupported(url)),
        };
        Ok(Store {
            backend,
            orders_due,
        })
    }

    /// Fires once an order to send is stored through this handle (on PostgreSQL, also by any
    /// other process: `LISTEN`), so a dispatcher waiting for its next poll starts it at once;
    /// the poll remains the safety net (a notification lost with a connection, orders due
    /// again later).
    pub fn orders_due(&self) -> Arc<Notify> {
        self.orders_due.clone()
    }

    /// Proves the store accepts writes (for `/readyz`) without changing anything.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.check_writable().await)
    }

    /// The SQLite backend, for the tests that look under the face.
    #[cfg(test)]
    fn sqlite(&self) -> &sqlite::SqliteStore {
        match &self.backend {
            Backend::Sqlite(store) => store,
            Backend::Postgres(_) => panic!("a SQLite store was expected"),
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
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
    async fn an_unsupported_url_is_named_without_its_password() {
        let error = Store::open("mysql://bridge:hunter2@localhost/bridge")
            .await
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("store.url mysql://bridge:***@localhost/bridge: expected sqlite://"),
            "{error}"
        );
    }
}
