//! Order benchmarks: `cargo bench --bench orders` prints two tables.
//!
//! Every figure comes from real processes: `iiko-bridge sim`, `iiko-bridge menu sync`, then one
//! or two `iiko-bridge serve` on the example configuration (iiko's and the site's rate limits
//! lifted), driven over HTTP from 64 keep-alive connections in the benchmark process. Side by
//! side, for SQLite with one instance, PostgreSQL with one, and PostgreSQL with two instances
//! sharing one database (the site's connections spread over them, as a load balancer would):
//!
//! - intake: orders per second accepted by `POST /api/v1/orders`, every one durably committed
//!   before its 202, with p50/p99 latency, while iiko hangs (so the dispatchers stay out of
//!   the way); then the store must hold exactly the orders answered 202;
//! - end to end: orders per second from the site's POST to iiko's `creationStatus: Success`
//!   against the simulator with no added latency, for two dispatcher concurrencies;
//! - each `serve` process's resident memory idle and its peak under that load.
//!
//! Once per run: the raw commit rate of each store on this machine, and the takeover: two
//! instances on PostgreSQL, iiko slow, instance A killed (SIGKILL) with orders mid-attempt,
//! timed until instance B has created the last of them.
//!
//! PostgreSQL: the server named by `IIKO_BRIDGE_BENCH_DATABASE_URL` (its user must be allowed
//! to create databases: each measure gets one of its own, dropped at the end), or else a
//! throwaway server started with `scripts/test-postgres.sh` and stopped at the end.
//!
//! Options (after `--`): `--seconds N` of intake load (10), `--clients N` concurrent site
//! connections (64), `--orders N` for the end-to-end runs (5000).
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
    ConnectOptions, Connection, Executor, PgConnection, SqliteConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_iiko-bridge");
const EXAMPLE: &str = include_str!("../config/bridge.example.toml");
const TOKEN: &str = "bench-site-token-0123456789";
const POSTGRES_VARIABLE: &str = "IIKO_BRIDGE_BENCH_DATABASE_URL";
const POSTGRES_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-postgres.sh");

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

/// A store and a number of `serve` processes on it: one column of the side-by-side table.
struct Setup {
    name: &'static str,
    postgres: bool,
    instances: usize,
}

const SETUPS: [Setup; 3] = [
    Setup {
        name: "SQLite, 1 instance",
        postgres: false,
        instances: 1,
    },
    Setup {
        name: "PostgreSQL, 1 instance",
        postgres: true,
        instances: 1,
    },
    Setup {
        name: "PostgreSQL, 2 instances",
        postgres: true,
        instances: 2,
    },
];

const CONCURRENCIES: [u32; 2] = [16, 64];

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut postgres = Postgres::start().await;
    println!("PostgreSQL: {}", postgres.describe());

    let mut once = vec![cells(["measure", "result", "notes"])];
    let commits = sqlite_commit_rate(&dir.path().join("raw.db"), 2000).await;
    once.push(cells([
        "raw SQLite commits (WAL, synchronous=FULL, 1 row each)",
        &format!("{commits:.0} commits/s"),
        "the fsync rate of this disk",
    ]));
    let commits = postgres_commit_rate(&postgres.database("raw").await, 2000).await;
    once.push(cells([
        "raw PostgreSQL commits (fsync on, 1 row each)",
        &format!("{commits:.0} commits/s"),
        "one connection; the server on the same disk and cores",
    ]));

    let mut side_by_side = vec![
        std::iter::once("measure".to_owned())
            .chain(SETUPS.iter().map(|setup| setup.name.to_owned()))
            .collect::<Vec<_>>(),
        vec![format!(
            "intake: POST /api/v1/orders, {} clients, {} s",
            options.clients, options.seconds
        )],
        vec!["intake latency".to_owned()],
        vec!["intake answers".to_owned()],
    ];
    for concurrency in CONCURRENCIES {
        side_by_side.push(vec![format!(
            "end to end, {} orders, delivery.concurrency = {concurrency} per instance",
            options.orders
        )]);
    }
    side_by_side.push(vec!["serve resident memory, per process".to_owned()]);
    for (column, setup) in SETUPS.iter().enumerate() {
        let dir = dir.path().join(format!("setup-{column}"));
        let results = measure(setup, &options, &mut postgres, &dir).await;
        for (row, result) in side_by_side[1..].iter_mut().zip(results) {
            row.push(result);
        }
    }

    once.push(takeover(&mut postgres, &dir.path().join("takeover")).await);
    postgres.finish().await;
    print_table(&side_by_side);
    println!();
    print_table(&once);
}

