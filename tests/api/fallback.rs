//! The fallback end to end: an order iiko did not take is rendered from the templates, stored
//! per channel and recipient, and sent to a real SMTP sink and a fake Telegram, each channel
//! retried on its own; operators hear about what got through nowhere, and about iiko outages.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use iiko_bridge::{
    config::{BranchConfig, Config, EmailConfig, TelegramConfig},
    fallback::{
        FallbackMessage, FallbackWorker, Handover, StepReport, Templates, enqueue_fallback,
    },
    menu::{Catalog, CatalogCache, MenuFormat, Modifier, ModifierGroup, Product, Size},
    notify::{Mailer, OperatorAlerter, OperatorChats, Telegram},
    orders::{Order, parse_order_at},
    sim::{
        smtp::{Rejection, SmtpSink},
        telegram::{Failure, FakeTelegram, Refusal},
    },
    store::{DeliveryState, FallbackChannel, NewOrder, OrderState, Store},
};
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::store;

const KITCHEN_CHAT: i64 = -100200;
const OPERATOR_CHAT: i64 = 900;
const KITCHEN_EMAIL: &str = "kitchen@example.com";
const REASON: &str = "iiko отклонил заказ: товар с артикулом UNKNOWN-9 не найден в меню";

fn config(fallback: Value) -> Config {
    serde_json::from_value(json!({
        "iiko": {"api_login": "x"},
        "branches": [{
            "key": "lenina", "name": "Ленина, 10",
            "organization_id": Uuid::from_u128(1), "terminal_group_id": Uuid::from_u128(2),
            // UTC+5: the wanted time must be shown in the branch's zone, not the site's.
            "timezone": "Asia/Yekaterinburg",
            "menu": {"external_menu_id": "1"},
            "payment_types": {"cash": Uuid::from_u128(3), "card": Uuid::from_u128(4), "online": Uuid::from_u128(5)},
            "bonus": {"enabled": true, "payment_type_id": Uuid::from_u128(6), "limit_percent": 50},
            "fallback": fallback,
        }],
    }))
    .unwrap()
}

fn recipients() -> Value {
    json!({"emails": [KITCHEN_EMAIL], "telegram_chats": [KITCHEN_CHAT]})
}

fn parse(config: &Config, body: Value) -> Order {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 0, 0).unwrap();
    parse_order_at(body.to_string().as_bytes(), config, true, now).unwrap()
}

/// Lines: 2 x (450 + 50 + 2 x 0) = 1000; 1 x 150 = 150; 0.5 x (300 + 20) = 160.
/// 1310 - 100 discount - 50 bonus = 1160.
fn rich_order(config: &Config) -> Order {
    parse(
        config,
        json!({
            "id": "WEB-77", "number": "77", "branch": "lenina", "service": "delivery",
            "deliver_at": "2026-11-22T19:30:00+03:00",
            "customer": {"name": "Иван Петров", "phone": "+7 (999) 000-11-22", "email": "ivan@example.com"},
            "address": {"city": "Москва", "street": "Ленина", "house": "10", "building": "2",
                        "flat": "5", "entrance": "1", "floor": "3", "doorphone": "5К1234",
                        "comment": "код от ворот #77"},
            "persons": 3,
            "comment": "Позвонить за 10 минут <b>срочно</b> & быстро",
            "items": [
                {"article": "PZ-1", "size": "30", "quantity": 2, "price": 450,
                 "comment": "без лука & <острое>",
                 "modifiers": [{"article": "MOD-1", "quantity": 1, "price": 50},
                               {"article": "MOD-2", "quantity": 2}]},
                {"article": "DR-1", "quantity": 1, "price": 150, "comment": "холодный"},
                {"article": "UNKNOWN-9", "size": "L", "quantity": 0.5, "price": 300,
                 "comment": "к 20:00",
                 "modifiers": [{"article": "X-1", "quantity": 1, "price": 20}]}
            ],
            "discount": {"amount": 100, "promo_code": "SIM-100"},
            "bonus": {"amount": 50},
            "payment": {"method": "cash", "change_from": 5000},
            "total": 1160
        }),
    )
}

