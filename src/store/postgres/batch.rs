//! The order hot path's writes on PostgreSQL (see `store::batch`). Unlike SQLite, PostgreSQL
//! takes many writers at once and flushes the WAL of commits that come together once (its own
//! group commit), so each job of the [`Writer`] is a transaction of its own on a pooled
//! connection, run concurrently; a single writer would make every attempt wait for everyone
//! else's statements, one network round trip at a time. Ledger lines, only ever appended,
//! still go in together: whatever is waiting, one statement, committed before the next job of
//! this process runs (as on SQLite), so a job never finds an order locked by its own ledger.
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use super::leases::insert_calls;
use crate::store::{CallRecord, Group, StoreError};

/// Ledger lines per statement at most.
const MAX_BATCH: usize = 256;
/// Items waiting for a writer at most; callers beyond it wait for room.
pub(super) const QUEUE: usize = 4096;

#[derive(Clone)]
pub(super) struct Writer {
    pool: PgPool,
    /// Ledger lines, and `None`: a caller waiting for the lines before it to be committed.
    ledger: Group<Option<(i64, CallRecord)>, ()>,
}

impl Writer {
    /// Starts the ledger's writing task; it ends when the last `Writer` is dropped.
    pub(super) fn start(pool: PgPool) -> Writer {
        let lines = pool.clone();
        let (ledger, _) = Group::start(MAX_BATCH, QUEUE, move |batch: Vec<Option<_>>| {
            let pool = lines.clone();
            async move {
                let count = batch.len();
                let calls: Vec<(i64, CallRecord)> = batch.into_iter().flatten().collect();
                let lines = calls.len();
                let written = async {
                    if !calls.is_empty() {
                        let mut tx = pool.begin().await?;
                        insert_calls(&mut tx, calls).await?;
                        tx.commit().await?;
                    }
                    Ok::<_, StoreError>(())
                };
                if let Err(error) = written.await {
                    tracing::error!(%error, lines, "ledger lines were lost");
                }
                vec![(); count]
            }
        });
        Writer { pool, ledger }
    }

    /// Appends a ledger line without waiting for its commit (moments later, in order). A
    /// failure is logged.
    pub(super) async fn record(&self, order: i64, call: CallRecord) {
        if self.ledger.push(Some((order, call))).await.is_none() {
            tracing::error!(
                order,
                "a ledger line was lost: the store's writer has stopped"
            );
        }
    }

    /// Runs `work` in a transaction of its own, after the ledger lines recorded before it,
    /// and returns its result once committed; an error from `work` undoes its writes.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        self.ledger.call(None).await;
        let mut tx = self.pool.begin().await?;
        let result = work(&mut tx).await;
        match result {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                tx.rollback().await.ok();
                Err(error)
            }
        }
    }
}
