//! A fake Telegram Bot API for tests and the demo, over real HTTP in Telegram's shapes: what the
//! bridge sends (`sendMessage`, `getMe`) and what its operator bot does (`getUpdates` with
//! offsets and long polling, `answerCallbackQuery`, `editMessageText` and
//! `editMessageReplyMarkup` applied to the stored messages, `setMyCommands`, `deleteWebhook`,
//! `setWebhook`), recording every call and failing on request; tests press buttons and write
//! commands as a given user ([`FakeTelegram::press`], [`FakeTelegram::send_text`]).
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use serde_json::{Value, json};

/// The token the fake expects unless told otherwise.
pub const DEFAULT_TOKEN: &str = "123456:FAKE-token-for-tests";

/// A message the fake accepted, as it is now (edits applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub chat_id: i64,
    /// The id `sendMessage` answered, unique in the fake.
    pub message_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    /// The inline keyboard, as sent (`None`: no buttons, or an edit dropped them).
    pub reply_markup: Option<Value>,
}

impl SentMessage {
    /// The callback data of each inline button, row by row.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let rows = self.reply_markup.as_ref().map(|m| &m["inline_keyboard"]);
        rows.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .map(|button| {
                let text = button["text"].as_str().unwrap_or_default().to_owned();
                let data = button["callback_data"].as_str().unwrap_or_default();
                (text, data.to_owned())
            })
            .collect()
    }
}

/// An `answerCallbackQuery` the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub text: Option<String>,
}

/// An `editMessageText` or `editMessageReplyMarkup` the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub chat_id: i64,
    pub message_id: i64,
    /// The new text (`editMessageText`).
    pub text: Option<String>,
    pub reply_markup: Option<Value>,
}

/// The other calls the bot makes at start, recorded in order: (method, parameters).
pub type Setup = (String, Value);

/// Where a fake update comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeChat {
    /// The user's private chat with the bot (its id is the user's).
    Private,
    Group(i64),
    /// A channel post: it has no sender.
    Channel(i64),
}

/// How the next calls should fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 500, as Telegram answers when it is having trouble.
    ServerError,
    /// HTTP 429 flood control with `parameters.retry_after` in seconds.
    TooManyRequests { retry_after: u32 },
}

/// How a chat refuses messages, for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 "Bad Request: chat not found".
    ChatNotFound,
    /// 403 "Forbidden: bot was blocked by the user".
    BotBlocked,
}

#[derive(Default)]
struct Fake {
    messages: Vec<SentMessage>,
    /// Failures of what the bridge sends: messages, answers to presses, edits.
    failures: Vec<Failure>,
    /// Failures of `getUpdates`.
    poll_failures: Vec<Failure>,
    refusals: HashMap<i64, Refusal>,
    delay: Duration,
    /// Updates not yet confirmed by a later `offset`.
    updates: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    callback_answers: Vec<CallbackAnswer>,
    edits: Vec<Edit>,
    setup: Vec<Setup>,
    /// `getUpdates` calls answered so far.
    polls: usize,
}

#[derive(Clone)]
struct Shared {
    token: Arc<str>,
    fake: Arc<Mutex<Fake>>,
    /// Fired when an update arrives: a long poll waiting answers at once.
    arrived: Arc<tokio::sync::Notify>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake; stops serving when dropped.
pub struct FakeTelegram {
    shared: Shared,
    address: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeTelegram {
    /// Serves on `127.0.0.1:0` with [`DEFAULT_TOKEN`].
    pub async fn start() -> std::io::Result<FakeTelegram> {
        FakeTelegram::start_with_token(DEFAULT_TOKEN).await
    }

    pub async fn start_with_token(token: &str) -> std::io::Result<FakeTelegram> {
        let shared = Shared {
            token: token.into(),
            fake: Arc::new(Mutex::new(Fake {
                next_update_id: 1,
                next_message_id: 1,
                ..Fake::default()
            })),
            arrived: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let router = Router::new()
            .route("/{bot}/{method}", post(call).get(call))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(FakeTelegram {
            shared,
            address,
            _stop: stop,
        })
    }

    /// The base URL to put in `telegram.api_url`.
    pub fn api_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.address)).expect("a valid URL")
    }

