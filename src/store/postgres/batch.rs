//! PostgreSQL's group commit of the order hot path (see `store::batch`): the [`Writer`] runs
//! this process's leases, dispatcher outcomes and ledger lines, whatever is waiting, in one
//! transaction (one WAL flush), each job in its own savepoint, since an error aborts a
//! PostgreSQL transaction until it is rolled back to one. Other processes have writers of
//! their own; row locks keep them apart.
use futures::{FutureExt, future::BoxFuture};
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;

use super::leases::insert_calls;
use crate::store::{CallRecord, Group, StoreError};

/// Jobs per transaction at most, so one batch never holds its row locks for long.
const MAX_BATCH: usize = 256;
/// Items waiting for a writer at most; callers beyond it wait for room.
pub(super) const QUEUE: usize = 4096;

/// A job's work inside the shared transaction: it hands its result to its caller and says
/// whether the transaction may still be committed.
type Job = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Sound> + Send>;
/// False when a job's savepoint could not be undone: committing would keep half of it.
type Sound = bool;

/// What the writer is given: a job, or a ledger line, which is only ever appended, so the
/// lines of a batch go in together with one statement.
enum Queued {
    Job(Job),
    Ledger(i64, CallRecord),
}

/// Runs the queued jobs of a group in one transaction, each in its own savepoint; answers
/// each with the transaction's fate.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: Group<Queued, Result<(), String>>,
}

impl Writer {
    /// Starts the writer task; it ends when the last `Writer` is dropped.
    pub(super) fn start(pool: PgPool) -> Writer {
        let (jobs, _) = Group::start(MAX_BATCH, QUEUE, move |batch| write(pool.clone(), batch));
        Writer { jobs }
    }

    /// Appends a ledger line with the next batch without waiting for its commit; it is
    /// committed with (or before) whatever the caller writes next. A failure is logged.
    pub(super) async fn record(&self, order: i64, call: CallRecord) {
        if self.jobs.push(Queued::Ledger(order, call)).await.is_none() {
            tracing::error!(
                order,
                "a ledger line was lost: the store's writer has stopped"
            );
        }
    }

    /// Runs `work` in the next batch and returns its result once that batch is committed. An
    /// error from `work` undoes only its own writes.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let (result, done) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let (outcome, sound) = in_savepoint(conn, work).await;
                let _ = result.send(outcome);
                sound
            })
        });
        let failed = |message: &str| StoreError::CommitFailed(message.to_owned());
        let committed = self
            .jobs
            .call(Queued::Job(job))
            .await
            .ok_or_else(|| failed("the store's writer has stopped or failed this write"))?;
        committed.map_err(|error| failed(&error))?;
        done.await
            .map_err(|_| failed("the store's writer did not run the write"))?
    }
}

async fn in_savepoint<T>(
    conn: &mut PgConnection,
    work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>,
) -> (Result<T, StoreError>, Sound) {
    if let Err(error) = sqlx::query("SAVEPOINT job").execute(&mut *conn).await {
        return (Err(error.into()), false);
    }
    let result = work(&mut *conn).await;
    let undone = match result {
        Ok(_) => Ok(()),
        Err(_) => sqlx::query("ROLLBACK TO job")
            .execute(&mut *conn)
            .await
            .map(drop),
    };
    let released = sqlx::query("RELEASE job").execute(&mut *conn).await;
    (result, undone.is_ok() && released.is_ok())
}

/// One group: its jobs and ledger lines in one transaction, committed unless a job could
/// not be undone; every item gets the transaction's fate.
async fn write(pool: PgPool, batch: Vec<Queued>) -> Vec<Result<(), String>> {
    let items = batch.len();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(error) => {
            tracing::error!(%error, jobs = items, "the store refused a write batch");
            let refused = format!("the store's writer could not start a transaction: {error}");
            return vec![Err(refused); items];
        }
    };
    let mut ledger = Vec::new();
    let mut sound = true;
    for queued in batch {
        match queued {
            Queued::Job(job) => sound &= job(&mut tx).await,
            Queued::Ledger(order, call) => ledger.push((order, call)),
        }
    }
    if !ledger.is_empty() {
        let lines = ledger.len();
        let (written, ledger_sound) =
            in_savepoint(&mut tx, move |conn| insert_calls(conn, ledger).boxed()).await;
        sound &= ledger_sound;
        if let Err(error) = written {
            tracing::error!(%error, lines, "ledger lines were lost");
        }
    }
    let committed = match sound {
        true => tx.commit().await.map_err(|error| error.to_string()),
        false => {
            let _ = tx.rollback().await;
            Err("a write could not be undone, so its whole batch was rolled back".to_owned())
        }
    };
    if let Err(error) = &committed {
        tracing::error!(%error, items, "a write batch did not commit");
    }
    vec![committed; items]
}
