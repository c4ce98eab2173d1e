//! The PostgreSQL backend: the SQL of every aggregate of the face, one file each, as methods of
//! [`PgStore`] named as the face's, for any number of processes sharing one database.
//!
//! Where SQLite takes its one write lock (`BEGIN IMMEDIATE`), PostgreSQL locks rows: a
//! transaction that decides on a row it then writes reads it `FOR UPDATE`, and queues are
//! claimed with `FOR UPDATE SKIP LOCKED`, so two instances never take one item and neither
//! waits for the other. Intake and the order hot path still go through a group-commit writer
//! per process (`batch`, `intake`): one transaction and one WAL flush per batch; (branch, site
//! id) is unique across processes through `ON CONFLICT`.
mod batch;
mod catalog;
mod claims;
mod copy;
mod duties;
mod events;
mod fallback;
mod intake;
mod leases;
mod orders;
mod retention;
mod status;
mod sync_lock;

pub use status::PgStatusBatch;

use std::{str::FromStr, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::StoreError;
use crate::config::StoreConfig;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Group commit for the order hot path (see `batch`).
    writer: batch::Writer,
    /// Order submissions, stored a batch at a time (see `intake`).
    intake: intake::Intake,
}

impl PgStore {
    pub async fn open(settings: &StoreConfig) -> Result<PgStore, StoreError> {
        let refused =
            |e: &dyn std::fmt::Display| StoreError::Url(settings.display_url(), e.to_string());
        let mut options = PgConnectOptions::from_str(&settings.url).map_err(|e| refused(&e))?;
        if let Some(password) = &settings.password {
            options = options.password(password.expose_secret());
        }
        // A write waits this long for a row or table lock, then fails (intake answers 503), as
        // a SQLite writer waits for its lock, instead of hanging behind a stuck transaction.
        let options = options.options([("lock_timeout", "5s")]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            // A request waits this long for a connection, then the store counts as unavailable
            // (intake answers 503) rather than hanging.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
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
