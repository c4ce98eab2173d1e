//! The PostgreSQL backend: the SQL of every aggregate of the face, one file each, as methods of
//! [`PgStore`] named as the face's, for any number of processes sharing one database.
//!
//! Where SQLite takes its one write lock (`BEGIN IMMEDIATE`), PostgreSQL locks rows: a
//! transaction that decides on a row it then writes reads it `FOR UPDATE`, and queues are
//! claimed with `FOR UPDATE SKIP LOCKED`, so two instances never take one item and neither
//! waits for the other. Intake groups the orders arriving together into one transaction per
//! batch (`intake`), (branch, site id) unique across processes through `ON CONFLICT`; the
//! order hot path's writes are concurrent transactions, ledger lines appended in groups
//! (`batch`).
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

pub use status::PgStatusBatch;

use std::{str::FromStr, sync::Arc, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{
    PgConnection, PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::Notify;

use super::StoreError;
use crate::config::StoreConfig;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The order hot path's writes (see `batch`).
    writer: batch::Writer,
    /// Order submissions, stored a batch at a time (see `intake`).
    intake: intake::Intake,
}

impl PgStore {
    /// Opens the store and starts listening for new orders to send, stored by any process
    /// (`orders_due` is told of each).
    pub async fn open(
        settings: &StoreConfig,
        orders_due: &Arc<Notify>,
    ) -> Result<PgStore, StoreError> {
        let refused =
            |e: &dyn std::fmt::Display| StoreError::Url(settings.display_url(), e.to_string());
        let mut options = PgConnectOptions::from_str(&settings.url).map_err(|e| refused(&e))?;
        if let Some(password) = &settings.password {
            options = options.password(password.expose_secret());
        }
        // A write waits this long for a row or table lock, then fails (intake answers 503), as
        // a SQLite writer waits for its lock, instead of hanging behind a stuck transaction.
        // The server's notices ("relation already exists, skipping" at every start) stay out
        // of the logs.
        let options = options.options([("lock_timeout", "5s"), ("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            // A request waits this long for a connection, then the store counts as unavailable
            // (intake answers 503) rather than hanging.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let listener = listener(&pool).await?;
        tokio::spawn(listen_for_due_orders(
            pool.clone(),
            listener,
            orders_due.clone(),
        ));
        let writer = batch::Writer::start(pool.clone());
        Ok(PgStore {
            intake: intake::start(pool.clone()),
            writer,
            pool,
        })
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // A read-only server (a standby after a failover gone wrong) refuses the first; the
        // second takes the lock every order write takes, so a table locked away fails it too.
        sqlx::query("SET TRANSACTION READ WRITE")
            .execute(&mut *tx)
            .await?;
        sqlx::query("LOCK TABLE orders IN ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(())
    }
}

/// The channel a transaction that makes an order due notifies (delivered at its commit), per
/// schema: bridges keeping their stores in two schemas of one database do not wake each other.
const ORDERS_DUE: &str = "'iiko_bridge_orders_due.' || current_schema()";

/// Tells every listening process, once the caller's transaction commits, that an order is due.
pub(super) async fn notify_orders_due(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query(&format!("SELECT pg_notify({ORDERS_DUE}, '')"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Listens for [`ORDERS_DUE`]: the notifications of every commit after this returns.
async fn listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let channel: String = sqlx::query_scalar(&format!("SELECT {ORDERS_DUE}"))
        .fetch_one(pool)
        .await?;
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(&channel).await?;
    Ok(listener)
}

/// Wakes this process's dispatcher on every [`ORDERS_DUE`] notification, for as long as the
/// pool is open. A lost connection is listened to again after a pause (the dispatcher's poll
/// covers what was missed meanwhile).
async fn listen_for_due_orders(pool: PgPool, mut listener: PgListener, orders_due: Arc<Notify>) {
    let pause = Duration::from_secs(1);
    loop {
        while let Ok(Some(_)) = listener.try_recv().await {
            orders_due.notify_one();
        }
        loop {
            tokio::time::sleep(pause).await;
            if pool.is_closed() {
                return;
            }
            if let Ok(again) = self::listener(&pool).await {
                listener = again;
                break;
            }
        }
    }
}
