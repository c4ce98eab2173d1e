//! Supervision of `serve`'s background workers. A worker that panics or stops on its own
//! means orders answered 202 that nobody sends, so the supervisor restarts it with growing
//! pauses, counts the restart in `/metrics`, tells the operators, and reports the worker as
//! down to `/readyz` until it runs again.
use std::{
    collections::BTreeSet,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle};

use crate::notify::{OperatorChats, html};
use crate::retry::Backoff;
use crate::worker::{Worker, run};

/// The first pause before a restart; each next one doubles, up to a minute.
const FIRST_RESTART: Duration = Duration::from_secs(1);
const LONGEST_RESTART: Duration = Duration::from_secs(60);
/// A worker that ran this long since its last restart counts as healthy again: its next death
/// starts a new episode (restarted at once, operators told again).
const HEALTHY_AFTER: Duration = Duration::from_secs(300);

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
            ..TelegramConfig::default()
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