    /// The bot token the fake expects.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Every message accepted so far, oldest first, as edited since.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.lock().messages.clone()
    }

    /// The messages sent to `chat_id`, oldest first.
    pub fn messages_to(&self, chat_id: i64) -> Vec<SentMessage> {
        let fake = self.shared.lock();
        let to_chat = fake.messages.iter().filter(|m| m.chat_id == chat_id);
        to_chat.cloned().collect()
    }

    /// Every `answerCallbackQuery`, oldest first.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.shared.lock().callback_answers.clone()
    }

    /// Every edit, oldest first.
    pub fn edits(&self) -> Vec<Edit> {
        self.shared.lock().edits.clone()
    }

    /// `setMyCommands`, `deleteWebhook` and `setWebhook` calls, oldest first.
    pub fn setup_calls(&self) -> Vec<Setup> {
        self.shared.lock().setup.clone()
    }

    /// `getUpdates` calls answered so far.
    pub fn polls(&self) -> usize {
        self.shared.lock().polls
    }

    /// Updates not yet confirmed by the bot (a later `getUpdates` offset).
    pub fn unconfirmed(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// User `user_id` (named `name`) presses the button of `message` whose text or callback
    /// data is `button` (any data when none matches, as a forged client would send): queues
    /// the callback query and answers its id.
    pub fn press(&self, message: &SentMessage, button: &str, user_id: i64, name: &str) -> String {
        let data = message
            .buttons()
            .into_iter()
            .find(|(text, data)| text == button || data == button)
            .map_or_else(|| button.to_owned(), |(_, data)| data);
        let mut fake = self.shared.lock();
        let id = format!("cb{}", fake.next_update_id);
        let update = json!({
            "callback_query": {
                "id": id,
                "from": user(user_id, name),
                "chat_instance": format!("ci{}", message.chat_id),
                "data": data,
                "message": {
                    "message_id": message.message_id,
                    "date": chrono::Utc::now().timestamp(),
                    "chat": chat(message.chat_id, if message.chat_id < 0 { "group" } else { "private" }),
                    "text": "…",
                },
            }
        });
        fake.push_update(update);
        drop(fake);
        self.shared.arrived.notify_waiters();
        id
    }

    /// User `user_id` (named `name`) writes `text` in `chat`: queues the message update and
    /// answers its update id. A channel post has no sender.
    pub fn send_text(&self, chat_at: FakeChat, user_id: i64, name: &str, text: &str) -> i64 {
        let (chat_id, kind) = match chat_at {
            FakeChat::Private => (user_id, "private"),
            FakeChat::Group(id) => (id, "supergroup"),
            FakeChat::Channel(id) => (id, "channel"),
        };
        let mut fake = self.shared.lock();
        let message_id = fake.next_message_id;
        fake.next_message_id += 1;
        let mut message = json!({
            "message_id": message_id,
            "date": chrono::Utc::now().timestamp(),
            "chat": chat(chat_id, kind),
            "text": text,
        });
        if text.starts_with('/') {
            let length = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": length }]);
        }
        let update = match chat_at {
            FakeChat::Channel(_) => json!({ "channel_post": message }),
            _ => {
                message["from"] = user(user_id, name);
                json!({ "message": message })
            }
        };
        let id = fake.push_update(update);
        drop(fake);
        self.shared.arrived.notify_waiters();
        id
    }

    /// The update as queued, for a test that posts it to the bridge's webhook itself.
    pub fn take_update(&self, update_id: i64) -> Option<Value> {
        let mut fake = self.shared.lock();
        let at = fake
            .updates
            .iter()
            .position(|u| u["update_id"] == update_id)?;
        Some(fake.updates.remove(at))
    }

    /// The next `count` sends, answers to presses or edits fail with `failure`.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        self.shared
            .lock()
            .failures
            .extend(std::iter::repeat_n(failure, count));
    }

    /// The next `count` `getUpdates` calls fail with `failure`.
    pub fn fail_next_polls(&self, count: usize, failure: Failure) {
        self.shared
            .lock()
            .poll_failures
            .extend(std::iter::repeat_n(failure, count));
    }

    /// Messages to `chat_id` are refused from now on.
    pub fn refuse_chat(&self, chat_id: i64, refusal: Refusal) {
        self.shared.lock().refusals.insert(chat_id, refusal);
    }

    /// Every answer waits `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }
}

