//! Orders end to end: the order API on a real server, the dispatcher against the simulator,
//! the CLI, and the binary killed mid-dispatch.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use chrono::Utc;
use futures::FutureExt;
use serde_json::{Value, json};

use iiko_bridge::{
    config::Config,
    fallback::{Handover, Templates},
    iiko::types::deliveries::DeliveriesByIdRequest,
    menu::CatalogCache,
    orders::StepOutcome,
    orders::service,
    signing::{WebhookSecret, sign},
    sim::{demo_ids, smtp::SmtpSink, telegram::FakeTelegram},
    startup::Application,
    status::{self, StatusTracker, TerminalWatch},
    store::{OrderState, Store, StoredOrder},
    worker::Worker,
};

use crate::support::{SITE_TOKEN, Spawn, TestApp, iiko, iiko_schema, store};

const CREATE: &str = "/api/1/deliveries/create";
const BY_ID: &str = "/api/1/deliveries/by_id";
const TOKEN: &str = SITE_TOKEN;
const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtdGVzdHMtb25seS0wMTIzNDU2";

/// Without a server (a test serves when it needs the API): iiko answers within 1 s and a failed
/// attempt is retried after 0.2 s, in the file too, for the tests that run the binary.
fn spawn() -> Spawn {
    Spawn::default().without_server().file(|file| {
        file.set("iiko.timeout_seconds", 1)
            .set("delivery.retry_interval_seconds", 0.2);
    })
}

fn later(seconds: i64) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

async fn post(base: &str, path: &str, body: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

// ---- The order API ------------------------------------------------------------------------------

#[bed::test]
async fn a_submitted_order_reaches_iiko_once_and_ends_created() {
    let bed = spawn().app(|_| {}).await;
    let base = bed.serve(bed.config.clone()).await;
    let body = bed.body("WEB-1");

    let response = post(&base, "/api/v1/orders", &body.to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["order_id"], "WEB-1");
    assert_eq!(answer["branch"], "lenina");
    assert_eq!(answer["state"], "queued");

    let order = bed.wait_for("WEB-1", OrderState::Created).await;
    assert_eq!(answer["iiko_order_id"], order.iiko_order_id.as_str());
    assert!(order.iiko_number.is_some());
    assert_eq!(order.creation_status.as_deref(), Some("Success"));
    assert_eq!(order.lease_owner, None);
    let creates = bed.requests(CREATE).await;
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0]["body"]["order"]["id"],
        order.iiko_order_id.as_str()
    );
    iiko_schema::assert_valid_request(CREATE, &creates[0]["body"]);
    let calls = bed.store.order_calls(order.id).await.unwrap();
    assert_eq!(calls[0].operation, "create");
    assert!(calls[0].correlation_id.is_some());
    let history = bed.store.order_history(order.id).await.unwrap();
    assert_eq!(history.first().unwrap().state.as_deref(), Some("queued"));
    assert_eq!(history.last().unwrap().state.as_deref(), Some("created"));
}

