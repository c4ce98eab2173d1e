//! The one shape of `serve`'s background workers ([`Worker`]: a step that says when it wants
//! the next one) and the one loop that runs them ([`run`]: sleeping, waking, pausing after
//! failures, stopping). Restarts and `/readyz` are the supervisor's (`src/supervisor.rs`).
use std::{fmt::Display, future::Future, sync::Arc, time::Duration};

use tokio::sync::{Notify, watch};

use crate::retry::PAUSE;

/// What a step tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More is waiting (a full batch): step again at once.
    Again,
    /// Step again after this long, or sooner when the worker's [`Worker::wake`] fires.
    Wait(Duration),
}

/// A background worker of `serve`. Each also has a `try_step` (most take the time) that tests
/// drive without sleeping and that reports what it did; `step` is that step as the loop sees
/// it.
pub trait Worker: Send + Sync + 'static {
    /// The name in logs, metrics and `/readyz`.
    const NAME: &'static str;
    type Error: Display + Send;

    /// One step, as of now.
    fn step(self: Arc<Self>) -> impl Future<Output = Result<Step, Self::Error>> + Send;

    /// The pause after the `failures`-th failed step in a row.
    fn after_failure(&self, failures: u32) -> Duration {
        PAUSE.wait(failures)
    }

    /// Fires when there is work before the wait is over (a webhook call stored, a sync asked
    /// for, a dispatch slot freed).
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }

    /// After shutdown: lets the work the steps started finish.
    fn drain(self: Arc<Self>) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Steps `worker` until `shutdown` turns true (or its sender is gone), then drains it. A step
/// in flight is never cut short; a failed one is logged and followed by a pause.
pub async fn run<W: Worker>(worker: Arc<W>, mut shutdown: watch::Receiver<bool>) {
    let wake = worker.wake();
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        let wait = match worker.clone().step().await {
            Ok(step) => {
                failures = 0;
                match step {
                    Step::Again => continue,
                    Step::Wait(wait) => wait,
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let pause = worker.after_failure(failures);
                tracing::error!(worker = W::NAME, %error, failures, ?pause, "worker step failed");
                pause
            }
        };
        let woken = async {
            match &wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = woken => {}
            changed = shutdown.changed() => if changed.is_err() {
                break;
            },
        }
    }
    worker.drain().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Counts its steps; fails the ones listed, asks for another step at once on the ones
    /// listed, and otherwise waits an hour unless woken.
    #[derive(Default)]
    struct Counting {
        steps: AtomicU32,
        failing: Vec<u32>,
        again: Vec<u32>,
        wake: Arc<Notify>,
        drained: AtomicU32,
    }

    impl Worker for Counting {
        const NAME: &'static str = "counting";
        type Error = String;

        async fn step(self: Arc<Self>) -> Result<Step, String> {
            let step = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
            if self.failing.contains(&step) {
                return Err(format!("step {step} failed"));
            }
            match self.again.contains(&step) {
                true => Ok(Step::Again),
                false => Ok(Step::Wait(Duration::from_secs(3600))),
            }
        }

        fn after_failure(&self, failures: u32) -> Duration {
            Duration::from_millis(5 * u64::from(failures))
        }

        fn wake(&self) -> Option<Arc<Notify>> {
            Some(self.wake.clone())
        }

        async fn drain(self: Arc<Self>) {
            self.drained.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn steps_reach(worker: &Counting, steps: u32) {
        while worker.steps.load(Ordering::SeqCst) < steps {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn the_loop_steps_again_at_once_after_failures_pauses_and_wakes_then_drains_on_shutdown()
    {
        let worker = Arc::new(Counting {
            failing: vec![1, 2],
            again: vec![3],
            ..Counting::default()
        });
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(run(worker.clone(), stopped));
        // Two failures, pausing 5 and 10 ms; step 3 asks for step 4 at once, which waits.
        steps_reach(&worker, 4).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            worker.steps.load(Ordering::SeqCst),
            4,
            "step 4 waits an hour"
        );
        worker.wake.notify_one();
        steps_reach(&worker, 5).await;
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(worker.steps.load(Ordering::SeqCst), 5);
        assert_eq!(worker.drained.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_loop_stops_when_its_shutdown_sender_is_gone() {
        let worker = Arc::new(Counting::default());
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(run(worker.clone(), stopped));
        steps_reach(&worker, 1).await;
        drop(stop);
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("stopped")
            .unwrap();
        assert_eq!(worker.drained.load(Ordering::SeqCst), 1);
    }
}
