//! The operator bot end to end: `serve` long-polls the fake Telegram Bot API, the fallback
//! messages carry buttons, operators press them or type commands, strangers are refused, and
//! the messages are edited however the order left the fallback.
use std::time::Duration;

use serde_json::{Value, json};

use iiko_bridge::{
    config::Config,
    notify::Telegram,
    orders::resolve_order,
    sim::telegram::{Failure, FakeChat, FakeTelegram, SentMessage},
    startup::Application,
    store::OrderState,
};
use secrecy::SecretString;

use crate::support::{Spawn, TestApp};

const OPERATOR: i64 = 4242;
const OPERATOR_NAME: &str = "Анна";
const STRANGER: i64 = 777;
const KITCHEN: i64 = -100300;
const CREATE: &str = "/api/1/deliveries/create";

fn with_bot(telegram: &FakeTelegram) -> impl FnOnce(&mut Config) + use<> {
    let (token, api_url) = (telegram.token().to_owned(), telegram.api_url());
    move |config| {
        config.telegram.bot_token = Some(SecretString::from(token));
        config.telegram.api_url = api_url;
        config.telegram.operator_users = vec![OPERATOR];
        config.telegram.poll_timeout_seconds = 1;
        config.branches[0].fallback.telegram_chats = vec![KITCHEN];
        config.delivery.max_attempts = 1;
        config.iiko.timeout_seconds = 1;
    }
}

async fn spawn_app(telegram: &FakeTelegram) -> TestApp {
    Spawn::default().app(with_bot(telegram)).await
}

/// Waits (polling, at most 15 s) until `probe` finds something.
async fn eventually<T>(what: &str, probe: impl Fn() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(found) = probe() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

impl TestApp {
    /// An order that cannot be mapped to the menu: it goes to the operators at intake.
    async fn post_unmappable(&self, id: &str) {
        let mut body = self.body(id);
        body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
        let (status, answer) = self.post("/api/v1/orders", &body).await;
        assert_eq!(status, 202, "{answer}");
    }

    /// An order iiko refuses (503) once, its only attempt: it goes to the operators.
    async fn post_refused_by_iiko(&self, id: &str) {
        self.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
            .await;
        let (status, answer) = self.post("/api/v1/orders", &self.body(id)).await;
        assert_eq!(status, 202, "{answer}");
        self.wait_for(id, OrderState::Fallback).await;
        self.faults(json!({"rules": []})).await;
    }

    async fn history_notes(&self, site_id: &str) -> Vec<String> {
        let order = self.order(site_id).await;
        let history = self.store.order_history(order.id).await.unwrap();
        history.into_iter().filter_map(|h| h.note).collect()
    }
}

/// The fallback message about `site_id` in the kitchen chat, once it has its buttons.
async fn fallback_message(telegram: &FakeTelegram, site_id: &str) -> SentMessage {
    eventually(&format!("the fallback message of {site_id}"), || {
        telegram
            .messages_to(KITCHEN)
            .into_iter()
            .find(|m| m.text.contains(site_id) && !m.buttons().is_empty())
    })
    .await
}

fn answer_to(telegram: &FakeTelegram, callback: &str) -> impl Fn() -> Option<String> {
    move || {
        telegram
            .callback_answers()
            .into_iter()
            .find(|a| a.callback_query_id == callback)
            .map(|a| a.text.unwrap_or_default())
    }
}

fn current(telegram: &FakeTelegram, message: &SentMessage) -> SentMessage {
    telegram
        .messages()
        .into_iter()
        .find(|m| m.message_id == message.message_id)
        .unwrap()
}

async fn edited(telegram: &FakeTelegram, message: &SentMessage) -> SentMessage {
    eventually("the message edited", || {
        let now = current(telegram, message);
        now.reply_markup.is_none().then_some(now)
    })
    .await
}

/// The replies in the private chat of `user` after the first `skip`.
async fn reply(telegram: &FakeTelegram, user: i64, skip: usize) -> String {
    eventually("a reply", || {
        telegram.messages_to(user).get(skip).map(|m| m.text.clone())
    })
    .await
}

#[bed::test]
async fn an_operator_resolves_a_fallback_order_from_its_button_and_the_message_says_who_and_when() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B1").await;
    let message = fallback_message(&telegram, "WEB-B1").await;
    let order = app.order("WEB-B1").await;
    let data: Vec<String> = message.buttons().into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        data,
        [
            format!("resolve:{}", order.id),
            format!("retry:{}", order.id)
        ]
    );

    let callback = telegram.press(&message, "Введён вручную", OPERATOR, OPERATOR_NAME);

    let answer = eventually("the press answered", answer_to(&telegram, &callback)).await;
    assert!(answer.contains("введённый вручную"), "{answer}");
    assert_eq!(app.order("WEB-B1").await.state, OrderState::Resolved);
    let notes = app.history_notes("WEB-B1").await;
    assert!(
        notes
            .last()
            .unwrap()
            .contains(&format!("Telegram user {OPERATOR} ({OPERATOR_NAME})")),
        "{notes:?}"
    );
    let now = edited(&telegram, &message).await;
    assert!(
        now.text.starts_with(&message.text),
        "the order is still there"
    );
    assert!(
        now.text.contains("Введён вручную") && now.text.contains(OPERATOR_NAME),
        "{}",
        now.text
    );
}

