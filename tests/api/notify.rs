//! The operator channels against their in-process fakes: Telegram against `FakeTelegram`,
//! e-mail against `SmtpSink`, over real sockets.
use std::time::Duration;

use iiko_bridge::{
    config::{EmailConfig, TelegramConfig},
    notify::{
        Email, EmailError, Mailer, OperatorAlerter, OperatorChats, StoreWatch, Telegram,
        TelegramError, html,
    },
    sim::{
        smtp::{Rejection, SmtpSink},
        telegram::{Failure, FakeTelegram, Refusal},
    },
};
use secrecy::SecretString;

use crate::support::{Spawn, store};

const CHAT: i64 = -1001234567890;

fn telegram_config(token: &str, api_url: url::Url) -> TelegramConfig {
    TelegramConfig {
        bot_token: Some(SecretString::from(token)),
        api_url,
        operator_chats: vec![CHAT],
        ..TelegramConfig::default()
    }
}

fn telegram(fake: &FakeTelegram) -> Telegram {
    Telegram::from_config(&telegram_config(fake.token(), fake.api_url()))
        .expect("a token is set")
        .with_timeout(Duration::from_secs(5))
}

/// A URL where nothing listens: a port that was just bound and released.
async fn closed_port_url(scheme: &str, userinfo: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("{scheme}://{userinfo}{address}")
}

#[bed::test]
async fn a_message_reaches_the_chat_with_its_text_in_html_mode() {
    let fake = FakeTelegram::start().await.unwrap();
    let text = format!(
        "{} {}",
        html::bold("Заказ 42"),
        html::escape("Борщ <большой> & хлеб")
    );

    telegram(&fake).send_html(CHAT, &text).await.unwrap();

    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].chat_id, CHAT);
    assert_eq!(
        messages[0].text,
        "<b>Заказ 42</b> Борщ &lt;большой&gt; &amp; хлеб"
    );
    assert_eq!(messages[0].parse_mode.as_deref(), Some("HTML"));
}

#[bed::test]
async fn the_bot_introduces_itself_with_the_fakes_username() {
    let fake = FakeTelegram::start().await.unwrap();

    assert_eq!(telegram(&fake).username().await.unwrap(), "bridge_test_bot");
}

#[bed::test]
async fn a_long_message_arrives_in_order_in_parts_under_the_limit() {
    let fake = FakeTelegram::start().await.unwrap();
    let lines: Vec<String> = (1..=600)
        .map(|n| format!("{n}. Пельмени × 1 = 450,00 ₽"))
        .collect();

    let private_chat = 777;
    telegram(&fake)
        .send_html(private_chat, &lines.join("\n"))
        .await
        .unwrap();

    let messages = fake.messages();
    assert!(messages.iter().all(|m| m.chat_id == private_chat));
    assert!(messages.len() >= 2, "{} parts", messages.len());
    assert!(
        messages
            .iter()
            .all(|m| m.text.encode_utf16().count() <= 4096)
    );
    let received: Vec<&str> = messages.iter().flat_map(|m| m.text.lines()).collect();
    assert_eq!(received, lines);
}