fn catalog() -> Catalog {
    let product = |article: &str, name: &str, sizes, modifier_groups| Product {
        article: article.into(),
        name: name.into(),
        description: None,
        group: None,
        hidden: false,
        available: true,
        iiko_id: Uuid::new_v4(),
        sizes,
        modifier_groups,
    };
    let modifier = |article: &str, name: &str| Modifier {
        article: article.into(),
        name: name.into(),
        price: dec!(0),
        iiko_id: Uuid::new_v4(),
    };
    Catalog {
        branch: "lenina".into(),
        format: MenuFormat::ExternalV2,
        iiko_revision: None,
        synced_at: Utc::now(),
        groups: vec![],
        products: vec![
            product(
                "PZ-1",
                "Пицца Маргарита",
                vec![Size {
                    article: Some("30".into()),
                    name: Some("30 см".into()),
                    price: dec!(450),
                    default: true,
                    available: true,
                    iiko_id: None,
                }],
                vec![ModifierGroup {
                    name: "Добавки".into(),
                    min: 0,
                    max: 3,
                    required: false,
                    free_quantity: 0,
                    iiko_id: None,
                    items: vec![
                        modifier("MOD-1", "Сырный бортик"),
                        modifier("MOD-2", "Халапеньо"),
                    ],
                }],
            ),
            product("DR-1", "Морс клюквенный", vec![], vec![]),
        ],
    }
}

fn branch(config: &Config) -> &BranchConfig {
    &config.branches[0]
}

fn render(config: &Config, order: &Order) -> FallbackMessage {
    Templates::embedded()
        .render_fallback(order, branch(config), Some(&catalog()), REASON)
        .unwrap()
}

struct Harness {
    store: Store,
    sink: SmtpSink,
    telegram: FakeTelegram,
    worker: FallbackWorker,
    /// The same channels, for a second worker (a restarted bridge).
    channels: (Mailer, Telegram),
    dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&store::url(dir.path())).await.unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let telegram = FakeTelegram::start().await.unwrap();
    let mailer = Mailer::from_config(&EmailConfig {
        smtp_url: Some(SecretString::from(sink.url())),
        from: Some("bridge@example.com".into()),
    })
    .unwrap()
    .unwrap()
    .with_timeout(Duration::from_secs(5));
    let telegram_config = TelegramConfig {
        bot_token: Some(SecretString::from(telegram.token())),
        api_url: telegram.api_url(),
        operator_chats: vec![OPERATOR_CHAT],
        ..TelegramConfig::default()
    };
    let bot = Telegram::from_config(&telegram_config)
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let worker = FallbackWorker::new(
        store.clone(),
        Some(mailer.clone()),
        Some(bot.clone()),
        OperatorChats::new(Some(bot.clone()), vec![OPERATOR_CHAT]),
    );
    Harness {
        store,
        sink,
        telegram,
        worker,
        channels: (mailer, bot),
        dir,
    }
}

impl Harness {
    async fn enqueue(&self, config: &Config, order: &Order) -> bool {
        enqueue_fallback(
            &self.store,
            "lenina",
            order.id.as_ref().unwrap().as_str(),
            &render(config, order),
            &branch(config).fallback,
        )
        .await
        .unwrap()
    }

    async fn step(&self, now: DateTime<Utc>) -> StepReport {
        self.worker.try_step(now).await.unwrap()
    }

    /// A new worker over the same store and channels: the bridge after a restart.
    fn restarted_worker(&self) -> FallbackWorker {
        let (mailer, bot) = self.channels.clone();
        FallbackWorker::new(
            self.store.clone(),
            Some(mailer),
            Some(bot.clone()),
            OperatorChats::new(Some(bot), vec![OPERATOR_CHAT]),
        )
    }

    /// Another instance: its own store handle on the same file, the same channels.
    async fn second_instance(&self) -> FallbackWorker {
        let store = Store::open(&store::url(self.dir.path())).await.unwrap();
        let (mailer, bot) = self.channels.clone();
        FallbackWorker::new(
            store,
            Some(mailer),
            Some(bot.clone()),
            OperatorChats::new(Some(bot), vec![OPERATOR_CHAT]),
        )
    }