#[bed::test]
async fn an_order_to_send_wakes_the_dispatcher_at_once_and_one_for_the_operators_does_not() {
    let app = spawn().app(|_| {}).await;
    let wake = app
        .dispatcher()
        .wake()
        .expect("the dispatcher can be woken");
    assert!(
        wake.notified().now_or_never().is_none(),
        "nothing to send yet"
    );

    let mut unmappable = app.body("WEB-1");
    unmappable["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    assert!(!app.submit(&unmappable).await.repeat);
    assert!(wake.notified().now_or_never().is_none(), "a fallback order");

    assert!(!app.submit(&app.body("WEB-2")).await.repeat);
    assert!(
        wake.notified().now_or_never().is_some(),
        "woken, not polled"
    );
    if store::on_postgres() {
        // The same order's notification, heard back through LISTEN (or merged into the
        // permit just taken): let it land, then take it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = wake.notified().now_or_never();
    }
    assert!(app.submit(&app.body("WEB-2")).await.repeat);
    assert!(wake.notified().now_or_never().is_none(), "a repeat");
}

#[bed::test]
async fn a_repeat_answers_200_with_the_same_body_and_changed_content_409() {
    let bed = spawn().app(|_| {}).await;
    let base = bed.serve(bed.config.clone()).await;
    let body = bed.body("WEB-2");
    let first = post(&base, "/api/v1/orders", &body.to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();

    // Same content, other formatting.
    let repeat = post(
        &base,
        "/api/v1/orders",
        &serde_json::to_string_pretty(&body).unwrap(),
    )
    .await
    .send()
    .await
    .unwrap();
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);

    let mut changed = body.clone();
    changed["comment"] = json!("Позвоните заранее");
    let conflict = post(&base, "/api/v1/orders", &changed.to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(conflict.json::<Value>().await.unwrap()["error"], "conflict");
    bed.wait_for("WEB-2", OrderState::Created).await;
    assert_eq!(bed.requests(CREATE).await.len(), 1);
}

#[bed::test]
async fn twenty_concurrent_submissions_store_one_order_and_iiko_gets_one() {
    let bed = spawn().app(|_| {}).await;
    let base = bed.serve(bed.config.clone()).await;
    let body = bed.body("WEB-3").to_string();
    let answers = futures::future::join_all((0..20).map(|_| {
        let (base, body) = (base.clone(), body.clone());
        async move {
            let response = post(&base, "/api/v1/orders", &body)
                .await
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|(status, _)| *status == 202).count(),
        1
    );
    assert_eq!(
        answers.iter().filter(|(status, _)| *status == 200).count(),
        19
    );
    assert!(answers.iter().all(|(_, body)| *body == answers[0].1));
    bed.wait_for("WEB-3", OrderState::Created).await;
    assert_eq!(bed.requests(CREATE).await.len(), 1);
}

#[bed::test]
async fn bad_submissions_get_json_errors_and_store_nothing() {
    let bed = spawn()
        .app(|config| config.server.max_body_bytes = 4096)
        .await;
    let base = bed.serve(bed.config.clone()).await;
    let body = bed.body("WEB-4");

    let malformed = post(&base, "/api/v1/orders", "{\"id\":")
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"],
        "malformed_json"
    );

    let mut invalid = body.clone();
    invalid["total"] = json!(1);
    invalid["customer"]["phone"] = json!("12");
    let invalid = post(&base, "/api/v1/orders", &invalid.to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let details = invalid.json::<Value>().await.unwrap()["details"].clone();
    let fields: Vec<&str> = details
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"customer.phone"), "{details}");
    assert!(fields.contains(&"total"), "{details}");

    let wrong_token = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth("wrong")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    assert_eq!(
        wrong_token.json::<Value>().await.unwrap()["error"],
        "unauthorized"
    );

    let not_json = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(
        not_json.json::<Value>().await.unwrap()["error"],
        "unsupported_media_type"
    );

    let huge = format!("{{\"comment\": \"{}\"}}", "x".repeat(10_000));
    let too_large = post(&base, "/api/v1/orders", &huge)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(
        too_large.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );

    assert!(
        bed.store
            .list_orders(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[bed::test]
async fn signed_submissions_need_a_valid_fresh_signature_and_a_webhook_id_is_used_once() {
    let bed = spawn()
        .app(|config| config.site.signing_secret = Some(SECRET.into()))
        .await;
    let base = bed.serve(bed.config.clone()).await;
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let signed = |id: &str, body: &str, timestamp: i64, signature: Option<String>| {
        let signature = signature.unwrap_or_else(|| sign(&secret, id, timestamp, body.as_bytes()));
        let (base, id, body) = (base.clone(), id.to_owned(), body.to_owned());
        async move {
            post(&base, "/api/v1/orders", &body)
                .await
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .send()
                .await
                .unwrap()
        }
    };
    let now = Utc::now().timestamp();
    let body = bed.body("WEB-5").to_string();

    let unsigned = post(&base, "/api/v1/orders", &body)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.json::<Value>().await.unwrap()["error"],
        "unauthorized"
    );
    let forged = signed("msg_1", &body, now, Some("v1,AAAA".into())).await;
    assert_eq!(forged.status(), 401);
    let stale = signed("msg_1", &body, now - 600, None).await;
    assert_eq!(stale.status(), 401);

    assert_eq!(signed("msg_1", &body, now, None).await.status(), 202);
    // The site's own retry of the same message is answered idempotently ...
    assert_eq!(signed("msg_1", &body, now, None).await.status(), 200);
    // ... but the id cannot carry another message.
    let other = bed.body("WEB-6").to_string();
    let replayed = signed("msg_1", &other, now, None).await;
    assert_eq!(replayed.status(), 401);
    assert!(
        bed.store
            .orders_by_site_id("WEB-6", None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[bed::test]
async fn check_reports_problems_without_storing_anything() {
    let bed = spawn().app(|_| {}).await;
    let base = bed.serve(bed.config.clone()).await;
    let mut body = bed.body("WEB-7");
    let good: Value = post(&base, "/api/v1/orders/check", &body.to_string())
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(good["problems"], json!([]));
    assert_eq!(good["total"], body["total"]);
    // The guest has 1500 points; the branch and the simulator's program both allow 50 %.
    let total: rust_decimal::Decimal = body["total"].to_string().parse().unwrap();
    assert_eq!(
        good["bonus_max"]
            .to_string()
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        iiko_bridge::orders::percent_limit(total, 50.into()),
        "{good}"
    );

    body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    let bad: Value = post(&base, "/api/v1/orders/check", &body.to_string())
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["problems"][0]["field"], "items[0].article", "{bad}");
    assert!(
        bed.store
            .list_orders(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[bed::test]
async fn an_order_with_an_unknown_article_is_accepted_and_goes_to_the_operators_at_once() {
    let bed = spawn().app(|_| {}).await;
    let mut body = bed.body("WEB-8");
    body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");

    let accepted = bed.submit(&body).await;
    assert!(!accepted.repeat);
    assert_eq!(accepted.body["state"], "fallback");
    let order = bed.order("WEB-8").await;
    assert_eq!(order.state, OrderState::Fallback);
    assert!(
        order
            .fallback_reason
            .as_deref()
            .unwrap()
            .contains("NO-SUCH-ARTICLE")
    );
    assert_eq!(order.request, None);
    assert_eq!(
        bed.store
            .orders_in_state(OrderState::Fallback)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        bed.dispatcher().try_step(Utc::now()).await.unwrap(),
        StepOutcome::Idle
    );
    assert!(bed.requests(CREATE).await.is_empty());
}

#[bed::test]
async fn an_order_that_cannot_go_to_iiko_reaches_the_operators_by_email_and_telegram_once() {
    let smtp = SmtpSink::start().await.unwrap();
    let telegram = FakeTelegram::start().await.unwrap();
    let chat = 777;
    let bed = spawn()
        .app(|config| {
            with_email(config, &smtp);
            config.telegram.bot_token = Some(telegram.token().into());
            config.telegram.api_url = telegram.api_url();
            config.branches[0].fallback.telegram_chats = vec![chat];
        })
        .await;
    let base = bed.serve(bed.config.clone()).await;
    let mut body = bed.body("WEB-FB");
    body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    let response = post(&base, "/api/v1/orders", &body.to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    for _ in 0..200 {
        if !smtp.mails().is_empty() && !telegram.messages().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one e-mail to the branch's one address");
    assert_eq!(mails[0].to, vec!["orders@example.ru".to_owned()]);
    let mail = mails[0].text().unwrap();
    assert!(
        mail.contains("WEB-FB") && mail.contains("NO-SUCH-ARTICLE"),
        "{mail}"
    );
    let messages = telegram.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].chat_id, chat);
    assert!(messages[0].text.contains("NO-SUCH-ARTICLE"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.mails().len(), 1, "handed over once, never again");

    let shown = bed.cli(&["orders", "show", "WEB-FB"]).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let view: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let deliveries = view["fallback_deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(
        deliveries.iter().all(|d| d["state"] == "delivered"),
        "{deliveries:?}"
    );
}

#[bed::test]
async fn a_store_that_cannot_write_answers_503_and_keeps_nothing() {
    let bed = spawn().app(|_| {}).await;
    let base = bed.serve(bed.config.clone()).await;
    // Another writer holds the lock past the store's 5 s wait for it.
    let blocker = store::block_writes(&bed.config.store.url).await;
    let body = bed.body("WEB-9").to_string();
    let response = post(&base, "/api/v1/orders", &body)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unavailable"
    );
    blocker.release().await;
    assert!(
        bed.store
            .orders_by_site_id("WEB-9", None)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = post(&base, "/api/v1/orders", &body)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 202, "the site's retry goes through");
}

#[bed::test]
async fn a_site_over_its_rate_gets_429() {
    let bed = spawn()
        .app(|config| config.site.requests_per_second = NonZeroU32::MIN)
        .await;
    let base = bed.serve(bed.config.clone()).await;
    let body = bed.body("WEB-19").to_string();
    let statuses = futures::future::join_all((0..5).map(|_| {
        let (base, body) = (base.clone(), body.clone());
        async move {
            let response = post(&base, "/api/v1/orders/check", &body)
                .await
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let error = response.json::<Value>().await.unwrap()["error"].clone();
            (status, error)
        }
    }))
    .await;
    assert!(
        statuses.contains(&(429, json!("rate_limited"))),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|(status, _)| *status == 200));
}

// ---- The dispatcher -----------------------------------------------------------------------------

#[bed::test]
async fn a_transient_create_failure_is_retried_and_created_on_the_second_attempt() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-10")).await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 500, "times": 1}]}))
        .await;
    let dispatcher = bed.dispatcher();

    assert_eq!(
        dispatcher.try_step(Utc::now()).await.unwrap(),
        StepOutcome::Dispatched(1)
    );
    let order = bed.order("WEB-10").await;
    assert_eq!(order.state, OrderState::Retrying);
    assert_eq!(order.attempts, 1);
    assert_eq!(
        dispatcher.try_step(Utc::now()).await.unwrap(),
        StepOutcome::Idle,
        "not due before the retry interval"
    );

    dispatcher.try_step(later(1)).await.unwrap();
    let order = bed.order("WEB-10").await;
    assert_eq!(order.state, OrderState::Created);
    assert_eq!(order.attempts, 2);
    // The 500 left the outcome unclear: the second attempt read back before sending again.
    let operations: Vec<String> = bed
        .store
        .order_calls(order.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert_eq!(&operations[..3], ["create", "by_id", "create"]);
    let creates = bed.requests(CREATE).await;
    assert_eq!(creates.len(), 2);
    assert_eq!(
        creates[0]["body"], creates[1]["body"],
        "the same request both times"
    );
}

#[bed::test]
async fn a_create_that_timed_out_is_read_back_before_any_resend_and_iiko_ends_with_one_order() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-11")).await;
    // Slower than the Timeout header (1 s): iiko answers 408.
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 1500, "times": 1}]}))
        .await;
    let dispatcher = bed.dispatcher();
    dispatcher.try_step(Utc::now()).await.unwrap();
    let order = bed.order("WEB-11").await;
    assert_eq!(order.state, OrderState::Retrying);
    assert!(
        order.error_message.as_deref().unwrap().contains("408"),
        "{order:?}"
    );

    dispatcher.try_step(later(1)).await.unwrap();
    let order = bed.order("WEB-11").await;
    assert_eq!(order.state, OrderState::Created);
    let log: Vec<Value> = reqwest::get(bed.sim.url("sim/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = log
        .iter()
        .filter_map(|r| r["path"].as_str())
        .filter(|p| *p == CREATE || *p == BY_ID)
        .collect();
    assert_eq!(&paths[..3], [CREATE, BY_ID, CREATE]);
    let stored = log
        .iter()
        .filter(|r| r["path"] == CREATE && r["status"] == 200)
        .count();
    assert_eq!(stored, 1, "iiko created the order once");
}

#[bed::test]
async fn iiko_failing_every_time_sends_the_order_to_the_operators_after_max_attempts() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-12")).await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    let dispatcher = bed.dispatcher();
    for step in 0..3 {
        dispatcher.try_step(later(step)).await.unwrap();
    }
    let order = bed.order("WEB-12").await;
    assert_eq!(order.state, OrderState::Fallback);
    assert_eq!(order.attempts, 3);
    let reason = order.fallback_reason.unwrap();
    assert!(
        reason.contains("после 3 попыток") && reason.contains("503"),
        "{reason}"
    );
    assert_eq!(
        dispatcher.try_step(later(10)).await.unwrap(),
        StepOutcome::Idle
    );
}

#[bed::test]
async fn operators_hear_once_that_iiko_keeps_failing_for_a_branch_and_once_that_it_is_back() {
    let telegram = FakeTelegram::start().await.unwrap();
    let operators = 555;
    let bed = spawn()
        .app(|config| with_operator_chat(config, operators, &telegram))
        .await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    for n in 0..2 {
        bed.submit(&bed.body(&format!("WEB-A{n}"))).await;
    }
    let dispatcher = bed.dispatcher();
    for step in 0..3 {
        dispatcher.try_step(later(step)).await.unwrap();
    }
    let alerts = telegram.messages();
    assert_eq!(alerts.len(), 1, "six failures, one alert: {alerts:?}");
    assert_eq!(alerts[0].chat_id, operators);
    assert!(
        alerts[0].text.contains("iiko не отвечает"),
        "{}",
        alerts[0].text
    );

    bed.faults(json!({"rules": []})).await;
    bed.submit(&bed.body("WEB-A9")).await;
    dispatcher.try_step(later(10)).await.unwrap();
    assert_eq!(bed.order("WEB-A9").await.state, OrderState::Created);
    let alerts = telegram.messages();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[1].text.contains("снова работает"),
        "{}",
        alerts[1].text
    );
}

#[bed::test]
async fn an_offline_terminal_is_transient_and_ends_in_the_fallback_with_the_reason() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-13")).await;
    bed.faults(json!({"offline_terminal_groups": [demo_ids::TG_LENINA]}))
        .await;
    let dispatcher = bed.dispatcher();
    dispatcher.try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order("WEB-13").await.state, OrderState::Retrying);
    dispatcher.try_step(later(1)).await.unwrap();
    dispatcher.try_step(later(2)).await.unwrap();
    let order = bed.order("WEB-13").await;
    assert_eq!(order.state, OrderState::Fallback);
    assert!(
        order
            .fallback_reason
            .unwrap()
            .contains("Creation timeout expired"),
        "the operators see why"
    );
    // iiko keeps each failed order under its id, so every attempt reads back first and then
    // sends the order under fresh ids.
    let ids: std::collections::HashSet<String> = bed
        .requests(CREATE)
        .await
        .iter()
        .map(|r| r["body"]["order"]["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 3, "three attempts, three iiko ids");
}

#[bed::test]
async fn a_terminal_back_online_gets_the_order_under_fresh_ids_and_iiko_creates_it_once() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-16")).await;
    bed.faults(json!({"offline_terminal_groups": [demo_ids::TG_LENINA]}))
        .await;
    let dispatcher = bed.dispatcher();
    dispatcher.try_step(Utc::now()).await.unwrap();
    let failed = bed.order("WEB-16").await;
    assert_eq!(failed.state, OrderState::Retrying);

    bed.faults(json!({"offline_terminal_groups": []})).await;
    dispatcher.try_step(later(1)).await.unwrap();
    let order = bed.order("WEB-16").await;
    assert_eq!(order.state, OrderState::Created);
    assert_ne!(order.iiko_order_id, failed.iiko_order_id);
    let creates = bed.requests(CREATE).await;
    assert_eq!(creates.len(), 2);
    let (first, second) = (&creates[0]["body"]["order"], &creates[1]["body"]["order"]);
    assert_eq!(first["id"], failed.iiko_order_id.as_str());
    assert_eq!(second["id"], order.iiko_order_id.as_str());
    assert_ne!(
        first["items"][0]["positionId"],
        second["items"][0]["positionId"]
    );
    assert_eq!(
        first["items"][0]["productId"],
        second["items"][0]["productId"]
    );
    let history = bed.store.order_history(order.id).await.unwrap();
    assert!(
        history.iter().any(|h| h
            .note
            .as_deref()
            .is_some_and(|n| n.contains("под новым id"))),
        "{history:?}"
    );
    // Only the second id exists in iiko as a created order.
    let by_id = iiko(&bed.config)
        .deliveries_by_id(&DeliveriesByIdRequest {
            organization_id: demo_ids::ORG_LENINA,
            order_ids: Some(vec![
                failed.iiko_order_id.parse().unwrap(),
                order.iiko_order_id.parse().unwrap(),
            ]),
            ..DeliveriesByIdRequest::default()
        })
        .await
        .unwrap();
    let statuses: Vec<String> = by_id
        .orders
        .iter()
        .map(|o| format!("{}={}", o.id, o.creation_status))
        .collect();
    assert!(
        statuses.contains(&format!("{}=Error", failed.iiko_order_id)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&format!("{}=Success", order.iiko_order_id)),
        "{statuses:?}"
    );
}

#[bed::test]
async fn a_permanent_creation_error_goes_to_the_operators_at_once() {
    let bed = spawn()
        .app(|config| {
            config.branches[0].payment_types.card =
                "00000000-0000-4000-8000-00000000dead".parse().unwrap();
        })
        .await;
    bed.submit(&bed.body("WEB-14")).await;
    bed.dispatcher().try_step(Utc::now()).await.unwrap();
    let order = bed.order("WEB-14").await;
    assert_eq!(order.state, OrderState::Fallback);
    assert_eq!(order.attempts, 1);
    assert_eq!(order.error_code.as_deref(), Some("PaymentTypeNotFound"));
    assert!(
        order
            .fallback_reason
            .unwrap()
            .contains("PaymentTypeNotFound")
    );
}

#[bed::test]
async fn an_order_leased_by_a_crashed_worker_is_read_back_after_the_lease_and_completed_once() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-15")).await;
    // A worker leases the order, marks the create as sent, gets it into iiko, and dies.
    let now = Utc::now();
    let leased = bed
        .store
        .lease_due_orders(
            "crashed",
            now.timestamp_millis(),
            (now + chrono::Duration::seconds(30)).timestamp_millis(),
            8,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let request: Value = serde_json::from_str(leased[0].request.as_deref().unwrap()).unwrap();
    let iiko = iiko(&bed.config);
    let token = iiko.access_token().await.unwrap();
    let sent = reqwest::Client::new()
        .post(bed.sim.url(CREATE))
        .bearer_auth(token.expose_secret())
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    let dispatcher = bed.dispatcher();
    assert_eq!(
        dispatcher.try_step(later(10)).await.unwrap(),
        StepOutcome::Idle,
        "the lease is still live"
    );
    assert_eq!(
        dispatcher.try_step(later(31)).await.unwrap(),
        StepOutcome::Dispatched(1)
    );
    let order = bed.order("WEB-15").await;
    assert_eq!(order.state, OrderState::Created);
    assert!(order.iiko_number.is_some());
    assert_eq!(bed.requests(CREATE).await.len(), 1, "never sent again");
    // The crashed worker's late outcome cannot overwrite the finished order.
    let late = iiko_bridge::orders::AttemptEnd::Retrying {
        reason: "late".into(),
        next_attempt_at_ms: 0,
    };
    let now = Utc::now().timestamp_millis();
    let late = iiko_bridge::orders::attempt_change(&late, None, now);
    assert!(
        !bed.store
            .finish_attempt(order.id, "crashed", late, now)
            .await
            .unwrap()
    );
    assert_eq!(bed.order("WEB-15").await.state, OrderState::Created);
}

#[bed::test]
async fn shutting_down_lets_the_attempt_in_flight_finish_and_release_its_lease() {
    let bed = spawn().app(|_| {}).await;
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 700, "times": 1}]}))
        .await;
    let app = Application::build(bed.config.clone()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    bed.submit(&bed.body("WEB-16")).await;
    for _ in 0..200 {
        if bed.order("WEB-16").await.create_sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let order = bed.order("WEB-16").await;
    assert_eq!(order.state, OrderState::Created, "{order:?}");
    assert_eq!(order.lease_owner, None);
}

#[bed::test]
async fn a_slow_order_does_not_hold_up_the_next_one() {
    let bed = spawn().app(|config| config.iiko.timeout_seconds = 3).await;
    // The first create takes most of the 3 s Timeout; the second order must not wait for it.
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 2500, "times": 1}]}))
        .await;
    let app = Application::build(bed.config.clone()).await.unwrap();
    tokio::spawn(app.run(std::future::pending()));
    bed.submit(&bed.body("WEB-17")).await;
    for _ in 0..200 {
        if bed.order("WEB-17").await.create_sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bed.submit(&bed.body("WEB-18")).await;
    bed.wait_for("WEB-18", OrderState::Created).await;
    assert_eq!(
        bed.order("WEB-17").await.state,
        OrderState::Sending,
        "the second order was created while the first was still in flight"
    );
    bed.wait_for("WEB-17", OrderState::Created).await;
}

