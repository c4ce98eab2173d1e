//! Group commit for the order hot path. With `synchronous=FULL` every commit waits for an
//! fsync (a few milliseconds on ordinary disks, a few hundred commits a second), so the writes
//! that come many at a time (accepting orders, leasing them, the dispatcher's outcomes and
//! ledger) go to one writer task that runs whatever is waiting in one transaction, each job in
//! its own savepoint, and answers every caller only after the commit. A caller still hears
//! back only once its write is durable; many callers share one fsync.
use futures::{FutureExt, future::BoxFuture};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{
    StoreError,
    leases::{CallRecord, insert_calls},
};

/// Jobs per transaction at most, so one batch never holds the write lock for long.
const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer at most; callers beyond it wait for room.
pub(super) const QUEUE: usize = 4096;

/// A job's work inside the shared transaction; it returns how to answer its caller once the
/// transaction's fate is known, and whether the transaction may still be committed.
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (Answer, Sound)> + Send>;
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;
/// False when a job's savepoint could not be undone: committing would keep half of it.
type Sound = bool;

/// What the writer is given: a job, or a ledger line, which is only ever appended, so the
/// lines of a batch go in together with one statement.
enum Queued {
    Job(Job),
    Ledger(i64, CallRecord),
}

#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Queued>,
}

impl Writer {
    /// Starts the writer task; it ends when the last `Writer` is dropped.
    pub(super) fn start(pool: SqlitePool) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(pool, queue));
        Writer { jobs }
    }

    /// Appends a ledger line with the next batch without waiting for its commit; it is
    /// committed with (or before) whatever the caller writes next. A failure is logged.
    pub(super) async fn record(&self, order: i64, call: CallRecord) {
        if self.jobs.send(Queued::Ledger(order, call)).await.is_err() {
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
        work: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = job(work, move |result| {
            let _ = reply.send(result);
        });
        self.jobs
            .send(Queued::Job(job))
            .await
            .map_err(|_| StoreError::CommitFailed("the store's writer has stopped".into()))?;
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::CommitFailed(
                "the store's writer could not start a transaction".into(),
            ))
        })
    }
}

/// Wraps `work` in its savepoint; `deliver` gets its result once the batch's fate is known.
fn job<T: Send + 'static>(
    work: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
    + Send
    + 'static,
    deliver: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job {
    Box::new(move |conn| {
        Box::pin(async move {
            let (result, sound) = in_savepoint(conn, work).await;
            let answer = Box::new(move |committed: Result<(), &str>| {
                deliver(match committed {
                    Ok(()) => result,
                    Err(error) => Err(StoreError::CommitFailed(error.to_owned())),
                })
            }) as Answer;
            (answer, sound)
        })
    })
}

async fn in_savepoint<T>(
    conn: &mut SqliteConnection,
    work: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>,
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

async fn write_loop(pool: SqlitePool, mut queue: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(error) => {
                // Dropping the jobs answers their callers with an error (the store is down).
                tracing::error!(%error, jobs = batch.len(), "the store refused a write batch");
                batch.clear();
                continue;
            }
        };
        let mut answers = Vec::with_capacity(batch.len());
        let mut ledger = Vec::new();
        let mut sound = true;
        for queued in batch.drain(..) {
            match queued {
                Queued::Job(job) => {
                    let (answer, job_sound) = job(&mut tx).await;
                    answers.push(answer);
                    sound &= job_sound;
                }
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
            tracing::error!(%error, jobs = answers.len(), "a write batch did not commit");
        }
        for answer in answers {
            answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;
    use crate::store::Store;

    async fn count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    /// Inserts a row in the job, then fails when `fail` is set.
    async fn job(store: &Store, n: i64, fail: bool) -> Result<i64, StoreError> {
        store
            .writer
            .run(move |conn| {
                async move {
                    sqlx::query("INSERT INTO jobs VALUES (?)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                    match fail {
                        true => Err(StoreError::Corrupt("job failed on purpose".into())),
                        false => Ok(n),
                    }
                }
                .boxed()
            })
            .await
    }

    #[tokio::test]
    async fn concurrent_jobs_commit_together_and_a_failing_job_undoes_only_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/b.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        sqlx::query("CREATE TABLE jobs (n INTEGER)")
            .execute(&store.pool)
            .await
            .unwrap();
        let results = futures::future::join_all((0..50).map(|n| job(&store, n, n % 10 == 3))).await;
        for (n, result) in results.iter().enumerate() {
            match n % 10 == 3 {
                true => assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}"),
                false => assert_eq!(result.as_ref().unwrap(), &(n as i64)),
            }
        }
        assert_eq!(
            count(&store).await,
            45,
            "the five failed jobs left nothing behind"
        );
    }
}
