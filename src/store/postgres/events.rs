//! The site events outbox (`store::events`) on PostgreSQL. A claim reads the candidates and lets
//! `claims::claimable_events` choose, one claim at a time across instances, so two
//! processes never take one event; several rows travel as arrays.
use serde_json::Value;

use super::PgStore;
use crate::store::claims::{PendingEvent, claimable_events, new_lease_id};
use crate::store::events::EventOrder;
use crate::store::{
    DueEvent, EventAttempt, EventAttemptEnd, NewEvent, OrderEvent, RecordedAttempt, Redelivered,
    StoppedUrl, StoreError, StoredEvent,
};

/// Writes `event` to the outbox within the caller's transaction; returns its webhook id.
pub(crate) async fn enqueue_event(
    tx: &mut sqlx::PgConnection,
    event: &NewEvent<'_>,
) -> Result<String, StoreError> {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO site_events (event_id, type, branch, order_id, body, created_at,
             next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
    tx: &mut sqlx::PgConnection,
    order: EventOrder<'_>,
    event: &OrderEvent,
    at_ms: i64,
) -> Result<String, StoreError> {
    enqueue_event(tx, &event.about(order, at_ms)).await
}

/// A `site_event_attempts` row (PostgreSQL has no unsigned integers).
#[derive(sqlx::FromRow)]
struct AttemptRow {
    at: i64,
    url: String,
    http_status: Option<i64>,
    error: Option<String>,
    latency_ms: i64,
}

/// A claimed event with its due time, for the order claims are given in.
#[derive(sqlx::FromRow)]
struct ClaimedEvent {
    #[sqlx(flatten)]
    event: DueEvent,
    next_attempt_at: i64,
}

/// The transaction lock that takes event claims one at a time across instances.
const EVENT_CLAIMS_LOCK: i64 = 0x6969_6b6f_6576_0001;

impl PgStore {
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
        // Decided again with the claims of every instance taken one at a time (a transaction
        // lock, so PgBouncer's transaction pooling keeps it): whether an order's queue is
        // held is read after every earlier claim committed, so two events of one order are
        // never in flight.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_CLAIMS_LOCK)
            .execute(&mut *tx)
            .await?;
        let pending = claim_candidates(&mut tx, now_ms).await?;
        let ids = claimable_events(&pending, now_ms, limit);
        let leases: Vec<String> = ids.iter().map(|_| new_lease_id(claimer)).collect();
        let mut claimed: Vec<ClaimedEvent> = sqlx::query_as(
            "UPDATE site_events e SET claimed_by = $1, lease_id = l.lease,
                 lease_expires_at_ms = $2
             FROM UNNEST($3::bigint[], $4::text[]) AS l(id, lease)
             WHERE e.id = l.id AND e.state = 'pending'
               AND (e.lease_expires_at_ms IS NULL OR e.lease_expires_at_ms <= $5)
             RETURNING e.id, e.event_id, e.type, e.branch, e.order_id, e.body, e.attempts,
                 COALESCE(e.queued_at, e.created_at) AS queued_at, e.lease_id,
                 e.next_attempt_at",
        )
        .bind(claimer)
        .bind(expires_at_ms)
        .bind(&ids)
        .bind(&leases)
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        // The longest due first.
        claimed.sort_by_key(|claimed| (claimed.next_attempt_at, claimed.event.id));
        Ok(claimed.into_iter().map(|claimed| claimed.event).collect())
    }

    pub async fn finish_site_event_attempt(
        &self,
        id: i64,
        lease_id: &str,
        attempt: &EventAttempt<'_>,
        end: &EventAttemptEnd,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locked: a claim that runs out meanwhile is not taken over until this commits.
        let held =
            sqlx::query("SELECT 1 FROM site_events WHERE id = $1 AND lease_id = $2 FOR UPDATE")
                .bind(id)
                .bind(lease_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !held {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO site_event_attempts (event, at, url, http_status, error, latency_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(attempt.at_ms)
        .bind(attempt.url)
        .bind(attempt.http_status.map(i64::from))
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
            "UPDATE site_events SET state = $1, attempts = attempts + 1,
                 next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3,
                 delivered_at = $4, claimed_by = NULL, lease_id = NULL, lease_expires_at_ms = NULL
             WHERE id = $5 AND state = 'pending'",
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
                "INSERT INTO site_event_stops (url, stopped_at) VALUES ($1, $2)
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
             WHERE url = $1",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn stop_pending_site_events(&self, reason: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stopped = stop_pending(&mut tx, reason).await?;
        tx.commit().await?;
        Ok(stopped)
    }

    pub async fn mark_event_url_alerted(&self, url: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE site_event_stops SET alerted_at = $1 WHERE url = $2")
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
        let mut tx = self.pool.begin().await?;
        let pruned = sqlx::query(
            "DELETE FROM site_events WHERE created_at < $1
                 AND (state IN ('delivered', 'stopped') OR $2)",
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
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("UPDATE site_events SET dead_alerted_at = $1 WHERE id = $2")
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
        let mut tx = self.pool.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM site_events WHERE event_id = $1 OR id = $2")
                .bind(id)
                .bind(id.parse::<i64>().ok())
                .fetch_optional(&mut *tx)
                .await?;
        let answer = match state.as_deref() {
            None => Redelivered::NotFound,
            Some("dead" | "stopped") => {
                requeue(&mut tx, "event_id = $3 OR id = $4", Some(id), now_ms).await?;
                Redelivered::Queued
            }
            Some(other) => Redelivered::Refused(other.to_owned()),
        };
        tx.commit().await?;
        Ok(answer)
    }

    pub async fn redeliver_dead_site_events(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let queued = requeue(&mut tx, "state = 'dead'", None, now_ms).await?;
        tx.commit().await?;
        Ok(queued)
    }

    pub async fn prune_dead_site_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM site_events WHERE state = 'dead' AND created_at < $1")
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
             FROM site_events WHERE $1 IS NULL OR state = $2 ORDER BY id DESC LIMIT $3"
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
            "SELECT body FROM site_events WHERE branch = $1 AND order_id = $2 ORDER BY id",
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
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT at, url, http_status, error, latency_ms FROM site_event_attempts
             WHERE event = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| RecordedAttempt {
                at_ms: row.at,
                url: row.url,
                // A status outside u16 (never written) reads as none.
                http_status: row
                    .http_status
                    .and_then(|status| u16::try_from(status).ok()),
                error: row.error,
                latency_ms: row.latency_ms,
            })
            .collect())
    }
}

const EVENT_COLUMNS: &str = "id, event_id, type, branch, order_id, state, attempts, created_at,
     next_attempt_at, last_error, delivered_at";

/// Makes the events matching `filter` (bound to `id` twice when given) pending again.
async fn requeue(
    tx: &mut sqlx::PgConnection,
    filter: &str,
    id: Option<&str>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    // `filter` is a fixed string of this module.
    let sql = format!(
        "UPDATE site_events SET state = 'pending', next_attempt_at = $1, queued_at = $2,
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
    conn: &mut sqlx::PgConnection,
    now_ms: i64,
) -> Result<Vec<PendingEvent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.branch, e.order_id, e.next_attempt_at, e.lease_expires_at_ms
         FROM site_events e
         WHERE e.state = 'pending'
           AND (e.lease_expires_at_ms > $1 OR (e.next_attempt_at <= $2
               -- Two cases, not `IS NOT DISTINCT FROM`, so each finds earlier events of its
               -- queue through the (branch, order_id, id) index.
               AND NOT EXISTS (SELECT 1 FROM site_events p
                   WHERE p.branch = e.branch AND p.order_id = e.order_id
                     AND p.state = 'pending' AND p.id < e.id)
               AND (e.order_id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM site_events p
                   WHERE p.branch = e.branch AND p.order_id IS NULL
                     AND p.state = 'pending' AND p.id < e.id))))",
    )
    .bind(now_ms)
    .bind(now_ms)
    .fetch_all(conn)
    .await?)
}

async fn stop_pending(tx: &mut sqlx::PgConnection, reason: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE site_events SET state = 'stopped', last_error = COALESCE(last_error, $1)
         WHERE state = 'pending'",
    )
    .bind(reason)
    .execute(tx)
    .await?
    .rows_affected())
}