#[bed::test]
async fn a_server_error_is_worth_retrying() {
    let fake = FakeTelegram::start().await.unwrap();
    fake.fail_next(1, Failure::ServerError);
    // teloxide waits 10 s after a 5xx before it reports it; give it the time.
    let telegram = telegram(&fake).with_timeout(Duration::from_secs(15));

    let error = telegram.send_html(CHAT, "test").await.unwrap_err();

    assert!(
        matches!(error, TelegramError::Retryable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("Internal Server Error"),
        "{error}"
    );
    telegram.send_html(CHAT, "test").await.unwrap();
    assert_eq!(fake.messages().len(), 1);
}

#[bed::test]
async fn flood_control_is_worth_retrying_after_the_wait_telegram_asked_for() {
    let fake = FakeTelegram::start().await.unwrap();
    fake.fail_next(1, Failure::TooManyRequests { retry_after: 7 });

    let error = telegram(&fake).send_html(CHAT, "test").await.unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(fake.messages().is_empty());
}

#[bed::test]
async fn an_unknown_chat_or_a_blocked_bot_is_permanent() {
    let fake = FakeTelegram::start().await.unwrap();
    fake.refuse_chat(1, Refusal::ChatNotFound);
    fake.refuse_chat(2, Refusal::BotBlocked);
    let telegram = telegram(&fake);

    for (chat, words) in [(1, "chat not found"), (2, "blocked")] {
        let error = telegram.send_html(chat, "test").await.unwrap_err();
        assert!(!error.is_retryable(), "{error:?}");
        assert!(error.to_string().contains(words), "{error}");
    }
}

#[bed::test]
async fn a_slow_api_times_out_and_is_worth_retrying() {
    let fake = FakeTelegram::start().await.unwrap();
    fake.set_delay(Duration::from_secs(2));
    let telegram = telegram(&fake).with_timeout(Duration::from_millis(200));

    let error = telegram.send_html(CHAT, "test").await.unwrap_err();

    assert!(matches!(error, TelegramError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[bed::test]
async fn a_wrong_token_is_permanent() {
    let fake = FakeTelegram::start().await.unwrap();
    let telegram = Telegram::from_config(&telegram_config("999:wrong", fake.api_url())).unwrap();

    let error = telegram.send_html(CHAT, "test").await.unwrap_err();

    assert!(!error.is_retryable(), "{error:?}");
}

#[bed::test]
async fn the_bot_token_never_appears_in_errors_or_debug() {
    let token = "424242:SECRET-token-value";
    let api_url = closed_port_url("http", "").await.parse().unwrap();
    let telegram = Telegram::from_config(&telegram_config(token, api_url)).unwrap();

    let error = telegram.send_html(CHAT, "test").await.unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{telegram:?}"),
    ] {
        assert!(!shown.contains("SECRET-token"), "token leaked: {shown}");
    }
}

#[test]
fn no_bot_token_means_no_telegram() {
    assert!(Telegram::from_config(&TelegramConfig::default()).is_none());
}

fn mailer(smtp_url: &str) -> Mailer {
    Mailer::from_config(&EmailConfig {
        smtp_url: Some(SecretString::from(smtp_url)),
        from: Some("Мост iiko <bridge@example.com>".into()),
    })
    .expect("valid settings")
    .expect("smtp_url is set")
    .with_timeout(Duration::from_secs(5))
}

fn russian_email() -> Email {
    Email {
        to: vec!["ops@example.com".into(), "chef@example.com".into()],
        subject: "Заказ №42 не принят iiko — внесите вручную".into(),
        text: "Борщ × 2 = 700,00 ₽\n.точка в начале строки\nИтого: 700,00 ₽\n".into(),
        html: Some("<p>Борщ × 2 = <b>700,00 ₽</b></p>".into()),
    }
}

#[bed::test]
async fn a_russian_mail_reaches_the_sink_and_decodes_back_exactly() {
    let sink = SmtpSink::start().await.unwrap();
    let email = russian_email();

    mailer(&sink.url()).send(&email).await.unwrap();

    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "bridge@example.com");
    assert_eq!(mail.to, ["ops@example.com", "chef@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some(email.subject.as_str()));
    assert_eq!(
        mail.text().map(|t| t.replace("\r\n", "\n")),
        Some(email.text)
    );
    assert_eq!(mail.html(), email.html);
}

#[bed::test]
async fn credentials_in_the_url_log_in_and_stay_out_of_debug() {
    let sink = SmtpSink::start().await.unwrap();
    let url = format!("smtp://bridge:s3cret-pass@{}", sink.address());
    let mailer = mailer(&url);

    mailer.send(&russian_email()).await.unwrap();

    assert_eq!(sink.mails().len(), 1);
    assert!(!format!("{mailer:?}").contains("s3cret"), "{mailer:?}");
}

#[bed::test]
async fn a_451_is_transient_and_a_550_is_permanent() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = mailer(&sink.url());
    sink.reject_next(1, Rejection::Transient);
    sink.reject_next(1, Rejection::Permanent);

    let transient = mailer.send(&russian_email()).await.unwrap_err();
    let permanent = mailer.send(&russian_email()).await.unwrap_err();

    assert!(
        matches!(transient, EmailError::Transient(_)),
        "{transient:?}"
    );
    assert!(
        matches!(permanent, EmailError::Permanent(_)),
        "{permanent:?}"
    );
    assert!(sink.mails().is_empty());
    mailer.send(&russian_email()).await.unwrap();
    assert_eq!(sink.mails().len(), 1);
}

#[bed::test]
async fn a_sink_that_is_down_gives_a_transient_error_without_credentials() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = mailer(&format!("smtp://bridge:s3cret-pass@{}", sink.address()));
    mailer.send(&russian_email()).await.unwrap();
    sink.go_down();

    let error = mailer.send(&russian_email()).await.unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains("s3cret"),
        "{error:?}"
    );
}

#[bed::test]
async fn a_server_that_never_answers_times_out_and_is_worth_retrying() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", silent.local_addr().unwrap());
    let mailer = mailer(&url).with_timeout(Duration::from_millis(300));

    let error = mailer.send(&russian_email()).await.unwrap_err();

    assert!(matches!(error, EmailError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[bed::test]
async fn an_invalid_recipient_is_refused_before_anything_is_sent() {
    let sink = SmtpSink::start().await.unwrap();
    let email = Email {
        to: vec!["ops@example.com".into(), "not an address".into()],
        ..russian_email()
    };

    let error = mailer(&sink.url()).send(&email).await.unwrap_err();

    assert!(
        matches!(error, EmailError::InvalidAddress { ref address, .. } if address == "not an address"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(sink.mails().is_empty());
}

#[test]
fn a_bad_smtp_url_is_a_config_error_that_hides_the_password() {
    let error = Mailer::from_config(&EmailConfig {
        smtp_url: Some(SecretString::from(
            "smtp://bridge:s3cret-pass@host:notaport",
        )),
        from: Some("bridge@example.com".into()),
    })
    .unwrap_err();

    assert!(matches!(error, EmailError::Config(_)), "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains("s3cret"),
        "{error:?}"
    );
}

#[test]
fn no_smtp_url_means_no_mailer() {
    assert!(
        Mailer::from_config(&EmailConfig::default())
            .unwrap()
            .is_none()
    );
}

#[bed::test]
async fn operators_hear_once_when_the_store_stops_taking_writes_and_once_when_it_is_back() {
    let fake = FakeTelegram::start().await.unwrap();
    let app = Spawn::default()
        .without_server()
        .app(|config| {
            config.store.check_seconds = 0.2;
            config.telegram = telegram_config(fake.token(), fake.api_url());
        })
        .await;
    let watch = StoreWatch::new(app.store.clone(), &app.config);
    let texts = || -> Vec<String> { fake.messages().into_iter().map(|m| m.text).collect() };
    assert!(watch.try_step().await);

    // Another connection holds the write lock: no write gets through.
    let blocker = store::block_writes(&app.config.store.url).await;
    for _ in 0..5 {
        assert!(!watch.try_step().await);
    }
    let sent = texts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("Хранилище iiko-bridge недоступно"),
        "{sent:?}"
    );

    blocker.release().await;
    assert!(watch.try_step().await);
    assert!(watch.try_step().await);
    let sent = texts();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].contains("снова доступно"), "{sent:?}");
}

#[bed::test]
async fn two_instances_seeing_iiko_go_down_and_come_back_tell_the_operators_once_each_way() {
    let fake = FakeTelegram::start().await.unwrap();
    let app = Spawn::default()
        .without_server()
        .app(|config| config.telegram = telegram_config(fake.token(), fake.api_url()))
        .await;
    let second = iiko_bridge::store::Store::open(&app.config.store.url)
        .await
        .unwrap();
    let chats = || OperatorChats::from_config(&app.config.telegram);
    let (one, two) = (
        OperatorAlerter::shared(chats(), app.store.clone()),
        OperatorAlerter::shared(chats(), second),
    );
    let branch = &app.config.branches[0];
    let texts = || -> Vec<String> { fake.messages().into_iter().map(|m| m.text).collect() };

    for _ in 0..5 {
        one.record_iiko_result(branch, false, Some("503")).await;
        two.record_iiko_result(branch, false, Some("503")).await;
    }
    assert_eq!(texts().len(), 1, "{:?}", texts());
    assert!(texts()[0].contains("iiko не отвечает"), "{:?}", texts());
    two.record_iiko_result(branch, true, None).await;
    one.record_iiko_result(branch, true, None).await;
    assert_eq!(texts().len(), 2, "{:?}", texts());
    assert!(texts()[1].contains("iiko снова работает"), "{:?}", texts());

    // A third instance, started after the others died, hears nothing new while iiko works,
    // and says it is back when it starts after an outage the dead ones had told of.
    let third = OperatorAlerter::shared(chats(), app.store.clone());
    third.record_iiko_result(branch, true, None).await;
    assert_eq!(texts().len(), 2, "{:?}", texts());
    for _ in 0..5 {
        one.record_iiko_result(branch, false, Some("503")).await;
    }
    let fourth = OperatorAlerter::shared(chats(), app.store.clone());
    fourth.record_iiko_result(branch, true, None).await;
    assert_eq!(texts().len(), 4, "{:?}", texts());
    assert!(texts()[3].contains("iiko снова работает"), "{:?}", texts());
}