#[bed::test]
async fn a_second_press_changes_nothing_and_says_so() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B2").await;
    let message = fallback_message(&telegram, "WEB-B2").await;
    let first = telegram.press(&message, "Введён вручную", OPERATOR, OPERATOR_NAME);
    eventually("the first press answered", answer_to(&telegram, &first)).await;
    edited(&telegram, &message).await;
    let (notes, edits) = (app.history_notes("WEB-B2").await, telegram.edits().len());

    // A client that still shows the buttons (the edit not seen yet) presses again.
    let resolve = message.buttons()[0].1.clone();
    let second = telegram.press(&message, &resolve, OPERATOR, OPERATOR_NAME);
    let answer = eventually("the second press answered", answer_to(&telegram, &second)).await;

    assert!(answer.contains("Ничего не изменено"), "{answer}");
    assert_eq!(app.history_notes("WEB-B2").await, notes);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(telegram.edits().len(), edits, "edited once");
}

#[bed::test]
async fn an_operator_sends_an_order_to_iiko_again_from_its_button() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_refused_by_iiko("WEB-B3").await;
    let message = fallback_message(&telegram, "WEB-B3").await;

    let callback = telegram.press(&message, "Отправить в iiko снова", OPERATOR, OPERATOR_NAME);

    let answer = eventually("the press answered", answer_to(&telegram, &callback)).await;
    assert!(answer.contains("снова отправлен в iiko"), "{answer}");
    app.wait_for("WEB-B3", OrderState::Created).await;
    let now = edited(&telegram, &message).await;
    assert!(now.text.contains("Отправлен в iiko снова"), "{}", now.text);
}

#[bed::test]
async fn an_operator_resolves_and_retries_with_commands_in_a_private_chat() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B4").await;
    app.post_refused_by_iiko("WEB-B5").await;
    let resolve_message = fallback_message(&telegram, "WEB-B4").await;
    fallback_message(&telegram, "WEB-B5").await;

    telegram.send_text(
        FakeChat::Private,
        OPERATOR,
        OPERATOR_NAME,
        "/resolve WEB-B4",
    );
    let resolved = reply(&telegram, OPERATOR, 0).await;
    telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/retry WEB-B5");
    let retried = reply(&telegram, OPERATOR, 1).await;
    telegram.send_text(
        FakeChat::Private,
        OPERATOR,
        OPERATOR_NAME,
        "/resolve NO-SUCH",
    );
    let missing = reply(&telegram, OPERATOR, 2).await;
    telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/frobnicate");
    let unknown = reply(&telegram, OPERATOR, 3).await;

    assert!(
        resolved.contains("WEB-B4") && resolved.contains("введённый вручную"),
        "{resolved}"
    );
    assert!(
        retried.contains("WEB-B5") && retried.contains("снова отправлен"),
        "{retried}"
    );
    assert!(missing.contains("не найден"), "{missing}");
    assert!(unknown.contains("/help"), "{unknown}");
    assert_eq!(app.order("WEB-B4").await.state, OrderState::Resolved);
    app.wait_for("WEB-B5", OrderState::Created).await;
    let edited = edited(&telegram, &resolve_message).await;
    assert!(edited.text.contains(OPERATOR_NAME), "{}", edited.text);
    let commands = telegram
        .setup_calls()
        .into_iter()
        .find(|(method, _)| method == "setmycommands")
        .expect("commands registered");
    let names: Vec<&str> = commands.1["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    for name in [
        "orders",
        "order",
        "retry",
        "resolve",
        "undelivered",
        "health",
        "stoplist",
        "help",
    ] {
        assert!(
            names.iter().any(|n| n.trim_start_matches('/') == name),
            "{names:?}"
        );
    }
}