#[bed::test]
async fn an_attempt_longer_than_its_lease_keeps_the_order_by_renewing_it() {
    // A one-second lease, renewed every third of a second, for a create that takes 2.5 s.
    let bed = spawn()
        .app(|config| {
            config.store.lease_seconds = 1.0;
            config.iiko.timeout_seconds = 5;
        })
        .await;
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 2500, "times": 1}]}))
        .await;
    bed.submit(&bed.body("WEB-31")).await;
    let dispatcher = bed.dispatcher();
    let attempt = tokio::spawn(async move { dispatcher.try_step(Utc::now()).await });
    for _ in 0..200 {
        if bed.order("WEB-31").await.create_sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = Utc::now().timestamp_millis();
    let taken = bed
        .store
        .lease_due_orders("another-instance", now, now + 1_000, 8, &[])
        .await
        .unwrap();
    assert_eq!(
        taken,
        vec![],
        "past its first second, the lease still holds"
    );
    attempt.await.unwrap().unwrap();
    assert_eq!(bed.order("WEB-31").await.state, OrderState::Created);
}

#[bed::test]
async fn an_order_another_instance_stores_wakes_this_dispatcher_at_once_on_postgres() {
    if !store::on_postgres() {
        return; // SQLite serves one process: no other instance stores orders.
    }
    let bed = spawn().app(|_| {}).await;
    let other = Store::open(&bed.config.store.url).await.unwrap();
    let due = bed.store.orders_due();
    let body = bed.body("WEB-40").to_string();
    service::submit_order(
        &other,
        &CatalogCache::new(other.clone()),
        &iiko(&bed.config),
        &bed.config,
        body.as_bytes(),
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(5), due.notified()).await;
    assert!(woken.is_ok(), "no notification reached this instance");
}

