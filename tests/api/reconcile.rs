//! Reconciliation (CONTRACT section 8) against the simulator over HTTP: the bridge's orders
//! are sent by its dispatcher, staff play at the POS through `/sim/pos/*`, and the report comes
//! from the `reconcile` command (or the daily run's `try_step`).
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use iiko_bridge::{
    config::Config,
    notify::Telegram,
    reconcile::{DailyRun, Reconciler},
    sim::telegram::{Failure, FakeTelegram, Refusal},
    store::OrderState,
};
use serde_json::{Value, json};

use crate::support::{Spawn, TestApp, iiko};

const CHAT: i64 = 4242;

async fn bed() -> TestApp {
    Spawn::default().without_server().app(|_| {}).await
}

fn today(bed: &TestApp) -> NaiveDate {
    Utc::now()
        .with_timezone(&bed.config.branches[0].timezone)
        .date_naive()
}

/// Accepts the orders and lets the dispatcher create them in iiko.
async fn created(bed: &TestApp, bodies: &[Value]) {
    for body in bodies {
        bed.submit(body).await;
    }
    let dispatcher = bed.dispatcher();
    for body in bodies {
        let id = body["id"].as_str().unwrap();
        for _ in 0..50 {
            dispatcher.try_step(Utc::now()).await.unwrap();
            if bed.order(id).await.state == OrderState::Created {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(bed.order(id).await.state, OrderState::Created, "{id}");
    }
}

/// An order the bridge cannot map (an unknown article): it goes to the operators at once.
async fn fallback(bed: &TestApp, id: &str) {
    let mut body = bed.body(id);
    body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    bed.submit(&body).await;
    assert_eq!(bed.order(id).await.state, OrderState::Fallback);
}

async fn pos(bed: &TestApp, action: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(bed.sim.url(&format!("sim/pos/{action}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{action} {body}");
    response.json().await.unwrap()
}

/// The iiko delivery id of a stored order.
async fn iiko_id(bed: &TestApp, site_id: &str) -> String {
    bed.order(site_id).await.iiko_order_id
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }

    /// (kind, order_id, iiko_order_id) of every finding of the first branch.
    fn findings(&self) -> Vec<(String, Value, Value)> {
        self.json()["branches"][0]["discrepancies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap().to_owned(),
                    d["order_id"].clone(),
                    d["iiko_order_id"].clone(),
                )
            })
            .collect()
    }
}

async fn reconcile(bed: &TestApp, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["--config", bed.config_path.to_str().unwrap(), "reconcile"])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[bed::test]
async fn a_clean_period_reports_nothing_and_exits_0() {
    let bed = bed().await;
    created(&bed, &[bed.body("R-1"), bed.body("R-2")]).await;

    let run = reconcile(&bed, &["--json"]).await;

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let branch = &run.json()["branches"][0];
    assert_eq!(branch["branch"], "lenina");
    assert_eq!(branch["bridge_orders"], 2);
    assert_eq!(branch["iiko_orders"], 2);
    assert_eq!(branch["discrepancies"], json!([]));
    let table = reconcile(&bed, &[]).await;
    assert_eq!(table.code, 0);
    assert!(
        table.stdout.contains("no discrepancies"),
        "{}",
        table.stdout
    );
}

#[bed::test]
async fn each_kind_is_found_exactly_once_for_what_staff_did_at_the_pos() {
    let bed = bed().await;
    let organization = bed.config.branches[0].organization_id;
    let key = bed.config.site.source_key.clone();
    let bodies: Vec<Value> = ["K-OK", "K-DEL", "K-SUM", "K-STATUS", "K-DUP"]
        .iter()
        .map(|id| bed.body(id))
        .collect();
    created(&bed, &bodies).await;
    fallback(&bed, "K-FB").await;
    let deleted = iiko_id(&bed, "K-DEL").await;
    pos(&bed, "delete", json!({"orderId": deleted})).await;
    let changed = iiko_id(&bed, "K-SUM").await;
    pos(&bed, "change", json!({"orderId": changed, "sum": 1})).await;
    let moved_on = iiko_id(&bed, "K-STATUS").await;
    pos(
        &bed,
        "change",
        json!({"orderId": moved_on, "status": "CookingStarted"}),
    )
    .await;
    let phone = bed.body("K-FB")["customer"]["phone"].clone();
    let twice = pos(
        &bed,
        "enter",
        json!({"organizationId": organization, "phone": phone, "sum": 100,
               "sourceKey": key, "externalNumber": "K-DUP"}),
    )
    .await["orderId"]
        .clone();
    let stray = pos(
        &bed,
        "enter",
        json!({"organizationId": organization, "phone": "+79990001122", "sum": 700,
               "sourceKey": key, "externalNumber": "NOT-OURS"}),
    )
    .await["orderId"]
        .clone();
    let typed_in = pos(
        &bed,
        "enter",
        json!({"organizationId": organization, "phone": phone, "sum": 500}),
    )
    .await["orderId"]
        .clone();

    let run = reconcile(&bed, &["--json"]).await;

    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.findings(),
        [
            ("missing_in_iiko".into(), json!("K-DEL"), json!(deleted)),
            ("unknown_in_iiko".into(), Value::Null, stray),
            ("duplicate_in_iiko".into(), json!("K-DUP"), twice),
            ("sum_mismatch".into(), json!("K-SUM"), json!(changed)),
            ("status_mismatch".into(), json!("K-STATUS"), json!(moved_on)),
            ("fallback_unresolved".into(), json!("K-FB"), Value::Null),
        ]
    );
    let fallback = &run.json()["branches"][0]["discrepancies"][5];
    assert_eq!(fallback["manual_match"], typed_in);
    let sum = &run.json()["branches"][0]["discrepancies"][3];
    assert!(sum["detail"].as_str().unwrap().contains("by -"), "{sum}");

    // The accountants' CSV holds the same six lines.
    let csv = bed.dir.path().join("report.csv");
    let again = reconcile(&bed, &["--csv", csv.to_str().unwrap()]).await;
    assert_eq!(again.code, 4);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(text.contains("\"sum_mismatch\""), "{text}");
    assert!(again.stdout.contains("status_mismatch"), "{}", again.stdout);
}