    /// From now on the store refuses to record a delivery (as a full or read-only disk
    /// would); marking a row as being sent still works. Recovered: the store records again.
    async fn refuse_delivered_marks(&self) -> store::Refusal {
        store::refuse_state_changes(&store::url(self.dir.path()), "fallback_deliveries").await
    }

    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.telegram
            .messages()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| m.text)
            .collect()
    }
}

#[bed::test]
async fn the_email_carries_every_field_of_the_order_and_the_reason_in_russian() {
    let config = config(recipients());
    let order = rich_order(&config);
    let message = render(&config, &order);
    let h = harness().await;
    h.enqueue(&config, &order).await;

    h.step(Utc::now()).await;

    let mails = h.sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, [KITCHEN_EMAIL]);
    let subject = mails[0].subject().unwrap();
    assert_eq!(subject, message.email_subject);
    assert!(
        subject.contains("Заказ 77") && subject.contains("Ленина, 10"),
        "{subject}"
    );
    // SMTP carries CRLF line ends (RFC 5322); the sink decodes them as sent.
    let text = mails[0].text().unwrap().replace("\r\n", "\n");
    assert_eq!(text, message.email_text);
    for expected in [
        "Причина: iiko отклонил заказ: товар с артикулом UNKNOWN-9 не найден в меню",
        "Филиал: Ленина, 10",
        "Номер заказа: 77 (id на сайте: WEB-77)",
        "Тип: Доставка",
        // 19:30 Moscow is 21:30 in Yekaterinburg, where the branch is.
        "Время: 22.11.2026 21:30",
        "Клиент: Иван Петров",
        "Телефон: +79990001122",
        "E-mail: ivan@example.com",
        "Персон: 3",
        "Адрес: Москва, Ленина, д. 10, корп. 2, кв. 5",
        "Подъезд: 1",
        "Этаж: 3",
        "Домофон: 5К1234",
        "Для курьера: код от ворот #77",
        "1. Пицца Маргарита [PZ-1], размер 30 см — 2 × 450,00 ₽ = 1000,00 ₽",
        "   + Сырный бортик [MOD-1] — 1 × 50,00 ₽",
        "   + Халапеньо [MOD-2] — 2 × 0,00 ₽",
        "   Комментарий: без лука & <острое>",
        "2. Морс клюквенный [DR-1] — 1 × 150,00 ₽ = 150,00 ₽",
        "   Комментарий: холодный",
        // Unknown to the catalog: shown as sent.
        "3. арт. [UNKNOWN-9] (название неизвестно), размер L — 0,5 × 300,00 ₽ = 160,00 ₽",
        "   + арт. [X-1] (название неизвестно) — 1 × 20,00 ₽",
        "   Комментарий: к 20:00",
        "Сумма позиций: 1310,00 ₽",
        "Скидка: 100,00 ₽ (промокод SIM-100)",
        "Оплата бонусами: 50,00 ₽",
        "ИТОГО К ОПЛАТЕ: 1160,00 ₽",
        "Оплата: наличными",
        "Сдача с: 5000,00 ₽",
        "Комментарий к заказу: Позвонить за 10 минут <b>срочно</b> & быстро",
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "missing line {expected:?} in:\n{text}"
        );
    }
    let html = mails[0].html().unwrap().replace("\r\n", "\n");
    assert_eq!(html, message.email_html);
    assert!(html.contains("без лука &amp; &lt;острое&gt;"), "{html}");
    assert!(
        !html.contains("<острое>") && !html.contains("<b>срочно"),
        "{html}"
    );
}

#[bed::test]
async fn an_online_pickup_says_it_is_paid_and_asap_without_an_address() {
    let config = config(recipients());
    let order = parse(
        &config,
        json!({
            "id": "WEB-8", "branch": "lenina", "service": "pickup",
            "customer": {"name": "Оля", "phone": "+79990001133"},
            "items": [{"article": "DR-1", "quantity": 2, "price": 150}],
            "payment": {"method": "online", "transaction_id": "TX-42"},
            "total": 300
        }),
    );

    let text = render(&config, &order).email_text;

    for expected in [
        "Номер заказа: WEB-8",
        "Тип: Самовывоз",
        "Время: как можно скорее",
        "Оплата: онлайн на сайте",
        "Оплачено онлайн, транзакция TX-42",
        "ИТОГО К ОПЛАТЕ: 300,00 ₽",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "{expected:?} in:\n{text}"
        );
    }
    assert!(!text.contains("Адрес") && !text.contains("Скидка") && !text.contains("бонус"));
}