#[bed::test]
async fn a_strangers_press_and_command_change_nothing_and_reveal_nothing() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B6").await;
    let message = fallback_message(&telegram, "WEB-B6").await;
    let notes = app.history_notes("WEB-B6").await;

    let callback = telegram.press(&message, "Введён вручную", STRANGER, "Гость");
    let answer = eventually("the press answered", answer_to(&telegram, &callback)).await;
    telegram.send_text(FakeChat::Private, STRANGER, "Гость", "/resolve WEB-B6");
    let refusal = reply(&telegram, STRANGER, 0).await;
    telegram.send_text(FakeChat::Group(KITCHEN), STRANGER, "Гость", "/order WEB-B6");
    let in_group = eventually("a refusal in the group", || {
        telegram
            .messages_to(KITCHEN)
            .into_iter()
            .find(|m| m.text.contains("Нет доступа"))
    })
    .await;
    // Nobody is answered in a channel or a group the bot does not serve.
    telegram.send_text(FakeChat::Channel(-100999), STRANGER, "", "/resolve WEB-B6");
    telegram.send_text(
        FakeChat::Group(-100998),
        OPERATOR,
        OPERATOR_NAME,
        "/resolve WEB-B6",
    );
    eventually("every update handled", || {
        (telegram.unconfirmed() == 0).then_some(())
    })
    .await;
    telegram.send_text(FakeChat::Private, STRANGER, "Гость", "hello");
    eventually("every update handled", || {
        (telegram.unconfirmed() == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert!(answer.contains("Нет доступа"), "{answer}");
    for text in [&answer, &refusal, &in_group.text] {
        assert!(!text.contains("WEB-B6"), "{text}");
    }
    assert!(refusal.contains("Нет доступа"), "{refusal}");
    assert_eq!(app.order("WEB-B6").await.state, OrderState::Fallback);
    assert_eq!(app.history_notes("WEB-B6").await, notes);
    assert!(telegram.edits().is_empty());
    assert_eq!(
        current(&telegram, &message).reply_markup,
        message.reply_markup
    );
    assert!(telegram.messages_to(-100999).is_empty() && telegram.messages_to(-100998).is_empty());
    assert_eq!(
        telegram.messages_to(STRANGER).len(),
        2,
        "two private refusals"
    );
}

#[bed::test]
async fn foreign_button_data_and_a_gone_order_are_answered_and_change_nothing() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B7").await;
    let message = fallback_message(&telegram, "WEB-B7").await;

    let foreign = telegram.press(&message, "delete:everything", OPERATOR, OPERATOR_NAME);
    let gone = telegram.press(&message, "resolve:999999", OPERATOR, OPERATOR_NAME);

    let foreign = eventually("the foreign press answered", answer_to(&telegram, &foreign)).await;
    let gone = eventually(
        "the gone order's press answered",
        answer_to(&telegram, &gone),
    )
    .await;
    assert!(foreign.contains("не от моста"), "{foreign}");
    assert!(gone.contains("больше нет"), "{gone}");
    assert_eq!(app.order("WEB-B7").await.state, OrderState::Fallback);
}

#[bed::test]
async fn the_message_is_edited_when_the_command_line_resolves_the_order() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B8").await;
    let message = fallback_message(&telegram, "WEB-B8").await;
    let order = app.order("WEB-B8").await;

    resolve_order(&app.store, order.id, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();

    let now = edited(&telegram, &message).await;
    assert!(
        now.text.contains("Введён вручную") && now.text.contains("командная строка"),
        "{}",
        now.text
    );
    assert_eq!(
        app.history_notes("WEB-B8").await.last().unwrap(),
        "entered by hand by an operator"
    );
}

#[bed::test]
async fn a_restart_does_not_replay_a_press() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = Spawn::default()
        .without_server()
        .app(with_bot(&telegram))
        .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = Application::build(app.config.clone()).await.unwrap();
    let base = format!("http://{}", first.local_addr().unwrap());
    let running = tokio::spawn(first.run(async {
        let _ = stopped.await;
    }));
    app.post_unmappable_to(&base, "WEB-B9").await;
    let message = fallback_message(&telegram, "WEB-B9").await;

    let callback = telegram.press(&message, "Введён вручную", OPERATOR, OPERATOR_NAME);
    // The poll after the press fails, so Telegram is never told the press was handled: as if
    // the bridge stopped right after handling it.
    telegram.fail_next_polls(1, Failure::TooManyRequests { retry_after: 30 });
    eventually("the press answered", answer_to(&telegram, &callback)).await;
    edited(&telegram, &message).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(telegram.unconfirmed(), 1, "Telegram still holds the press");

    let polls = telegram.polls();
    let second = Application::build(app.config.clone()).await.unwrap();
    tokio::spawn(second.run(std::future::pending()));
    eventually("the new server polled", || {
        (telegram.polls() > polls).then_some(())
    })
    .await;

    assert_eq!(
        telegram.callback_answers().len(),
        1,
        "the press was not handled again"
    );
    assert_eq!(telegram.unconfirmed(), 0);
    let resolved = app
        .history_notes("WEB-B9")
        .await
        .iter()
        .filter(|n| n.contains("entered by hand"))
        .count();
    assert_eq!(resolved, 1);
}