// ---- The command line and the binary ------------------------------------------------------------

impl TestApp {
    async fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .unwrap()
    }

    /// Runs `serve` as its own process on `port`.
    fn spawn_serve(&self) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[bed::test]
async fn the_cli_lists_shows_retries_and_resolves_orders() {
    let bed = spawn().app(|_| {}).await;
    let mut unknown = bed.body("WEB-20");
    unknown["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    bed.submit(&unknown).await;
    bed.submit(&bed.body("WEB-21")).await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 503, "times": 3}]}))
        .await;
    let dispatcher = bed.dispatcher();
    for step in 0..3 {
        dispatcher.try_step(later(step)).await.unwrap();
    }
    assert_eq!(bed.order("WEB-21").await.state, OrderState::Fallback);

    let listed = bed.cli(&["orders", "list", "--json"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["order_id"], "WEB-21");
    assert_eq!(rows[0]["attempts"], 3);
    let table = bed.cli(&["orders", "list", "--state", "fallback"]).await;
    assert!(text(&table.stdout).contains("WEB-20") && text(&table.stdout).contains("WEB-21"));
    let bad_state = bed.cli(&["orders", "list", "--state", "lost"]).await;
    assert_eq!(bad_state.status.code(), Some(2));

    let shown = bed
        .cli(&["orders", "show", "WEB-21", "--branch", "lenina"])
        .await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let view: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(view["order"]["state"], "fallback");
    assert_eq!(view["calls"][0]["operation"], "create");
    assert_eq!(view["calls"][0]["http_status"], 503);
    assert!(view["fallback_reason"].as_str().unwrap().contains("503"));
    assert_eq!(view["history"][0]["state"], "queued");

    // The unmappable order cannot go to iiko; it is resolved by hand.
    let refused = bed.cli(&["orders", "retry", "WEB-20"]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("by hand"),
        "{}",
        text(&refused.stderr)
    );
    let resolved = bed.cli(&["orders", "resolve", "WEB-20"]).await;
    assert!(resolved.status.success(), "{}", text(&resolved.stderr));
    assert_eq!(bed.order("WEB-20").await.state, OrderState::Resolved);
    assert_eq!(
        bed.cli(&["orders", "resolve", "WEB-20"])
            .await
            .status
            .code(),
        Some(2)
    );

    // iiko works again: the operator sends WEB-21 once more, with the same iiko order id.
    let before = bed.order("WEB-21").await;
    let retried = bed.cli(&["orders", "retry", "WEB-21"]).await;
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    let queued = bed.order("WEB-21").await;
    assert_eq!((queued.state, queued.attempts), (OrderState::Queued, 0));
    dispatcher.try_step(Utc::now()).await.unwrap();
    let created = bed.order("WEB-21").await;
    assert_eq!(created.state, OrderState::Created);
    assert_eq!(created.iiko_order_id, before.iiko_order_id);
    assert_eq!(
        bed.cli(&["orders", "retry", "WEB-21"]).await.status.code(),
        Some(2)
    );
    assert_eq!(
        bed.cli(&["orders", "show", "WEB-99"]).await.status.code(),
        Some(2)
    );
}

