//! Accepting orders many at a time. Submissions that arrive while a batch is being written
//! wait for the next one, which stores them all with a handful of statements (the rows travel
//! as one JSON parameter), whatever their number: the writer's time per order stays small and
//! the whole batch shares one fsync.
use std::collections::HashMap;

use futures::FutureExt;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

use super::batch::{QUEUE, Writer};
use super::events::enqueue_event;
use super::orders::{ORDER_COLUMNS, stored_order};
use crate::store::intake::{self, Key, Plan};
use crate::store::{
    EventType, Group, Inserted, NewEvent, NewOrder, StoreError, StoredOrder, WebhookId,
};

/// Submissions stored by one batch at most.
const MAX_BATCH: usize = 256;

/// A submission: the order and the webhook id it came with; answered once committed.
pub(super) type Intake = Group<(NewOrder, Option<WebhookId>), Result<Inserted, StoreError>>;

/// Starts the task that gathers submissions into batches, each written as one job of the
/// store's writer; it ends with the last sender.
pub(super) fn start(writer: Writer) -> Intake {
    let (intake, _) = Group::start(MAX_BATCH, QUEUE, move |items| {
        let writer = writer.clone();
        async move {
            let submissions = items.len();
            match writer
                .run(move |conn| insert_orders(conn, items).boxed())
                .await
            {
                Ok(results) => results,
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

/// Stores the new orders of a batch with their first history entry, fallback event and
/// webhook id, and answers each submission in order (see [`intake::plan`]).
async fn insert_orders(
    conn: &mut SqliteConnection,
    items: Vec<(NewOrder, Option<WebhookId>)>,
) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
    let keys: Vec<Key> = items.iter().map(|(new, _)| intake::key(new)).collect();
    let mut stored = existing(conn, &keys).await?;
    let seen = seen_webhooks(conn, &items).await?;
    let ids = stored.iter().map(|(key, order)| (key.clone(), order.id));
    let plans = intake::plan(&items, &ids.collect(), &seen);

    let new_rows: Vec<&NewOrder> = items
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| **plan == Plan::Insert)
        .map(|((new, _), _)| new)
        .collect();
    if !new_rows.is_empty() {
        for row in insert_rows(conn, &new_rows).await? {
            let order = stored_order(&row)?;
            stored.insert((order.branch.clone(), order.site_id.clone()), order);
        }
        let ids = |new: &NewOrder| stored[&intake::key(new)].id;
        let history: Vec<Value> = new_rows
            .iter()
            .map(|new| {
                let note = new.fallback_reason.as_deref().unwrap_or("accepted");
                json!([ids(new), new.now_ms, new.state.as_str(), note])
            })
            .collect();
        sqlx::query(
            "INSERT INTO order_history (order_id, at, state, note)
             SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)",
        )
        .bind(Value::Array(history).to_string())
        .execute(&mut *conn)
        .await?;
        for new in &new_rows {
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
        let webhooks: Vec<Value> = items
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| **plan == Plan::Insert)
            .filter_map(|((new, webhook), _)| {
                let webhook = webhook.as_ref()?;
                Some(json!([webhook.id, ids(new), webhook.expires_at_ms]))
            })
            .collect();
        if !webhooks.is_empty() {
            sqlx::query(
                "INSERT INTO seen_webhook_ids (webhook_id, order_id, expires_at)
                 SELECT value->>0, value->>1, value->>2 FROM json_each(?)",
            )
            .bind(Value::Array(webhooks).to_string())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(intake::answers(&items, plans, &stored)
        .into_iter()
        .map(Ok)
        .collect())
}

/// The orders already stored under any of `keys`.
async fn existing(
    conn: &mut SqliteConnection,
    keys: &[Key],
) -> Result<HashMap<Key, StoredOrder>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE (branch, site_id) IN (SELECT value->>0, value->>1 FROM json_each(?))"
    ))
    .bind(json!(keys).to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let order = stored_order(row)?;
            Ok(((order.branch.clone(), order.site_id.clone()), order))
        })
        .collect()
}

