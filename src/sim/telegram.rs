//! A fake Telegram Bot API for tests and the demo: `sendMessage` and `getMe` over real HTTP,
//! answering in Telegram's shapes, recording every message and failing on request.
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

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
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
    failures: Vec<Failure>,
    refusals: HashMap<i64, Refusal>,
    delay: Duration,
}

#[derive(Clone)]
struct Shared {
    token: Arc<str>,
    fake: Arc<Mutex<Fake>>,
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
            fake: Arc::default(),
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

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.lock().messages.clone()
    }

    /// The next `count` calls fail with `failure`.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        self.shared
            .lock()
            .failures
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
    if let Some(failure) = take_failure(&shared) {
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
    let params: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    // Telegram matches method names case-insensitively; teloxide sends `SendMessage`.
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({
            "id": 123456, "is_bot": true, "first_name": "Bridge", "username": "bridge_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "sendmessage" => send_message(&shared, &params),
        _ => error(StatusCode::NOT_FOUND, "Not Found: method not found", None),
    }
}

fn take_failure(shared: &Shared) -> Option<Failure> {
    let mut fake = shared.lock();
    (!fake.failures.is_empty()).then(|| fake.failures.remove(0))
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
    fake.messages.push(SentMessage {
        chat_id,
        text: text.clone(),
        parse_mode: params["parse_mode"].as_str().map(str::to_owned),
    });
    let chat_type = if chat_id < 0 { "group" } else { "private" };
    ok(json!({
        "message_id": fake.messages.len(),
        "date": chrono::Utc::now().timestamp(),
        "chat": { "id": chat_id, "type": chat_type, "title": "Operators", "first_name": "Operator" },
        "text": text,
    }))
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
