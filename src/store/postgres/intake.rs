//! Accepting orders many at a time. Submissions that arrive while a batch is being written
//! wait for the next one, which stores them all in one transaction with a handful of
//! statements (the rows travel as arrays), whatever their number: the whole batch shares one
//! WAL flush. Several processes insert at once: (branch, site id) and the webhook id are unique
//! keys, and `ON CONFLICT DO NOTHING` turns another process's insert of the same order into
//! `Existing` instead of an error.
use std::collections::HashMap;

use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::batch::QUEUE;
use super::events::enqueue_event;
use super::notify_orders_due;
use super::orders::ORDER_COLUMNS;
use crate::store::intake::{self, Key, Plan};
use crate::store::{
    EventType, Group, Inserted, NewEvent, NewOrder, OrderState, StoreError, StoredOrder, WebhookId,
};

/// Submissions stored by one batch at most.
const MAX_BATCH: usize = 256;

/// A submission: the order and the webhook id it came with; answered once committed.
pub(super) type Intake = Group<(NewOrder, Option<WebhookId>), Result<Inserted, StoreError>>;

/// Starts the task that gathers submissions into batches, each one transaction; it ends with
/// the last sender.
pub(super) fn start(pool: PgPool) -> Intake {
    let (intake, _) = Group::start(MAX_BATCH, QUEUE, move |items| {
        let pool = pool.clone();
        async move {
            let submissions = items.len();
            match store_batch(&pool, items).await {
                Ok(answers) => answers.into_iter().map(Ok).collect(),
                Err(error) => {
                    let message = error.to_string();
                    (0..submissions)
                        .map(|_| Err(StoreError::CommitFailed(message.clone())))
                        .collect()
                }
            }
        }
    });
    intake
}

async fn store_batch(
    pool: &PgPool,
    items: Vec<(NewOrder, Option<WebhookId>)>,
) -> Result<Vec<Inserted>, StoreError> {
    let mut tx = pool.begin().await?;
    let answers = insert_orders(&mut tx, &items).await?;
    let due = answers
        .iter()
        .any(|answer| matches!(answer, Inserted::New(order) if order.state == OrderState::Queued));
    if due {
        notify_orders_due(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(answers)
}

/// Stores the new orders of a batch with their first history entry, fallback event and
/// webhook id, and answers each submission in order (see [`intake::plan`]).
async fn insert_orders(
    conn: &mut PgConnection,
    items: &[(NewOrder, Option<WebhookId>)],
) -> Result<Vec<Inserted>, StoreError> {
    let keys: Vec<Key> = items.iter().map(|(new, _)| intake::key(new)).collect();
    let mut stored = existing(conn, &keys).await?;
    let seen = seen_webhooks(conn, items).await?;
    let ids = stored.iter().map(|(key, order)| (key.clone(), order.id));
    let mut plans = intake::plan(items, &ids.collect(), &seen);

    let new_rows: Vec<&NewOrder> = items
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| **plan == Plan::Insert)
        .map(|((new, _), _)| new)
        .collect();
    if new_rows.is_empty() {
        return Ok(intake::answers(items, plans, &stored));
    }
    let inserted = insert_rows(conn, &new_rows).await?;
    let inserted_keys: Vec<Key> = inserted
        .iter()
        .map(|order| (order.branch.clone(), order.site_id.clone()))
        .collect();
    for order in inserted {
        stored.insert((order.branch.clone(), order.site_id.clone()), order);
    }
    // Another process stored some of them since `existing` read: they are its orders.
    let raced: Vec<Key> = new_rows
        .iter()
        .map(|new| intake::key(new))
        .filter(|key| !inserted_keys.contains(key))
        .collect();
    if !raced.is_empty() {
        stored.extend(existing(conn, &raced).await?);
        for ((new, _), plan) in items.iter().zip(plans.iter_mut()) {
            if *plan == Plan::Insert && raced.contains(&intake::key(new)) {
                *plan = Plan::Existing;
            }
        }
    }
    let new_rows: Vec<(&NewOrder, &Option<WebhookId>)> = items
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| **plan == Plan::Insert)
        .map(|((new, webhook), _)| (new, webhook))
        .collect();
    let id = |new: &NewOrder| stored[&intake::key(new)].id;

    let (mut order_ids, mut at, mut states, mut notes) = (vec![], vec![], vec![], vec![]);
    for (new, _) in &new_rows {
        order_ids.push(id(new));
        at.push(new.now_ms);
        states.push(new.state.as_str());
        notes.push(new.fallback_reason.as_deref().unwrap_or("accepted"));
    }
    sqlx::query(
        "INSERT INTO order_history (order_id, at, state, note)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[])",
    )
    .bind(&order_ids)
    .bind(&at)
    .bind(&states)
    .bind(&notes)
    .execute(&mut *conn)
    .await?;
    for (new, _) in &new_rows {
        if let Some(reason) = &new.fallback_reason {
            let event = NewEvent {
                kind: EventType::OrderFallback,
                branch: &new.branch,
                order_id: Some(&new.site_id),
                data: json!({ "reason": reason }),
                at_ms: new.now_ms,
            };
            enqueue_event(conn, &event).await?;
        }
    }
    let (mut webhook_ids, mut order_ids, mut expires) = (vec![], vec![], vec![]);
    for (new, webhook) in &new_rows {
        if let Some(webhook) = webhook {
            webhook_ids.push(webhook.id.as_str());
            order_ids.push(id(new));
            expires.push(webhook.expires_at_ms);
        }
    }
    if !webhook_ids.is_empty() {
        // A webhook id another process took meanwhile stays with its first order.
        sqlx::query(
            "INSERT INTO seen_webhook_ids (webhook_id, order_id, expires_at)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])
             ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(&webhook_ids)
        .bind(&order_ids)
        .bind(&expires)
        .execute(&mut *conn)
        .await?;
    }
    Ok(intake::answers(items, plans, &stored))
}

/// The orders stored under any of `keys`.
async fn existing(
    conn: &mut PgConnection,
    keys: &[Key],
) -> Result<HashMap<Key, StoredOrder>, StoreError> {
    let (branches, site_ids): (Vec<&str>, Vec<&str>) = keys
        .iter()
        .map(|(branch, site_id)| (branch.as_str(), site_id.as_str()))
        .unzip();
    let orders: Vec<StoredOrder> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE (branch, site_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))"
    ))
    .bind(&branches)
    .bind(&site_ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(orders
        .into_iter()
        .map(|order| ((order.branch.clone(), order.site_id.clone()), order))
        .collect())
}

