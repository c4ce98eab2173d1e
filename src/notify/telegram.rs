//! Telegram messages to operators through the Bot API (teloxide-core).
use std::{fmt, time::Duration};

use secrecy::ExposeSecret;
use teloxide_core::{
    ApiError, Bot, RequestError,
    payloads::SendMessageSetters,
    requests::{Output, Request, Requester},
    types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode},
};

use super::{error_chain, html, redact};
use crate::config::TelegramConfig;

/// Long enough for teloxide's own 10-second pause after a Telegram 5xx, so a server error is
/// reported as one rather than as a timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Descriptions of Telegram answers that will not change on a retry (4xx-class answers).
const PERMANENT_PREFIXES: &[&str] = &[
    "Bad Request",
    "Forbidden",
    "Unauthorized",
    "Invalid bot token",
    "Not Found",
    "Conflict",
];

/// Room left in the last part of a message with buttons, for the line an edit adds when the
/// order is dealt with (who did what and when).
pub const EDIT_RESERVE: usize = 400;

/// An inline button: its text and callback data (at most 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub text: String,
    pub data: String,
}

/// The last part of a message sent with buttons: what an edit changes later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPart {
    pub message_id: i64,
    pub text: String,
}

/// A bot that sends HTML messages to chats.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    api_url: url::Url,
    timeout: Duration,
}

/// Why a message did not reach the chat.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TelegramError {
    /// Network trouble, a Telegram server error or flood control: worth another try.
    #[error("telegram: {reason} (worth retrying)")]
    Retryable {
        reason: String,
        /// Telegram's own wait before the next call (flood control).
        retry_after: Option<Duration>,
    },
    #[error("telegram: no answer within {0:?} (worth retrying)")]
    Timeout(Duration),
    /// The chat is unknown, the bot is blocked, the token is wrong: retrying will not help.
    #[error("telegram: {0}")]
    Permanent(String),
}

impl TelegramError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, TelegramError::Permanent(_))
    }

    /// The wait Telegram asked for, when it asked.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TelegramError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Telegram {
    /// The bot from the config, or `None` when no bot token is set.
    pub fn from_config(config: &TelegramConfig) -> Option<Telegram> {
        let token = config.bot_token.as_ref()?.expose_secret();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .expect("a reqwest client with static settings builds");
        Some(Telegram {
            bot: Bot::with_client(token, client).set_api_url(config.api_url.clone()),
            api_url: config.api_url.clone(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Limits each message's send to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Telegram {
        self.timeout = timeout;
        self
    }

    /// Sends HTML (see [`html`] for escaping) to a chat, split into parts under Telegram's
    /// limit and sent in order. A failure stops at the failed part; a retry resends from the
    /// first part, so a retried message may repeat but is never lost.
    pub async fn send_html(&self, chat_id: i64, text: &str) -> Result<(), TelegramError> {
        for part in html::split_html(text, html::MESSAGE_LIMIT) {
            self.send_part(chat_id, part).await?;
        }
        Ok(())
    }

    /// [`Telegram::send_html`] with a row of inline `buttons` on the last part, which keeps
    /// [`EDIT_RESERVE`] free; answers that part.
    pub async fn send_html_with_buttons(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Button],
    ) -> Result<SentPart, TelegramError> {
        let mut parts = html::split_html(text, html::MESSAGE_LIMIT - EDIT_RESERVE);
        let last = parts.pop().unwrap_or_default();
        for part in parts {
            self.send_part(chat_id, part).await?;
        }
        let request = self
            .bot
            .send_message(ChatId(chat_id), last.clone())
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard(buttons));
        let message = self.call(request).await?;
        Ok(SentPart {
            message_id: i64::from(message.id.0),
            text: last,
        })
    }

    /// The underlying client, for the operator bot's other calls (made through
    /// [`Telegram::call`]).
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// Sends `request` within the client's timeout, its failure classified (and redacted).
    pub async fn call<R>(&self, request: R) -> Result<Output<R>, TelegramError>
    where
        R: Request<Err = RequestError>,
    {
        self.call_within(request, self.timeout).await
    }

    /// [`Telegram::call`] within `timeout` (a long poll waits longer than a send).
    pub async fn call_within<R>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<Output<R>, TelegramError>
    where
        R: Request<Err = RequestError>,
    {
        match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(error)) => Err(self.classify(error)),
            Err(_elapsed) => Err(TelegramError::Timeout(timeout)),
        }
    }

    /// The bot's username, from `getMe`: proves the token and the API URL work.
    pub async fn username(&self) -> Result<String, TelegramError> {
        let me = self.call(self.bot.get_me()).await?;
        // Bots always have a username; teloxide's `Me::username` would panic without one.
        Ok(me.user.username.unwrap_or_default())
    }

    async fn send_part(&self, chat_id: i64, text: String) -> Result<(), TelegramError> {
        let request = self
            .bot
            .send_message(ChatId(chat_id), text)
            .parse_mode(ParseMode::Html);
        self.call(request).await.map(drop)
    }

    /// The SHA-256 of the bot token (and a fixed prefix), hex: the secret
    /// Telegram sends with each webhook call (`X-Telegram-Bot-Api-Secret-Token`), derived so
    /// there is nothing more to configure.
    pub fn webhook_secret(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("iiko-bridge webhook {}", self.bot.token()));
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn classify(&self, error: RequestError) -> TelegramError {
        // teloxide drops the URL (which holds the token) from network errors; this also
        // covers any other path by which the token could reach the text.
        let reason = redact(&error_chain(&error), &[self.bot.token()]);
        match error {
            RequestError::RetryAfter(wait) => TelegramError::Retryable {
                reason,
                retry_after: Some(wait.duration()),
            },
            RequestError::Api(api) if is_permanent(&api) => TelegramError::Permanent(reason),
            RequestError::MigrateToChatId(_) => TelegramError::Permanent(reason),
            RequestError::Api(_)
            | RequestError::Network(_)
            | RequestError::InvalidJson { .. }
            | RequestError::Io(_) => TelegramError::Retryable {
                reason,
                retry_after: None,
            },
        }
    }
}

/// One row of callback buttons.
pub fn keyboard(buttons: &[Button]) -> InlineKeyboardMarkup {
    let row = buttons
        .iter()
        .map(|b| InlineKeyboardButton::callback(b.text.clone(), b.data.clone()));
    InlineKeyboardMarkup::new([row.collect::<Vec<_>>()])
}

fn is_permanent(error: &ApiError) -> bool {
    let description = match error {
        ApiError::Unknown(description) => description.clone(),
        known => known.to_string(),
    };
    PERMANENT_PREFIXES
        .iter()
        .any(|prefix| description.starts_with(prefix))
}

impl fmt::Debug for Telegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telegram")
            .field("api_url", &self.api_url.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_permanent_and_server_errors_are_not() {
        assert!(is_permanent(&ApiError::ChatNotFound));
        assert!(is_permanent(&ApiError::BotBlocked));
        assert!(is_permanent(&ApiError::InvalidToken));
        assert!(is_permanent(&ApiError::Unknown(
            "Bad Request: some new complaint".into()
        )));
        assert!(!is_permanent(&ApiError::Unknown(
            "Internal Server Error".into()
        )));
        assert!(!is_permanent(&ApiError::Unknown("Bad Gateway".into())));
    }
}