#[bed::test]
async fn the_cli_lists_fallback_orders_no_channel_got_through_and_exits_4_while_there_are_any() {
    let bed = spawn()
        .file(|file| {
            file.set("branches.0.fallback.emails", toml::value::Array::new());
        })
        .app(|_| {})
        .await;
    let none = bed.cli(&["orders", "undelivered"]).await;
    assert_eq!(none.status.code(), Some(0), "{}", text(&none.stderr));

    let mut unknown = bed.body("WEB-30");
    unknown["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
    bed.submit(&unknown).await;
    let config = Arc::new(bed.config.clone());
    let templates = Templates::load(&config.templates.dir).unwrap();
    let handover = Handover::new(
        bed.store.clone(),
        CatalogCache::new(bed.store.clone()),
        config,
        Arc::new(templates),
    );
    assert_eq!(handover.try_step().await.unwrap(), 1);

    let listed = bed.cli(&["orders", "undelivered", "--json"]).await;
    assert_eq!(listed.status.code(), Some(4), "{}", text(&listed.stderr));
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["order_id"], "WEB-30");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("NO-SUCH-ARTICLE")
    );
    let table = bed.cli(&["orders", "undelivered"]).await;
    assert!(
        text(&table.stdout).contains("no recipients configured"),
        "{}",
        text(&table.stdout)
    );
}