impl TestApp {
    async fn post_unmappable_to(&self, base: &str, id: &str) {
        let mut body = self.body(id);
        body["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(crate::support::SITE_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
    }
}

#[bed::test]
async fn the_webhook_refuses_a_wrong_secret_and_handles_an_update_with_the_right_one() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = Spawn::default()
        .app(|config| {
            with_bot(&telegram)(config);
            config.telegram.webhook_url = Some(
                "https://bridge.example.com/telegram/updates"
                    .parse()
                    .unwrap(),
            );
        })
        .await;
    let secret = Telegram::from_config(&app.config.telegram)
        .unwrap()
        .webhook_secret();
    let set = eventually("the webhook set", || {
        telegram
            .setup_calls()
            .into_iter()
            .find(|(method, _)| method == "setwebhook")
    })
    .await;
    assert_eq!(set.1["url"], "https://bridge.example.com/telegram/updates");
    assert_eq!(set.1["secret_token"], secret.as_str());
    let update_id = telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/help");
    let update: Value = telegram.take_update(update_id).unwrap();
    let post = |secret: &str| {
        reqwest::Client::new()
            .post(app.url("/telegram/updates"))
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .json(&update)
            .send()
    };

    let wrong = post("not-the-secret").await.unwrap();
    let right = post(&secret).await.unwrap();

    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(right.status().as_u16(), 200);
    let help = reply(&telegram, OPERATOR, 0).await;
    assert!(help.contains("resolve"), "{help}");
    assert_eq!(
        telegram.messages_to(OPERATOR).len(),
        1,
        "only the right call was handled"
    );
    assert_eq!(telegram.polls(), 0, "no long polling with a webhook");
}

