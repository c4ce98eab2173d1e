//! Orders (`store::orders`) on PostgreSQL: reads, renewed iiko ids, the operators' changes (each
//! one transaction holding the order's row lock) and the history; intake is in `intake`.

use super::PgStore;
use crate::store::{
    Actor, HistoryEntry, Inserted, NewOrder, OperatorChange, OrderState, RenewedIds, StoreError,
    StoredOrder, WebhookId,
};

pub(super) const ORDER_COLUMNS: &str =
    "id, branch, site_id, raw_body, content_hash, answer, iiko_ids,
    iiko_order_id, request, problems, state, fallback_reason, attempts, next_attempt_at,
    lease_owner, lease_until, create_sent <> 0 AS create_sent, correlation_id, iiko_number, iiko_status,
    creation_status, error_code, error_message, created_at, updated_at, reported_iiko_status,
    site_status, iiko_timestamp, status_seen_at, tracked_iiko_id, tracked_organization_id,
    cancel_reason, status_final <> 0 AS status_final, unclear_until, late_created_at";

impl PgStore {
    pub async fn insert_order(
        &self,
        new: NewOrder,
        webhook: Option<WebhookId>,
    ) -> Result<Inserted, StoreError> {
        let stopped = || StoreError::CommitFailed("the store's intake has stopped".into());
        self.intake.call((new, webhook)).await.ok_or_else(stopped)?
    }

    pub async fn renew_iiko_ids(
        &self,
        id: i64,
        old_order_id: &str,
        renewed: &RenewedIds<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE orders SET iiko_order_id = $1, iiko_ids = $2, request = $3, create_sent = 1,
                 creation_status = NULL, updated_at = $4
             WHERE id = $5 AND iiko_order_id = $6",
        )
        .bind(renewed.order_id)
        .bind(renewed.ids_json)
        .bind(renewed.request)
        .bind(now_ms)
        .bind(id)
        .bind(old_order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            history(&mut tx, id, now_ms, None, None, renewed.note).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn order(&self, id: i64) -> Result<Option<StoredOrder>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn orders_by_site_id(
        &self,
        site_id: &str,
        branch: Option<&str>,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE site_id = $1 AND ($2 IS NULL OR branch = $3) ORDER BY id"
        ))
        .bind(site_id)
        .bind(branch)
        .bind(branch)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn order_by_site_key(
        &self,
        branch: &str,
        site_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE branch = $1 AND site_id = $2"
        ))
        .bind(branch)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_orders(
        &self,
        state: Option<OrderState>,
        branch: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let state = state.map(OrderState::as_str);
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE ($1 IS NULL OR state = $2) AND ($3 IS NULL OR branch = $4)
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(state)
        .bind(state)
        .bind(branch)
        .bind(branch)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn orders_in_state(&self, state: OrderState) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = $1 ORDER BY id"
        ))
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn orders_awaiting_fallback(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             WHERE state = 'fallback' AND id > $1 AND NOT EXISTS (
                 SELECT 1 FROM fallback_orders f WHERE f.branch = o.branch
                     AND f.order_id = o.site_id AND f.round = o.fallback_round)
             ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn order_history(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, state, status, note FROM order_history WHERE order_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn change_by_operator<E: From<StoreError>>(
        &self,
        id: i64,
        now_ms: i64,
        actor: &Actor,
        decide: impl FnOnce(Option<&StoredOrder>) -> Result<OperatorChange, E>,
        renewed: Option<&RenewedIds<'_>>,
    ) -> Result<StoredOrder, E> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        // Locked until the commit: a concurrent change (another operator, the dispatcher's
        // attempt end) waits and then sees this one's result.
        let order = match fetch_for_update(&mut tx, id).await {
            Ok(order) => Some(order),
            Err(StoreError::Unavailable(sqlx::Error::RowNotFound)) => None,
            Err(other) => return Err(other.into()),
        };
        let OperatorChange {
            state,
            requeue,
            note,
        } = decide(order.as_ref())?;
        sqlx::query(
            "UPDATE orders SET state = $1, updated_at = $2,
                 attempts = CASE WHEN $3 THEN 0 ELSE attempts END,
                 next_attempt_at = CASE WHEN $4 THEN $5 ELSE next_attempt_at END,
                 fallback_reason = CASE WHEN $6 THEN NULL ELSE fallback_reason END,
                 unclear_until = CASE WHEN $7 THEN NULL ELSE unclear_until END,
                 -- Once handed over, a retried order that fails again is handed over anew.
                 fallback_round = fallback_round + CASE WHEN $8 AND EXISTS (
                     SELECT 1 FROM fallback_orders f WHERE f.branch = orders.branch
                         AND f.order_id = orders.site_id AND f.round = orders.fallback_round)
                     THEN 1 ELSE 0 END
             WHERE id = $9",
        )
        .bind(state.as_str())
        .bind(now_ms)
        .bind(requeue)
        .bind(requeue)
        .bind(now_ms)
        .bind(requeue)
        .bind(requeue)
        .bind(requeue)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if let Some(renewed) = renewed {
            sqlx::query(
                "UPDATE orders SET iiko_order_id = $1, iiko_ids = $2, request = $3, problems = NULL,
                     create_sent = 0, creation_status = NULL, error_code = NULL,
                     error_message = NULL
                 WHERE id = $4",
            )
            .bind(renewed.order_id)
            .bind(renewed.ids_json)
            .bind(renewed.request)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            history(&mut tx, id, now_ms, None, None, renewed.note).await?;
        }
        history(&mut tx, id, now_ms, Some(state), None, &actor.note(&note)).await?;
        super::bot::close_bot_messages(&mut tx, id, state.as_str(), &actor.label(), now_ms).await?;
        if requeue {
            // The operator may act from another process (`orders retry`, the bot's instance).
            super::notify_orders_due(&mut tx).await?;
        }
        let order = fetch(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(order)
    }
}

pub(super) async fn history(
    tx: &mut sqlx::PgConnection,
    id: i64,
    at_ms: i64,
    state: Option<OrderState>,
    status: Option<&str>,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO order_history (order_id, at, state, status, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(at_ms)
    .bind(state.map(OrderState::as_str))
    .bind(status)
    .bind(note)
    .execute(tx)
    .await?;
    Ok(())
}

pub(super) async fn fetch(tx: &mut sqlx::PgConnection, id: i64) -> Result<StoredOrder, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_one(tx)
            .await?,
    )
}

async fn fetch_for_update(tx: &mut sqlx::PgConnection, id: i64) -> Result<StoredOrder, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_one(tx)
    .await?)
}
