//! The operator bot's rows (`store::bot`) on PostgreSQL.
use super::PgStore;
use crate::store::{BotMessage, StoreError};

impl PgStore {
    pub async fn bot_offset(&self, bot: &str) -> Result<i64, StoreError> {
        let offset: Option<i64> =
            sqlx::query_scalar("SELECT next_update FROM bot_offsets WHERE bot = $1")
                .bind(bot)
                .fetch_optional(&self.pool)
                .await?;
        Ok(offset.unwrap_or(0))
    }

    pub async fn set_bot_offset(&self, bot: &str, next_update: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bot_offsets (bot, next_update) VALUES ($1, $2)
             ON CONFLICT (bot) DO UPDATE SET next_update = excluded.next_update
             WHERE excluded.next_update > bot_offsets.next_update",
        )
        .bind(bot)
        .bind(next_update)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn reserve_bot_message(
        &self,
        order_id: i64,
        chat_id: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO bot_messages (order_id, chat_id, text, sent_at_ms, edit_pending)
             VALUES ($1, $2, '', $3, 0) RETURNING id",
        )
        .bind(order_id)
        .bind(chat_id)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn bot_message_sent(
        &self,
        id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE bot_messages SET message_id = $1, text = $2 WHERE id = $3")
            .bind(message_id)
            .bind(text)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn forget_bot_message(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM bot_messages WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn bot_messages_to_edit(&self, limit: i64) -> Result<Vec<BotMessage>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, order_id, chat_id, message_id, text, outcome, outcome_by, outcome_at_ms
             FROM bot_messages WHERE edit_pending = 1 AND message_id IS NOT NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn bot_message_edited(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE bot_messages SET edit_pending = 0 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mute_alert(
        &self,
        key: &str,
        watch: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_mutes (key, watch, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (key, watch) DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(key)
        .bind(watch)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn alert_muted(
        &self,
        key: &str,
        watch: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM alert_mutes WHERE key = $1 AND watch = $2 AND until_ms > $3",
        )
        .bind(key)
        .bind(watch)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?
            > 0)
    }
}

/// In an operator's change: the order's fallback messages still open get its outcome and wait
/// for their edit.
pub(super) async fn close_bot_messages(
    tx: &mut sqlx::PgConnection,
    order_id: i64,
    outcome: &str,
    by: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE bot_messages SET outcome = $1, outcome_by = $2, outcome_at_ms = $3, edit_pending = 1
         WHERE order_id = $4 AND outcome IS NULL",
    )
    .bind(outcome)
    .bind(by)
    .bind(at_ms)
    .bind(order_id)
    .execute(tx)
    .await?;
    Ok(())
}