fn cells<const N: usize>(texts: [&str; N]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

/// One setup's column: intake rate, latency and answers, one end-to-end rate per
/// concurrency, then memory.
async fn measure(
    setup: &Setup,
    options: &Options,
    postgres: &mut Postgres,
    dir: &Path,
) -> Vec<String> {
    let mut column = Vec::new();

    // Intake: iiko hangs, so what is measured is accepting orders, not sending them.
    let sim = Sim::start(1000).await;
    let (intake_dir, store) = store_for(setup, postgres, dir, "intake").await;
    let bridge = Bridge::start(&sim, &intake_dir, &store, 16, setup.instances).await;
    let idle = bridge.memory_mb("VmRSS:");
    sim.faults(json!({"rules": [{"path": "/api/1/deliveries/create", "latency_ms": 600000}]}))
        .await;
    let template = bridge.order_template().await;
    let load = intake_load(&bridge, &template, options.clients, options.seconds).await;
    let stored = Reader::open(&bridge.store)
        .await
        .count("SELECT COUNT(*) FROM orders")
        .await;
    assert_eq!(stored, load.accepted, "every 202 is an order in the store");
    column.push(format!("{:.0} orders/s", load.rate()));
    column.push(format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        load.percentile(50.0),
        load.percentile(99.0),
        load.percentile(100.0),
    ));
    column.push(format!(
        "{} accepted and stored, {} other",
        load.accepted, load.refused
    ));
    let mut peak = bridge.memory_mb("VmHWM:");
    drop(bridge);
    drop(sim);

    // End to end: the simulator creates orders at once.
    for concurrency in CONCURRENCIES {
        let sim = Sim::start(0).await;
        let (dir, store) = store_for(setup, postgres, dir, &format!("e2e_{concurrency}")).await;
        let bridge = Bridge::start(&sim, &dir, &store, concurrency, setup.instances).await;
        let template = bridge.order_template().await;
        let (rate, elapsed) = end_to_end(&bridge, &template, options.clients, options.orders).await;
        column.push(format!(
            "{rate:.0} orders/s ({:.2} s)",
            elapsed.as_secs_f64()
        ));
        peak = peak.max(bridge.memory_mb("VmHWM:"));
    }
    column.push(format!("{idle:.0} MB idle, {peak:.0} MB peak"));
    column
}

/// A fresh store for the measure `name` of `setup`, and the folder of its bridge's files.
async fn store_for(
    setup: &Setup,
    postgres: &mut Postgres,
    dir: &Path,
    name: &str,
) -> (PathBuf, String) {
    let dir = dir.join(name);
    let store = match setup.postgres {
        true => {
            let instances = setup.instances;
            postgres.database(&format!("{name}_{instances}")).await
        }
        false => format!("sqlite://{}/bridge.db", dir.display()),
    };
    (dir, store)
}

