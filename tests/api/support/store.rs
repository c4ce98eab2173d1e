//! Where each test keeps its store: the one place a test learns its store's URL, on the
//! backend of this test binary (`api`: SQLite, `api_postgres`: PostgreSQL).
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use sqlx::{Connection as _, Executor, PgConnection};

use super::postgres::URL_VARIABLE;

/// Whether this binary's tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "api_postgres"
}

/// Called first by every `#[bed::test]`: true (after one loud line) when this binary runs on
/// PostgreSQL and no server is named, so the test stops there and passes.
pub fn skipped(test: &str) -> bool {
    if !on_postgres() || std::env::var(URL_VARIABLE).is_ok() {
        return false;
    }
    // Past the harness's capture: a skip is said on every run, never silently.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED (no {URL_VARIABLE}): {test} on PostgreSQL"
    );
    true
}

/// The store of the test whose folder is `dir`, the same on every call for one folder: a
/// SQLite file in it, or a PostgreSQL schema of its own on the server.
pub fn url(dir: &Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}/bridge.db", dir.display());
    }
    let server = std::env::var(URL_VARIABLE)
        .unwrap_or_else(|_| panic!("{URL_VARIABLE} is not set (see support::store::skipped)"));
    let mut hasher = DefaultHasher::new();
    dir.hash(&mut hasher);
    let schema = format!("t{}_{:x}", std::process::id(), hasher.finish());
    create_schema(&server, &schema);
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}options=-c%20search_path%3D{schema}")
}

/// `CREATE SCHEMA` once per schema; from a thread of its own, since tests call [`url`] inside
/// their runtime and outside it. The first call also starts dropping, in the background, the
/// schemas earlier runs left (the server may outlive a run; a run still going keeps its own).
fn create_schema(server: &str, schema: &str) {
    static CREATED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
    let first = created.is_none();
    if !created.get_or_insert_default().insert(schema.to_owned()) {
        return;
    }
    let sql = format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}""#);
    let created = on_admin_connection(server, move |mut admin| async move {
        admin.execute(sql.as_str()).await.unwrap();
        admin.close().await.ok();
    });
    created.join().expect("creating the test's schema");
    if first {
        // Not joined: the tests need not wait, and what a run leaves the next one drops.
        on_admin_connection(server, drop_schemas_of_ended_runs);
    }
}

/// Runs `work` on a connection to `server` on a thread (and runtime) of its own.
fn on_admin_connection<F: Future<Output = ()>>(
    server: &str,
    work: impl FnOnce(PgConnection) -> F + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let server = server.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let admin = PgConnection::connect(&server)
                .await
                .unwrap_or_else(|e| panic!("{URL_VARIABLE}={server}: {e}"));
            work(admin).await
        })
    })
}

/// Drops the `t<pid>_…` schemas whose test process is gone.
async fn drop_schemas_of_ended_runs(mut admin: PgConnection) {
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname FROM pg_namespace WHERE nspname ~ '^t[0-9]+_'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for schema in schemas {
        let pid = schema[1..].split('_').next().unwrap_or_default();
        let ended =
            pid != std::process::id().to_string() && !Path::new(&format!("/proc/{pid}")).exists();
        if ended {
            let drop = format!(r#"DROP SCHEMA IF EXISTS "{schema}" CASCADE"#);
            if admin.execute(drop.as_str()).await.is_err() {
                return;
            }
        }
    }
    admin.close().await.ok();
}

/// Another connection holding the store's write lock, as a stuck or dead writer would: writes
/// wait for their timeout and fail. Released by [`Blocker::release`].
pub struct Blocker(StoreConnection);

/// Refused state changes of one table, as a full disk would refuse them; every other write
/// still goes through. Undone by [`Refusal::recover`].
pub struct Refusal {
    connection: StoreConnection,
    table: &'static str,
}

/// A connection of its own to a test's store, on this binary's backend.
enum StoreConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(PgConnection),
}

async fn connect(url: &str) -> StoreConnection {
    match on_postgres() {
        false => StoreConnection::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap()),
        true => StoreConnection::Postgres(PgConnection::connect(url).await.unwrap()),
    }
}

impl StoreConnection {
    /// Runs `sql` (statements separated by `;`) or panics.
    async fn execute(&mut self, sql: &str) {
        match self {
            StoreConnection::Sqlite(c) => c.execute(sql).await.map(drop),
            StoreConnection::Postgres(c) => c.execute(sql).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn close(self) {
        match self {
            StoreConnection::Sqlite(c) => c.close().await.ok(),
            StoreConnection::Postgres(c) => c.close().await.ok(),
        };
    }
}

/// Holds the write lock of the store at `url`: SQLite's one lock, PostgreSQL's table lock on
/// `orders` (which every order write and the store check take).
pub async fn block_writes(url: &str) -> Blocker {
    let mut connection = connect(url).await;
    let lock = match on_postgres() {
        false => "BEGIN IMMEDIATE",
        true => "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
    };
    connection.execute(lock).await;
    Blocker(connection)
}

impl Blocker {
    pub async fn release(mut self) {
        self.0.execute("ROLLBACK").await;
        self.0.close().await;
    }
}

/// From now on the store at `url` refuses to change the `state` of a row of `table`.
pub async fn refuse_state_changes(url: &str, table: &'static str) -> Refusal {
    let mut connection = connect(url).await;
    let trigger = match on_postgres() {
        false => format!(
            "CREATE TRIGGER refuse_{table} BEFORE UPDATE ON {table}
             WHEN NEW.state <> OLD.state
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        ),
        true => format!(
            "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
             CREATE TRIGGER refuse_{table} BEFORE UPDATE ON {table}
                 FOR EACH ROW WHEN (NEW.state <> OLD.state) EXECUTE FUNCTION refuse_{table}()"
        ),
    };
    connection.execute(&trigger).await;
    Refusal { connection, table }
}

impl Refusal {
    pub async fn recover(mut self) {
        let table = self.table;
        let drop = match on_postgres() {
            false => format!("DROP TRIGGER refuse_{table}"),
            true => format!("DROP TRIGGER refuse_{table} ON {table}; DROP FUNCTION refuse_{table}"),
        };
        self.connection.execute(&drop).await;
        self.connection.close().await;
    }
}
