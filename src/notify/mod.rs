//! Channels to humans: Telegram and e-mail, used for fallback orders and operator alerts; and
//! the signed events to the site.
//!
//! Each channel sends one thing and says honestly how it went: errors are typed and tell
//! whether trying again can help, so the caller can retry each channel on its own with backoff.
//! Secrets (the bot token, SMTP credentials) never reach `Display` or `Debug` output.
pub mod alerts;
pub mod buttons;
pub mod email;
pub mod html;
pub mod site_events;
pub mod store_watch;
pub mod telegram;

pub use alerts::{OperatorAlerter, OperatorChats};
pub use email::{Email, EmailError, Mailer};
pub use site_events::{EventsStep, EventsWorker};
pub use store_watch::StoreWatch;
pub use telegram::{Button, SentPart, Telegram, TelegramError};

/// `text` with every occurrence of each non-empty `secret` replaced by a marker.
fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret, "[redacted]")
        })
}

/// An error and its causes on one line, skipping causes its message already ends with.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
