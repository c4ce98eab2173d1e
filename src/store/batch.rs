//! Group commit. A durable commit (SQLite's `synchronous=FULL`) waits for an fsync (a few
//! milliseconds on ordinary disks, a few hundred commits a second), so writes that come many
//! at a time go through a [`Group`]: what is waiting is written together, and every caller is
//! answered only after the commit. A caller still hears back only once its write is durable;
//! many callers share one fsync. Three groups use it: the order hot path's writer of each
//! backend (SQLite's in `sqlite/batch.rs`), order intake on top of it (`sqlite/intake.rs`), and
//! iiko's webhook calls (`status/inbox.rs`).
use std::{future::Future, panic::AssertUnwindSafe};

use futures::FutureExt;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
