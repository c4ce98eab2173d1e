//! The site events outbox (`store::events`) on SQLite. A claim reads the candidates and lets
//! `claims::claimable_events` choose, inside one `BEGIN IMMEDIATE` transaction, so two
//! processes never take one event; several rows travel as one JSON parameter (`json_each`).
use serde_json::Value;

use super::SqliteStore;
use crate::store::claims::{PendingEvent, claimable_events, new_lease_id};
use crate::store::events::EventOrder;
use crate::store::{
    DueEvent, EventAttempt, EventAttemptEnd, NewEvent, OrderEvent, RecordedAttempt, Redelivered,
    StoppedUrl, StoreError, StoredEvent,
};

/// Writes `event` to the outbox within the caller's transaction; returns its webhook id.
pub(crate) async fn enqueue_event(
    tx: &mut sqlx::SqliteConnection,
    event: &NewEvent<'_>,
) -> Result<String, StoreError> {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO site_events (event_id, type, branch, order_id, body, created_at,
             next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&event_id)
    .bind(event.kind.as_str())
    .bind(event.branch)
    .bind(event.order_id)
    .bind(event.body().to_string())
    .bind(event.at_ms)
    .bind(event.at_ms)
    .execute(tx)
    .await?;
    Ok(event_id)
}

/// Writes an order's event to the outbox within the caller's transaction.
pub(super) async fn enqueue_order_event(
    tx: &mut sqlx::SqliteConnection,
    order: EventOrder<'_>,
    event: &OrderEvent,
    at_ms: i64,
) -> Result<String, StoreError> {
    enqueue_event(tx, &event.about(order, at_ms)).await
}