/// Which of the batch's webhook ids were already used, and by which order; forgets the ones
/// past their window first.
async fn seen_webhooks(
    conn: &mut SqliteConnection,
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
    sqlx::query("DELETE FROM seen_webhook_ids WHERE expires_at <= ?")
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    let rows = sqlx::query(
        "SELECT webhook_id, order_id FROM seen_webhook_ids
         WHERE webhook_id IN (SELECT value FROM json_each(?))",
    )
    .bind(json!(ids).to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get("webhook_id"), row.get("order_id")))
        .collect())
}

/// One statement for every new order of the batch.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[&NewOrder],
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    let values: Vec<Value> = rows
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
    Ok(sqlx::query(&format!(
        "INSERT INTO orders (branch, site_id, raw_body, content_hash, answer, iiko_ids,
             iiko_order_id, request, problems, state, fallback_reason, next_attempt_at,
             created_at, updated_at)
         SELECT value->>'branch', value->>'site_id', value->>'raw_body', value->>'content_hash',
             value->>'answer', value->>'iiko_ids', value->>'iiko_order_id', value->>'request',
             value->>'problems', value->>'state', value->>'fallback_reason', value->>'now_ms',
             value->>'now_ms', value->>'now_ms'
         FROM json_each(?) ORDER BY key
         RETURNING {ORDER_COLUMNS}"
    ))
    .bind(Value::Array(values).to_string())
    .fetch_all(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OrderState, Store};

    fn new(site_id: &str, hash: &str) -> NewOrder {
        NewOrder {
            content_hash: hash.into(),
            ..NewOrder::sample(site_id, OrderState::Queued)
        }
    }

    fn webhook(id: &str) -> Option<WebhookId> {
        Some(WebhookId {
            id: id.into(),
            expires_at_ms: 10_000,
        })
    }

    #[tokio::test]
    async fn one_batch_tells_new_orders_repeats_within_it_stored_ones_and_replayed_webhook_ids_apart()
     {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/b.db", dir.path().display()))
            .await
            .unwrap();
        let first = store
            .insert_order(new("A", "h1"), webhook("wh-a"))
            .await
            .unwrap();
        let Inserted::New(a) = first else {
            panic!("{first:?}")
        };

        let mut conn = store.sqlite().pool.acquire().await.unwrap();
        let answers = insert_orders(
            &mut conn,
            vec![
                (new("B", "h2"), webhook("wh-b")),
                (new("B", "h3"), None),
                (new("A", "h9"), None),
                (new("C", "h4"), webhook("wh-a")),
                (new("A", "h1"), webhook("wh-a")),
                (new("D", "h5"), webhook("wh-b")),
            ],
        )
        .await
        .unwrap();
        let answers: Vec<Inserted> = answers.into_iter().map(Result::unwrap).collect();
        let Inserted::New(b) = &answers[0] else {
            panic!("{answers:?}")
        };
        assert_eq!((b.site_id.as_str(), b.content_hash.as_str()), ("B", "h2"));
        assert!(
            matches!(&answers[1], Inserted::Existing(o) if o.id == b.id && o.content_hash == "h2")
        );
        assert!(matches!(&answers[2], Inserted::Existing(o) if o.id == a.id));
        assert!(
            matches!(answers[3], Inserted::ReplayedWebhook),
            "wh-a belongs to A"
        );
        assert!(
            matches!(&answers[4], Inserted::Existing(o) if o.id == a.id),
            "the site's own retry of A"
        );
        assert!(
            matches!(answers[5], Inserted::ReplayedWebhook),
            "wh-b was taken by B earlier in the batch"
        );
        let history = store.order_history(b.id).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].note.as_deref(), Some("accepted"));
        let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(orders, 2, "C was refused, nothing else was stored twice");
    }
}
