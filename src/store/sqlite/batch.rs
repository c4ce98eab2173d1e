//! Group commit. With `synchronous=FULL` every commit waits for an fsync (a few milliseconds on
//! ordinary disks, a few hundred commits a second), so writes that come many at a time go
//! through a [`Group`]: what is waiting is written together, and every caller is answered only
//! after the commit. A caller still hears back only once its write is durable; many callers
//! share one fsync. Three groups use it: the order hot path's [`Writer`] here (leases, the
//! dispatcher's outcomes and ledger: whatever is waiting in one transaction, each job in its
//! own savepoint), order intake on top of it (`intake.rs`), and iiko's webhook calls
//! (`status/inbox.rs`).
use std::{future::Future, panic::AssertUnwindSafe};

use futures::{FutureExt, future::BoxFuture};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use super::{
    StoreError,
    leases::{CallRecord, insert_calls},
};

/// Jobs per transaction at most, so one batch never holds the write lock for long.
const MAX_BATCH: usize = 256;
/// Items waiting for a writer at most; callers beyond it wait for room.
pub(super) const QUEUE: usize = 4096;

/// The one shape of group commit: what callers send while a group is being written waits for
/// the next one, which takes up to `max` of them and writes them with one call (one
/// transaction, one fsync); every caller is answered after that call. Cheap to clone.
pub struct Group<T, R> {
    queue: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for Group<T, R> {
    fn clone(&self) -> Self {
        Group {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Group<T, R> {
    /// Starts the writing task, with room for `queue` waiting items. `write` answers a group
    /// with one `R` per item, in order. The task ends once every clone is dropped and the
    /// queue is drained, and not before: a `write` that panics fails only its own group's
    /// callers, so it needs no supervisor.
    pub fn start<W, F>(max: usize, queue: usize, mut write: W) -> (Group<T, R>, JoinHandle<()>)
    where
        W: FnMut(Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<R>> + Send,
    {
        let (sender, mut waiting) = mpsc::channel::<(T, oneshot::Sender<R>)>(queue);
        let task = tokio::spawn(async move {
            let mut group = Vec::with_capacity(max);
            while waiting.recv_many(&mut group, max).await > 0 {
                let (items, callers): (Vec<T>, Vec<_>) = group.drain(..).unzip();
                match AssertUnwindSafe(write(items)).catch_unwind().await {
                    Ok(answers) => {
                        for (caller, answer) in callers.into_iter().zip(answers) {
                            let _ = caller.send(answer);
                        }
                    }
                    // Dropping the callers' senders answers them with an error.
                    Err(_) => tracing::error!(items = callers.len(), "a group write panicked"),
                }
            }
        });
        (Group { queue: sender }, task)
    }

    /// Queues `item` for the next group; its answer comes once the group is written. `None`
    /// when the writer has stopped.
    pub async fn push(&self, item: T) -> Option<oneshot::Receiver<R>> {
        let (answer, answered) = oneshot::channel();
        self.queue.send((item, answer)).await.ok()?;
        Some(answered)
    }

    /// Queues `item` and waits for its answer; `None` when the writer has stopped or its
    /// group failed without an answer.
    pub async fn call(&self, item: T) -> Option<R> {
        self.push(item).await?.await.ok()
    }
}

/// A job's work inside the shared transaction: it hands its result to its caller and says
/// whether the transaction may still be committed.
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Sound> + Send>;
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
pub(in crate::store) struct Writer {
    jobs: Group<Queued, Result<(), String>>,
}

impl Writer {
    /// Starts the writer task; it ends when the last `Writer` is dropped.
    pub(in crate::store) fn start(pool: SqlitePool) -> Writer {
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
        work: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
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

/// One group: its jobs and ledger lines in one transaction, committed unless a job could
/// not be undone; every item gets the transaction's fate.
async fn write(pool: SqlitePool, batch: Vec<Queued>) -> Vec<Result<(), String>> {
    let items = batch.len();
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
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
    async fn a_group_answers_each_caller_in_order_and_a_panicking_write_fails_only_its_own_group() {
        let (group, writer) = Group::start(8, 64, |items: Vec<i64>| async move {
            assert!(!items.contains(&13), "unlucky");
            items.iter().map(|n| n * 2).collect::<Vec<_>>()
        });
        let answers = futures::future::join_all((0..10).map(|n| group.call(n))).await;
        assert_eq!(answers, (0..10).map(|n| Some(n * 2)).collect::<Vec<_>>());
        assert_eq!(group.call(13).await, None);
        assert_eq!(group.call(14).await, Some(28), "the writer lives on");
        drop(group);
        writer.await.unwrap();
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
