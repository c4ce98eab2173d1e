//! The bot's two workers: the long poll (the `telegram` duty: only one instance polls) and the
//! editor of fallback messages whose order left the fallback (the `telegram_edits` duty).
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use teloxide::{
    payloads::{EditMessageTextSetters, GetUpdatesSetters},
    requests::Requester,
    types::{ChatId, MessageId, ParseMode},
};
use tokio::sync::{Notify, watch};

use super::{OFFSET_KEY, OperatorBot, outcome_line};
use crate::{
    notify::{TelegramError, html},
    store::{BotMessage, StoreError},
    worker::{Step, Worker},
};

/// A long poll's HTTP call may take this much longer than the poll itself.
const POLL_MARGIN: Duration = Duration::from_secs(10);
/// Messages edited per step.
const EDIT_BATCH: i64 = 20;
/// How often the editor looks for messages to edit (an action in this process wakes it).
const EDIT_TICK: Duration = Duration::from_secs(1);

/// Why a step of the bot failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
}

/// Asks Telegram for updates (long polling), handles each and stores the offset after it.
pub struct BotPoller {
    bot: OperatorBot,
    timeout: Duration,
    started: AtomicBool,
    /// Turns true at shutdown: a poll waiting for updates ends at once (it changed nothing).
    stop: watch::Receiver<bool>,
}

impl BotPoller {
    pub fn new(bot: OperatorBot, stop: watch::Receiver<bool>) -> BotPoller {
        let timeout =
            Duration::from_secs(u64::from(bot.inner.config.telegram.poll_timeout_seconds));
        BotPoller {
            bot,
            timeout,
            started: AtomicBool::new(false),
            stop,
        }
    }

    /// Registers the commands and drops any webhook first (once); then one `getUpdates` from
    /// the stored offset, waiting up to `telegram.poll_timeout_seconds`; each update is
    /// handled and the offset stored after it, so a restart resumes after the last one
    /// handled. Answers how many were handled.
    pub async fn try_step(&self) -> Result<usize, BotError> {
        if !self.started.load(Ordering::Acquire) {
            self.bot.start().await?;
            self.started.store(true, Ordering::Release);
        }
        let store = &self.bot.inner.store;
        let offset = store.bot_offset(OFFSET_KEY).await?;
        let telegram = self.bot.telegram();
        let request = telegram
            .bot()
            .get_updates()
            .offset(i32::try_from(offset).unwrap_or(i32::MAX))
            .timeout(self.timeout.as_secs() as u32)
            .allowed_updates(self.bot.allowed_updates());
        let mut stop = self.stop.clone();
        let updates = tokio::select! {
            updates = telegram.call_within(request, self.timeout + POLL_MARGIN) => updates?,
            _ = stop.wait_for(|stopped| *stopped) => return Ok(0),
        };
        let count = updates.len();
        for update in updates {
            let next = i64::from(update.id.0) + 1;
            self.bot.handle(update).await?;
            store.set_bot_offset(OFFSET_KEY, next).await?;
        }
        Ok(count)
    }
}

/// Polls again at once; a failure (Telegram down, flood control, the store) pauses it as any
/// worker's, at least as long as Telegram asked.
impl Worker for BotPoller {
    const NAME: &'static str = "telegram";
    type Error = BotError;

    async fn step(self: Arc<Self>) -> Result<Step, BotError> {
        match self.try_step().await {
            Ok(_) => Ok(Step::Again),
            Err(BotError::Telegram(error)) if error.retry_after().is_some() => {
                let wait = error.retry_after().unwrap_or_default();
                tracing::warn!(%error, ?wait, "Telegram asked the bot to wait");
                Ok(Step::Wait(wait))
            }
            Err(error) => Err(error),
        }
    }
}

/// What one step of the editor did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditsReport {
    pub edited: usize,
    /// Telegram refused for now: tried again at a later step.
    pub waiting: usize,
    /// Gone or not editable any more: left as they are.
    pub dropped: usize,
}

/// Edits the fallback messages of orders that left the fallback: their text says who did what
/// and when, and the buttons go.
pub struct BotEditor {
    bot: OperatorBot,
    wake: Arc<Notify>,
}

impl BotEditor {
    pub fn new(bot: OperatorBot) -> BotEditor {
        BotEditor {
            wake: bot.edits_waker(),
            bot,
        }
    }

    pub async fn try_step(&self) -> Result<EditsReport, StoreError> {
        let store = &self.bot.inner.store;
        let mut report = EditsReport::default();
        for message in store.bot_messages_to_edit(EDIT_BATCH).await? {
            let text = self.edited_text(&message).await?;
            match self.edit(&message, text).await {
                Ok(()) => {
                    report.edited += 1;
                    store.bot_message_edited(message.id).await?;
                }
                Err(error) if error.is_retryable() => {
                    tracing::warn!(order = message.order_id, chat = message.chat_id, %error,
                        "fallback message not edited yet; trying again");
                    report.waiting += 1;
                    // Flood control applies to the whole bot: the rest waits too.
                    break;
                }
                Err(error) => {
                    tracing::warn!(order = message.order_id, chat = message.chat_id, %error,
                        "fallback message cannot be edited (deleted, too old); left as it is");
                    report.dropped += 1;
                    store.bot_message_edited(message.id).await?;
                }
            }
        }
        Ok(report)
    }

    async fn edited_text(&self, message: &BotMessage) -> Result<String, StoreError> {
        let inner = &self.bot.inner;
        let timezone = match inner.store.order(message.order_id).await? {
            Some(order) => inner.config.branch(&order.branch).map(|b| b.timezone),
            None => None,
        };
        let at = message
            .outcome_at_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        let line = outcome_line(
            message.outcome.as_deref().unwrap_or_default(),
            message.outcome_by.as_deref().unwrap_or_default(),
            at,
            timezone.unwrap_or(chrono_tz::UTC),
        );
        let text = format!("{}\n\n{line}", message.text);
        // The part was sent with room for this line; an old, longer one keeps its text.
        Ok(match text.encode_utf16().count() <= html::MESSAGE_LIMIT {
            true => text,
            false => line,
        })
    }

    /// The text edited without a keyboard: Telegram drops the buttons.
    async fn edit(&self, message: &BotMessage, text: String) -> Result<(), TelegramError> {
        let telegram = self.bot.telegram();
        let message_id = MessageId(i32::try_from(message.message_id).unwrap_or(i32::MAX));
        let request = telegram
            .bot()
            .edit_message_text(ChatId(message.chat_id), message_id, text)
            .parse_mode(ParseMode::Html);
        match telegram.call(request).await {
            Ok(_) => Ok(()),
            // Edited already (by another instance, before a restart): done.
            Err(TelegramError::Permanent(reason)) if reason.contains("message is not modified") => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// Steps every second, and at once after an action of this process.
impl Worker for BotEditor {
    const NAME: &'static str = "telegram_edits";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let report = self.try_step().await?;
        Ok(match report.edited + report.dropped {
            n if n as i64 == EDIT_BATCH => Step::Again,
            _ => Step::Wait(EDIT_TICK),
        })
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }
}
