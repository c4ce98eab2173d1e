//! `store copy --to postgres://...`: a SQLite store filled by the real app moves into an empty
//! PostgreSQL store with its ids, and the command refuses what it must not copy.
use std::process::Output;

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

use iiko_bridge::{
    menu::CatalogCache,
    orders::service,
    status::StatusTracker,
    store::{FallbackChannel, NewDelivery, NewFallback, NewReconcileReport, OrderState, Store},
};

use crate::support::{ConfigFile, Spawn, TestApp, iiko, postgres::TestDatabase};

const SITE_IDS: [&str; 4] = ["WEB-1", "WEB-2", "WEB-3", "WEB-FALLBACK"];

async fn bridge(config: &std::path::Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Three orders created in iiko (one sent under a webhook id), one handed to the operators (a
/// Telegram message for them stored), the statuses polled once (a cursor, history, site events)
/// and 1,234 iiko webhook calls waiting.
async fn filled() -> TestApp {
    let bed = Spawn::default().without_server().app(|_| {}).await;
    for id in &SITE_IDS[..2] {
        bed.submit(&bed.body(id)).await;
    }
    service::submit_order(
        &bed.store,
        &CatalogCache::new(bed.store.clone()),
        &iiko(&bed.config),
        &bed.config,
        bed.body("WEB-3").to_string().as_bytes(),
        Some("msg_webhook_3"),
        Utc::now(),
    )
    .await
    .unwrap();
    let mut unknown = bed.body("WEB-FALLBACK");
    unknown["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    assert_eq!(bed.submit(&unknown).await.body["state"], "fallback");
    bed.dispatcher().try_step(Utc::now()).await.unwrap();
    for id in &SITE_IDS[..3] {
        assert_eq!(bed.order(id).await.state, OrderState::Created);
    }
    let tracker = StatusTracker::new(
        bed.store.clone(),
        iiko(&bed.config),
        std::sync::Arc::new(bed.config.clone()),
    );
    tracker.poll(Utc::now()).await.unwrap();
    // The example configuration names no operator channel: the fallback message as the
    // fallback worker would store it for one.
    let fallback = NewFallback {
        branch: "lenina",
        order_id: "WEB-FALLBACK",
        number: "WEB-FALLBACK",
        reason: "unknown article NO-SUCH-ARTICLE",
        created_at: Utc::now(),
        deliveries: vec![NewDelivery {
            channel: FallbackChannel::Telegram,
            recipient: "-100200".into(),
            subject: None,
            body: "Заказ WEB-FALLBACK",
            html: None,
        }],
    };
    assert!(bed.store.insert_fallback(&fallback).await.unwrap());
    // More than a batch (500 rows) of iiko webhook calls waiting.
    let call = r#"{"eventType":"DeliveryOrderUpdate"}"#;
    bed.store
        .push_webhook_calls(&[call; 1234], 1)
        .await
        .unwrap();
    // Reconciliation reports: a daily one whose summary a chat still awaits, and a command's.
    for (daily, owed) in [(true, &[-100200][..]), (false, &[][..])] {
        let report = NewReconcileReport {
            branch: "lenina",
            from_day: "2026-12-04",
            to_day: "2026-12-04",
            daily,
            report: "{}",
            now_ms: 1,
            summary_owed: owed,
        };
        assert!(bed.store.insert_reconcile_report(&report).await.unwrap());
    }
    bed
}

/// `store copy --json`'s rows as table -> (sqlite rows, postgres rows).
fn counts(output: &Output) -> Vec<(String, i64, i64)> {
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)));
    rows.iter()
        .map(|r| {
            let n = |key: &str| r[key].as_i64().unwrap();
            let table = r["table"].as_str().unwrap().to_owned();
            (table, n("sqlite_rows"), n("postgres_rows"))
        })
        .collect()
}

