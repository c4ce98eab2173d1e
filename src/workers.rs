//! `serve`'s background workers: the one shape of a worker ([`Worker`], a step that says when
//! it wants the next one), the one loop that runs them ([`run`]: sleeping, waking, pausing
//! after failures, stopping), and their supervision. A worker that panics or stops on its own
//! means orders answered 202 that nobody sends, so the supervisor restarts it with growing
//! pauses, counts the restart in `/metrics`, tells the operators, and reports the worker as
//! down to `/readyz` until it runs again.
use std::{
    collections::BTreeSet,
    fmt::Display,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};

use crate::notify::{OperatorChats, html};
use crate::retry::{Backoff, PAUSE};

/// The first pause before a restart; each next one doubles, up to a minute.
const FIRST_RESTART: Duration = Duration::from_secs(1);
const LONGEST_RESTART: Duration = Duration::from_secs(60);
/// A worker that ran this long since its last restart counts as healthy again: its next death
/// starts a new episode (restarted at once, operators told again).
const HEALTHY_AFTER: Duration = Duration::from_secs(300);

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

/// Which workers are down right now; shared with `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct WorkerHealth {
    down: Arc<Mutex<BTreeSet<&'static str>>>,
}

impl WorkerHealth {
    /// The names of the workers not running, in name order; empty when all run.
    pub fn down(&self) -> Vec<&'static str> {
        self.lock().iter().copied().collect()
    }

    fn set(&self, worker: &'static str, down: bool) {
        metrics::gauge!("iiko_bridge_worker_up", "worker" => worker).set(if down {
            0.0
        } else {
            1.0
        });
        if down {
            self.lock().insert(worker);
        } else {
            self.lock().remove(worker);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<&'static str>> {
        self.down.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts workers and keeps them running until shutdown.
#[derive(Clone)]
pub struct Supervisor {
    health: WorkerHealth,
    operators: OperatorChats,
    shutdown: watch::Receiver<bool>,
    first_restart: Duration,
}

impl Supervisor {
    pub fn new(
        health: WorkerHealth,
        operators: OperatorChats,
        shutdown: watch::Receiver<bool>,
    ) -> Supervisor {
        Supervisor {
            health,
            operators,
            shutdown,
            first_restart: FIRST_RESTART,
        }
    }

    /// Runs `worker` under [`run`] until shutdown, restarted whenever it panics.
    pub fn start<W: Worker>(&self, worker: W) -> JoinHandle<()> {
        let worker = Arc::new(worker);
        self.spawn(W::NAME, move |shutdown| run(worker.clone(), shutdown))
    }

    /// Runs `start(shutdown)` on its own task, and again whenever it panics or returns before
    /// shutdown. The returned handle ends once the worker has ended after shutdown.
    pub fn spawn<F, Fut>(&self, worker: &'static str, start: F) -> JoinHandle<()>
    where
        F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let this = self.clone();
        this.health.set(worker, false);
        tokio::spawn(async move { this.supervise(worker, start).await })
    }

    async fn supervise<F, Fut>(mut self, worker: &'static str, start: F)
    where
        F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut failures = 0u32;
        loop {
            let started = tokio::time::Instant::now();
            // Its own task, so a panic ends only this run and is seen here.
            let ended = tokio::spawn(start(self.shutdown.clone())).await;
            if *self.shutdown.borrow() {
                if let Err(error) = ended {
                    tracing::error!(worker, %error, "worker failed while stopping");
                }
                return;
            }
            if started.elapsed() >= HEALTHY_AFTER {
                failures = 0;
            }
            failures = failures.saturating_add(1);
            let cause = match ended {
                Err(error) if error.is_panic() => panic_text(error.into_panic()),
                Err(error) => error.to_string(),
                Ok(()) => "stopped on its own".to_owned(),
            };
            let wait = Backoff::doubling(self.first_restart, LONGEST_RESTART).wait(failures);
            self.health.set(worker, true);
            metrics::counter!("iiko_bridge_worker_restarts_total", "worker" => worker).increment(1);
            tracing::error!(worker, %cause, failures, ?wait, "worker died; restarting it");
            if failures == 1 {
                // On its own task: a Telegram outage must not delay the restart.
                let operators = self.operators.clone();
                let text = died_alert(worker, &cause);
                tokio::spawn(async move { operators.send(&text).await });
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = self.shutdown.wait_for(|stopped| *stopped) => return,
            }
            self.health.set(worker, false);
        }
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => format!("panic: {text}"),
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => format!("panic: {text}"),
            Err(_) => "panic".to_owned(),
        },
    }
}

fn died_alert(worker: &str, cause: &str) -> String {
    format!(
        "⚠️ <b>Фоновый процесс iiko-bridge «{}» остановился</b>: {}\nОн перезапускается автоматически; если сообщение повторяется, проверьте журнал сервера.",
        html::escape(worker),
        html::escape(cause),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::{config::TelegramConfig, notify::Telegram, sim::telegram::FakeTelegram};

    #[test]
    fn restart_pauses_double_from_one_second_up_to_a_minute() {
        let restarts = Backoff::doubling(FIRST_RESTART, LONGEST_RESTART);
        let waits: Vec<u64> = (1..=8).map(|n| restarts.wait(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

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

    /// Restarts after milliseconds rather than seconds, so the tests run in real time.
    fn supervisor() -> (Supervisor, WorkerHealth, watch::Sender<bool>) {
        let (stop, stopped) = watch::channel(false);
        let health = WorkerHealth::default();
        let operators = OperatorChats::new(None, Vec::new());
        let mut supervisor = Supervisor::new(health.clone(), operators, stopped);
        supervisor.first_restart = Duration::from_millis(50);
        (supervisor, health, stop)
    }

    #[tokio::test]
    async fn a_worker_that_panics_is_reported_down_and_restarted() {
        let (supervisor, health, stop) = supervisor();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let handle = supervisor.spawn("dispatcher", move |mut shutdown| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run < 3 {
                    panic!("run {run} failed");
                }
                let _ = shutdown.wait_for(|stopped| *stopped).await;
            }
        });
        // The first death: down during the pause before the restart.
        while runs.load(Ordering::SeqCst) < 1 || health.down().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(health.down(), ["dispatcher"]);
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while !health.down().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_worker_that_returns_before_shutdown_is_restarted_and_one_that_stops_on_shutdown_is_not()
     {
        let (supervisor, health, stop) = supervisor();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let handle = supervisor.spawn("events", move |mut shutdown| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run > 1 {
                    let _ = shutdown.wait_for(|stopped| *stopped).await;
                }
            }
        });
        while runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(health.down().is_empty());
    }

    #[tokio::test]
    async fn operators_hear_once_when_a_worker_keeps_dying_and_is_restarted() {
        let telegram = FakeTelegram::start().await.unwrap();
        let config = TelegramConfig {
            bot_token: Some(telegram.token().to_owned().into()),
            api_url: telegram.api_url(),
            operator_chats: vec![42],
        };
        let (stop, stopped) = watch::channel(false);
        let health = WorkerHealth::default();
        let operators = OperatorChats::new(Telegram::from_config(&config), vec![42]);
        let mut supervisor = Supervisor::new(health.clone(), operators, stopped);
        supervisor.first_restart = Duration::from_millis(5);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let handle = supervisor.spawn("dispatcher", move |mut shutdown| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run < 4 {
                    panic!("the store answered garbage");
                }
                let _ = shutdown.wait_for(|stopped| *stopped).await;
            }
        });
        while runs.load(Ordering::SeqCst) < 4 || telegram.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        handle.await.unwrap();
        let messages = telegram.messages();
        assert_eq!(messages.len(), 1, "one alert for one episode: {messages:?}");
        assert!(
            messages[0].text.contains("dispatcher"),
            "{}",
            messages[0].text
        );
        assert!(messages[0].text.contains("the store answered garbage"));
        assert!(health.down().is_empty());
    }
}