/// Zones whose offsets lie hours apart: at any instant it is before 22:00 in one of them.
const ZONES: [&str; 3] = ["Europe/Moscow", "Asia/Tokyo", "America/New_York"];

#[bed::test]
async fn an_order_wanted_at_23_50_local_belongs_to_that_local_day() {
    // The branch in a zone where 23:50 today is still ahead, whatever the time of the run.
    let zone = ZONES
        .into_iter()
        .find(|zone| {
            Utc::now()
                .with_timezone(&zone.parse::<Tz>().unwrap())
                .hour()
                < 22
        })
        .expect("one of the zones is before 22:00");
    let bed = Spawn::default()
        .without_server()
        .file(move |file| {
            file.set("branches.0.timezone", zone);
        })
        .app(|_| {})
        .await;
    let tz = bed.config.branches[0].timezone;
    assert_eq!(tz.name(), zone);
    let today = today(&bed);
    let tomorrow = today + chrono::Duration::days(1);
    let local = |day: NaiveDate, hour, minute| {
        tz.from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    // Said in UTC on purpose: the branch's day, not the offset's, decides.
    let mut late = bed.body("LATE");
    late["deliver_at"] = json!(local(today, 23, 50).to_rfc3339());
    let mut early = bed.body("EARLY");
    early["deliver_at"] = json!(local(tomorrow, 0, 10).to_rfc3339());
    created(&bed, &[late, early]).await;
    let day = today.to_string();
    let yesterday = (today - chrono::Duration::days(1)).to_string();

    let that_day = reconcile(&bed, &["--json", "--from", &day, "--to", &day]).await;
    let day_before = reconcile(&bed, &["--json", "--from", &yesterday, "--to", &yesterday]).await;

    // 00:10 tomorrow is tomorrow's (a day `reconcile` refuses until it comes): iiko's answer
    // for today reaches into it, yet it is neither counted nor unknown.
    assert_eq!(that_day.code, 0, "{}\n{}", that_day.stdout, that_day.stderr);
    let branch = &that_day.json()["branches"][0];
    assert_eq!(branch["bridge_orders"], 1, "{zone}");
    assert_eq!(branch["iiko_orders"], 1, "{zone}");
    assert_eq!(branch["discrepancies"], json!([]));
    assert_eq!(day_before.code, 0, "{}", day_before.stderr);
    assert_eq!(day_before.json()["branches"][0]["bridge_orders"], 0);
    assert_eq!(day_before.json()["branches"][0]["iiko_orders"], 0);
}

#[bed::test]
async fn resolve_matched_resolves_the_fallback_order_staff_typed_in_and_says_so_in_its_history() {
    let bed = bed().await;
    fallback(&bed, "M-1").await;
    fallback(&bed, "M-2").await;
    let phone = bed.body("M-1")["customer"]["phone"].clone();
    let typed_in = pos(
        &bed,
        "enter",
        json!({"organizationId": bed.config.branches[0].organization_id,
               "phone": phone, "sum": 990}),
    )
    .await["orderId"]
        .as_str()
        .unwrap()
        .to_owned();

    let run = reconcile(&bed, &["--json", "--resolve-matched"]).await;

    // One typed-in order answers for one fallback order: the first accepted.
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let order = bed.order("M-1").await;
    assert_eq!(order.state, OrderState::Resolved);
    let history = bed.store.order_history(order.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.state.as_deref(), Some("resolved"));
    assert!(
        last.note.as_deref().unwrap_or_default().contains(&typed_in),
        "{history:?}"
    );
    assert_eq!(bed.order("M-2").await.state, OrderState::Fallback);
    assert_eq!(
        run.findings(),
        [("fallback_unresolved".into(), json!("M-2"), Value::Null)]
    );
    assert_eq!(
        run.json()["branches"][0]["discrepancies"][0]["manual_match"],
        Value::Null
    );
}

#[bed::test]
async fn iiko_failing_midway_makes_days_incomplete_not_false_discrepancies() {
    let bed = bed().await;
    created(&bed, &[bed.body("F-1")]).await;
    let gone = iiko_id(&bed, "F-1").await;
    pos(&bed, "delete", json!({"orderId": gone})).await;
    // Yesterday's call is answered; every call after it fails.
    bed.faults(json!({"rules": [{
        "path": "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
        "status": 503, "after": 1}]}))
        .await;

    let run = reconcile(&bed, &["--json"]).await;

    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let branch = &run.json()["branches"][0];
    assert_eq!(branch["incomplete_days"], json!([today(&bed).to_string()]));
    assert_eq!(branch["discrepancies"], json!([]));
    // Retried before giving up: the first call and three tries of the second.
    let calls = bed
        .requests("/api/1/deliveries/by_delivery_date_and_source_key_and_filter")
        .await;
    assert_eq!(calls.len(), 1 + 4);

    bed.faults(json!({"rules": [{
        "path": "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
        "status": 429, "retry_after": 0}]}))
        .await;
    let unreachable = reconcile(&bed, &["--json"]).await;
    assert_eq!(unreachable.code, 3, "{}", unreachable.stderr);
}

#[bed::test]
async fn bad_usage_is_a_clear_error_with_exit_code_2() {
    let bed = bed().await;
    let today = today(&bed);
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let long_ago = (today - chrono::Duration::days(30)).to_string();
    let cases = [
        (
            vec!["--from", "2026-01-05", "--to", "2026-01-04"],
            "is after",
        ),
        (vec!["--to", tomorrow.as_str()], "in the future"),
        (vec!["--from", long_ago.as_str()], "more than 7 days ago"),
        (vec!["--branch", "nowhere"], "no such branch"),
        (vec!["--from", "05.01.2026"], "invalid"),
    ];
    for (args, says) in cases {
        let run = reconcile(&bed, &args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

fn daily(bed: &TestApp, config: &Config, fake: &FakeTelegram) -> DailyRun {
    daily_to(bed, config, fake, &[CHAT])
}

/// The daily run at 06:00 (the test bed turns `serve`'s off), its summaries going to `chats`.
fn daily_to(bed: &TestApp, config: &Config, fake: &FakeTelegram, chats: &[i64]) -> DailyRun {
    let mut telegram = config.telegram.clone();
    telegram.bot_token = Some(fake.token().to_owned().into());
    telegram.api_url = fake.api_url();
    telegram.operator_chats = chats.to_vec();
    DailyRun::new(
        Reconciler::new(bed.store.clone(), iiko(config), &config.site.source_key),
        config.branches.clone(),
        NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        Telegram::from_config(&telegram),
        telegram.operator_chats.clone(),
    )
}

/// `hh:mm` local at the branch on `day`.
fn at(bed: &TestApp, day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    bed.config.branches[0]
        .timezone
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[bed::test]
async fn the_daily_run_reports_the_day_before_once_and_sends_one_summary() {
    let bed = bed().await;
    let fake = FakeTelegram::start().await.unwrap();
    created(&bed, &[bed.body("D-1"), bed.body("D-2")]).await;
    let gone = iiko_id(&bed, "D-2").await;
    pos(&bed, "delete", json!({"orderId": gone})).await;
    let tomorrow = today(&bed) + chrono::Duration::days(1);
    let run = daily(&bed, &bed.config, &fake);

    // Before `daily_at` (06:00) nothing is done.
    let early = run.try_step(at(&bed, tomorrow, 5, 59)).await.unwrap();
    assert!(early.reported.is_empty(), "{early:?}");
    let step = run.try_step(at(&bed, tomorrow, 6, 0)).await.unwrap();
    assert_eq!(step.reported, [("lenina".to_owned(), today(&bed))]);
    assert_eq!(step.notified, step.reported);
    // A restart, or another instance: the day is stored, so it is not run again.
    let again = daily(&bed, &bed.config, &fake)
        .try_step(at(&bed, tomorrow, 7, 0))
        .await
        .unwrap();
    assert_eq!(again, Default::default());

    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].chat_id, CHAT);
    assert!(
        messages[0].text.contains("нет в iiko: 1 (№D-2)"),
        "{}",
        messages[0].text
    );
    let last = reconcile(&bed, &["--last", "--json"]).await;
    assert_eq!(last.code, 4, "{}", last.stderr);
    assert_eq!(last.findings()[0].1, json!("D-2"));
}

#[bed::test]
async fn the_daily_run_says_nothing_about_a_clean_day() {
    let bed = bed().await;
    let fake = FakeTelegram::start().await.unwrap();
    created(&bed, &[bed.body("C-1")]).await;
    let tomorrow = today(&bed) + chrono::Duration::days(1);

    let step = daily(&bed, &bed.config, &fake)
        .try_step(at(&bed, tomorrow, 6, 30))
        .await
        .unwrap();

    assert_eq!(step.reported, [("lenina".to_owned(), today(&bed))]);
    assert!(step.notified.is_empty());
    assert!(fake.messages().is_empty());
}

#[bed::test]
async fn a_busy_day_is_read_completely_in_pages_of_500() {
    let bed = bed().await;
    let organization = bed.config.branches[0].organization_id;
    let key = bed.config.site.source_key.clone();
    let noon = format!("{} 12:00:00.000", today(&bed));
    // 1,100 strays with the bridge's key, all wanted at one time but the last 100: a page
    // boundary inside a run of equal delivery times is crossed only by the later ones.
    for n in 0..1100 {
        let complete_before = match n < 1000 {
            true => format!("{} 10:{:02}:00.000", today(&bed), n / 20),
            false => noon.clone(),
        };
        pos(
            &bed,
            "enter",
            json!({"organizationId": organization, "phone": "+79990001122", "sum": 1,
                   "sourceKey": key, "externalNumber": format!("S-{n}"),
                   "completeBefore": complete_before}),
        )
        .await;
    }
    let day = today(&bed).to_string();

    let run = reconcile(&bed, &["--json", "--from", &day, "--to", &day]).await;

    assert_eq!(run.code, 4, "{}", run.stderr);
    let branch = &run.json()["branches"][0];
    assert_eq!(branch["iiko_orders"], 1100);
    assert_eq!(branch["discrepancies"].as_array().unwrap().len(), 1100);
    let pages = bed
        .requests("/api/1/deliveries/by_delivery_date_and_source_key_and_filter")
        .await;
    assert_eq!(pages.len(), 3);
    assert!(
        pages
            .iter()
            .all(|p| p["body"]["rowsCount"] == 500 && p["body"]["sortProperty"] == "CompleteBefore"),
        "{pages:?}"
    );
}

/// A day whose report has something to say: one order deleted at the POS.
async fn a_day_with_a_finding(bed: &TestApp, id: &str) {
    created(bed, &[bed.body(id)]).await;
    let gone = iiko_id(bed, id).await;
    pos(bed, "delete", json!({"orderId": gone})).await;
}

#[bed::test]
async fn a_summary_telegram_failed_to_take_goes_out_on_a_later_step_once() {
    let bed = bed().await;
    let fake = FakeTelegram::start().await.unwrap();
    a_day_with_a_finding(&bed, "T-1").await;
    let tomorrow = today(&bed) + chrono::Duration::days(1);
    let day = [("lenina".to_owned(), today(&bed))];
    let run = daily(&bed, &bed.config, &fake);

    // teloxide reports a 5xx after its own 10 s pause.
    fake.fail_next(1, Failure::ServerError);
    let failed = run.try_step(at(&bed, tomorrow, 6, 0)).await.unwrap();
    assert_eq!(failed.reported, day);
    assert!(failed.notified.is_empty(), "{failed:?}");
    assert_eq!(failed.owed, day);
    assert!(fake.messages().is_empty());
    // Flood control on the next try: nothing goes before the 120 s Telegram asked for.
    fake.fail_next(1, Failure::TooManyRequests { retry_after: 120 });
    let flooded = run.try_step(at(&bed, tomorrow, 6, 1)).await.unwrap();
    assert_eq!(flooded.owed, day, "{flooded:?}");
    let waiting = run.try_step(at(&bed, tomorrow, 6, 2)).await.unwrap();
    assert_eq!(waiting, Default::default());
    // What is owed is in the store: a restart (or the instance taking the duty over) sends it.
    let sent = daily(&bed, &bed.config, &fake)
        .try_step(at(&bed, tomorrow, 6, 4))
        .await
        .unwrap();
    assert_eq!(sent.notified, day, "{sent:?}");
    assert!(sent.owed.is_empty());
    let after = run.try_step(at(&bed, tomorrow, 6, 5)).await.unwrap();
    assert_eq!(after, Default::default());

    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].chat_id, CHAT);
    assert!(
        messages[0].text.contains("нет в iiko: 1 (№T-1)"),
        "{}",
        messages[0].text
    );
}

#[bed::test]
async fn a_chat_that_refuses_the_summary_for_good_is_given_up_and_the_others_get_it() {
    let bed = bed().await;
    let fake = FakeTelegram::start().await.unwrap();
    a_day_with_a_finding(&bed, "B-1").await;
    let tomorrow = today(&bed) + chrono::Duration::days(1);
    const BLOCKED: i64 = 777;
    fake.refuse_chat(BLOCKED, Refusal::BotBlocked);
    let run = daily_to(&bed, &bed.config, &fake, &[BLOCKED, CHAT]);

    let step = run.try_step(at(&bed, tomorrow, 6, 0)).await.unwrap();
    let later = run.try_step(at(&bed, tomorrow, 7, 0)).await.unwrap();

    assert_eq!(step.notified, [("lenina".to_owned(), today(&bed))]);
    assert!(step.owed.is_empty(), "{step:?}");
    assert_eq!(later, Default::default());
    let chats: Vec<i64> = fake.messages().iter().map(|m| m.chat_id).collect();
    assert_eq!(chats, [CHAT]);
}

#[bed::test]
async fn the_test_beds_serve_does_not_reconcile_on_its_own() {
    // Past 06:00 at the branch a `serve` with the daily run on would ask iiko at once.
    let bed = Spawn::default().app(|_| {}).await;
    assert_eq!(bed.config.reconcile.daily_at, None);

    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = bed
        .requests("/api/1/deliveries/by_delivery_date_and_source_key_and_filter")
        .await;
    assert!(asked.is_empty(), "{asked:?}");
}