/// Telegram's HTML mode accepts only these tags.
fn tags_are_telegrams(text: &str) -> bool {
    text.match_indices('<').all(|(at, _)| {
        let tag = &text[at..at + text[at..].find('>').unwrap() + 1];
        ["<b>", "</b>", "<i>", "</i>", "<code>", "</code>"].contains(&tag)
    })
}

#[bed::test]
async fn the_telegram_text_escapes_the_customers_markup() {
    let config = config(recipients());
    let order = rich_order(&config);
    let message = render(&config, &order);
    let h = harness().await;
    h.enqueue(&config, &order).await;

    h.step(Utc::now()).await;

    let sent = h.messages_to(KITCHEN_CHAT);
    assert_eq!(sent, [message.telegram_html]);
    let text = &sent[0];
    assert!(tags_are_telegrams(text), "{text}");
    assert!(
        text.contains("Позвонить за 10 минут &lt;b&gt;срочно&lt;/b&gt; &amp; быстро"),
        "{text}"
    );
    assert!(
        text.contains("<i>без лука &amp; &lt;острое&gt;</i>"),
        "{text}"
    );
    assert!(
        text.contains(REASON) && text.contains("<b>Итого: 1160,00 ₽</b>"),
        "{text}"
    );
    assert!(text.contains("21:30") && text.contains("кв. 5"), "{text}");
}

#[bed::test]
async fn a_long_order_reaches_telegram_split_into_parts_that_fit() {
    let config = config(recipients());
    let items: Vec<Value> = (0..150)
        .map(|n| json!({"article": format!("PZ-{n}"), "quantity": 1, "price": 10,
                         "comment": format!("строка {n}: без лука & <без соли> {}", "х".repeat(60))}))
        .collect();
    let order = parse(
        &config,
        json!({
            "id": "WEB-BIG", "branch": "lenina", "service": "pickup",
            "customer": {"name": "Банкет", "phone": "+79990001144"},
            "items": items, "payment": {"method": "card"}, "total": 1500
        }),
    );
    let h = harness().await;
    h.enqueue(&config, &order).await;

    let report = h.step(Utc::now()).await;

    assert_eq!(report.delivered, 2, "{report:?}");
    let parts = h.messages_to(KITCHEN_CHAT);
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(parts.iter().all(|p| p.encode_utf16().count() <= 4096));
    assert!(parts.iter().all(|p| tags_are_telegrams(p)));
    let all = parts.join("\n");
    for n in [0, 75, 149] {
        assert!(
            all.contains(&format!("строка {n}: без лука &amp; &lt;без соли&gt;")),
            "{n}"
        );
    }
}

#[bed::test]
async fn both_channels_are_delivered_and_nothing_is_left_undelivered() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;

    let report = h.step(Utc::now()).await;

    assert_eq!(report.delivered, 2);
    let rows = h
        .store
        .fallback_deliveries("lenina", "WEB-77")
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.state == DeliveryState::Delivered && r.attempts == 1)
    );
    assert!(rows.iter().all(|r| r.delivered_at.is_some()));
    assert!(h.store.undelivered_fallbacks().await.unwrap().is_empty());
    assert_eq!(
        h.step(Utc::now() + chrono::Duration::hours(1)).await,
        StepReport::default()
    );
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
}

#[bed::test]
async fn an_email_outage_leaves_telegram_delivered_and_retries_the_email_with_backoff() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.sink.reject_next(3, Rejection::Transient);
    let t0 = Utc::now();

    let first = h.step(t0).await;

    assert_eq!((first.delivered, first.retrying), (1, 1), "{first:?}");
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
    let mut now = t0;
    let mut waits = Vec::new();
    loop {
        let email = email_row(&h).await;
        if email.state == DeliveryState::Delivered {
            break;
        }
        assert!(
            email.last_error.as_deref().unwrap().contains("451"),
            "{email:?}"
        );
        let wait = email.next_attempt_at - now;
        waits.push(wait.num_milliseconds());
        // Not due a moment before its time...
        let early = h
            .step(email.next_attempt_at - chrono::Duration::milliseconds(1))
            .await;
        assert_eq!(early, StepReport::default());
        // ...and sent again once it is.
        now = email.next_attempt_at;
        h.step(now).await;
    }
    // 5 s, 10 s, 20 s, each within the jitter of a fifth.
    assert_eq!(waits.len(), 3, "{waits:?}");
    for (wait, base) in waits.iter().zip([5_000, 10_000, 20_000]) {
        assert!((base * 4 / 5..=base * 6 / 5).contains(wait), "{waits:?}");
    }
    assert_eq!(email_row(&h).await.attempts, 4);
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(
        h.messages_to(KITCHEN_CHAT).len(),
        1,
        "Telegram was not sent again"
    );
    assert!(h.messages_to(OPERATOR_CHAT).is_empty());
}