#[bed::test]
async fn a_sqlite_store_copied_to_postgres_answers_the_same_orders_and_gives_new_rows_fresh_ids() {
    let Some(db) = TestDatabase::create(
        "a_sqlite_store_copied_to_postgres_answers_the_same_orders_and_gives_new_rows_fresh_ids",
    )
    .await
    else {
        return;
    };
    let bed = filled().await;

    let output = bridge(
        &bed.config_path,
        &["store", "copy", "--to", db.url(), "--json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let counts = counts(&output);
    let rows = |table: &str| {
        let (_, sqlite, postgres) = counts.iter().find(|c| c.0 == table).unwrap();
        assert_eq!(sqlite, postgres, "{table}: {counts:?}");
        *postgres
    };
    assert_eq!(counts.len(), 16, "{counts:?}");
    assert_eq!(rows("reconcile_reports"), 2);
    assert_eq!(rows("orders"), 4);
    assert_eq!(rows("seen_webhook_ids"), 1);
    assert_eq!(rows("catalog_versions"), 1);
    assert_eq!(rows("catalog_current"), 1);
    assert_eq!(rows("status_cursors"), 1);
    assert_eq!(rows("iiko_webhook_inbox"), 1234);
    assert_eq!(rows("fallback_orders"), 1);
    assert_eq!(rows("fallback_deliveries"), 1);
    for table in ["order_attempts", "order_history", "site_events"] {
        assert!(rows(table) > 0, "{table}: {counts:?}");
    }

    let pg = Store::open(db.url()).await.unwrap();
    for id in SITE_IDS {
        let copied = pg.order_by_site_key("lenina", id).await.unwrap();
        assert_eq!(copied.as_ref(), Some(&bed.order(id).await), "{id}");
        let order = copied.unwrap();
        assert_eq!(
            pg.order_history(order.id).await.unwrap(),
            bed.store.order_history(order.id).await.unwrap()
        );
    }
    assert_eq!(
        pg.current_catalog_document("lenina").await.unwrap(),
        bed.store.current_catalog_document("lenina").await.unwrap()
    );
    assert_eq!(
        pg.undelivered_fallbacks().await.unwrap(),
        bed.store.undelivered_fallbacks().await.unwrap()
    );

    // A new order on PostgreSQL: its ids (order, history) come after the copied ones.
    service::submit_order(
        &pg,
        &CatalogCache::new(pg.clone()),
        &iiko(&bed.config),
        &bed.config,
        bed.body("WEB-NEW").to_string().as_bytes(),
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    let new = pg.order_by_site_key("lenina", "WEB-NEW").await.unwrap();
    let highest = pg.list_orders(None, None, 10).await.unwrap();
    let copied_max = highest
        .iter()
        .filter(|o| o.site_id != "WEB-NEW")
        .map(|o| o.id)
        .max()
        .unwrap();
    assert_eq!(new.unwrap().id, copied_max + 1);
}

#[bed::test]
async fn a_copy_into_a_store_that_holds_rows_is_refused_and_changes_nothing() {
    let Some(db) =
        TestDatabase::create("a_copy_into_a_store_that_holds_rows_is_refused_and_changes_nothing")
            .await
    else {
        return;
    };
    let bed = Spawn::default().without_server().app(|_| {}).await;
    bed.submit(&bed.body("WEB-1")).await;
    let pg = Store::open(db.url()).await.unwrap();
    pg.save_status_cursor("org", Some(7), 1).await.unwrap();

    let output = bridge(&bed.config_path, &["store", "copy", "--to", db.url()]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the table status_cursors already holds rows"),
        "{stderr}"
    );
    assert_eq!(pg.list_orders(None, None, 10).await.unwrap(), vec![]);
    assert_eq!(pg.status_cursor("org").await.unwrap(), Some(7));
}

#[bed::test]
async fn a_copy_that_fails_half_way_leaves_the_target_empty() {
    let Some(db) = TestDatabase::create("a_copy_that_fails_half_way_leaves_the_target_empty").await
    else {
        return;
    };
    let bed = Spawn::default().without_server().app(|_| {}).await;
    bed.submit(&bed.body("WEB-1")).await;
    // A value no INTEGER column reads, in a table copied after the catalog's.
    let mut sqlite = SqliteConnection::connect(&bed.config.store.url)
        .await
        .unwrap();
    sqlite
        .execute("UPDATE orders SET attempts = 'many'")
        .await
        .unwrap();
    sqlite.close().await.unwrap();

    let output = bridge(&bed.config_path, &["store", "copy", "--to", db.url()]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("stored data is corrupt"), "{stderr}");
    let mut pg = PgConnection::connect(db.url()).await.unwrap();
    let catalogs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM catalog_versions")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(
        catalogs, 0,
        "the catalog copied before the failure was rolled back"
    );
}

#[bed::test]
async fn a_copy_is_refused_from_postgres_to_sqlite_without_its_password_file_and_while_serve_runs()
{
    let bed = Spawn::default().without_server().app(|_| {}).await;
    let pg_url = "postgres://bridge:hunter2@127.0.0.1:1/bridge";

    let sqlite_target = format!("sqlite://{}/copy.db", bed.dir.path().display());
    let output = bridge(&bed.config_path, &["store", "copy", "--to", &sqlite_target]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("store copy writes a PostgreSQL store"));
    assert!(!bed.dir.path().join("copy.db").exists());

    let mut file = ConfigFile::for_sim(&bed.sim, bed.dir.path());
    file.set("store.url", pg_url);
    let pg_config = file.write(bed.dir.path(), "postgres.toml");
    let output = bridge(&pg_config, &["store", "copy", "--to", pg_url]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("store copy reads a SQLite store"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let output = bridge(
        &bed.config_path,
        &[
            "store",
            "copy",
            "--to",
            pg_url,
            "--password-file",
            "/no/such/file",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("--password-file /no/such/file"));

    let _serving = Store::lock_for_serving(&bed.config.store.url).unwrap();
    let output = bridge(&bed.config_path, &["store", "copy", "--to", pg_url]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("stop serve first"));
}
