//! The operator bot's read-only answers (`bot::answers`) over a real store holding orders in
//! every state the operators care about, on both backends.
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use iiko_bridge::{
    bot::answers::{AnswerError, Answers},
    notify::html::MESSAGE_LIMIT,
    store::{FallbackChannel, NewDelivery, NewFallback, NewOrder, OrderState, Store},
};

use crate::support::{Spawn, TestApp};

const CREATE: &str = "/api/1/deliveries/create";

/// A bed with lenina's orders: WEB-RETRY refused once by iiko (retrying), WEB-QUEUED waiting,
/// WEB-FALLBACK unmappable (with the staff, one of its two copies delivered), WEB-LOST with
/// the staff and reaching nobody.
async fn bed_with_orders() -> TestApp {
    let bed = Spawn::default()
        .without_server()
        .file(|file| {
            file.set("iiko.timeout_seconds", 1);
        })
        .app(|_| {})
        .await;
    bed.submit(&bed.body("WEB-RETRY")).await;
    bed.faults(json!({"rules": [{"path": CREATE, "status": 500, "times": 1}]}))
        .await;
    bed.dispatcher().try_step(Utc::now()).await.unwrap();
    assert_eq!(bed.order("WEB-RETRY").await.state, OrderState::Retrying);
    bed.submit(&bed.body("WEB-QUEUED")).await;
    for id in ["WEB-FALLBACK", "WEB-LOST"] {
        let mut unmappable = bed.body(id);
        unmappable["items"][0]["article"] = json!("NO-SUCH-ARTICLE");
        bed.submit(&unmappable).await;
        assert_eq!(bed.order(id).await.state, OrderState::Fallback);
    }
    hand_over(&bed.store, "WEB-FALLBACK", true).await;
    hand_over(&bed.store, "WEB-LOST", false).await;
    bed
}

/// Stores the order's copies for the staff as the fallback worker would: an e-mail (delivered
/// when `one_delivered`) and a Telegram message, or no recipients at all.
async fn hand_over(store: &Store, id: &str, one_delivered: bool) {
    let deliveries = match one_delivered {
        true => vec![
            NewDelivery {
                channel: FallbackChannel::Email,
                recipient: "kitchen@example.com".into(),
                subject: Some("Заказ"),
                body: "Заказ",
                html: None,
            },
            NewDelivery {
                channel: FallbackChannel::Telegram,
                recipient: "-100200".into(),
                subject: None,
                body: "Заказ",
                html: None,
            },
        ],
        false => Vec::new(),
    };
    let fallback = NewFallback {
        branch: "lenina",
        order_id: id,
        number: id,
        reason: "unknown article <NO-SUCH-ARTICLE>",
        created_at: Utc::now(),
        deliveries,
    };
    assert!(store.insert_fallback(&fallback).await.unwrap());
    if one_delivered {
        let now = Utc::now();
        let claimed = store
            .claim_fallback_deliveries("test", now, now + Duration::minutes(1), 10)
            .await
            .unwrap();
        let email = claimed
            .iter()
            .find(|d| d.channel == FallbackChannel::Email)
            .unwrap();
        let lease = email.lease_id.as_deref().unwrap();
        assert!(
            store
                .mark_fallback_delivered(email.id, lease, now)
                .await
                .unwrap()
        );
        let telegram = claimed
            .iter()
            .find(|d| d.channel == FallbackChannel::Telegram)
            .unwrap();
        let lease = telegram.lease_id.as_deref().unwrap();
        let error = "429 Too Many Requests";
        let next = now + Duration::minutes(5);
        assert!(
            store
                .mark_fallback_retry(telegram.id, lease, error, next)
                .await
                .unwrap()
        );
    }
}

fn answers(bed: &TestApp) -> Answers {
    Answers::new(bed.store.clone(), Arc::new(bed.config.clone()))
}

fn assert_within_the_limit(pages: &[String]) {
    assert!(!pages.is_empty());
    for page in pages {
        let units: usize = page.chars().map(char::len_utf16).sum();
        assert!(units <= MESSAGE_LIMIT, "{units} units: {page}");
    }
}