async fn email_row(h: &Harness) -> iiko_bridge::store::FallbackDelivery {
    h.store
        .fallback_deliveries("lenina", "WEB-77")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.channel == FallbackChannel::Email)
        .unwrap()
}

#[bed::test]
async fn a_smtp_server_that_is_down_is_retried_not_given_up() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.sink.go_down();

    let report = h.step(Utc::now()).await;

    assert_eq!(
        (report.delivered, report.retrying, report.failed),
        (1, 1, 0)
    );
    let email = email_row(&h).await;
    assert_eq!(email.state, DeliveryState::Pending);
    assert!(email.last_error.is_some());
}

#[bed::test]
async fn when_every_channel_refuses_for_good_the_rows_fail_and_operators_are_alerted_once() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.telegram.refuse_chat(KITCHEN_CHAT, Refusal::ChatNotFound);
    h.sink.reject_next(1, Rejection::Permanent);

    let report = h.step(Utc::now()).await;
    let again = h.step(Utc::now() + chrono::Duration::hours(1)).await;

    assert_eq!((report.failed, report.alerted), (2, 1), "{report:?}");
    assert_eq!(again, StepReport::default());
    let rows = h
        .store
        .fallback_deliveries("lenina", "WEB-77")
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == DeliveryState::FailedPermanently)
    );
    let telegram_row = rows
        .iter()
        .find(|r| r.channel == FallbackChannel::Telegram)
        .unwrap();
    assert!(
        telegram_row
            .last_error
            .as_deref()
            .unwrap()
            .contains("chat not found")
    );
    let alerts = h.messages_to(OPERATOR_CHAT);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("Заказ 77") && alerts[0].contains("chat not found"),
        "{}",
        alerts[0]
    );
    let undelivered = h.store.undelivered_fallbacks().await.unwrap();
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].order_id, "WEB-77");
    assert_eq!(undelivered[0].reason, REASON);
    assert!(undelivered[0].alerted_at.is_some());
}

#[bed::test]
async fn a_refused_chat_raises_no_alert_when_the_email_got_through() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.telegram.refuse_chat(KITCHEN_CHAT, Refusal::BotBlocked);

    let report = h.step(Utc::now()).await;

    assert_eq!((report.delivered, report.failed, report.alerted), (1, 1, 0));
    assert!(h.messages_to(OPERATOR_CHAT).is_empty());
    assert!(h.store.undelivered_fallbacks().await.unwrap().is_empty());
}

#[bed::test]
async fn a_branch_without_recipients_alerts_operators_at_once_and_stays_listed() {
    let config = config(json!({}));
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;

    let report = h.step(Utc::now()).await;

    assert_eq!(report.alerted, 1);
    let alerts = h.messages_to(OPERATOR_CHAT);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("не настроены получатели"),
        "{}",
        alerts[0]
    );
    assert_eq!(h.store.undelivered_fallbacks().await.unwrap().len(), 1);
}

#[bed::test]
async fn an_email_that_keeps_failing_alerts_operators_after_five_attempts_and_is_still_retried() {
    let config = config(json!({"emails": [KITCHEN_EMAIL]}));
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.sink.reject_next(5, Rejection::Transient);
    let mut now = Utc::now();

    for attempt in 1..=5 {
        let report = h.step(now).await;
        assert_eq!(report.retrying, 1);
        assert_eq!(
            report.alerted,
            usize::from(attempt == 5),
            "attempt {attempt}"
        );
        now = email_row(&h).await.next_attempt_at;
    }
    assert_eq!(h.store.undelivered_fallbacks().await.unwrap().len(), 1);

    assert_eq!(h.step(now).await.delivered, 1);
    assert_eq!(h.sink.mails().len(), 1);
    assert!(h.store.undelivered_fallbacks().await.unwrap().is_empty());
    assert_eq!(h.messages_to(OPERATOR_CHAT).len(), 1);
}

