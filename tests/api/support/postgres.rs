//! PostgreSQL for the tests: a database of its own per test on the cluster named by
//! `IIKO_BRIDGE_TEST_DATABASE_URL` (`.ci/run` starts one with `scripts/test-postgres.sh`).
//! Without the variable a test that needs PostgreSQL says so in one loud line and passes.
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};
use url::Url;

/// The variable naming the cluster: any database on it that the user may connect to and
/// create databases from (a superuser's `postgres` database in CI).
pub const URL_VARIABLE: &str = "IIKO_BRIDGE_TEST_DATABASE_URL";

/// A fresh, empty database for one test, dropped when this value is (a failing test's too).
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A database for the test `test`, or `None` (after one loud line) when no cluster is set.
    /// A cluster that is set but refuses is a failure, never a skip.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let Ok(server) = std::env::var(URL_VARIABLE) else {
            // Past the test harness's capture (eprintln! would be shown only on failure): a
            // skip is said on every run, never silently.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (no {URL_VARIABLE}): {test} needs PostgreSQL"
            );
            return None;
        };
        let name = unique_name(test);
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{URL_VARIABLE}={server}: {e}"));
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        admin.close().await.ok();
        let url = database_url(&server, &name);
        Some(TestDatabase { server, name, url })
    }

    /// The database's URL, as the bridge's `store.url` would name it.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    // Drop cannot await and may run inside the test's runtime: a thread of its own drops the
    // database (FORCE: connections the test left open do not keep it).
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping test database {}: {e}", self.name);
        }
    }
}

/// Unique across the tests of this run and across runs sharing a cluster; readable in
/// `\l`; within PostgreSQL's 63 bytes.
fn unique_name(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let label: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t{}_{n}_{label}", std::process::id())
}

/// The server's URL with its database replaced by `name` (user, host, port and options kept).
fn database_url(server: &str, name: &str) -> String {
    let mut url = Url::parse(server).unwrap_or_else(|e| panic!("{URL_VARIABLE}={server}: {e}"));
    url.set_path(name);
    url.into()
}
