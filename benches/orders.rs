//! Order benchmarks: `cargo bench --bench orders` prints a table.
//!
//! - the raw SQLite commit rate of this machine (WAL, `synchronous=FULL`, one row per commit);
//! - intake: orders per second accepted by `POST /api/v1/orders` of a real `iiko-bridge serve`
//!   process, every one durably committed before its 202, with p50/p99 latency, while iiko
//!   hangs (so the dispatcher stays out of the way);
//! - end to end: orders per second from the site's POST to iiko's `creationStatus: Success`
//!   against the simulator with no added latency, for two dispatcher concurrencies;
//! - the `serve` process's resident memory idle and its peak under that load.
//!
//! Options (after `--`): `--seconds N` of intake load (10), `--clients N` concurrent site
//! connections (64), `--orders N` for the end-to-end run (5000).
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sqlx::{
    ConnectOptions, Connection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_iiko-bridge");
const EXAMPLE: &str = include_str!("../config/bridge.example.toml");
const TOKEN: &str = "bench-site-token-0123456789";

struct Options {
    seconds: u64,
    clients: usize,
    orders: u64,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            seconds: 10,
            clients: 64,
            orders: 5000,
        };
        let args: Vec<String> = std::env::args().collect();
        for pair in args.windows(2) {
            let value = || pair[1].parse().expect("a number after the option");
            match pair[0].as_str() {
                "--seconds" => options.seconds = value(),
                "--clients" => options.clients = value() as usize,
                "--orders" => options.orders = value(),
                _ => {}
            }
        }
        options
    }
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut rows: Vec<[String; 3]> = Vec::new();

    let commits = raw_commit_rate(&dir.path().join("raw.db"), 2000).await;
    rows.push([
        "raw SQLite commits (WAL, synchronous=FULL, 1 row each)".into(),
        format!("{commits:.0} commits/s"),
        "the fsync rate of this disk".into(),
    ]);

    // Intake: iiko hangs, so what is measured is accepting orders, not sending them.
    let sim = Sim::start(1000).await;
    let bridge = Bridge::start(&sim, &dir.path().join("intake"), 16).await;
    let idle = rss_mb(bridge.pid());
    sim.faults(json!({"rules": [{"path": "/api/1/deliveries/create", "latency_ms": 600000}]}))
        .await;
    let template = bridge.order_template().await;
    let load = intake_load(&bridge, &template, options.clients, options.seconds).await;
    let stored = bridge.count("SELECT COUNT(*) FROM orders").await;
    assert_eq!(stored, load.accepted, "every 202 is an order in the store");
    rows.push([
        format!(
            "intake: POST /api/v1/orders, {} clients, {} s",
            options.clients, options.seconds
        ),
        format!("{:.0} orders/s", load.rate()),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} accepted, {} other answers",
            load.percentile(50.0),
            load.percentile(99.0),
            load.percentile(100.0),
            load.accepted,
            load.refused
        ),
    ]);
    let intake_peak = peak_rss_mb(bridge.pid());
    drop(bridge);
    drop(sim);

    // End to end: the simulator creates orders at once.
    let mut peaks = vec![intake_peak];
    for concurrency in [16, 64] {
        let sim = Sim::start(0).await;
        let bridge = Bridge::start(
            &sim,
            &dir.path().join(format!("e2e-{concurrency}")),
            concurrency,
        )
        .await;
        let template = bridge.order_template().await;
        let (rate, elapsed) = end_to_end(&bridge, &template, options.clients, options.orders).await;
        rows.push([
            format!("end to end: site POST to iiko Success, delivery.concurrency = {concurrency}"),
            format!("{rate:.0} orders/s"),
            format!(
                "{} orders in {:.2} s (3 iiko calls, a lease share, 3 ledger lines and the outcome each)",
                options.orders,
                elapsed.as_secs_f64()
            ),
        ]);
        peaks.push(peak_rss_mb(bridge.pid()));
    }
    rows.push([
        "serve: resident memory".into(),
        format!(
            "{idle:.0} MB idle, {:.0} MB peak",
            peaks.iter().copied().fold(0.0, f64::max)
        ),
        "VmRSS after start and menu sync; VmHWM after each load".into(),
    ]);
    print_table(&rows);
}

fn print_table(rows: &[[String; 3]]) {
    let widths: Vec<usize> = (0..3)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |cells: [&str; 3]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(["measure", "result", "notes"]);
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rules.join("-|-"));
    for row in rows {
        line([&row[0], &row[1], &row[2]]);
    }
}