#[bed::test]
async fn an_operator_mutes_a_branchs_iiko_alerts_for_an_hour_from_the_alert() {
    let telegram = FakeTelegram::start().await.unwrap();
    let operators = 555;
    let app = Spawn::default()
        .app(|config| {
            with_bot(&telegram)(config);
            config.telegram.operator_chats = vec![operators];
        })
        .await;
    app.faults(json!({"rules": [{"path": CREATE, "status": 503}]}))
        .await;
    for n in 0..3 {
        let id = format!("WEB-M{n}");
        let (status, _) = app.post("/api/v1/orders", &app.body(&id)).await;
        assert_eq!(status, 202);
        app.wait_for(&id, OrderState::Fallback).await;
    }
    let alert = eventually("the iiko alert", || {
        telegram
            .messages_to(operators)
            .into_iter()
            .find(|m| m.text.contains("iiko не отвечает"))
    })
    .await;
    let branch = app.config.branches[0].key.clone();
    assert_eq!(
        alert.buttons(),
        [("Не сообщать час".to_owned(), format!("mute:iiko:{branch}"))]
    );

    let callback = telegram.press(&alert, "Не сообщать час", OPERATOR, OPERATOR_NAME);
    let answer = eventually("the press answered", answer_to(&telegram, &callback)).await;
    app.faults(json!({"rules": []})).await;
    let (status, _) = app.post("/api/v1/orders", &app.body("WEB-M9")).await;
    assert_eq!(status, 202);
    app.wait_for("WEB-M9", OrderState::Created).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(answer.contains("отключены на час"), "{answer}");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(app.store.alert_muted(&branch, "iiko", now).await.unwrap());
    let hour = 60 * 60 * 1000;
    assert!(
        !app.store
            .alert_muted(&branch, "iiko", now + hour)
            .await
            .unwrap()
    );
    let told: Vec<String> = telegram
        .messages_to(operators)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(told.len(), 1, "the recovery was muted: {told:?}");
}

#[bed::test]
async fn flood_control_on_an_answer_is_waited_out_and_the_action_is_not_lost() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B10").await;
    let message = fallback_message(&telegram, "WEB-B10").await;
    telegram.fail_next(2, Failure::TooManyRequests { retry_after: 1 });

    let callback = telegram.press(&message, "Введён вручную", OPERATOR, OPERATOR_NAME);

    let answer = eventually("the press answered", answer_to(&telegram, &callback)).await;
    assert!(answer.contains("введённый вручную"), "{answer}");
    assert_eq!(app.order("WEB-B10").await.state, OrderState::Resolved);
    edited(&telegram, &message).await;
}

#[bed::test]
async fn order_and_health_answer_operators_from_the_store_with_the_buttons_of_a_fallback_order() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B11").await;
    let kitchen = fallback_message(&telegram, "WEB-B11").await;

    telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/order WEB-B11");
    let detail = eventually("the order's detail", || {
        telegram.messages_to(OPERATOR).into_iter().last()
    })
    .await;
    telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/health");
    let health = eventually("the health answer", || {
        telegram
            .messages_to(OPERATOR)
            .into_iter()
            .find(|m| m.message_id > detail.message_id)
    })
    .await;

    assert!(detail.text.contains("WEB-B11"), "{}", detail.text);
    assert_eq!(detail.buttons(), kitchen.buttons());
    assert!(
        health.text.contains(&app.config.branches[0].name),
        "{}",
        health.text
    );
    // A press on the answer's button closes the order's every message.
    let callback = telegram.press(&detail, "Введён вручную", OPERATOR, OPERATOR_NAME);
    eventually("the press answered", answer_to(&telegram, &callback)).await;
    edited(&telegram, &kitchen).await;
    edited(&telegram, &detail).await;
}