#[bed::test]
async fn enqueueing_the_same_order_twice_sends_it_once() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;

    assert!(h.enqueue(&config, &order).await);
    assert!(!h.enqueue(&config, &order).await);
    h.step(Utc::now()).await;

    assert_eq!(
        h.store
            .fallback_deliveries("lenina", "WEB-77")
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
}

#[bed::test]
async fn iiko_failing_three_times_alerts_once_and_its_recovery_is_told_once() {
    let config = config(recipients());
    let h = harness().await;
    let bot = Telegram::from_config(&TelegramConfig {
        bot_token: Some(SecretString::from(h.telegram.token())),
        api_url: h.telegram.api_url(),
        operator_chats: vec![OPERATOR_CHAT],
        ..TelegramConfig::default()
    });
    let alerter = OperatorAlerter::new(OperatorChats::new(bot, vec![OPERATOR_CHAT]));
    let lenina = branch(&config);

    for _ in 0..2 {
        alerter
            .record_iiko_result(lenina, false, Some("timeout"))
            .await;
    }
    assert!(
        h.messages_to(OPERATOR_CHAT).is_empty(),
        "two failures are noise"
    );
    for _ in 0..4 {
        alerter
            .record_iiko_result(lenina, false, Some("HTTP 503"))
            .await;
    }
    alerter.record_iiko_result(lenina, true, None).await;
    alerter.record_iiko_result(lenina, true, None).await;

    let alerts = h.messages_to(OPERATOR_CHAT);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[0].contains("iiko не отвечает для филиала Ленина, 10"),
        "{}",
        alerts[0]
    );
    assert!(alerts[0].contains("HTTP 503"), "{}", alerts[0]);
    assert!(alerts[1].contains("снова работает"), "{}", alerts[1]);

    alerter.terminal_offline(lenina).await;
    alerter.terminal_offline(lenina).await;
    alerter.terminal_back(lenina).await;
    alerter.terminal_back(lenina).await;
    let alerts = h.messages_to(OPERATOR_CHAT);
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    assert!(alerts[2].contains("не на связи") && alerts[3].contains("снова на связи"));
}

#[bed::test]
async fn a_template_file_in_the_templates_dir_replaces_the_embedded_default() {
    let config = config(recipients());
    let order = rich_order(&config);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fallback_telegram.html.j2"),
        "Свой шаблон: <b>{{ order.number }}</b> {{ order.comment }}",
    )
    .unwrap();

    let message = Templates::load(dir.path())
        .unwrap()
        .render_fallback(&order, branch(&config), None, REASON)
        .unwrap();

    assert_eq!(
        message.telegram_html,
        "Свой шаблон: <b>77</b> Позвонить за 10 минут &lt;b&gt;срочно&lt;/b&gt; &amp; быстро"
    );
    let defaults = Templates::embedded()
        .render_fallback(&order, branch(&config), None, REASON)
        .unwrap();
    assert_eq!(message.email_text, defaults.email_text);
}

#[bed::test]
async fn a_missing_templates_dir_serves_the_embedded_defaults() {
    let config = config(recipients());
    let order = rich_order(&config);

    let message = Templates::load(std::path::Path::new("/nonexistent/templates"))
        .unwrap()
        .render_fallback(&order, branch(&config), Some(&catalog()), REASON)
        .unwrap();

    assert_eq!(message, render(&config, &order));
}

#[bed::test]
async fn an_edited_template_naming_an_unknown_field_falls_back_to_the_default() {
    let config = config(recipients());
    let order = rich_order(&config);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fallback_email.txt.j2"),
        "Заказ {{ order.nubmer }}",
    )
    .unwrap();

    let message = Templates::load(dir.path())
        .unwrap()
        .render_fallback(&order, branch(&config), Some(&catalog()), REASON)
        .unwrap();

    assert_eq!(message.email_text, render(&config, &order).email_text);
}