async fn raw_commit_rate(path: &Path, commits: u32) -> f64 {
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    let body = "x".repeat(1500);
    let started = Instant::now();
    for _ in 0..commits {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t (body) VALUES (?)")
            .bind(&body)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    f64::from(commits) / started.elapsed().as_secs_f64()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Sim {
    _process: Child,
    base: String,
}

impl Sim {
    async fn start(creation_delay_ms: u64) -> Sim {
        let port = free_port();
        let process = Command::new(BINARY)
            .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--creation-delay-ms", &creation_delay_ms.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the simulator starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{base}/sim/faults")).await;
        Sim {
            _process: process,
            base,
        }
    }

    async fn faults(&self, settings: Value) {
        reqwest::Client::new()
            .post(format!("{}/sim/faults", self.base))
            .json(&settings)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

async fn wait_until_up(url: &str) {
    for _ in 0..200 {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

struct Bridge {
    process: Child,
    base: String,
    db: PathBuf,
    http: reqwest::Client,
}

impl Bridge {
    /// `menu sync`, then `serve`, with the example configuration pointed at `sim`, iiko's rate
    /// limit lifted (the simulator has none) and the site's rate limit out of the way.
    async fn start(sim: &Sim, dir: &Path, concurrency: u32) -> Bridge {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let db = dir.join("bridge.db");
        let text = EXAMPLE
            .replace("http://127.0.0.1:9900", &sim.base)
            .replace(
                "sqlite://data/bridge.db",
                &format!("sqlite://{}", db.display()),
            )
            .replace(
                "export_dir = \"export\"",
                &format!("export_dir = \"{}/export\"", dir.display()),
            )
            .replace(
                "listen = \"0.0.0.0:8080\"",
                &format!("listen = \"127.0.0.1:{port}\""),
            )
            .replace("token = \"change-me\"", &format!("token = \"{TOKEN}\""))
            .replace("requests_per_second = 10", "requests_per_second = 1000000")
            .replace("requests_per_second = 200", "requests_per_second = 1000000")
            .replace("concurrency = 16", &format!("concurrency = {concurrency}"));
        let config = dir.join("bridge.toml");
        std::fs::write(&config, text).unwrap();
        let synced = Command::new(BINARY)
            .args(["--config", config.to_str().unwrap(), "menu", "sync"])
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(synced.success(), "menu sync");
        let process = Command::new(BINARY)
            .args(["--config", config.to_str().unwrap(), "serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("serve starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{base}/healthz")).await;
        Bridge {
            process,
            base,
            db,
            http: reqwest::Client::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.process.id().expect("serve is running")
    }

    /// An order body of two sellable dishes with `{ID}` where the order id goes.
    async fn order_template(&self) -> String {
        let catalog: Value = self
            .http
            .get(format!("{}/api/v1/catalog?branch=lenina", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dishes: Vec<&Value> = catalog["products"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["available"] == true
                    && p["hidden"] == false
                    && p["modifier_groups"].as_array().is_some_and(Vec::is_empty)
                    && p["sizes"].as_array().is_some_and(|s| s.len() == 1)
            })
            .take(2)
            .collect();
        let price = |d: &Value| d["sizes"][0]["price"].as_f64().unwrap();
        let total = dishes.iter().map(|d| price(d)).sum::<f64>();
        json!({
            "id": "{ID}", "branch": "lenina", "service": "delivery",
            "customer": {"name": "Анна", "phone": "+79990001122"},
            "address": {"city": "Москва", "street": "Ленина", "house": "10", "flat": "12"},
            "items": dishes.iter().map(|d| json!({
                "article": d["article"], "quantity": 1, "price": d["sizes"][0]["price"],
            })).collect::<Vec<_>>(),
            "payment": {"method": "card"},
            "total": total,
        })
        .to_string()
    }

    /// Reads the store directly, the way an operator's `sqlite3` would.
    async fn count(&self, sql: &str) -> u64 {
        let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", self.db.display()))
            .unwrap()
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let count: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        count as u64
    }
}

struct Load {
    accepted: u64,
    refused: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl Load {
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let index = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// `clients` connections posting new orders back to back for `seconds`.
async fn intake_load(bridge: &Bridge, template: &str, clients: usize, seconds: u64) -> Load {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, template) = (next.clone(), template.to_owned());
            let bridge = BridgeClient::of(bridge);
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < deadline {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    let body = template.replace("{ID}", &format!("BENCH-{id}"));
                    answers.push(bridge.submit(body).await);
                }
                answers
            })
        })
        .collect();
    let mut load = Load {
        accepted: 0,
        refused: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        for (status, latency) in task.await.unwrap() {
            match status {
                202 => load.accepted += 1,
                _ => load.refused += 1,
            }
            load.latencies_us.push(latency.as_micros() as u64);
        }
    }
    load.elapsed = started.elapsed();
    load.latencies_us.sort_unstable();
    load
}

/// Submits `orders` orders over `clients` connections and waits until iiko created them all.
async fn end_to_end(
    bridge: &Bridge,
    template: &str,
    clients: usize,
    orders: u64,
) -> (f64, Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, template) = (next.clone(), template.to_owned());
            let bridge = BridgeClient::of(bridge);
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= orders {
                        break;
                    }
                    let body = template.replace("{ID}", &format!("E2E-{id}"));
                    assert_eq!(bridge.submit(body).await.0, 202);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    loop {
        let created = bridge
            .count("SELECT COUNT(*) FROM orders WHERE state = 'created'")
            .await;
        if created == orders {
            break;
        }
        let failed = bridge
            .count("SELECT COUNT(*) FROM orders WHERE state IN ('fallback', 'retrying')")
            .await;
        assert_eq!(failed, 0, "no order may fail against the simulator");
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{created} of {orders} created"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    (orders as f64 / elapsed.as_secs_f64(), elapsed)
}

/// What a load task needs of the bridge: cheap to clone into each task.
#[derive(Clone)]
struct BridgeClient {
    http: reqwest::Client,
    url: String,
}

impl BridgeClient {
    fn of(bridge: &Bridge) -> BridgeClient {
        BridgeClient {
            http: bridge.http.clone(),
            url: format!("{}/api/v1/orders", bridge.base),
        }
    }

    async fn submit(&self, body: String) -> (u16, Duration) {
        let started = Instant::now();
        let status = self
            .http
            .post(&self.url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        (status, started.elapsed())
    }
}

/// Resident and peak resident memory of a process, in MB (Linux `/proc`).
fn memory_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn rss_mb(pid: u32) -> f64 {
    memory_mb(pid, "VmRSS:")
}

fn peak_rss_mb(pid: u32) -> f64 {
    memory_mb(pid, "VmHWM:")
}
