//! The operator bot's rows: its place in Telegram's update stream, the fallback messages that
//! carry buttons (and the edits they wait for), and the alerts muted from a button.
use super::{Store, StoreError};

/// Who made an operator's change: named in the order's history and on the edited messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// `iiko-bridge orders resolve|retry`.
    Cli,
    /// A press or a command of an operator in `telegram.operator_users`.
    Telegram { user_id: i64, name: String },
    /// `reconcile --resolve-matched`: staff typed the order in at the POS.
    Reconciliation,
}

impl Actor {
    /// The history note of a change `note` made by this actor (the command line's stays as it
    /// always was).
    pub fn note(&self, note: &str) -> String {
        match self {
            Actor::Cli | Actor::Reconciliation => note.to_owned(),
            Actor::Telegram { user_id, name } => {
                format!("{note}: Telegram user {user_id} ({name})")
            }
        }
    }

    /// Who, as staff read it on an edited message.
    pub fn label(&self) -> String {
        match self {
            Actor::Cli => "оператор (командная строка)".to_owned(),
            Actor::Reconciliation => "сверка с iiko (заказ найден на кассе)".to_owned(),
            Actor::Telegram { user_id, name } => format!("{name} (id {user_id})"),
        }
    }
}

/// A fallback message whose order has left the fallback, waiting for its edit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BotMessage {
    pub id: i64,
    pub order_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    /// The state the order went to (`resolved`, `queued`), who did it and when.
    pub outcome: Option<String>,
    pub outcome_by: Option<String>,
    pub outcome_at_ms: Option<i64>,
}

impl Store {
    /// The next update to ask Telegram for (0: none handled yet).
    pub async fn bot_offset(&self, bot: &str) -> Result<i64, StoreError> {
        on_backend!(self, b => b.bot_offset(bot).await)
    }

    /// Stores the next update to ask for; never moves it back (two pollers after a lease
    /// change).
    pub async fn set_bot_offset(&self, bot: &str, next_update: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.set_bot_offset(bot, next_update).await)
    }

    /// Reserves the row of a fallback message with buttons about to be sent to `chat_id`, so
    /// that the order leaving the fallback while it is on its way marks it too.
    pub async fn reserve_bot_message(
        &self,
        order_id: i64,
        chat_id: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        on_backend!(self, b => b.reserve_bot_message(order_id, chat_id, now_ms).await)
    }

    /// The reserved message was sent as `message_id` with `text` (its HTML, which an edit keeps
    /// and adds the outcome to).
    pub async fn bot_message_sent(
        &self,
        id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.bot_message_sent(id, message_id, text).await)
    }

    /// The reserved message was not sent.
    pub async fn forget_bot_message(&self, id: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.forget_bot_message(id).await)
    }

    /// Sent messages whose order left the fallback and which are not edited yet, oldest first.
    pub async fn bot_messages_to_edit(&self, limit: i64) -> Result<Vec<BotMessage>, StoreError> {
        on_backend!(self, b => b.bot_messages_to_edit(limit).await)
    }

    /// The message is edited (or cannot be: it is gone). An outcome is written once (only
    /// over none), so this never clears a newer edit.
    pub async fn bot_message_edited(&self, id: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.bot_message_edited(id).await)
    }

    /// Mutes `watch` alerts of branch `key` until `until_ms` (shared by every instance).
    pub async fn mute_alert(
        &self,
        key: &str,
        watch: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.mute_alert(key, watch, until_ms).await)
    }

    /// Whether `watch` alerts of branch `key` are muted at `now_ms`.
    pub async fn alert_muted(
        &self,
        key: &str,
        watch: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.alert_muted(key, watch, now_ms).await)
    }
}