#[bed::test]
async fn a_template_that_does_not_compile_is_refused_at_load_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fallback_email.html.j2"), "{% if %}").unwrap();

    let error = Templates::load(dir.path()).err().unwrap();

    assert!(
        error.to_string().contains("fallback_email.html.j2"),
        "{error}"
    );
}

#[bed::test]
async fn the_running_worker_sends_a_new_order_and_stops_on_shutdown() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(iiko_bridge::worker::run(
        std::sync::Arc::new(h.worker.clone()),
        stopped,
    ));

    h.enqueue(&config, &order).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.sink.mails().is_empty() || h.messages_to(KITCHEN_CHAT).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not sent within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();

    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
}

// ---- Defects of issue 10 ------------------------------------------------------------------------

/// Stores an order that went to the fallback, as the dispatcher would have.
async fn insert_fallback_order(store: &Store, branch: &str, site_id: &str, raw_body: &str) {
    store
        .insert_order(
            NewOrder {
                branch: branch.into(),
                site_id: site_id.into(),
                raw_body: raw_body.into(),
                content_hash: format!("hash-{site_id}"),
                answer: "{}".into(),
                iiko_ids: "{}".into(),
                iiko_order_id: Uuid::new_v4().to_string(),
                request: None,
                problems: None,
                state: OrderState::Fallback,
                fallback_reason: Some(REASON.into()),
                now_ms: Utc::now().timestamp_millis(),
            },
            None,
        )
        .await
        .unwrap();
}

#[bed::test]
async fn fallback_orders_of_a_removed_branch_reach_the_operators_raw_and_never_hold_back_later_ones()
 {
    let mut config = config(recipients());
    config.telegram.operator_chats = vec![OPERATOR_CHAT];
    let h = harness().await;
    // A full batch of orders of a branch since removed from the config, then one of lenina.
    for n in 0..50 {
        let raw = json!({"id": format!("OLD-{n}"), "branch": "pushkina",
            "customer": {"name": "Пётр", "phone": "+79990001122"}, "total": 150});
        insert_fallback_order(&h.store, "pushkina", &format!("OLD-{n}"), &raw.to_string()).await;
    }
    let raw = json!({"id": "WEB-NEW", "number": "501", "branch": "lenina", "service": "pickup",
        "customer": {"name": "Иван", "phone": "+79990001122"},
        "items": [{"article": "DR-1", "quantity": 1, "price": 150}],
        "payment": {"method": "card"}, "total": 150});
    insert_fallback_order(&h.store, "lenina", "WEB-NEW", &raw.to_string()).await;
    let worker = h.worker.clone().with_handover(Handover::new(
        h.store.clone(),
        CatalogCache::new(h.store.clone()),
        Arc::new(config),
        Arc::new(Templates::embedded()),
    ));

    let t0 = Utc::now();
    let mut handed = 0;
    for step in 0..4 {
        handed += worker
            .try_step(t0 + chrono::Duration::seconds(step))
            .await
            .unwrap()
            .handed_over;
    }

    assert_eq!(handed, 51);
    let kitchen = h.messages_to(KITCHEN_CHAT);
    assert_eq!(kitchen.len(), 1, "{kitchen:?}");
    assert!(kitchen[0].contains("501"), "{}", kitchen[0]);
    assert_eq!(h.sink.mails().len(), 1);
    let operators = h.messages_to(OPERATOR_CHAT);
    assert_eq!(operators.len(), 50, "{operators:?}");
    for n in 0..50 {
        let id = format!("\"id\":\"OLD-{n}\"");
        let message = operators.iter().find(|m| m.contains(&id)).expect(&id);
        assert!(message.contains("pushkina") && message.contains("+79990001122"));
    }
    assert!(h.store.undelivered_fallbacks().await.unwrap().is_empty());
}