impl SqliteStore {
    pub async fn claim_site_events(
        &self,
        claimer: &str,
        now_ms: i64,
        expires_at_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueEvent>, StoreError> {
        // Read first, so an idle step does not take the store's write lock every second.
        let pending = claim_candidates(&mut *self.pool.acquire().await?, now_ms).await?;
        if claimable_events(&pending, now_ms, limit).is_empty() {
            return Ok(Vec::new());
        }
        // Decided again under the write lock: what is read and claimed here, nobody else
        // claims in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let pending = claim_candidates(&mut tx, now_ms).await?;
        let leases: Vec<(i64, String)> = claimable_events(&pending, now_ms, limit)
            .into_iter()
            .map(|id| (id, new_lease_id(claimer)))
            .collect();
        let leases = serde_json::to_string(&leases).expect("leases serialize");
        sqlx::query(
            "UPDATE site_events SET claimed_by = ?, lease_id = l.value->>1,
                 lease_expires_at_ms = ?
             FROM json_each(?) AS l
             WHERE site_events.id = l.value->>0 AND state = 'pending'
               AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?)",
        )
        .bind(claimer)
        .bind(expires_at_ms)
        .bind(&leases)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let claimed = sqlx::query_as(
            "SELECT e.id, e.event_id, e.type, e.branch, e.order_id, e.body, e.attempts,
                 COALESCE(e.queued_at, e.created_at) AS queued_at, e.lease_id
             FROM site_events e JOIN json_each(?) AS l
                 ON e.id = l.value->>0 AND e.lease_id = l.value->>1
             ORDER BY e.next_attempt_at, e.id",
        )
        .bind(&leases)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    pub async fn finish_site_event_attempt(
        &self,
        id: i64,
        lease_id: &str,
        attempt: &EventAttempt<'_>,
        end: &EventAttemptEnd,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let held: bool =
            sqlx::query_scalar("SELECT COUNT(*) FROM site_events WHERE id = ? AND lease_id = ?")
                .bind(id)
                .bind(lease_id)
                .fetch_one(&mut *tx)
                .await?;
        if !held {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO site_event_attempts (event, at, url, http_status, error, latency_ms)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(attempt.at_ms)
        .bind(attempt.url)
        .bind(attempt.http_status)
        .bind(attempt.error)
        .bind(attempt.latency_ms)
        .execute(&mut *tx)
        .await?;
        let (state, next, delivered_at) = match end {
            EventAttemptEnd::Delivered => ("delivered", None, Some(attempt.at_ms)),
            EventAttemptEnd::Retry { next_attempt_at_ms } => {
                ("pending", Some(*next_attempt_at_ms), None)
            }
            EventAttemptEnd::Gone => ("stopped", None, None),
            EventAttemptEnd::Dead => ("dead", None, None),
        };
        // Only a pending event changes: a concurrent 410 may have stopped it meanwhile.
        let changed = sqlx::query(
            "UPDATE site_events SET state = ?, attempts = attempts + 1,
                 next_attempt_at = COALESCE(?, next_attempt_at), last_error = ?,
                 delivered_at = ?, claimed_by = NULL, lease_id = NULL, lease_expires_at_ms = NULL
             WHERE id = ? AND state = 'pending'",
        )
        .bind(state)
        .bind(next)
        .bind(attempt.error)
        .bind(delivered_at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut stopped = 0;
        if *end == EventAttemptEnd::Gone {
            stopped += changed;
            sqlx::query(
                "INSERT INTO site_event_stops (url, stopped_at) VALUES (?, ?)
                 ON CONFLICT (url) DO NOTHING",
            )
            .bind(attempt.url)
            .bind(attempt.at_ms)
            .execute(&mut *tx)
            .await?;
            stopped += stop_pending(&mut tx, "the site answered 410 Gone").await?;
        }
        tx.commit().await?;
        Ok(Some(stopped))
    }

    pub async fn stopped_event_url(&self, url: &str) -> Result<Option<StoppedUrl>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT stopped_at, alerted_at IS NOT NULL AS alerted FROM site_event_stops
             WHERE url = ?",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn stop_pending_site_events(&self, reason: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let stopped = stop_pending(&mut tx, reason).await?;
        tx.commit().await?;
        Ok(stopped)
    }

    pub async fn mark_event_url_alerted(&self, url: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE site_event_stops SET alerted_at = ? WHERE url = ?")
            .bind(at_ms)
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn prune_site_events(
        &self,
        before_ms: i64,
        undeliverable: bool,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let pruned = sqlx::query(
            "DELETE FROM site_events WHERE created_at < ?
                 AND (state IN ('delivered', 'stopped') OR ?)",
        )
        .bind(before_ms)
        .bind(undeliverable)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(pruned)
    }

    pub async fn pending_site_events(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM site_events WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn dead_site_events_to_alert(&self) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM site_events
             WHERE state = 'dead' AND dead_alerted_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn mark_dead_site_events_alerted(
        &self,
        ids: &[i64],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for id in ids {
            sqlx::query("UPDATE site_events SET dead_alerted_at = ? WHERE id = ?")
                .bind(at_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn redeliver_site_event(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Redelivered, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM site_events WHERE event_id = ? OR id = ?")
                .bind(id)
                .bind(id.parse::<i64>().ok())
                .fetch_optional(&mut *tx)
                .await?;
        let answer = match state.as_deref() {
            None => Redelivered::NotFound,
            Some("dead" | "stopped") => {
                requeue(&mut tx, "event_id = ? OR id = ?", Some(id), now_ms).await?;
                Redelivered::Queued
            }
            Some(other) => Redelivered::Refused(other.to_owned()),
        };
        tx.commit().await?;
        Ok(answer)
    }

    pub async fn redeliver_dead_site_events(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let queued = requeue(&mut tx, "state = 'dead'", None, now_ms).await?;
        tx.commit().await?;
        Ok(queued)
    }

    pub async fn prune_dead_site_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM site_events WHERE state = 'dead' AND created_at < ?")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn list_site_events(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS}
             FROM site_events WHERE ? IS NULL OR state = ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(state)
        .bind(state)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn site_events_of(
        &self,
        branch: &str,
        order_id: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM site_events WHERE branch = ? AND order_id = ? ORDER BY id",
        )
        .bind(branch)
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        bodies
            .iter()
            .map(|body| {
                serde_json::from_str(body)
                    .map_err(|e| StoreError::Corrupt(format!("site event body: {e}")))
            })
            .collect()
    }

    pub async fn site_event_attempts(&self, id: i64) -> Result<Vec<RecordedAttempt>, StoreError> {
        Ok(sqlx::query_as(
            // A status outside u16 (never written) reads as none.
            "SELECT at, url,
                 CASE WHEN http_status BETWEEN 0 AND 65535 THEN http_status END AS http_status,
                 error, latency_ms
             FROM site_event_attempts
             WHERE event = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

const EVENT_COLUMNS: &str = "id, event_id, type, branch, order_id, state, attempts, created_at,
     next_attempt_at, last_error, delivered_at";

/// Makes the events matching `filter` (bound to `id` twice when given) pending again.
async fn requeue(
    tx: &mut sqlx::SqliteConnection,
    filter: &str,
    id: Option<&str>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    // `filter` is a fixed string of this module.
    let sql = format!(
        "UPDATE site_events SET state = 'pending', next_attempt_at = ?, queued_at = ?,
             dead_alerted_at = NULL, claimed_by = NULL, lease_id = NULL,
             lease_expires_at_ms = NULL
         WHERE {filter}"
    );
    let mut query = sqlx::query(&sql).bind(now_ms).bind(now_ms);
    if let Some(id) = id {
        query = query.bind(id).bind(id.parse::<i64>().ok());
    }
    Ok(query.execute(tx).await?.rows_affected())
}

/// The pending events the claim decision needs: each queue's earliest, when due, and every
/// held one (which keeps its queue waiting).
async fn claim_candidates(
    conn: &mut sqlx::SqliteConnection,
    now_ms: i64,
) -> Result<Vec<PendingEvent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.branch, e.order_id, e.next_attempt_at, e.lease_expires_at_ms
         FROM site_events e
         WHERE e.state = 'pending'
           AND (e.lease_expires_at_ms > ? OR (e.next_attempt_at <= ?
               AND NOT EXISTS (SELECT 1 FROM site_events p
                   WHERE p.branch = e.branch AND p.order_id IS e.order_id
                     AND p.state = 'pending' AND p.id < e.id)))",
    )
    .bind(now_ms)
    .bind(now_ms)
    .fetch_all(conn)
    .await?)
}

async fn stop_pending(tx: &mut sqlx::SqliteConnection, reason: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE site_events SET state = 'stopped', last_error = COALESCE(last_error, ?)
         WHERE state = 'pending'",
    )
    .bind(reason)
    .execute(tx)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventType, Store};
    use serde_json::json;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        (Store::open(&url).await.unwrap(), dir)
    }

    async fn enqueue(store: &Store, order_id: Option<&str>, at_ms: i64) -> String {
        let mut tx = store.sqlite().pool.begin().await.unwrap();
        let event = NewEvent {
            kind: EventType::OrderFallback,
            branch: "lenina",
            order_id,
            data: json!({"reason": "test"}),
            at_ms,
        };
        let id = enqueue_event(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    fn attempt(at_ms: i64) -> EventAttempt<'static> {
        EventAttempt {
            at_ms,
            url: "http://site/events",
            http_status: Some(503),
            error: Some("the site answered 503"),
            latency_ms: 3,
        }
    }

    #[tokio::test]
    async fn an_event_a_dead_serve_had_claimed_goes_again_at_once_under_its_own_id() {
        let (store, _dir) = store().await;
        let event_id = enqueue(&store, Some("O1"), 0).await;
        let claimed = store.claim_site_events("dead", 10, 100_000, 10).await;
        assert_eq!(claimed.unwrap().len(), 1);
        assert!(
            store
                .claim_site_events("serving", 20, 200, 10)
                .await
                .unwrap()
                .is_empty()
        );

        assert_eq!(store.release_dead_claims().await.unwrap(), 1);
        let again = store
            .claim_site_events("serving", 20, 200, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].event_id, event_id);
    }

    #[tokio::test]
    async fn the_rebuild_for_dead_events_keeps_every_event_and_attempt_and_their_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let options = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("./migrations");
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version <= 6)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO site_events (event_id, type, branch, order_id, body, created_at,
                 next_attempt_at) VALUES ('evt_1', 'order.created', 'lenina', 'A', '{}', 1, 1),
                 ('evt_2', 'order.status', 'lenina', 'A', '{}', 2, 2),
                 ('evt_3', 'order.status', 'lenina', 'A', '{}', 3, 3)",
            "INSERT INTO site_event_attempts (event, at, url, http_status, latency_ms)
                 VALUES (1, 5, 'http://site/events', 503, 3)",
            "DELETE FROM site_events WHERE id = 3",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = Store::open(&url).await.unwrap();

        assert_eq!(store.list_site_events(None, 10).await.unwrap().len(), 2);
        assert_eq!(store.site_event_attempts(1).await.unwrap().len(), 1);
        let next = enqueue(&store, Some("B"), 4).await;
        let ids: Vec<(i64, String)> = store
            .list_site_events(None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.event_id))
            .collect();
        assert_eq!(ids[0], (4, next), "an id is never used twice");
        // Deleting an event still takes its attempts along.
        store.prune_site_events(10, true).await.unwrap();
        assert!(store.site_event_attempts(1).await.unwrap().is_empty());
    }

    fn ids(due: &[DueEvent]) -> Vec<String> {
        due.iter().map(|e| e.event_id.clone()).collect()
    }

    #[tokio::test]
    async fn an_orders_later_event_waits_for_the_earlier_one_and_other_orders_do_not() {
        let (store, _dir) = store().await;
        let a1 = enqueue(&store, Some("A"), 1).await;
        let a2 = enqueue(&store, Some("A"), 2).await;
        let b1 = enqueue(&store, Some("B"), 3).await;
        let c1 = enqueue(&store, None, 4).await;
        let c2 = enqueue(&store, None, 5).await;
        let due = store.claim_site_events("w1", 10, 15, 10).await.unwrap();
        let (a1_row, b1_row, c1_row) = (due[0].id, due[1].id, due[2].id);
        assert_eq!(ids(&due), [a1.clone(), b1.clone(), c1.clone()]);

        // A1 fails and waits until 100: A2 still waits behind it; B1's delivery lets nobody
        // on; C1's claimer never answers, and C2 waits behind it.
        let retry = EventAttemptEnd::Retry {
            next_attempt_at_ms: 100,
        };
        let finish = |row, lease: &str, at, end| {
            let (store, lease) = (store.clone(), lease.to_owned());
            async move {
                store
                    .finish_site_event_attempt(row, &lease, &attempt(at), &end)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(finish(a1_row, &due[0].lease_id, 10, retry).await, Some(0));
        finish(b1_row, &due[1].lease_id, 10, EventAttemptEnd::Delivered).await;
        assert!(
            store
                .claim_site_events("w2", 14, 200, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // C1's claim ran out: claimed again under a new lease; the old one records nothing.
        let again = store.claim_site_events("w2", 20, 200, 10).await.unwrap();
        assert_eq!(ids(&again), [c1]);
        assert_eq!(
            finish(c1_row, &due[2].lease_id, 21, EventAttemptEnd::Delivered).await,
            None
        );
        assert!(store.site_event_attempts(c1_row).await.unwrap().is_empty());

        let due = store.claim_site_events("w1", 100, 200, 10).await.unwrap();
        assert_eq!(ids(&due), [a1]);
        finish(a1_row, &due[0].lease_id, 100, EventAttemptEnd::Delivered).await;
        let due = store.claim_site_events("w1", 100, 200, 10).await.unwrap();
        assert_eq!(ids(&due), [a2]);
        assert_eq!(store.site_event_attempts(a1_row).await.unwrap().len(), 2);

        // A 410 stops everything pending, claimed or not, and the URL is remembered.
        let gone = finish(due[0].id, &due[0].lease_id, 110, EventAttemptEnd::Gone).await;
        assert_eq!(gone, Some(3), "A2, C1 and C2");
        assert!(
            store
                .claim_site_events("w1", 1000, 2000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let stop = store.stopped_event_url("http://site/events").await.unwrap();
        assert_eq!(
            stop,
            Some(StoppedUrl {
                stopped_at_ms: 110,
                alerted: false
            })
        );
        assert_eq!(
            store.stopped_event_url("http://other/").await.unwrap(),
            None
        );
        let stopped = store.list_site_events(Some("stopped"), 10).await.unwrap();
        assert!(stopped.iter().any(|e| e.event_id == c2));
    }

    #[tokio::test]
    async fn two_instances_on_one_store_never_claim_one_event_nor_two_events_of_one_order() {
        let (one, dir) = store().await;
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let two = Store::open(&url).await.unwrap();
        for order in 0..20 {
            for at in 0..3 {
                enqueue(&one, Some(&format!("O{order}")), at).await;
            }
        }
        let (first, second) = tokio::join!(
            one.claim_site_events("one", 10, 100, 15),
            two.claim_site_events("two", 10, 100, 15)
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        let mut orders: Vec<_> = first
            .iter()
            .chain(&second)
            .map(|e| e.order_id.clone())
            .collect();
        assert_eq!(
            orders.len(),
            20,
            "each order's first event, each claimed once"
        );
        orders.sort();
        orders.dedup();
        assert_eq!(orders.len(), 20, "never two events of one order in flight");

        // While `one` holds O-something's event, `two` gets nothing of that order; once it is
        // recorded, the order's next event is free for either.
        let held = &first[0];
        assert!(
            two.claim_site_events("two", 50, 100, 100)
                .await
                .unwrap()
                .is_empty()
        );
        one.finish_site_event_attempt(
            held.id,
            &held.lease_id,
            &attempt(60),
            &EventAttemptEnd::Delivered,
        )
        .await
        .unwrap()
        .unwrap();
        let next = two.claim_site_events("two", 60, 100, 100).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].order_id, held.order_id);
        assert!(next[0].id > held.id);
    }

    #[tokio::test]
    async fn an_older_event_redelivered_waits_for_the_later_one_in_flight() {
        let (store, _dir) = store().await;
        enqueue(&store, Some("A"), 1).await;
        enqueue(&store, Some("A"), 2).await;
        let first = store.claim_site_events("w", 10, 100, 10).await.unwrap();
        store
            .finish_site_event_attempt(
                first[0].id,
                &first[0].lease_id,
                &attempt(10),
                &EventAttemptEnd::Dead,
            )
            .await
            .unwrap();
        let second = store.claim_site_events("w", 10, 100, 10).await.unwrap();
        assert_eq!(second[0].id, first[0].id + 1);

        store.redeliver_dead_site_events(20).await.unwrap();
        assert!(
            store
                .claim_site_events("w", 20, 100, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.claim_site_events("w", 100, 200, 10).await.unwrap()[0].id,
            first[0].id,
            "the later event's claimer died: the older one goes first"
        );
    }
}