/// Which of the batch's webhook ids were already used, and by which order; forgets the ones
/// past their window first.
async fn seen_webhooks(
    conn: &mut PgConnection,
    items: &[(NewOrder, Option<WebhookId>)],
) -> Result<HashMap<String, i64>, StoreError> {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|(_, webhook)| webhook.as_ref().map(|w| w.id.as_str()))
        .collect();
    let Some(now_ms) = items.iter().map(|(new, _)| new.now_ms).max() else {
        return Ok(HashMap::new());
    };
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    sqlx::query("DELETE FROM seen_webhook_ids WHERE expires_at <= $1")
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_as(
        "SELECT webhook_id, order_id FROM seen_webhook_ids WHERE webhook_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect())
}

/// One statement for every new order of the batch; returns the ones it inserted (not those
/// another process had stored).
async fn insert_rows(
    conn: &mut PgConnection,
    rows: &[&NewOrder],
) -> Result<Vec<StoredOrder>, StoreError> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|new| {
            json!({
                "branch": new.branch, "site_id": new.site_id, "raw_body": new.raw_body,
                "content_hash": new.content_hash, "answer": new.answer, "iiko_ids": new.iiko_ids,
                "iiko_order_id": new.iiko_order_id, "request": new.request,
                "problems": new.problems, "state": new.state.as_str(),
                "fallback_reason": new.fallback_reason, "now_ms": new.now_ms,
            })
        })
        .collect();
    Ok(sqlx::query_as(&format!(
        "INSERT INTO orders (branch, site_id, raw_body, content_hash, answer, iiko_ids,
             iiko_order_id, request, problems, state, fallback_reason, next_attempt_at,
             created_at, updated_at)
         SELECT branch, site_id, raw_body, content_hash, answer, iiko_ids, iiko_order_id,
             request, problems, state, fallback_reason, now_ms, now_ms, now_ms
         FROM jsonb_to_recordset($1::jsonb) AS r(branch text, site_id text, raw_body text,
             content_hash text, answer text, iiko_ids text, iiko_order_id text, request text,
             problems text, state text, fallback_reason text, now_ms bigint)
         ON CONFLICT (branch, site_id) DO NOTHING
         RETURNING {ORDER_COLUMNS}"
    ))
    .bind(serde_json::Value::Array(values).to_string())
    .fetch_all(&mut *conn)
    .await?)
}