impl Fake {
    fn push_update(&mut self, mut update: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        update["update_id"] = json!(id);
        self.updates.push(update);
        id
    }
}

fn user(id: i64, name: &str) -> Value {
    json!({ "id": id, "is_bot": false, "first_name": name })
}

fn chat(id: i64, kind: &str) -> Value {
    match kind {
        "private" => json!({ "id": id, "type": kind, "first_name": "Operator" }),
        _ => json!({ "id": id, "type": kind, "title": "Operators" }),
    }
}

type Answer = (StatusCode, Json<Value>);

async fn call(
    State(shared): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Answer {
    let delay = shared.lock().delay;
    tokio::time::sleep(delay).await;
    if bot.strip_prefix("bot") != Some(&*shared.token) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    // Telegram matches method names case-insensitively; teloxide sends `SendMessage`.
    let method = method.to_ascii_lowercase();
    if let Some(failure) = take_failure(&shared, &method) {
        return match failure {
            Failure::ServerError => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                None,
            ),
            Failure::TooManyRequests { retry_after } => error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too Many Requests: retry after {retry_after}"),
                Some(json!({ "retry_after": retry_after })),
            ),
        };
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or_else(|_| form_fields(&body));
    match method.as_str() {
        "getme" => ok(json!({
            "id": 123456, "is_bot": true, "first_name": "Bridge", "username": "bridge_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "sendmessage" => send_message(&shared, &params),
        "getupdates" => get_updates(&shared, &params).await,
        "answercallbackquery" => {
            shared.lock().callback_answers.push(CallbackAnswer {
                callback_query_id: params["callback_query_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                text: params["text"].as_str().map(str::to_owned),
            });
            ok(json!(true))
        }
        "editmessagetext" | "editmessagereplymarkup" => edit(&shared, &method, &params),
        "setmycommands" | "deletewebhook" | "setwebhook" => {
            shared.lock().setup.push((method, params));
            ok(json!(true))
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found: method not found", None),
    }
}

/// The failure this call takes: `getUpdates` its own, the sending calls the others; the
/// bot's setup calls (`getMe`, `setMyCommands`, webhooks) never fail, so that a test's
/// failure is not taken by a bot starting meanwhile.
fn take_failure(shared: &Shared, method: &str) -> Option<Failure> {
    let mut fake = shared.lock();
    let failures = match method {
        "getupdates" => &mut fake.poll_failures,
        "sendmessage" | "answercallbackquery" | "editmessagetext" | "editmessagereplymarkup" => {
            &mut fake.failures
        }
        _ => return None,
    };
    (!failures.is_empty()).then(|| failures.remove(0))
}

/// Confirms the updates before `offset`, then answers those after it, waiting up to `timeout`
/// seconds for one to arrive.
async fn get_updates(shared: &Shared, params: &Value) -> Answer {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let limit = params["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0));
    let allowed: Option<Vec<String>> = params["allowed_updates"].as_array().map(|kinds| {
        let names = kinds.iter().filter_map(Value::as_str);
        names.map(str::to_owned).collect()
    });
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Registered before looking, so an update arriving in between is not missed.
        let arrived = shared.arrived.notified();
        let found: Vec<Value> = {
            let mut fake = shared.lock();
            fake.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            let kind_allowed = |update: &Value| match &allowed {
                Some(kinds) if !kinds.is_empty() => kinds.iter().any(|k| update.get(k).is_some()),
                _ => true,
            };
            fake.updates
                .iter()
                .filter(|u| kind_allowed(u))
                .take(limit)
                .cloned()
                .collect()
        };
        if !found.is_empty() || tokio::time::Instant::now() >= deadline {
            shared.lock().polls += 1;
            return ok(Value::Array(found));
        }
        let _ = tokio::time::timeout_at(deadline, arrived).await;
    }
}

fn edit(shared: &Shared, method: &str, params: &Value) -> Answer {
    let (Some(chat_id), Some(message_id)) =
        (params["chat_id"].as_i64(), params["message_id"].as_i64())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found",
            None,
        );
    };
    let text = params["text"].as_str().map(str::to_owned);
    if method == "editmessagetext"
        && text.as_ref().is_none_or(|t| {
            t.is_empty() || t.encode_utf16().count() > crate::notify::html::MESSAGE_LIMIT
        })
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: text is empty or too long",
            None,
        );
    }
    let reply_markup = params.get("reply_markup").filter(|m| !m.is_null()).cloned();
    let mut fake = shared.lock();
    let Some(message) = fake
        .messages
        .iter_mut()
        .find(|m| m.chat_id == chat_id && m.message_id == message_id)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message to edit not found",
            None,
        );
    };
    if let Some(text) = &text {
        message.text = text.clone();
    }
    // Telegram drops the keyboard of a message edited without one.
    message.reply_markup = reply_markup.clone();
    let answer = json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": chat(chat_id, if chat_id < 0 { "group" } else { "private" }),
        "text": message.text,
    });
    fake.edits.push(Edit {
        chat_id,
        message_id,
        text,
        reply_markup,
    });
    ok(answer)
}

