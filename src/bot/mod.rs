//! The operator bot: staff act on orders from Telegram. Updates arrive by long polling (the
//! `telegram` duty, [`BotPoller`]: the offset is stored after each update, so a restart never
//! replays a press) or by the webhook `http` mounts at `telegram.webhook_url`'s path; each is
//! dispatched through teloxide's `dptree` handler to [`OperatorBot`], which decides who is
//! served (`auth`), runs the same store operations as `orders resolve|retry` (named after the
//! operator in the order's history), and answers. The fallback messages are edited by
//! [`BotEditor`] once their order leaves the fallback, however it left (the store marks them in
//! the same transaction as the change).
pub mod answers;
pub mod auth;
pub mod commands;
mod worker;

use std::{future::Future, ops::ControlFlow, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use teloxide::{
    dispatching::{DpHandlerDescription, UpdateFilterExt},
    dptree::{self, Handler},
    payloads::AnswerCallbackQuerySetters,
    requests::Requester,
    types::{AllowedUpdate, CallbackQuery, ChatKind as TgChatKind, Message, Update},
};
use tokio::sync::Notify;

pub use worker::{BotEditor, BotPoller, EditsReport};

use self::{
    answers::{AnswerError, Answers},
    auth::{Access, ChatKind, Verdict},
    commands::{Command, Parsed},
};
use crate::{
    config::Config,
    menu::CatalogCache,
    notify::{
        Button, Telegram, TelegramError,
        buttons::{CallbackData, fallback_buttons},
        html,
    },
    orders::{ActionError, resolve_order_by, retry_order},
    store::{Actor, OrderState, Store, StoreError, StoredOrder},
};

/// The key of the bot's offset in the store.
pub const OFFSET_KEY: &str = "telegram";
/// How long a muted alert stays quiet.
pub const MUTE_FOR: Duration = Duration::from_secs(60 * 60);
/// What anyone but an operator hears, wherever they ask: nothing about orders.
pub const REFUSAL: &str = "Нет доступа: этим ботом пользуются только операторы ресторана.";
/// Tries of a reply, an answer or an edit that Telegram refuses for now (429, 5xx).
const REPLY_TRIES: u32 = 3;
/// At most this long between two tries, whatever Telegram asks.
const MAX_REPLY_WAIT: Duration = Duration::from_secs(5);

type Outcome = Result<(), StoreError>;

/// The bot's work on each update; cheap to clone.
#[derive(Clone)]
pub struct OperatorBot {
    inner: Arc<Inner>,
}

struct Inner {
    telegram: Telegram,
    store: Store,
    config: Arc<Config>,
    catalogs: CatalogCache,
    answers: Answers,
    access: Access,
    /// The bot's username, from `getMe` at start: commands in groups name it.
    username: std::sync::Mutex<String>,
    /// Wakes the editor after an action of this process.
    edits: Arc<Notify>,
    handler: Handler<'static, Outcome, DpHandlerDescription>,
}

impl OperatorBot {
    /// The bot of `telegram.bot_token`; `None` without one.
    pub fn from_config(
        store: Store,
        config: Arc<Config>,
        catalogs: CatalogCache,
    ) -> Option<OperatorBot> {
        let telegram = Telegram::from_config(&config.telegram)?;
        let handler = dptree::entry()
            .branch(Update::filter_callback_query().endpoint(
                |query: CallbackQuery, bot: OperatorBot| async move { bot.on_press(query).await },
            ))
            .branch(Update::filter_message().endpoint(
                |message: Message, bot: OperatorBot| async move { bot.on_message(message).await },
            ))
            .branch(
                Update::filter_channel_post().endpoint(|post: Message| async move {
                    tracing::info!(
                        chat = post.chat.id.0,
                        "channel post ignored: the bot serves no channel"
                    );
                    Ok(())
                }),
            );
        Some(OperatorBot {
            inner: Arc::new(Inner {
                access: Access::from_config(&config),
                answers: Answers::new(store.clone(), config.clone()),
                telegram,
                store,
                config,
                catalogs,
                username: std::sync::Mutex::new(String::new()),
                edits: Arc::default(),
                handler,
            }),
        })
    }

    pub fn telegram(&self) -> &Telegram {
        &self.inner.telegram
    }

    /// The kinds of update the handler reads (what `getUpdates` and `setWebhook` ask for).
    pub fn allowed_updates(&self) -> Vec<AllowedUpdate> {
        vec![
            AllowedUpdate::Message,
            AllowedUpdate::CallbackQuery,
            AllowedUpdate::ChannelPost,
        ]
    }

    /// At start: learns the bot's username and registers its commands; then, with
    /// `telegram.webhook_url`, has Telegram POST the updates there with the secret, else
    /// deletes any webhook so that `getUpdates` works.
    pub async fn start(&self) -> Result<(), TelegramError> {
        let telegram = &self.inner.telegram;
        let username = telegram.username().await?;
        *self
            .inner
            .username
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = username;
        let commands = <Command as teloxide::utils::command::BotCommands>::bot_commands();
        telegram
            .call(telegram.bot().set_my_commands(commands))
            .await?;
        match &self.inner.config.telegram.webhook_url {
            Some(url) => {
                use teloxide::payloads::SetWebhookSetters;
                let request = telegram
                    .bot()
                    .set_webhook(url.clone())
                    .secret_token(telegram.webhook_secret())
                    .allowed_updates(self.allowed_updates());
                telegram.call(request).await?;
                tracing::info!(url = %url, "Telegram webhook set");
            }
            None => {
                telegram.call(telegram.bot().delete_webhook()).await?;
            }
        }
        Ok(())
    }

    /// Fires when this process changed an order whose messages await their edit.
    pub fn edits_waker(&self) -> Arc<Notify> {
        self.inner.edits.clone()
    }

    /// Handles one update. Telegram's own failures are logged and do not fail it (the action
    /// is done, and its edit is retried by the editor); a store failure does, so the update is
    /// handled again rather than lost.
    pub async fn handle(&self, update: Update) -> Result<(), StoreError> {
        let id = update.id.0;
        match self
            .inner
            .handler
            .dispatch(dptree::deps![update, self.clone()])
            .await
        {
            ControlFlow::Break(outcome) => outcome,
            ControlFlow::Continue(_) => {
                tracing::info!(
                    update = id,
                    "Telegram update of a kind the bot does not read, ignored"
                );
                Ok(())
            }
        }
    }

    async fn on_press(&self, query: CallbackQuery) -> Outcome {
        let user_id = query.from.id.0 as i64;
        let chat = query.message.as_ref().map(|m| m.chat().id.0);
        if self.inner.access.press(user_id) != Verdict::Serve {
            tracing::warn!(
                user = user_id,
                ?chat,
                "button pressed by someone not in telegram.operator_users: refused"
            );
            self.answer(&query, REFUSAL).await;
            return Ok(());
        }
        let Some(data) = query.data.as_deref().and_then(CallbackData::parse) else {
            tracing::warn!(user = user_id, ?chat, data = ?query.data, "button with data the bridge did not make");
            self.answer(&query, "Эта кнопка не от моста или устарела.")
                .await;
            return Ok(());
        };
        let actor = Actor::Telegram {
            user_id,
            name: query.from.full_name(),
        };
        let text = match data {
            CallbackData::Resolve(id) => self.resolve(id, &actor).await?,
            CallbackData::Retry(id) => self.retry(id, &actor).await?,
            CallbackData::Mute { watch, branch } => {
                let until = Utc::now() + MUTE_FOR;
                self.inner
                    .store
                    .mute_alert(&branch, &watch, until.timestamp_millis())
                    .await?;
                tracing::info!(user = user_id, %watch, %branch, "operator alerts muted for an hour");
                format!("Оповещения по филиалу {branch} отключены на час.")
            }
        };
        tracing::info!(user = user_id, ?chat, data = ?query.data, result = %text, "button pressed");
        self.answer(&query, &text).await;
        Ok(())
    }

    async fn on_message(&self, message: Message) -> Outcome {
        let chat = message.chat.id.0;
        let kind = match &message.chat.kind {
            TgChatKind::Private(_) => ChatKind::Private,
            TgChatKind::Public(public) => match public.kind {
                teloxide::types::PublicChatKind::Channel(_) => ChatKind::Channel,
                _ => ChatKind::Group,
            },
        };
        let user = message.from.as_ref();
        let user_id = user.map(|u| u.id.0 as i64);
        let text = message.text().unwrap_or_default();
        let username = self.username();
        let parsed = commands::parse(text, &username);
        // In a group only commands for this bot concern it; a private chat is all the bot's.
        let addressed = kind == ChatKind::Private
            || matches!(
                parsed,
                Parsed::Command(_) | Parsed::Unknown | Parsed::BadArguments
            );
        if !addressed {
            return Ok(());
        }
        match self.inner.access.message(kind, chat, user_id) {
            Verdict::Ignore => {
                tracing::info!(chat, user = ?user_id, "message from a chat the bot does not serve, ignored");
                Ok(())
            }
            Verdict::Refuse => {
                tracing::warn!(chat, user = ?user_id, "message from someone not in telegram.operator_users: refused");
                self.reply(chat, &html::escape(REFUSAL)).await;
                Ok(())
            }
            Verdict::Serve => {
                let user = user.expect("served messages have a sender");
                let actor = Actor::Telegram {
                    user_id: user.id.0 as i64,
                    name: user.full_name(),
                };
                let answer = match parsed {
                    Parsed::Command(command) => self.command(command, &actor).await?,
                    Parsed::Unknown => {
                        Reply::text("Неизвестная команда. Список команд: /help".to_owned())
                    }
                    Parsed::BadArguments => {
                        Reply::text("Не та форма команды. Список команд: /help".to_owned())
                    }
                    Parsed::Text | Parsed::NotOurs => Reply::text("Команды бота: /help".to_owned()),
                };
                tracing::info!(chat, user = ?user_id, command = %text, "operator command");
                self.send_reply(chat, answer).await;
                Ok(())
            }
        }
    }

    /// An operator's command, answered in Telegram HTML. A store failure of an action fails
    /// it (the update is handled again); a read-only answer says the store is not answering.
    async fn command(&self, command: Command, actor: &Actor) -> Result<Reply, StoreError> {
        let answers = &self.inner.answers;
        let now_ms = Utc::now().timestamp_millis();
        fn order_ref(arguments: &str) -> (&str, Option<&str>) {
            commands::order_ref(arguments).unwrap_or(("", None))
        }
        let pages = match command {
            Command::Resolve(arguments) | Command::Retry(arguments)
                if commands::order_ref(&arguments).is_none() =>
            {
                Ok(vec![
                    "Укажите заказ: /resolve ID или /retry ID (номер на сайте или #N), и филиал, если номер есть в нескольких.".to_owned(),
                ])
            }
            Command::Resolve(arguments) => {
                let (id, branch) = order_ref(&arguments);
                match answers.find(id, branch).await {
                    Ok(order) => Ok(vec![self.resolve(order.id, actor).await?]),
                    Err(AnswerError::Store(error)) => return Err(error),
                    Err(refusal) => Err(refusal),
                }
            }
            Command::Retry(arguments) => {
                let (id, branch) = order_ref(&arguments);
                match answers.find(id, branch).await {
                    Ok(order) => Ok(vec![self.retry(order.id, actor).await?]),
                    Err(AnswerError::Store(error)) => return Err(error),
                    Err(refusal) => Err(refusal),
                }
            }
            Command::Order(arguments) => {
                let (id, branch) = order_ref(&arguments);
                match answers.order(id, branch).await {
                    Ok(answer) => {
                        let buttons = match answer.in_fallback {
                            true => fallback_buttons(answer.order_id),
                            false => Vec::new(),
                        };
                        return Ok(Reply {
                            pages: answer.pages,
                            buttons,
                            order_id: Some(answer.order_id),
                        });
                    }
                    Err(error) => Err(error),
                }
            }
            Command::Orders(filter) => {
                let filter = Some(filter.trim()).filter(|f| !f.is_empty());
                answers.orders(filter, now_ms).await
            }
            Command::Undelivered => answers.undelivered().await,
            Command::Health => answers.health(now_ms).await,
            Command::Stoplist(branch) => {
                let branch = Some(branch.trim()).filter(|b| !b.is_empty());
                answers.stoplist(branch).await
            }
            Command::Help | Command::Start => Ok(vec![Answers::help()]),
        };
        Ok(match pages {
            Ok(pages) => Reply::pages(pages),
            Err(error) => {
                if let AnswerError::Store(error) = &error {
                    tracing::error!(%error, "the bot's answer not read from the store");
                }
                Reply::text(error.to_operator())
            }
        })
    }

    async fn resolve(&self, id: i64, actor: &Actor) -> Result<String, StoreError> {
        let now = Utc::now().timestamp_millis();
        let result = resolve_order_by(&self.inner.store, id, actor, now).await;
        self.outcome(id, result, "отмечен как введённый вручную")
    }

    async fn retry(&self, id: i64, actor: &Actor) -> Result<String, StoreError> {
        let inner = &self.inner;
        let result = retry_order(
            &inner.store,
            &inner.catalogs,
            &inner.config,
            id,
            actor,
            Utc::now(),
        )
        .await;
        self.outcome(id, result, "снова отправлен в iiko")
    }

    /// What an action's result says to the operator; idempotent answers for what was done
    /// already.
    fn outcome(
        &self,
        id: i64,
        result: Result<StoredOrder, ActionError>,
        done: &str,
    ) -> Result<String, StoreError> {
        match result {
            Ok(order) => {
                self.inner.edits.notify_one();
                Ok(format!(
                    "Заказ {} ({}): {done}.",
                    html::escape(&order.site_id),
                    html::escape(&order.branch)
                ))
            }
            Err(ActionError::Store(error)) => Err(error),
            Err(ActionError::NotFound(_)) => {
                tracing::warn!(order = id, "action on an order the store no longer holds");
                Ok("Этого заказа больше нет в мосте.".to_owned())
            }
            Err(ActionError::Refused(state, why)) => {
                tracing::info!(
                    order = id,
                    state = state.as_str(),
                    why,
                    "operator action changed nothing"
                );
                Ok(format!("Ничего не изменено: заказ {}.", state_text(state)))
            }
            Err(ActionError::Unmappable(why)) => {
                tracing::info!(order = id, %why, "retry refused: the order still cannot be mapped");
                Ok(
                    "Заказ по-прежнему нельзя сопоставить с меню iiko: введите его вручную."
                        .to_owned(),
                )
            }
        }
    }

    fn username(&self) -> String {
        self.inner
            .username
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn answer(&self, query: &CallbackQuery, text: &str) {
        let telegram = &self.inner.telegram;
        let request = || {
            telegram.call(
                telegram
                    .bot()
                    .answer_callback_query(query.id.clone())
                    .text(text),
            )
        };
        retrying("answer a button press", request).await;
    }

    /// Sends `text` (Telegram HTML) to `chat`, split into pages under Telegram's limit.
    async fn reply(&self, chat: i64, text: &str) {
        let telegram = &self.inner.telegram;
        retrying("reply to an operator", || telegram.send_html(chat, text)).await;
    }

    /// Sends each page in order, the buttons on the last one; a page with an order's buttons
    /// is recorded like a fallback message, so it too is edited once the order is dealt with.
    async fn send_reply(&self, chat: i64, reply: Reply) {
        let Some((last, pages)) = reply.pages.split_last() else {
            return;
        };
        for page in pages {
            self.reply(chat, page).await;
        }
        let (Some(order_id), false) = (reply.order_id, reply.buttons.is_empty()) else {
            return self.reply(chat, last).await;
        };
        let store = &self.inner.store;
        let now_ms = Utc::now().timestamp_millis();
        let reserved = store.reserve_bot_message(order_id, chat, now_ms).await;
        let telegram = &self.inner.telegram;
        let sent = retrying("reply to an operator", || {
            telegram.send_html_with_buttons(chat, last, &reply.buttons)
        })
        .await;
        let recorded = match (sent, reserved) {
            (Some(part), Ok(id)) => {
                store
                    .bot_message_sent(id, part.message_id, &part.text)
                    .await
            }
            (None, Ok(id)) => store.forget_bot_message(id).await,
            (_, Err(error)) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::warn!(order = order_id, chat, %error, "the reply's buttons not recorded: it will not be edited");
        }
    }
}

/// What the bot answers a command: pages of Telegram HTML, and an order's buttons on the last.
struct Reply {
    pages: Vec<String>,
    buttons: Vec<Button>,
    order_id: Option<i64>,
}

impl Reply {
    fn text(text: String) -> Reply {
        Reply::pages(vec![text])
    }

    fn pages(pages: Vec<String>) -> Reply {
        Reply {
            pages,
            buttons: Vec::new(),
            order_id: None,
        }
    }
}

/// `call` tried up to [`REPLY_TRIES`] times while Telegram says to try later; a failure after
/// that is logged (what it was about is done and stored either way).
async fn retrying<T, F, Fut>(what: &'static str, call: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, TelegramError>>,
{
    for tries in 1..=REPLY_TRIES {
        match call().await {
            Ok(value) => return Some(value),
            Err(error) if error.is_retryable() && tries < REPLY_TRIES => {
                let wait = error
                    .retry_after()
                    .unwrap_or(Duration::from_millis(500))
                    .min(MAX_REPLY_WAIT);
                tracing::warn!(%error, ?wait, "Telegram did not take it: {what}; trying again");
                tokio::time::sleep(wait).await;
            }
            Err(error) => {
                tracing::error!(%error, "Telegram did not take it: {what}");
                return None;
            }
        }
    }
    None
}

/// The order's state as staff read it.
fn state_text(state: OrderState) -> &'static str {
    match state {
        OrderState::Queued | OrderState::Sending => "уже отправляется в iiko",
        OrderState::Retrying => "ждёт повторной отправки в iiko",
        OrderState::Created => "уже создан в iiko",
        OrderState::Fallback => "передан персоналу и ждёт решения",
        OrderState::Resolved => "уже введён вручную",
        OrderState::Cancelled => "отменён",
    }
}

/// The line an edit adds to a fallback message: what became of the order, by whom, when (in
/// the branch's time).
pub fn outcome_line(outcome: &str, by: &str, at: DateTime<Utc>, timezone: chrono_tz::Tz) -> String {
    let what = match outcome {
        "resolved" => "✅ Введён вручную",
        "queued" => "🔁 Отправлен в iiko снова",
        "cancelled" => "❌ Отменён",
        other => return format!("Заказ: {}", html::escape(other)),
    };
    let when = at.with_timezone(&timezone).format("%d.%m %H:%M");
    format!("<b>{what}</b>: {}, {when}", html::escape(by))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reply_telegram_refuses_for_now_is_tried_three_times_and_a_permanent_refusal_once() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let flood = || async {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>(TelegramError::Retryable {
                reason: "Internal Server Error".into(),
                retry_after: None,
            })
        };
        let started = std::time::Instant::now();
        assert_eq!(retrying("test", flood).await, None);
        assert_eq!(tries.swap(0, std::sync::atomic::Ordering::SeqCst), 3);
        // Half a second between tries when Telegram names no wait.
        assert!(started.elapsed() >= Duration::from_secs(1));

        let refused = || async {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>(TelegramError::Permanent(
                "Bad Request: chat not found".into(),
            ))
        };
        assert_eq!(retrying("test", refused).await, None);
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);

        let ok = || async { Ok::<_, TelegramError>(7) };
        assert_eq!(retrying("test", ok).await, Some(7));
    }

    #[test]
    fn the_edit_line_says_what_who_and_when_in_the_branchs_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T09:30:00Z")
            .unwrap()
            .to_utc();
        let line = outcome_line(
            "resolved",
            "Анна <Смена> (id 42)",
            at,
            chrono_tz::Europe::Moscow,
        );
        assert_eq!(
            line,
            "<b>✅ Введён вручную</b>: Анна &lt;Смена&gt; (id 42), 05.12 12:30"
        );
        assert!(outcome_line("queued", "x", at, chrono_tz::UTC).contains("Отправлен в iiko снова"));
        assert!(outcome_line("cancelled", "iiko", at, chrono_tz::UTC).contains("Отменён"));
    }
}
