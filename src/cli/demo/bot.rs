//! The demo's operator bot: on the fake Telegram, a stranger presses "Введён вручную" under a
//! fallback order and is refused, then an operator presses it and the message is edited.
use std::time::{Duration, Instant};

use super::super::Failure;
use super::orders::FALLBACK_CHAT;
use crate::{
    sim::telegram::{FakeTelegram, SentMessage},
    store::{Store, StoredOrder},
};

/// The operator the demo's configuration allows (`telegram.operator_users`).
pub const OPERATOR: i64 = 4001;
const OPERATOR_NAME: &str = "Анна (смена)";
const STRANGER: i64 = 666;
const PATIENCE: Duration = Duration::from_secs(30);

/// Shows the bot on `order`'s fallback message; answers how the order ended.
pub async fn run(
    store: &Store,
    order: &StoredOrder,
    telegram: &FakeTelegram,
) -> Result<String, Failure> {
    let message = until("the fallback message with buttons", || {
        telegram
            .messages_to(FALLBACK_CHAT)
            .into_iter()
            .find(|m| m.text.contains(&order.site_id) && !m.buttons().is_empty())
    })
    .await?;
    let labels: Vec<String> = message
        .buttons()
        .into_iter()
        .map(|(text, data)| format!("«{text}» ({data})"))
        .collect();
    println!(
        "the Telegram message carries buttons: {}",
        labels.join(", ")
    );

    let answer = press(telegram, &message, STRANGER, "Посторонний").await?;
    let unchanged = state_of(store, order).await?;
    println!(
        "a stranger (user {STRANGER}) presses «Введён вручную»: the bot answers {answer:?}; the order stays {unchanged}"
    );

    let answer = press(telegram, &message, OPERATOR, OPERATOR_NAME).await?;
    let state = state_of(store, order).await?;
    println!(
        "operator {OPERATOR_NAME} (user {OPERATOR}, in telegram.operator_users) presses it: {answer:?}; the order is {state}"
    );
    let edited = until("the message edited", || {
        let now = telegram
            .messages()
            .into_iter()
            .find(|m| m.message_id == message.message_id)?;
        now.reply_markup.is_none().then_some(now)
    })
    .await?;
    let last = edited.text.lines().last().unwrap_or_default().to_owned();
    println!("the message is edited, its buttons gone; it ends with:\n  │ {last}");
    let history = store
        .order_history(order.id)
        .await
        .map_err(anyhow::Error::from)?;
    if let Some(note) = history.last().and_then(|h| h.note.as_deref()) {
        println!("the order's history: {note:?}");
    }
    Ok(format!("{state} from Telegram"))
}

async fn press(
    telegram: &FakeTelegram,
    message: &SentMessage,
    user: i64,
    name: &str,
) -> Result<String, Failure> {
    let callback = telegram.press(message, "Введён вручную", user, name);
    until("the press answered", || {
        let answers = telegram.callback_answers();
        let answer = answers
            .into_iter()
            .find(|a| a.callback_query_id == callback)?;
        Some(answer.text.unwrap_or_default())
    })
    .await
}

async fn state_of(store: &Store, order: &StoredOrder) -> Result<String, Failure> {
    let now = store.order(order.id).await.map_err(anyhow::Error::from)?;
    Ok(now.map_or_else(|| "gone".to_owned(), |o| o.state.as_str().to_owned()))
}

async fn until<T>(what: &str, probe: impl Fn() -> Option<T>) -> Result<T, Failure> {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        if started.elapsed() > PATIENCE {
            return Err(anyhow::anyhow!("demo: never happened: {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