#[bed::test]
async fn a_bridge_killed_mid_dispatch_finishes_the_order_once_after_a_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bed = spawn()
        .file(move |file| {
            file.set("server.listen", format!("127.0.0.1:{port}"))
                .set("delivery.creation_wait_seconds", 1);
        })
        .app(|_| {})
        .await;
    // iiko takes 800 ms to answer the create (within its 1 s Timeout): time to kill the bridge.
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 800, "times": 1}]}))
        .await;
    let mut first = bed.spawn_serve();
    let base = format!("http://127.0.0.1:{port}");
    let body = bed.body("WEB-30").to_string();
    let mut accepted = None;
    for _ in 0..200 {
        if let Ok(response) = post(&base, "/api/v1/orders", &body).await.send().await {
            accepted = Some(response.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted, Some(reqwest::StatusCode::ACCEPTED));
    for _ in 0..200 {
        if bed.order("WEB-30").await.create_sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let orphan = bed.order("WEB-30").await;
    assert_eq!(orphan.state, OrderState::Sending, "killed mid-dispatch");
    assert!(orphan.lease_owner.is_some());

    let mut second = bed.spawn_serve();
    let order = bed.wait_for_long("WEB-30", OrderState::Created).await;
    second.start_kill().unwrap();
    assert!(order.iiko_number.is_some());
    let created = bed
        .requests(CREATE)
        .await
        .into_iter()
        .filter(|r| r["status"] == 200)
        .count();
    let duplicates = bed
        .requests(CREATE)
        .await
        .into_iter()
        .filter(|r| r["status"] == 400)
        .count();
    assert_eq!(created, 1, "iiko has the order exactly once");
    assert_eq!(
        duplicates, 0,
        "the restarted bridge read back before sending"
    );
    let calls = bed.store.order_calls(order.id).await.unwrap();
    assert_eq!(
        calls.first().map(|c| c.operation.as_str()),
        Some("by_id"),
        "the dead process recorded nothing; the new one read back first: {calls:?}"
    );
}

impl TestApp {
    /// Like `wait_for`, for a lease that must run out first (about half a minute).
    async fn wait_for_long(&self, site_id: &str, state: OrderState) -> StoredOrder {
        for _ in 0..90 {
            let found = self.store.orders_by_site_id(site_id, None).await.unwrap();
            if let Some(order) = found.into_iter().find(|o| o.state == state) {
                return order;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("order {site_id} never reached {state}");
    }
}

#[bed::test]
async fn operators_hear_once_that_a_terminal_group_is_offline_and_once_that_it_is_back() {
    let telegram = FakeTelegram::start().await.unwrap();
    let operators = 556;
    let bed = spawn()
        .app(|config| with_operator_chat(config, operators, &telegram))
        .await;
    let watch = TerminalWatch::new(
        bed.store.clone(),
        iiko(&bed.config),
        Arc::new(bed.config.clone()),
    );
    assert_eq!(
        watch.try_step().await.unwrap().offline,
        Vec::<String>::new()
    );
    assert!(telegram.messages().is_empty(), "nothing to say while alive");

    bed.faults(json!({"offline_terminal_groups": [demo_ids::TG_LENINA]}))
        .await;
    for _ in 0..3 {
        assert_eq!(watch.try_step().await.unwrap().offline, ["lenina"]);
    }
    let alerts = telegram.messages();
    assert_eq!(
        alerts.len(),
        1,
        "one alert while it stays offline: {alerts:?}"
    );
    assert_eq!(alerts[0].chat_id, operators);
    assert!(alerts[0].text.contains("не на связи"), "{}", alerts[0].text);

    bed.faults(json!({"offline_terminal_groups": []})).await;
    watch.try_step().await.unwrap();
    watch.try_step().await.unwrap();
    let alerts = telegram.messages();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[1].text.contains("снова на связи"),
        "{}",
        alerts[1].text
    );
}

// ---- Unclear outcomes, leases and operator retries ----------------------------------------------

/// E-mail to `smtp`, and the fallback (chat 777) and operator alerts (chat 555) through
/// `telegram`.
fn with_channels(config: &mut Config, smtp: &SmtpSink, telegram: &FakeTelegram) {
    with_email(config, smtp);
    with_operator_chat(config, 555, telegram);
    config.branches[0].fallback.telegram_chats = vec![777];
}

fn with_email(config: &mut Config, smtp: &SmtpSink) {
    config.email.smtp_url = Some(smtp.url().into());
    config.email.from = Some("iiko-bridge <bridge@example.ru>".into());
}

/// Operator alerts to `chat` through `telegram`.
fn with_operator_chat(config: &mut Config, chat: i64, telegram: &FakeTelegram) {
    config.telegram.operator_chats = vec![chat];
    config.telegram.bot_token = Some(telegram.token().into());
    config.telegram.api_url = telegram.api_url();
}

#[bed::test]
async fn a_last_create_iiko_stored_behind_a_timeout_is_read_back_and_never_handed_to_staff() {
    let smtp = SmtpSink::start().await.unwrap();
    let telegram = FakeTelegram::start().await.unwrap();
    let bed = spawn()
        .app(|config| with_channels(config, &smtp, &telegram))
        .await;
    // Two plain failures, then iiko stores the order but the answer never comes (the 1 s
    // Timeout runs out): the last allowed attempt ends unclear.
    bed.faults(json!({"rules": [
        {"path": CREATE, "status": 500, "times": 2},
        {"path": CREATE, "latency_ms": 1500, "handled": true, "times": 1},
    ]}))
    .await;
    let base = bed.serve(bed.config.clone()).await;
    let response = post(&base, "/api/v1/orders", &bed.body("WEB-U1").to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let order = bed.wait_for("WEB-U1", OrderState::Created).await;
    let creates = bed.requests(CREATE).await;
    let statuses: Vec<&Value> = creates.iter().map(|r| &r["status"]).collect();
    assert_eq!(
        statuses,
        [500, 500, 408],
        "three attempts, the last one unclear"
    );
    assert!(
        creates
            .iter()
            .all(|r| r["body"]["order"]["id"] == order.iiko_order_id.as_str()),
        "one iiko id, so iiko can hold the order once"
    );
    let info = iiko(&bed.config)
        .deliveries_by_id(&DeliveriesByIdRequest {
            organization_id: demo_ids::ORG_LENINA,
            order_ids: Some(vec![order.iiko_order_id.parse().unwrap()]),
            ..DeliveriesByIdRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(info.orders.len(), 1);
    assert_eq!(
        order.iiko_number,
        info.orders[0].order.as_ref().map(|o| o.number)
    );
    let history = bed.store.order_history(order.id).await.unwrap();
    assert!(
        history
            .iter()
            .all(|h| h.state.as_deref() != Some("fallback")),
        "{history:?}"
    );
    let events = bed.store.site_events_of("lenina", "WEB-U1").await.unwrap();
    assert!(
        events.iter().all(|e| e["type"] != "order.fallback"),
        "{events:?}"
    );
    assert!(smtp.mails().is_empty(), "staff got no e-mail");
    assert!(
        telegram.messages().is_empty(),
        "staff got no Telegram message"
    );
}

#[bed::test]
async fn a_last_create_iiko_does_not_have_goes_to_staff_once_iiko_says_so() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-U2")).await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 500}]}))
        .await;
    let dispatcher = bed.dispatcher();
    for step in 0..3 {
        dispatcher.try_step(later(step)).await.unwrap();
    }
    let order = bed.order("WEB-U2").await;
    assert_eq!(order.state, OrderState::Fallback);
    let reason = order.fallback_reason.unwrap();
    assert!(
        reason.contains("после 3 попыток") && reason.contains("заказа у него нет"),
        "{reason}"
    );
    assert!(
        !reason.contains("iikoFront"),
        "iiko said it has none: {reason}"
    );
    let operations: Vec<String> = bed
        .store
        .order_calls(order.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        operations[operations.len() - 2..],
        ["create", "by_id"],
        "the last create was read back before the hand-over"
    );
}

#[bed::test]
async fn a_last_create_that_stays_unclear_reaches_staff_after_the_grace_with_a_warning() {
    let smtp = SmtpSink::start().await.unwrap();
    let telegram = FakeTelegram::start().await.unwrap();
    let bed = spawn()
        .app(|config| {
            with_channels(config, &smtp, &telegram);
            config.delivery.unclear_grace_seconds = 1.0;
        })
        .await;
    // iiko neither answers the create nor the read-backs.
    bed.faults(json!({"rules": [
        {"path": CREATE, "status": 500},
        {"path": BY_ID, "status": 500},
    ]}))
    .await;
    let base = bed.serve(bed.config.clone()).await;
    let response = post(&base, "/api/v1/orders", &bed.body("WEB-U3").to_string())
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let order = bed.wait_for("WEB-U3", OrderState::Fallback).await;
    let reason = order.fallback_reason.unwrap();
    assert!(reason.contains("сначала проверьте iikoFront"), "{reason}");
    let history = bed.store.order_history(order.id).await.unwrap();
    assert!(
        history.iter().any(|h| h
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("исход неясен"))),
        "it was read back before the hand-over: {history:?}"
    );
    for _ in 0..200 {
        if !smtp.mails().is_empty() && !telegram.messages().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mail = smtp.mails()[0].text().unwrap();
    assert!(mail.contains("сначала проверьте iikoFront"), "{mail}");
    let staff: Vec<_> = telegram
        .messages()
        .into_iter()
        .filter(|m| m.chat_id == 777)
        .collect();
    assert!(
        staff[0].text.contains("сначала проверьте iikoFront"),
        "{}",
        staff[0].text
    );
}

#[bed::test]
async fn iiko_creating_an_order_after_it_went_to_staff_alerts_the_operators_and_the_view_shows_it()
{
    let telegram = FakeTelegram::start().await.unwrap();
    let bed = spawn()
        .app(|config| {
            with_operator_chat(config, 555, &telegram);
            config.delivery.unclear_grace_seconds = 0.0;
            config.delivery.max_attempts = 1;
        })
        .await;
    bed.submit(&bed.body("WEB-U4")).await;
    // iiko stores the order but the answer is lost, and the read-back fails too: with no
    // grace, it goes to the operators warned that iiko may have it.
    bed.faults(json!({"rules": [
        {"path": CREATE, "latency_ms": 1500, "handled": true, "times": 1},
        {"path": BY_ID, "status": 500, "times": 1},
    ]}))
    .await;
    bed.dispatcher().try_step(Utc::now()).await.unwrap();
    let order = bed.order("WEB-U4").await;
    assert_eq!(order.state, OrderState::Fallback);
    assert!(order.fallback_reason.unwrap().contains("iikoFront"));

    let tracker = StatusTracker::new(
        bed.store.clone(),
        iiko(&bed.config),
        Arc::new(bed.config.clone()),
    );
    let step = tracker.try_step(Utc::now()).await.unwrap();
    let report = step.poll.unwrap();
    assert_eq!(report.tally.late_creations, 1, "{report:?}");
    let order = bed.order("WEB-U4").await;
    assert_eq!(
        order.state,
        OrderState::Fallback,
        "still the operators' order"
    );
    let number = order.iiko_number.expect("iiko's number is kept");
    let alerts: Vec<_> = telegram
        .messages()
        .into_iter()
        .filter(|m| m.chat_id == 555)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].text.contains("WEB-U4")
            && alerts[0].text.contains(&number.to_string())
            && alerts[0].text.contains(&order.iiko_order_id),
        "{}",
        alerts[0].text
    );
    let view = status::order_view(&bed.store, "lenina", "WEB-U4")
        .await
        .unwrap();
    assert!(
        view["iiko"]["created_after_handover_at"].is_string(),
        "{view}"
    );
    assert_eq!(view["iiko"]["number"], number);
    assert!(
        view["history"].as_array().unwrap().iter().any(|h| h["note"]
            .as_str()
            .is_some_and(|n| n.contains("всё же создал"))),
        "{view}"
    );
    // Told once.
    let again = tracker.try_step(later(3600)).await.unwrap().poll.unwrap();
    assert_eq!(again.tally.late_creations, 0);
    assert_eq!(
        telegram
            .messages()
            .iter()
            .filter(|m| m.chat_id == 555)
            .count(),
        1
    );
}

#[bed::test]
async fn an_order_in_flight_is_never_leased_again_by_its_own_dispatcher() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-L1")).await;
    // The create takes 800 ms (within the 1 s Timeout): the attempt is in flight meanwhile.
    bed.faults(json!({"rules": [{"path": CREATE, "latency_ms": 800, "times": 1}]}))
        .await;
    let dispatcher = bed.dispatcher();
    let second = async {
        for _ in 0..200 {
            if bed.order("WEB-L1").await.lease_owner.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Long after the first lease would have run out.
        dispatcher.try_step(later(3600)).await.unwrap()
    };
    let (first, second) = tokio::join!(dispatcher.try_step(Utc::now()), second);
    assert_eq!(first.unwrap(), StepOutcome::Dispatched(1));
    assert_eq!(
        second,
        StepOutcome::Idle,
        "no second attempt of an order in flight"
    );
    let order = bed.order("WEB-L1").await;
    assert_eq!((order.state, order.attempts), (OrderState::Created, 1));
    assert_eq!(bed.requests(CREATE).await.len(), 1);
    let calls = bed.store.order_calls(order.id).await.unwrap();
    assert_eq!(
        calls[0].operation, "create",
        "no other attempt read the order back first: {calls:?}"
    );
}

#[bed::test]
async fn an_attempt_is_cut_off_at_its_limit_and_the_order_retried() {
    let bed = spawn()
        .app(|config| config.delivery.attempt_timeout_seconds = Some(0.5))
        .await;
    bed.submit(&bed.body("WEB-L2")).await;
    // iiko asks the bridge to wait 5 s: far beyond the attempt's limit.
    bed.faults(json!({"rules": [{"path": CREATE, "status": 429, "retry_after": 5, "times": 1}]}))
        .await;
    let dispatcher = bed.dispatcher();
    dispatcher.try_step(Utc::now()).await.unwrap();
    let order = bed.order("WEB-L2").await;
    assert_eq!(order.state, OrderState::Retrying);
    assert_eq!(order.lease_owner, None, "the lease is released");
    assert!(
        order
            .error_message
            .as_deref()
            .unwrap()
            .contains("не уложилась"),
        "{order:?}"
    );
    dispatcher.try_step(later(1)).await.unwrap();
    assert_eq!(bed.order("WEB-L2").await.state, OrderState::Created);
}

#[bed::test]
async fn a_retry_after_iiko_refused_the_order_goes_out_under_fresh_ids_and_is_created() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-R1")).await;
    bed.faults(
        json!({"reject_orders": {"code": "ProductNotFound", "message": "Product not found"}}),
    )
    .await;
    let dispatcher = bed.dispatcher();
    dispatcher.try_step(Utc::now()).await.unwrap();
    let refused = bed.order("WEB-R1").await;
    assert_eq!(refused.state, OrderState::Fallback);
    assert_eq!(refused.error_code.as_deref(), Some("ProductNotFound"));

    // The cause is fixed; the operator retries.
    bed.faults(json!({})).await;
    let retried = bed.cli(&["orders", "retry", "WEB-R1"]).await;
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    let queued = bed.order("WEB-R1").await;
    assert_eq!(queued.state, OrderState::Queued);
    assert_ne!(
        queued.iiko_order_id, refused.iiko_order_id,
        "iiko never creates a closed id"
    );
    dispatcher.try_step(later(1)).await.unwrap();
    let created = bed.order("WEB-R1").await;
    assert_eq!(created.state, OrderState::Created);
    assert_eq!(created.iiko_order_id, queued.iiko_order_id);
    let kinds: Vec<Value> = bed
        .store
        .site_events_of("lenina", "WEB-R1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("order.fallback"), json!("order.created")]);
}

#[bed::test]
async fn a_retry_of_an_unmappable_order_maps_it_from_the_current_menu() {
    let bed = spawn().app(|_| {}).await;
    let body = bed.body("WEB-R2");
    let article = body["items"][0]["article"].as_str().unwrap().to_owned();
    let product = bed
        .catalog
        .products
        .iter()
        .find(|p| p.article == article)
        .unwrap()
        .iiko_id;
    let stop = |items: Value| {
        let url = bed.sim.url("sim/stop_lists");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&json!({"terminalGroupId": demo_ids::TG_LENINA, "items": items}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
        }
    };
    let sync = || async {
        iiko_bridge::menu::MenuSyncer::new(
            iiko(&bed.config),
            bed.store.clone(),
            bed.config.menu.export_dir.clone(),
            iiko_bridge::notify::OperatorChats::new(None, Vec::new()),
        )
        .sync(
            &bed.config.branches[0],
            iiko_bridge::menu::SyncKind::StopList,
            iiko_bridge::menu::SyncOptions::default(),
            &|_| {},
        )
        .await
        .unwrap();
    };
    stop(json!([{"productId": product, "balance": 0}])).await;
    sync().await;
    bed.submit(&body).await;
    let unmapped = bed.order("WEB-R2").await;
    assert_eq!(unmapped.state, OrderState::Fallback);
    assert!(unmapped.request.is_none());
    let refused = bed.cli(&["orders", "retry", "WEB-R2"]).await;
    assert_eq!(refused.status.code(), Some(2), "still on the stop list");

    // Back on the menu: the retry maps it anew.
    stop(json!([])).await;
    sync().await;
    let retried = bed.cli(&["orders", "retry", "WEB-R2"]).await;
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    bed.dispatcher().try_step(later(1)).await.unwrap();
    let created = bed.order("WEB-R2").await;
    assert_eq!(created.state, OrderState::Created);
    let creates = bed.requests(CREATE).await;
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0]["body"]["order"]["id"],
        created.iiko_order_id.as_str()
    );
    assert_eq!(
        creates[0]["body"]["order"]["items"][0]["productId"],
        json!(product)
    );
}

#[bed::test]
async fn an_order_that_fails_again_after_an_operators_retry_reaches_the_operators_again() {
    let bed = spawn().app(|_| {}).await;
    bed.submit(&bed.body("WEB-R5")).await;
    let rejection =
        json!({"reject_orders": {"code": "ProductNotFound", "message": "Product not found"}});
    bed.faults(rejection.clone()).await;
    let dispatcher = bed.dispatcher();
    let config = Arc::new(bed.config.clone());
    let handover = Handover::new(
        bed.store.clone(),
        CatalogCache::new(bed.store.clone()),
        config,
        Arc::new(Templates::embedded()),
    );
    dispatcher.try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order("WEB-R5").await.state, OrderState::Fallback);
    assert_eq!(handover.try_step().await.unwrap(), 1);
    let first = bed
        .store
        .fallback_deliveries("lenina", "WEB-R5")
        .await
        .unwrap();
    assert!(!first.is_empty());

    // The operator retries, and iiko refuses the order again: staff must hear of it again.
    let retried = bed.cli(&["orders", "retry", "WEB-R5"]).await;
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    dispatcher.try_step(later(1)).await.unwrap();
    assert_eq!(bed.order("WEB-R5").await.state, OrderState::Fallback);
    assert_eq!(handover.try_step().await.unwrap(), 1, "handed over again");
    let both = bed
        .store
        .fallback_deliveries("lenina", "WEB-R5")
        .await
        .unwrap();
    assert_eq!(both.len(), 2 * first.len(), "{both:?}");
    // Each hand-over once: another step hands nothing over.
    assert_eq!(handover.try_step().await.unwrap(), 0);
}