/// Two instances on PostgreSQL with iiko answering each `deliveries/create` after 10 s: A
/// alone takes a full slate of orders, B starts and takes orders of its own, then A is killed
/// (SIGKILL) mid-attempt. Timed from the kill until B has leased, and then created, the last
/// of A's orders. Leases are the example's (`store.lease_seconds = 30`, the default).
async fn takeover(postgres: &mut Postgres, dir: &Path) -> Vec<String> {
    const ORDERS: usize = 16;
    assert!(EXAMPLE.contains("lease_seconds = 30"), "the default lease");
    let sim = Sim::start(0).await;
    let store = postgres.database("takeover").await;
    let mut bridge = Bridge::start(&sim, dir, &store, ORDERS as u32, 1).await;
    // Below iiko's Timeout header (15 s): every create is answered, late.
    sim.faults(json!({"rules": [{"path": "/api/1/deliveries/create", "latency_ms": 10000}]}))
        .await;
    let template = bridge.order_template().await;
    let a = BridgeClient::of(&bridge, 0);
    for id in 0..ORDERS {
        let order = template.replace("{ID}", &format!("A-{id}"));
        assert_eq!(a.submit(order).await.0, 202);
    }
    let mut db = PgConnection::connect(&store).await.unwrap();
    // Only A runs yet, so every lease is one of A's attempts.
    let leased = "SELECT id, lease_owner FROM orders WHERE lease_owner IS NOT NULL";
    let mut on_a: Vec<(i64, String)> = Vec::new();
    while on_a.len() < ORDERS {
        tokio::time::sleep(Duration::from_millis(20)).await;
        on_a = sqlx::query_as(leased).fetch_all(&mut db).await.unwrap();
    }
    let (ids, leases): (Vec<i64>, Vec<String>) = on_a.into_iter().unzip();

    bridge.add_instance().await;
    let b = BridgeClient::of(&bridge, 1);
    for id in 0..ORDERS {
        let order = template.replace("{ID}", &format!("B-{id}"));
        assert_eq!(b.submit(order).await.0, 202);
    }
    bridge.instances[0].process.kill().await.unwrap();
    let killed = Instant::now();
    let killed_ms = chrono::Utc::now().timestamp_millis();
    let lease_end: i64 =
        sqlx::query_scalar("SELECT MAX(lease_until) FROM orders WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_one(&mut db)
            .await
            .unwrap();

    let progress = "SELECT COUNT(*) FILTER (WHERE COALESCE(lease_owner, '') <> ALL($2)),
             COUNT(*) FILTER (WHERE state = 'created'),
             COUNT(*) FILTER (WHERE state IN ('fallback', 'retrying'))
         FROM orders WHERE id = ANY($1)";
    let mut taken_over = None;
    let created = loop {
        let (taken, created, failed): (i64, i64, i64) = sqlx::query_as(progress)
            .bind(&ids)
            .bind(&leases)
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(failed, 0, "A's orders go to iiko, not to the operators");
        if taken == ORDERS as i64 && taken_over.is_none() {
            taken_over = Some(killed.elapsed());
        }
        if created == ORDERS as i64 {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(600),
            "{created} of A's {ORDERS} orders created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let taken_over = taken_over.unwrap_or(created);
    vec![
        "takeover: kill -9 of instance A, PostgreSQL, 2 instances".to_owned(),
        format!("{:.1} s", created.as_secs_f64()),
        format!(
            "until B created the last of A's {ORDERS} orders in flight (iiko answering each create \
             after 10 s); B leased the last of them after {:.1} s; A's leases ran {:.1} s past the kill",
            taken_over.as_secs_f64(),
            (lease_end - killed_ms) as f64 / 1000.0
        ),
    ]
}

fn print_table(rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(&rows[0]);
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rules.join("-|-"));
    for row in &rows[1..] {
        line(row);
    }
}

/// Commits of one 1.5 KB row each, one after the other, per second.
async fn sqlite_commit_rate(path: &Path, commits: u32) -> f64 {
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
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

/// The same on PostgreSQL.
async fn postgres_commit_rate(url: &str, commits: u32) -> f64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    conn.execute("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, body TEXT)")
        .await
        .unwrap();
    let body = "x".repeat(1500);
    let started = Instant::now();
    for _ in 0..commits {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t (body) VALUES ($1)")
            .bind(&body)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    f64::from(commits) / started.elapsed().as_secs_f64()
}

/// The PostgreSQL server of this run, and the databases it created there.
struct Postgres {
    server: String,
    /// The folder of the throwaway server started for this run, stopped when this drops.
    throwaway: Option<PathBuf>,
    databases: Vec<String>,
}

impl Postgres {
    async fn start() -> Postgres {
        if let Ok(server) = std::env::var(POSTGRES_VARIABLE) {
            return Postgres {
                server,
                throwaway: None,
                databases: Vec::new(),
            };
        }
        // A folder the `postgres` user can enter (the script runs the server as that user).
        let dir = PathBuf::from(format!("/tmp/pg-bench-{}", std::process::id()));
        let started = Command::new(POSTGRES_SCRIPT)
            .arg("start")
            .arg(&dir)
            .output()
            .await
            .expect("scripts/test-postgres.sh runs");
        assert!(
            started.status.success(),
            "scripts/test-postgres.sh start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        Postgres {
            server: String::from_utf8(started.stdout).unwrap().trim().to_owned(),
            throwaway: Some(dir),
            databases: Vec::new(),
        }
    }

    fn describe(&self) -> String {
        match &self.throwaway {
            Some(dir) => format!(
                "a throwaway server at {} (scripts/test-postgres.sh start {}; stopped at the end)",
                self.server,
                dir.display()
            ),
            None => format!("{} (from {POSTGRES_VARIABLE})", self.server),
        }
    }

    /// The URL of a new, empty database on the server.
    async fn database(&mut self, name: &str) -> String {
        let name = format!("bench_{}_{name}", std::process::id());
        let mut admin = PgConnection::connect(&self.server).await.unwrap();
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|e| panic!("creating database {name} on {}: {e}", self.server));
        admin.close().await.ok();
        self.databases.push(name.clone());
        let mut url = url::Url::parse(&self.server).unwrap();
        url.set_path(&name);
        url.to_string()
    }

    /// Drops this run's databases from a server that stays (a throwaway one goes as a whole).
    async fn finish(&self) {
        if self.throwaway.is_some() {
            return;
        }
        let mut admin = PgConnection::connect(&self.server).await.unwrap();
        for name in &self.databases {
            admin
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await
                .unwrap();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.throwaway {
            let stopped = std::process::Command::new(POSTGRES_SCRIPT)
                .arg("stop")
                .arg(dir)
                .status();
            if !stopped.is_ok_and(|status| status.success()) {
                eprintln!("scripts/test-postgres.sh stop {} failed", dir.display());
            }
        }
    }
}

/// A connection of its own to a store, reading it the way an operator's `sqlite3` or `psql`
/// would.
enum Reader {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Reader {
    async fn open(store: &str) -> Reader {
        if store.starts_with("postgres") {
            return Reader::Postgres(PgConnection::connect(store).await.unwrap());
        }
        let options = SqliteConnectOptions::from_str(store).unwrap();
        Reader::Sqlite(options.read_only(true).connect().await.unwrap())
    }

    async fn count(&mut self, sql: &str) -> u64 {
        let count: i64 = match self {
            Reader::Sqlite(conn) => sqlx::query_scalar(sql).fetch_one(conn).await,
            Reader::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await,
        }
        .unwrap();
        count as u64
    }
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

/// `serve` processes sharing one store, configured alike but for their ports.
struct Bridge {
    instances: Vec<Instance>,
    store: String,
    sim: String,
    dir: PathBuf,
    concurrency: u32,
    http: reqwest::Client,
}

struct Instance {
    process: Child,
    base: String,
}

impl Bridge {
    /// `menu sync` into `store`, then `instances` × `serve`.
    async fn start(
        sim: &Sim,
        dir: &Path,
        store: &str,
        concurrency: u32,
        instances: usize,
    ) -> Bridge {
        std::fs::create_dir_all(dir).unwrap();
        let mut bridge = Bridge {
            instances: Vec::new(),
            store: store.to_owned(),
            sim: sim.base.clone(),
            dir: dir.to_owned(),
            concurrency,
            http: reqwest::Client::new(),
        };
        let config = bridge.config("sync", free_port());
        let synced = Command::new(BINARY)
            .args(["--config", config.to_str().unwrap(), "menu", "sync"])
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(synced.success(), "menu sync");
        for _ in 0..instances {
            bridge.add_instance().await;
        }
        bridge
    }

    /// The example configuration pointed at the simulator and the store, iiko's rate limit
    /// lifted (the simulator has none) and the site's rate limit out of the way.
    fn config(&self, name: &str, port: u16) -> PathBuf {
        let text = EXAMPLE
            .replace("http://127.0.0.1:9900", &self.sim)
            .replace("sqlite://data/bridge.db", &self.store)
            .replace(
                "export_dir = \"export\"",
                &format!("export_dir = \"{}/{name}-export\"", self.dir.display()),
            )
            .replace(
                "listen = \"0.0.0.0:8080\"",
                &format!("listen = \"127.0.0.1:{port}\""),
            )
            .replace("token = \"change-me\"", &format!("token = \"{TOKEN}\""))
            .replace("requests_per_second = 10", "requests_per_second = 1000000")
            .replace("requests_per_second = 200", "requests_per_second = 1000000")
            .replace(
                "concurrency = 16",
                &format!("concurrency = {}", self.concurrency),
            );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts one more `serve` on the store and waits until it answers.
    async fn add_instance(&mut self) {
        let port = free_port();
        let config = self.config(&format!("instance-{}", self.instances.len()), port);
        let process = Command::new(BINARY)
            .args(["--config", config.to_str().unwrap(), "serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("serve starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{base}/healthz")).await;
        self.instances.push(Instance { process, base });
    }

    /// The largest of a memory figure over the instances, in MB (Linux `/proc`): `VmRSS:`
    /// resident now, `VmHWM:` the peak.
    fn memory_mb(&self, field: &str) -> f64 {
        self.instances
            .iter()
            .map(|instance| {
                let pid = instance.process.id().expect("serve is running");
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                status
                    .lines()
                    .find(|line| line.starts_with(field))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
                    .map_or(f64::NAN, |kb| kb / 1024.0)
            })
            .fold(0.0, f64::max)
    }

    /// An order body of two sellable dishes with `{ID}` where the order id goes.
    async fn order_template(&self) -> String {
        let catalog: Value = self
            .http
            .get(format!(
                "{}/api/v1/catalog?branch=lenina",
                self.instances[0].base
            ))
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

/// `clients` connections, spread over the instances, posting new orders back to back for
/// `seconds`.
async fn intake_load(bridge: &Bridge, template: &str, clients: usize, seconds: u64) -> Load {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (next, template) = (next.clone(), template.to_owned());
            let bridge = BridgeClient::of(bridge, client % bridge.instances.len());
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

/// Submits `orders` orders over `clients` connections (spread over the instances) and waits
/// until iiko created them all.
async fn end_to_end(
    bridge: &Bridge,
    template: &str,
    clients: usize,
    orders: u64,
) -> (f64, Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (next, template) = (next.clone(), template.to_owned());
            let bridge = BridgeClient::of(bridge, client % bridge.instances.len());
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
    let mut store = Reader::open(&bridge.store).await;
    loop {
        let created = store
            .count("SELECT COUNT(*) FROM orders WHERE state = 'created'")
            .await;
        if created == orders {
            break;
        }
        let failed = store
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

/// What a load task needs of one instance: cheap to clone into each task.
#[derive(Clone)]
struct BridgeClient {
    http: reqwest::Client,
    url: String,
}

impl BridgeClient {
    fn of(bridge: &Bridge, instance: usize) -> BridgeClient {
        BridgeClient {
            http: bridge.http.clone(),
            url: format!("{}/api/v1/orders", bridge.instances[instance].base),
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