#[bed::test]
async fn orders_lists_what_needs_attention_by_default_and_each_filter_its_own_orders() {
    let bed = bed_with_orders().await;
    let answers = answers(&bed);
    let now = Utc::now().timestamp_millis();
    let text = |pages: Vec<String>| {
        assert_within_the_limit(&pages);
        pages.join("\n")
    };

    let attention = text(answers.orders(None, now).await.unwrap());
    assert!(attention.contains("Требуют внимания"), "{attention}");
    assert!(attention.contains(": 3"), "{attention}");
    for id in ["WEB-RETRY", "WEB-FALLBACK", "WEB-LOST"] {
        assert!(
            attention.contains(&format!("<code>{id}</code>")),
            "{attention}"
        );
    }
    assert!(!attention.contains("WEB-QUEUED"), "{attention}");
    // Newest first: WEB-LOST came last.
    assert!(attention.find("WEB-LOST") < attention.find("WEB-RETRY"));
    assert!(attention.contains("Пиццерия на Ленина"), "{attention}");

    let fallback = text(answers.orders(Some("fallback"), now).await.unwrap());
    assert!(fallback.contains("WEB-FALLBACK") && !fallback.contains("WEB-RETRY"));
    let retrying = text(answers.orders(Some("retrying"), now).await.unwrap());
    assert!(retrying.contains("WEB-RETRY") && !retrying.contains("WEB-FALLBACK"));
    assert!(retrying.contains("повторная отправка"), "{retrying}");
    let today = text(answers.orders(Some("TODAY"), now).await.unwrap());
    assert!(today.contains(": 4"), "{today}");
    assert!(today.contains("WEB-QUEUED"), "{today}");

    match answers.orders(Some("<all>"), now).await {
        Err(AnswerError::Usage(text)) => {
            assert!(text.contains("«&lt;all&gt;»"), "{text}");
            assert!(text.contains("/orders fallback"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[bed::test]
async fn order_shows_the_state_iiko_and_how_far_each_copy_for_the_staff_got() {
    let bed = bed_with_orders().await;
    let answers = answers(&bed);

    let fallback = answers.order("WEB-FALLBACK", None).await.unwrap();
    assert!(fallback.in_fallback);
    assert_eq!(fallback.order_id, bed.order("WEB-FALLBACK").await.id);
    assert_within_the_limit(&fallback.pages);
    let text = fallback.pages.join("\n");
    assert!(text.contains("у персонала"), "{text}");
    assert!(text.contains("Копии персоналу</b>: дошли 1 из 2"), "{text}");
    assert!(
        text.contains("e-mail <code>kitchen@example.com</code>: ✅ доставлено"),
        "{text}"
    );
    assert!(
        text.contains("Telegram <code>-100200</code>: ⏳ не доставлено"),
        "{text}"
    );
    assert!(text.contains("ошибка: 429 Too Many Requests"), "{text}");

    let retrying = answers.order("WEB-RETRY", Some("Lenina")).await.unwrap();
    assert!(!retrying.in_fallback);
    let text = retrying.pages.join("\n");
    assert!(text.contains("Попыток отправки в iiko: 1"), "{text}");
    assert!(text.contains("Последняя ошибка iiko"), "{text}");
    assert!(!text.contains("Копии персоналу"), "{text}");
    assert!(text.contains("<b>История</b>"), "{text}");

    let by_own_id = answers
        .order(&format!("#{}", fallback.order_id), None)
        .await
        .unwrap();
    assert_eq!(by_own_id.pages, fallback.pages);

    assert!(matches!(
        answers.order("WEB-NONE", None).await,
        Err(AnswerError::NotFound(text)) if text == "Заказ «WEB-NONE» не найден."
    ));
    assert!(matches!(
        answers.order("WEB-RETRY", Some("nowhere")).await,
        Err(AnswerError::NotFound(text)) if text.contains("Филиала «nowhere» нет")
    ));
}

#[bed::test]
async fn undelivered_names_the_orders_no_channel_got_through_with() {
    let bed = bed_with_orders().await;
    let pages = answers(&bed).undelivered().await.unwrap();
    assert_within_the_limit(&pages);
    let text = pages.join("\n");
    assert!(text.contains("не дошедшие до персонала</b>: 1"), "{text}");
    assert!(text.contains("<b>Заказ WEB-LOST</b>"), "{text}");
    assert!(
        text.contains("unknown article &lt;NO-SUCH-ARTICLE&gt;"),
        "{text}"
    );
    assert!(text.contains("получателей нет"), "{text}");
    assert!(
        !text.contains("WEB-FALLBACK"),
        "one copy got through: {text}"
    );
}

#[bed::test]
async fn health_shows_per_branch_iiko_the_terminal_the_menu_and_the_queues() {
    let bed = bed_with_orders().await;
    let since = Utc::now().timestamp_millis();
    assert!(
        bed.store
            .flip_alert_state("lenina", "terminal", true, since)
            .await
            .unwrap()
    );
    let answers = answers(&bed);
    let pages = answers.health(since + 60_000).await.unwrap();
    assert_within_the_limit(&pages);
    let text = pages.join("\n");
    assert!(
        text.contains("<b>Пиццерия на Ленина</b> (<code>lenina</code>)"),
        "{text}"
    );
    assert!(text.contains("iiko: ✅ отвечает, сбоев не было"), "{text}");
    assert!(text.contains("Касса: 🔴 не на связи с"), "{text}");
    assert!(text.contains("(1 мин)"), "{text}");
    assert!(text.contains("Меню: от"), "{text}");
    assert!(
        text.contains(
            "в очереди 1 · отправляются 0 · повтор 1 · у персонала 2 · не дошли до персонала 1"
        ),
        "{text}"
    );
    assert!(text.contains("Дольше всех ждёт iiko заказ от"), "{text}");

    assert!(
        bed.store
            .flip_alert_state("lenina", "terminal", false, since)
            .await
            .unwrap()
    );
    let text = answers.health(since).await.unwrap().join("\n");
    assert!(text.contains("Касса: ✅ на связи (снова с"), "{text}");
}

#[bed::test]
async fn stoplist_shows_what_the_current_menu_has_off_sale() {
    let bed = bed_with_orders().await;
    let answers = answers(&bed);
    let pages = answers.stoplist(Some("LENINA")).await.unwrap();
    assert_within_the_limit(&pages);
    let text = pages.join("\n");
    assert!(
        text.starts_with("<b>Стоп-лист: Пиццерия на Ленина</b> (по меню от"),
        "{text}"
    );
    let off_sale = bed.catalog.products.iter().filter(|p| !p.available).count();
    match off_sale {
        0 => assert!(text.contains("Пусто: всё в продаже"), "{text}"),
        _ => assert!(text.matches("\n• ").count() >= off_sale, "{text}"),
    }
    assert!(matches!(
        answers.stoplist(Some("nowhere")).await,
        Err(AnswerError::NotFound(_))
    ));
}

#[bed::test]
async fn a_long_list_is_capped_and_every_page_fits_a_telegram_message() {
    let bed = Spawn::default().without_server().app(|_| {}).await;
    let now = Utc::now().timestamp_millis();
    for n in 0..120 {
        let id = format!("WEB-{n:03}-{}", "Я".repeat(40));
        let new = NewOrder {
            branch: "lenina".into(),
            site_id: id.clone(),
            raw_body: json!({"id": id, "total": 1150.5}).to_string(),
            content_hash: format!("hash-{n}"),
            answer: "{}".into(),
            iiko_ids: "{}".into(),
            iiko_order_id: Uuid::new_v4().to_string(),
            request: None,
            problems: None,
            state: OrderState::Fallback,
            fallback_reason: Some("iiko is down".into()),
            now_ms: now - 1000 * (120 - n),
        };
        bed.store.insert_order(new, None).await.unwrap();
    }
    let pages = answers(&bed).orders(Some("fallback"), now).await.unwrap();
    assert_within_the_limit(&pages);
    let text = pages.join("\n");
    assert!(text.contains(": 120"), "{text}");
    assert_eq!(text.matches("1150,50 ₽").count(), 30, "{text}");
    assert!(text.contains("WEB-119"), "the newest first: {text}");
    assert!(!text.contains("WEB-089"), "{text}");
    assert!(text.trim_end().ends_with("…и ещё 90"), "{text}");
}