fn send_message(shared: &Shared, params: &Value) -> Answer {
    let Some(chat_id) = params["chat_id"].as_i64() else {
        return error(StatusCode::BAD_REQUEST, "Bad Request: chat not found", None);
    };
    let text = params["text"].as_str().unwrap_or_default().to_owned();
    if text.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
            None,
        );
    }
    if text.encode_utf16().count() > crate::notify::html::MESSAGE_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message is too long",
            None,
        );
    }
    let mut fake = shared.lock();
    match fake.refusals.get(&chat_id) {
        Some(Refusal::ChatNotFound) => {
            return error(StatusCode::BAD_REQUEST, "Bad Request: chat not found", None);
        }
        Some(Refusal::BotBlocked) => {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
                None,
            );
        }
        None => {}
    }
    let message_id = fake.next_message_id;
    fake.next_message_id += 1;
    fake.messages.push(SentMessage {
        chat_id,
        message_id,
        text: text.clone(),
        parse_mode: params["parse_mode"].as_str().map(str::to_owned),
        reply_markup: params.get("reply_markup").filter(|m| !m.is_null()).cloned(),
    });
    let chat_type = if chat_id < 0 { "group" } else { "private" };
    ok(json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": { "id": chat_id, "type": chat_type, "title": "Operators", "first_name": "Operator" },
        "text": text,
    }))
}

/// The fields of a `multipart/form-data` body (teloxide sends `setWebhook` so, for its optional
/// certificate), each a JSON value when it reads as one, else a string.
fn form_fields(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text
        .split("Content-Disposition: form-data; name=\"")
        .skip(1)
    {
        let Some((name, rest)) = part.split_once('"') else {
            continue;
        };
        let Some((_, value)) = rest.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.split("\r\n--").next().unwrap_or_default();
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        fields.insert(name.to_owned(), value);
    }
    Value::Object(fields)
}

fn ok(result: Value) -> Answer {
    (
        StatusCode::OK,
        Json(json!({ "ok": true, "result": result })),
    )
}

fn error(status: StatusCode, description: &str, parameters: Option<Value>) -> Answer {
    let mut body =
        json!({ "ok": false, "error_code": status.as_u16(), "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    (status, Json(body))
}
