//! Singleton duties across instances sharing one store: one instance runs a duty, another takes
//! it over once the holder dies or gives it up; an instance holding no duty is still ready; and
//! `iiko-bridge duties` shows the holders. Two `serve` processes cannot share a SQLite file, so
//! the instances here are two `Store` handles on one file, each with its own instance id.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use iiko_bridge::{
    duties::{Duties, Instance},
    store::Store,
    worker::{Step, Worker, run},
};

use crate::support::{Spawn, store};

/// Counts its steps, stepping every 10 ms.
#[derive(Default, Clone)]
struct Ticker {
    steps: Arc<AtomicU32>,
}

impl Ticker {
    fn steps(&self) -> u32 {
        self.steps.load(Ordering::SeqCst)
    }

    async fn steps_within(&self, wait: Duration) -> bool {
        let start = Instant::now();
        let before = self.steps();
        while start.elapsed() < wait {
            if self.steps() > before {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }
}

impl Worker for Ticker {
    const NAME: &'static str = "ticker";
    type Error = std::convert::Infallible;

    async fn step(self: Arc<Self>) -> Result<Step, Self::Error> {
        self.steps.fetch_add(1, Ordering::SeqCst);
        Ok(Step::Wait(Duration::from_millis(10)))
    }
}

/// Two instances on one store file, each with its own `Duties`.
async fn two_instances(lease: Duration) -> (tempfile::TempDir, Duties, Duties) {
    let dir = tempfile::tempdir().unwrap();
    let url = store::url(dir.path());
    let instance = |store| Duties::new(store, Instance::new(), lease);
    let a = instance(Store::open(&url).await.unwrap());
    let b = instance(Store::open(&url).await.unwrap());
    (dir, a, b)
}

#[bed::test]
async fn one_of_two_instances_runs_a_duty_and_the_other_takes_it_over_within_the_lease_once_the_holder_dies()
 {
    let lease = Duration::from_millis(1500);
    let (_dir, a, b) = two_instances(lease).await;
    let (_stop, stopped) = watch::channel(false);
    let (ticker_a, ticker_b) = (Ticker::default(), Ticker::default());
    let holder = tokio::spawn(run(
        Arc::new(a.hold("tick", ticker_a.clone())),
        stopped.clone(),
    ));
    assert!(ticker_a.steps_within(Duration::from_secs(5)).await);
    let other = tokio::spawn(run(Arc::new(b.hold("tick", ticker_b.clone())), stopped));
    // Two leases long: the holder renews every 500 ms and keeps working.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(ticker_b.steps(), 0, "one instance runs the duty");
    assert!(ticker_a.steps_within(Duration::from_millis(100)).await);

    // Dies without giving the duty up: its lease is no longer renewed.
    holder.abort();
    let died = Instant::now();
    assert!(ticker_b.steps_within(Duration::from_secs(5)).await);
    // Within the lease, with slack for a machine busy with the other tests.
    assert!(
        died.elapsed() <= lease + Duration::from_secs(1),
        "taken over after {:?}",
        died.elapsed()
    );
    let before = ticker_a.steps();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ticker_a.steps(), before, "the dead holder runs nothing");
    other.abort();
}

#[bed::test]
async fn a_duty_given_up_on_shutdown_is_taken_by_the_other_instance_before_its_lease_would_run_out()
{
    let lease = Duration::from_secs(6);
    let (_dir, a, b) = two_instances(lease).await;
    let (stop_a, stopped_a) = watch::channel(false);
    let (_stop_b, stopped_b) = watch::channel(false);
    let (ticker_a, ticker_b) = (Ticker::default(), Ticker::default());
    let holder = tokio::spawn(run(Arc::new(a.hold("tick", ticker_a.clone())), stopped_a));
    assert!(ticker_a.steps_within(Duration::from_secs(5)).await);
    let other = tokio::spawn(run(Arc::new(b.hold("tick", ticker_b.clone())), stopped_b));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ticker_b.steps(), 0);

    stop_a.send(true).unwrap();
    holder.await.unwrap();
    let stopped = Instant::now();
    // The other instance looks again at most a third of a lease later.
    assert!(ticker_b.steps_within(Duration::from_secs(3)).await);
    assert!(stopped.elapsed() < lease, "{:?}", stopped.elapsed());
    other.abort();
}

/// `iiko-bridge duties --json` on the bed's store.
async fn listed_duties(config_path: &std::path::Path) -> Vec<Value> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["--config", config_path.to_str().unwrap()])
        .args(["duties", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

const DUTIES: [&str; 5] = ["menu", "reconcile", "retention", "status", "terminals"];

#[bed::test]
async fn serve_takes_every_singleton_duty_and_the_duties_command_names_its_instance() {
    // The test bed turns the daily reconciliation off; here it runs, as in production.
    let bed = Spawn::default()
        .file(|file| {
            file.set("reconcile.daily_at", "06:00");
        })
        .app(|_| {})
        .await;
    let mut leases = Vec::new();
    for _ in 0..200 {
        leases = bed.store.duty_leases().await.unwrap();
        if leases.len() == DUTIES.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let duties: Vec<&str> = leases.iter().map(|l| l.duty.as_str()).collect();
    assert_eq!(duties, DUTIES);
    assert!(leases.iter().all(|l| l.holder == leases[0].holder));
    let listed = listed_duties(&bed.config_path).await;
    assert_eq!(listed.len(), DUTIES.len());
    let label = format!(" pid {}", std::process::id());
    for duty in &listed {
        assert_eq!(duty["holder"], leases[0].holder.as_str());
        assert!(
            duty["holder_label"].as_str().unwrap().ends_with(&label),
            "{duty}"
        );
        assert_eq!(duty["expired"], false);
    }
    let metrics = reqwest::get(bed.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("iiko_bridge_duty_held{duty=\"status\"}"),
        "{metrics}"
    );
}

#[bed::test]
async fn an_instance_holding_no_duty_is_ready_and_leaves_the_duties_to_their_holder() {
    let bed = Spawn::default().without_server().app(|_| {}).await;
    // Another instance holds every duty, for ten minutes.
    let now = Utc::now().timestamp_millis();
    for duty in DUTIES {
        let taken = bed
            .store
            .take_duty(
                duty,
                "other",
                "elsewhere pid 1",
                "lease",
                now,
                now + 600_000,
            )
            .await
            .unwrap();
        assert!(taken);
    }
    let base = bed.serve(bed.config.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let listed = listed_duties(&bed.config_path).await;
    assert_eq!(listed.len(), DUTIES.len());
    assert!(
        listed
            .iter()
            .all(|d| d["holder_label"] == "elsewhere pid 1"),
        "{listed:?}"
    );
}