#[bed::test]
async fn of_two_instances_on_one_store_one_polls_so_each_press_is_handled_once() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    let other = Application::build(app.config.clone()).await.unwrap();
    tokio::spawn(other.run(std::future::pending()));
    app.post_unmappable("WEB-B12").await;
    app.post_unmappable("WEB-B13").await;
    let first = fallback_message(&telegram, "WEB-B12").await;
    let second = fallback_message(&telegram, "WEB-B13").await;

    let presses = [
        telegram.press(&first, "Введён вручную", OPERATOR, OPERATOR_NAME),
        telegram.press(&second, "Введён вручную", OPERATOR, OPERATOR_NAME),
        telegram.press(&first, "Введён вручную", OPERATOR, OPERATOR_NAME),
    ];
    for callback in &presses {
        eventually("the press answered", answer_to(&telegram, callback)).await;
    }
    eventually("every update handled", || {
        (telegram.unconfirmed() == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(
        telegram.callback_answers().len(),
        presses.len(),
        "each press answered once"
    );
    for id in ["WEB-B12", "WEB-B13"] {
        assert_eq!(app.order(id).await.state, OrderState::Resolved);
    }
    edited(&telegram, &first).await;
    edited(&telegram, &second).await;
    let edits = telegram.edits();
    assert_eq!(edits.len(), 2, "each message edited once: {edits:?}");
}

#[bed::test]
async fn the_fakes_long_poll_answers_as_soon_as_an_update_arrives_or_empty_at_its_timeout() {
    use iiko_bridge::config::TelegramConfig;
    use teloxide::{payloads::GetUpdatesSetters, requests::Requester};
    let telegram = FakeTelegram::start().await.unwrap();
    let bot = Telegram::from_config(&TelegramConfig {
        bot_token: Some(SecretString::from(telegram.token())),
        api_url: telegram.api_url(),
        ..TelegramConfig::default()
    })
    .unwrap();
    let poll = |offset: i32, timeout: u32| {
        let request = bot.bot().get_updates().offset(offset).timeout(timeout);
        bot.call_within(request, Duration::from_secs(10))
    };

    let started = std::time::Instant::now();
    let empty = poll(0, 1).await.unwrap();
    let waited = started.elapsed();
    let waiting = tokio::spawn({
        let bot = bot.clone();
        async move {
            let request = bot.bot().get_updates().offset(0).timeout(5);
            bot.call_within(request, Duration::from_secs(10)).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let id = telegram.send_text(FakeChat::Private, OPERATOR, OPERATOR_NAME, "/help");
    let arrived = waiting.await.unwrap().unwrap();
    let answered_in = started.elapsed();
    let again = poll(0, 0).await.unwrap();
    let confirmed = poll(id as i32 + 1, 0).await.unwrap();

    assert!(
        empty.is_empty() && waited >= Duration::from_millis(900),
        "{waited:?}"
    );
    assert_eq!(arrived.len(), 1);
    assert_eq!(i64::from(arrived[0].id.0), id);
    assert!(answered_in < Duration::from_secs(2), "{answered_in:?}");
    assert_eq!(again.len(), 1, "not confirmed yet: asked for again");
    assert!(confirmed.is_empty());
    assert_eq!(telegram.unconfirmed(), 0);
}

#[bed::test]
async fn an_operator_resolves_from_the_kitchen_group_with_the_bots_name_in_the_command() {
    let telegram = FakeTelegram::start().await.unwrap();
    let app = spawn_app(&telegram).await;
    app.post_unmappable("WEB-B14").await;
    let message = fallback_message(&telegram, "WEB-B14").await;

    telegram.send_text(
        FakeChat::Group(KITCHEN),
        OPERATOR,
        OPERATOR_NAME,
        "/resolve@bridge_test_bot WEB-B14",
    );
    // Addressed to another bot: not this one's business.
    telegram.send_text(
        FakeChat::Group(KITCHEN),
        OPERATOR,
        OPERATOR_NAME,
        "/retry@other_bot WEB-B14",
    );

    let answer = eventually("the answer in the group", || {
        telegram
            .messages_to(KITCHEN)
            .into_iter()
            .find(|m| m.message_id > message.message_id)
    })
    .await;
    assert!(answer.text.contains("введённый вручную"), "{}", answer.text);
    edited(&telegram, &message).await;
    eventually("every update handled", || {
        (telegram.unconfirmed() == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = telegram
        .messages_to(KITCHEN)
        .into_iter()
        .filter(|m| m.message_id > message.message_id)
        .count();
    assert_eq!(answers, 1, "the other bot's command is not answered");
    assert_eq!(app.order("WEB-B14").await.state, OrderState::Resolved);
}