#[bed::test]
async fn while_the_store_cannot_record_nothing_is_sent_again_and_each_message_goes_out_once() {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    let refusing = h.refuse_delivered_marks().await;
    let t0 = Utc::now();

    // Sent, then the store refuses to record it: the step fails...
    assert!(h.worker.try_step(t0).await.is_err());
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
    // ...and the steps after it send nothing while the store still refuses.
    for seconds in [1, 5, 60, 600] {
        let later = t0 + chrono::Duration::seconds(seconds);
        assert!(h.worker.try_step(later).await.is_err());
    }
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);

    // Once it records again, what was sent is recorded, and nothing goes out twice.
    refusing.recover().await;
    let recovered = h.step(t0 + chrono::Duration::seconds(700)).await;
    assert_eq!(recovered, StepReport::default());
    h.step(t0 + chrono::Duration::hours(1)).await;
    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
    let rows = h
        .store
        .fallback_deliveries("lenina", "WEB-77")
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == DeliveryState::Delivered && r.attempts == 1),
        "{rows:?}"
    );
}

#[bed::test]
async fn a_send_a_stopped_bridge_never_recorded_goes_again_after_the_restart_marked_as_a_possible_repeat()
 {
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    let refusing = h.refuse_delivered_marks().await;
    let t0 = Utc::now();
    assert!(h.worker.try_step(t0).await.is_err());
    refusing.recover().await;

    // The process ends with the outcome unrecorded, its claims held until they run out
    // (2.5 minutes); the next one cannot know whether the message arrived, so it then sends
    // it again, saying it may be a repeat.
    let restarted = h.restarted_worker();
    let early = restarted
        .try_step(t0 + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(early.delivered, 0, "still claimed: {early:?}");
    let report = restarted
        .try_step(t0 + chrono::Duration::minutes(3))
        .await
        .unwrap();

    assert_eq!(report.delivered, 2, "{report:?}");
    let mails = h.sink.mails();
    assert_eq!(mails.len(), 2);
    assert!(!mails[0].subject().unwrap().contains("повтор"));
    assert!(
        mails[1]
            .subject()
            .unwrap()
            .starts_with("[возможно, повтор]"),
        "{:?}",
        mails[1].subject()
    );
    let chats = h.messages_to(KITCHEN_CHAT);
    assert_eq!(chats.len(), 2);
    assert!(chats[1].contains("Возможно, повтор") && chats[1].contains("77"));
}

#[bed::test]
async fn two_instances_on_one_store_send_each_message_and_each_alert_once() {
    let nobody = config(json!({}));
    let config = config(recipients());
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    // A second order nobody can get: the operators hear of it.
    let message = render(&config, &order);
    enqueue_fallback(
        &h.store,
        "lenina",
        "WEB-78",
        &message,
        &branch(&nobody).fallback,
    )
    .await
    .unwrap();
    let second = h.second_instance().await;
    let t0 = Utc::now();

    for seconds in [0, 1, 2] {
        let now = t0 + chrono::Duration::seconds(seconds);
        let (one, two) = tokio::join!(h.worker.try_step(now), second.try_step(now));
        let (one, two) = (one.unwrap(), two.unwrap());
        assert!(one.delivered + two.delivered <= 2, "{one:?} {two:?}");
    }

    assert_eq!(h.sink.mails().len(), 1);
    assert_eq!(h.messages_to(KITCHEN_CHAT).len(), 1);
    assert_eq!(h.messages_to(OPERATOR_CHAT).len(), 1);
    let rows = h
        .store
        .fallback_deliveries("lenina", "WEB-77")
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == DeliveryState::Delivered && r.attempts == 1)
    );
}

#[bed::test]
async fn an_alert_telegram_did_not_take_waits_before_the_next_try() {
    // No recipients: the alert to the operators is the step's first Telegram call.
    let config = config(json!({}));
    let order = rich_order(&config);
    let h = harness().await;
    h.enqueue(&config, &order).await;
    h.telegram
        .fail_next(1, Failure::TooManyRequests { retry_after: 1 });
    let t0 = Utc::now();

    let first = h.step(t0).await;
    let soon = h.step(t0 + chrono::Duration::milliseconds(500)).await;
    let later = h.step(t0 + chrono::Duration::seconds(2)).await;

    assert_eq!(first.alerted, 0, "{first:?}");
    assert_eq!(soon.alerted, 0, "paused after the failed alert: {soon:?}");
    assert_eq!(later.alerted, 1, "{later:?}");
    assert_eq!(h.messages_to(OPERATOR_CHAT).len(), 1);
}
