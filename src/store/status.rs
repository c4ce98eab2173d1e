//! Order statuses from iiko: reports (webhook or poll) applied to orders with their history
//! entry and site events in one transaction, the per-organization `by_revision` cursor and the
//! inbox of webhook calls. Every report is checked against iiko's `timestamp`, so a repeated or
//! older one writes nothing.
use serde_json::{Value, json};
use sqlx::Row;

use super::{
    Store, StoreError,
    events::{EventType, NewEvent, enqueue_event},
    orders::{Guard, OrderState, StoredOrder, end_attempt, fetch, history},
};
use crate::orders::{AttemptEnd, lifecycle::attempt_change};

/// What iiko said about one delivery, reduced to what status tracking needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub delivery_id: String,
    pub organization_id: String,
    /// iiko's `timestamp`: the latest change of the delivery on iiko's side.
    pub timestamp: i64,
    pub creation: Creation,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    InProgress,
    Failed {
        code: Option<String>,
        message: String,
        /// It may pass (an offline terminal): the dispatcher's retries handle it.
        transient: bool,
    },
    Placed(Placed),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub number: i64,
    /// iiko's DeliveryStatus, as iiko spells it.
    pub status: String,
    /// The cause (and comment) of a cancellation.
    pub cancel_reason: Option<String>,
    /// `movedToDeliveryId` / `movedToOrganizationId`: the order lives on there.
    pub moved_to: Option<(String, String)>,
    /// `movedFromDeliveryId`: the delivery this one replaced.
    pub moved_from: Option<String>,
}

/// What applying one report did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// No order of the bridge has this delivery id.
    Unknown,
    /// Older than (or the same as) what was applied already, or about a replaced delivery.
    Stale,
    /// Seen, nothing new to tell.
    Unchanged,
    /// A new iiko status: history entry and `order.status` (and `order.cancelled`) written.
    Changed { site_status: String },
    /// The order moved to another delivery, which is followed from now on.
    Moved,
    /// The report ended a creation still in progress (`created` or `fallback`).
    CreationEnded(OrderState),
    /// A webhook or a poll says a creation the dispatcher follows has ended: nothing is
    /// written until iiko confirms it when asked by id.
    Unconfirmed,
    /// iiko created an order that had already gone to the operators (`fallback` or
    /// `resolved`): noted once; the operators must hear it, or it may be cooked twice.
    LateCreation(LateCreation),
    /// iiko's word on an order the operators have, already noted: left to them.
    Ignored,
}

/// An order iiko created after it went to the operators.
#[derive(Debug, Clone, PartialEq)]
pub struct LateCreation {
    pub branch: String,
    pub site_id: String,
    pub iiko_order_id: String,
    pub number: i64,
    /// `fallback` or `resolved`.
    pub state: OrderState,
}

/// The columns status tracking reads (not the order's large JSON documents).
const STATUS_COLUMNS: &str = "id, branch, site_id, state, iiko_order_id, tracked_iiko_id,
    iiko_timestamp, reported_iiko_status, site_status, cancel_reason, status_final,
    late_created_at";

struct StatusRow {
    id: i64,
    branch: String,
    site_id: String,
    state: OrderState,
    iiko_order_id: String,
    tracked_iiko_id: Option<String>,
    iiko_timestamp: Option<i64>,
    reported_iiko_status: Option<String>,
    site_status: Option<String>,
    cancel_reason: Option<String>,
    status_final: bool,
    late_created_at: Option<i64>,
}

impl StatusRow {
    fn current_iiko_id(&self) -> &str {
        self.tracked_iiko_id
            .as_deref()
            .unwrap_or(&self.iiko_order_id)
    }

    fn read(row: &sqlx::sqlite::SqliteRow) -> Result<Self, StoreError> {
        let state: String = row.get("state");
        Ok(Self {
            id: row.get("id"),
            branch: row.get("branch"),
            site_id: row.get("site_id"),
            state: OrderState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("order state {state:?}")))?,
            iiko_order_id: row.get("iiko_order_id"),
            tracked_iiko_id: row.get("tracked_iiko_id"),
            iiko_timestamp: row.get("iiko_timestamp"),
            reported_iiko_status: row.get("reported_iiko_status"),
            site_status: row.get("site_status"),
            cancel_reason: row.get("cancel_reason"),
            status_final: row.get::<i64, _>("status_final") != 0,
            late_created_at: row.get("late_created_at"),
        })
    }
}

/// Maps (branch key, iiko status) to the site status.
pub type StatusMapper<'a> = &'a (dyn Fn(&str, &str) -> String + Sync);

/// An order whose status is being followed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedOrder {
    pub id: i64,
    pub branch: String,
    /// The delivery iiko knows it by now.
    pub delivery_id: String,
    /// Set when a move took it to another organization than its branch's.
    pub organization_id: Option<String>,
    pub seen_at: Option<i64>,
}

impl Store {
    /// Applies reports in one transaction (polls bring hundreds at once); returns one outcome
    /// per report, in order. `seen` are orders iiko was asked about and answered for (also
    /// those it no longer returns), so they are not asked again too soon. A report that a
    /// creation ended for an order still being sent, or that iiko created an order the
    /// operators have, is only believed from [`Store::apply_read_back`]: here it is
    /// [`Applied::Unconfirmed`].
    pub async fn apply_delivery_reports(
        &self,
        reports: &[DeliveryReport],
        seen: &[i64],
        map: StatusMapper<'_>,
        now_ms: i64,
    ) -> Result<Vec<Applied>, StoreError> {
        self.apply_reports(reports, seen, map, now_ms, false).await
    }

    /// [`Store::apply_delivery_reports`] for what iiko answered to `deliveries/by_id`: its
    /// word on a creation is final.
    pub async fn apply_read_back(
        &self,
        reports: &[DeliveryReport],
        seen: &[i64],
        map: StatusMapper<'_>,
        now_ms: i64,
    ) -> Result<Vec<Applied>, StoreError> {
        self.apply_reports(reports, seen, map, now_ms, true).await
    }

    async fn apply_reports(
        &self,
        reports: &[DeliveryReport],
        seen: &[i64],
        map: StatusMapper<'_>,
        now_ms: i64,
        read_back: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if !seen.is_empty() {
            let marks = vec!["?"; seen.len()].join(", ");
            let sql = format!("UPDATE orders SET status_seen_at = ? WHERE id IN ({marks})");
            let mut query = sqlx::query(&sql).bind(now_ms);
            for id in seen {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await?;
        }
        let mut outcomes = Vec::with_capacity(reports.len());
        for report in reports {
            outcomes.push(apply(&mut tx, report, map, now_ms, read_back).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Created orders whose iiko status is not final yet, and orders handed to the operators
    /// while iiko may have had them (until iiko reports them).
    pub async fn tracked_orders(&self) -> Result<Vec<TrackedOrder>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, branch, COALESCE(tracked_iiko_id, iiko_order_id) AS delivery_id,
                 tracked_organization_id, status_seen_at
             FROM orders WHERE status_final = 0 AND (state = 'created'
                 OR (state IN ('fallback', 'resolved') AND unclear_until IS NOT NULL
                     AND late_created_at IS NULL))
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| TrackedOrder {
                id: row.get("id"),
                branch: row.get("branch"),
                delivery_id: row.get("delivery_id"),
                organization_id: row.get("tracked_organization_id"),
                seen_at: row.get("status_seen_at"),
            })
            .collect())
    }

    pub async fn status_cursor(&self, organization_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query("SELECT revision FROM status_cursors WHERE organization_id = ?")
                .bind(organization_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)),
        )
    }

    /// Stores the next `by_revision` cursor; `None` forgets it (it became too old).
    pub async fn save_status_cursor(
        &self,
        organization_id: &str,
        revision: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        match revision {
            Some(revision) => {
                sqlx::query(
                    "INSERT INTO status_cursors (organization_id, revision, updated_at)
                     VALUES (?, ?, ?)
                     ON CONFLICT (organization_id) DO UPDATE
                     SET revision = excluded.revision, updated_at = excluded.updated_at",
                )
                .bind(organization_id)
                .bind(revision)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM status_cursors WHERE organization_id = ?")
                    .bind(organization_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores iiko webhook calls (one body each) in one transaction, before they are answered.
    pub async fn push_webhook_calls(&self, bodies: &[&str], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for body in bodies {
            sqlx::query("INSERT INTO iiko_webhook_inbox (received_at, body) VALUES (?, ?)")
                .bind(now_ms)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Orders iiko created after they went to the operators whose operators have not been
    /// told yet, oldest first, with their row ids.
    pub async fn unalerted_late_creations(&self) -> Result<Vec<(i64, LateCreation)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, branch, site_id, COALESCE(tracked_iiko_id, iiko_order_id) AS delivery_id,
                 iiko_number, state
             FROM orders WHERE late_created_at IS NOT NULL AND late_alerted_at IS NULL
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.get("state");
                let late = LateCreation {
                    branch: row.get("branch"),
                    site_id: row.get("site_id"),
                    iiko_order_id: row.get("delivery_id"),
                    number: row.get::<Option<i64>, _>("iiko_number").unwrap_or_default(),
                    state: OrderState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("order state {state:?}")))?,
                };
                Ok((row.get("id"), late))
            })
            .collect()
    }

    /// The operators were told that iiko created order `id` after it went to them.
    pub async fn mark_late_alerted(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE orders SET late_alerted_at = ? WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The oldest stored webhook calls: (inbox id, body).
    pub async fn webhook_calls(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, body FROM iiko_webhook_inbox ORDER BY id LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Drops processed webhook calls, up to and including `last_id`.
    pub async fn drop_webhook_calls(&self, last_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM iiko_webhook_inbox WHERE id <= ?")
            .bind(last_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The site cancelled an order iiko does not have: it is not sent. Refused once the
    /// dispatcher may have reached iiko (the order is then cancelled in iiko instead).
    pub async fn cancel_before_iiko(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query(
            "UPDATE orders SET state = 'cancelled', cancel_reason = ?, status_final = 1,
                 updated_at = ?
             WHERE id = ? AND state IN ('queued', 'retrying') AND lease_owner IS NULL
               AND create_sent = 0",
        )
        .bind(reason)
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        history(
            &mut tx,
            id,
            now_ms,
            Some(OrderState::Cancelled),
            None,
            &format!("отменён сайтом до передачи в iiko: {reason}"),
        )
        .await?;
        let order = fetch(&mut tx, id).await?;
        cancelled_event(&mut tx, &order.branch, &order.site_id, reason, now_ms).await?;
        tx.commit().await?;
        Ok(Some(order))
    }

    /// Notes the site's reason before a cancellation is sent to iiko, with a history entry.
    pub async fn note_cancel_request(
        &self,
        id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE orders SET cancel_reason = ?, updated_at = ? WHERE id = ?")
            .bind(reason)
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        history(
            &mut tx,
            id,
            now_ms,
            None,
            None,
            &format!("сайт просит отменить заказ: {reason}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The site events written for one order, oldest first, as their JSON bodies.
    pub async fn site_events_of(
        &self,
        branch: &str,
        order_id: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM site_events WHERE branch = ? AND order_id = ? ORDER BY id",
        )
        .bind(branch)
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(row.get::<&str, _>(0))
                    .map_err(|e| StoreError::Corrupt(format!("site event body: {e}")))
            })
            .collect()
    }
}

async fn apply(
    tx: &mut sqlx::SqliteConnection,
    report: &DeliveryReport,
    map: StatusMapper<'_>,
    now_ms: i64,
    read_back: bool,
) -> Result<Applied, StoreError> {
    let moved_from = match &report.creation {
        Creation::Placed(placed) => placed.moved_from.as_deref(),
        _ => None,
    };
    let Some(mut order) = find(tx, &report.delivery_id).await? else {
        // The first word of a delivery that replaced one of ours (a move).
        let Some(previous) = moved_from else {
            return Ok(Applied::Unknown);
        };
        let Some(order) = find(tx, previous).await? else {
            return Ok(Applied::Unknown);
        };
        if order.current_iiko_id() != previous {
            return Ok(Applied::Stale);
        }
        follow_move(
            tx,
            order.id,
            &report.delivery_id,
            &report.organization_id,
            now_ms,
        )
        .await?;
        let order = load(tx, order.id).await?;
        return apply_to(tx, order, report, map, now_ms, read_back).await;
    };
    if order.current_iiko_id() != report.delivery_id {
        return Ok(Applied::Stale);
    }
    if order
        .iiko_timestamp
        .is_some_and(|seen| report.timestamp <= seen)
    {
        sqlx::query("UPDATE orders SET status_seen_at = ? WHERE id = ?")
            .bind(now_ms)
            .bind(order.id)
            .execute(&mut *tx)
            .await?;
        return Ok(Applied::Stale);
    }
    if matches!(
        order.state,
        OrderState::Queued | OrderState::Sending | OrderState::Retrying
    ) {
        let end = match &report.creation {
            Creation::InProgress
            | Creation::Failed {
                transient: true, ..
            } => {
                return Ok(Applied::Unchanged);
            }
            // A webhook (or a forged one) must not end what the dispatcher follows: iiko is
            // asked by id first.
            _ if !read_back => return Ok(Applied::Unconfirmed),
            Creation::Failed { code, message, .. } => AttemptEnd::Fallback {
                reason: format!("iiko отклонил заказ: {message}"),
                error_code: code.clone(),
            },
            Creation::Placed(placed) => AttemptEnd::Created {
                number: Some(placed.number),
                status: None,
            },
        };
        let creation_status = match end {
            AttemptEnd::Created { .. } => "Success",
            _ => "Error",
        };
        let change = attempt_change(&end, Some(creation_status), now_ms);
        if !end_attempt(tx, order.id, Guard::Unfinished, &change, now_ms).await? {
            return Ok(Applied::Stale);
        }
        order = load(tx, order.id).await?;
        if order.state == OrderState::Fallback {
            return Ok(Applied::CreationEnded(OrderState::Fallback));
        }
        apply_to(tx, order, report, map, now_ms, read_back).await?;
        return Ok(Applied::CreationEnded(OrderState::Created));
    }
    apply_to(tx, order, report, map, now_ms, read_back).await
}

/// Applies a report about the order's current delivery.
async fn apply_to(
    tx: &mut sqlx::SqliteConnection,
    order: StatusRow,
    report: &DeliveryReport,
    map: StatusMapper<'_>,
    now_ms: i64,
    read_back: bool,
) -> Result<Applied, StoreError> {
    let placed = match (&report.creation, order.state) {
        (Creation::Placed(placed), OrderState::Created) if !order.status_final => placed,
        (Creation::Placed(_), OrderState::Fallback | OrderState::Resolved)
            if order.late_created_at.is_some() =>
        {
            return Ok(Applied::Ignored);
        }
        (Creation::Placed(_), OrderState::Fallback | OrderState::Resolved) if !read_back => {
            return Ok(Applied::Unconfirmed);
        }
        (Creation::Placed(placed), OrderState::Fallback | OrderState::Resolved) => {
            return late_creation(tx, &order, report, placed, now_ms).await;
        }
        // iiko closed it as failed: it will never be created, so it need not be followed.
        (Creation::Failed { .. }, OrderState::Fallback | OrderState::Resolved) if read_back => {
            sqlx::query("UPDATE orders SET unclear_until = NULL WHERE id = ?")
                .bind(order.id)
                .execute(&mut *tx)
                .await?;
            return Ok(Applied::Unchanged);
        }
        _ => return Ok(Applied::Unchanged),
    };
    let moved = match (&placed.moved_to, placed.status.as_str()) {
        (Some(to), "Cancelled") => Some(to),
        _ => None,
    };
    let change =
        moved.is_none() && order.reported_iiko_status.as_deref() != Some(placed.status.as_str());
    let site_status = change.then(|| map(&order.branch, &placed.status));
    let cancelled = change && placed.status == "Cancelled";
    let closed = cancelled || (change && placed.status == "Closed");
    let reason = cancelled.then(|| {
        placed
            .cancel_reason
            .clone()
            .or_else(|| order.cancel_reason.clone())
            .unwrap_or_else(|| "отменён в iiko".into())
    });
    // One statement per report: a poll may bring thousands.
    sqlx::query(
        "UPDATE orders SET iiko_timestamp = ?, status_seen_at = ?, iiko_number = ?,
             iiko_status = ?, updated_at = ?,
             reported_iiko_status = CASE WHEN ? THEN ? ELSE reported_iiko_status END,
             site_status = COALESCE(?, site_status),
             status_final = status_final OR ?,
             cancel_reason = COALESCE(?, cancel_reason),
             state = CASE WHEN ? THEN 'cancelled' ELSE state END
         WHERE id = ?",
    )
    .bind(report.timestamp)
    .bind(now_ms)
    .bind(placed.number)
    .bind(&placed.status)
    .bind(now_ms)
    .bind(change)
    .bind(&placed.status)
    .bind(&site_status)
    .bind(closed)
    .bind(&reason)
    .bind(cancelled)
    .bind(order.id)
    .execute(&mut *tx)
    .await?;
    if let Some((delivery, organization)) = moved {
        follow_move(tx, order.id, delivery, organization, now_ms).await?;
        return Ok(Applied::Moved);
    }
    let Some(site_status) = site_status else {
        return Ok(Applied::Unchanged);
    };
    let note = match &reason {
        Some(reason) => format!("iiko: {} ({reason})", placed.status),
        None => format!("iiko: {}", placed.status),
    };
    let state = cancelled.then_some(OrderState::Cancelled);
    history(tx, order.id, now_ms, state, Some(&site_status), &note).await?;
    // The site hears of a new mapped status (CONTRACT section 2); the history keeps every
    // iiko step, such as Unconfirmed → WaitCooking, both "accepted".
    if order.site_status.as_deref() != Some(site_status.as_str()) {
        let event = NewEvent {
            kind: EventType::OrderStatus,
            branch: &order.branch,
            order_id: Some(&order.site_id),
            data: json!({ "status": site_status, "iiko_status": placed.status }),
            at_ms: now_ms,
        };
        enqueue_event(tx, &event).await?;
    }
    if let Some(reason) = &reason {
        cancelled_event(tx, &order.branch, &order.site_id, reason, now_ms).await?;
    }
    Ok(Applied::Changed { site_status })
}

/// Notes (once) that iiko created an order the operators have: the order view and history
/// show it, and the tracker alerts the operators.
async fn late_creation(
    tx: &mut sqlx::SqliteConnection,
    order: &StatusRow,
    report: &DeliveryReport,
    placed: &Placed,
    now_ms: i64,
) -> Result<Applied, StoreError> {
    sqlx::query(
        "UPDATE orders SET late_created_at = ?, iiko_number = ?, iiko_status = ?,
             iiko_timestamp = ?, status_seen_at = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(now_ms)
    .bind(placed.number)
    .bind(&placed.status)
    .bind(report.timestamp)
    .bind(now_ms)
    .bind(now_ms)
    .bind(order.id)
    .execute(&mut *tx)
    .await?;
    let note = format!(
        "ВНИМАНИЕ: iiko всё же создал заказ (№ {} в iiko, id {}), хотя он уже передан \
         персоналу: проверьте, не введён ли он вручную второй раз",
        placed.number, report.delivery_id
    );
    history(tx, order.id, now_ms, None, None, &note).await?;
    Ok(Applied::LateCreation(LateCreation {
        branch: order.branch.clone(),
        site_id: order.site_id.clone(),
        iiko_order_id: report.delivery_id.clone(),
        number: placed.number,
        state: order.state,
    }))
}

/// From now on the order is followed under `delivery` (iiko moved it to another terminal group).
async fn follow_move(
    tx: &mut sqlx::SqliteConnection,
    id: i64,
    delivery: &str,
    organization: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE orders SET tracked_iiko_id = ?, tracked_organization_id = ?,
             iiko_timestamp = NULL, status_seen_at = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(delivery)
    .bind(organization)
    .bind(now_ms)
    .bind(now_ms)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let note = format!("iiko перенёс заказ на другую группу терминалов (доставка {delivery})");
    history(tx, id, now_ms, None, None, &note).await
}

async fn cancelled_event(
    tx: &mut sqlx::SqliteConnection,
    branch: &str,
    site_id: &str,
    reason: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let event = NewEvent {
        kind: EventType::OrderCancelled,
        branch,
        order_id: Some(site_id),
        data: json!({ "reason": reason }),
        at_ms: now_ms,
    };
    enqueue_event(tx, &event).await?;
    Ok(())
}

/// The order iiko knows by this delivery id, now or before a move.
async fn find(
    tx: &mut sqlx::SqliteConnection,
    delivery_id: &str,
) -> Result<Option<StatusRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {STATUS_COLUMNS} FROM orders WHERE tracked_iiko_id = ?
         UNION ALL SELECT {STATUS_COLUMNS} FROM orders WHERE iiko_order_id = ? LIMIT 1"
    ))
    .bind(delivery_id)
    .bind(delivery_id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|row| StatusRow::read(&row)).transpose()
}

async fn load(tx: &mut sqlx::SqliteConnection, id: i64) -> Result<StatusRow, StoreError> {
    let row = sqlx::query(&format!("SELECT {STATUS_COLUMNS} FROM orders WHERE id = ?"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    StatusRow::read(&row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Inserted, NewOrder};

    async fn sending_order() -> (Store, tempfile::TempDir, StoredOrder) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bridge.db", dir.path().display()))
            .await
            .unwrap();
        let new = NewOrder {
            branch: "lenina".into(),
            site_id: "A".into(),
            raw_body: "{}".into(),
            content_hash: "h".into(),
            answer: "{}".into(),
            iiko_ids: "{}".into(),
            iiko_order_id: "00000000-0000-0000-0000-000000000001".into(),
            request: Some("{}".into()),
            problems: None,
            state: OrderState::Queued,
            fallback_reason: None,
            now_ms: 1_000,
        };
        let Inserted::New(order) = store.insert_order(new, None).await.unwrap() else {
            panic!("a new order");
        };
        store
            .lease_due_orders("w1", 1_000, 90_000, 8, &[])
            .await
            .unwrap();
        (store, dir, order)
    }

    fn report(timestamp: i64, creation: Creation) -> DeliveryReport {
        DeliveryReport {
            delivery_id: "00000000-0000-0000-0000-000000000001".into(),
            organization_id: "org".into(),
            timestamp,
            creation,
        }
    }

    fn placed(status: &str) -> Creation {
        Creation::Placed(Placed {
            number: 7,
            status: status.into(),
            cancel_reason: None,
            moved_to: None,
            moved_from: None,
        })
    }

    fn map(_: &str, status: &str) -> String {
        status.to_lowercase()
    }

    #[tokio::test]
    async fn iiko_read_back_ends_a_creation_the_dispatcher_follows_and_the_dispatcher_cannot_overwrite_it()
     {
        let (store, _dir, order) = sending_order().await;
        let offline = Creation::Failed {
            code: Some("Common".into()),
            message: "Creation timeout expired".into(),
            transient: true,
        };
        let outcomes = store
            .apply_delivery_reports(&[report(5, offline)], &[], &map, 2_000)
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [Applied::Unchanged],
            "retries stay the dispatcher's"
        );

        // A webhook's (or a poll's) word is not enough: nothing is written before iiko confirms.
        let outcomes = store
            .apply_delivery_reports(&[report(6, placed("Unconfirmed"))], &[], &map, 2_000)
            .await
            .unwrap();
        assert_eq!(outcomes, [Applied::Unconfirmed]);
        assert_eq!(
            store.order(order.id).await.unwrap().unwrap().state,
            OrderState::Sending
        );
        let outcomes = store
            .apply_read_back(&[report(6, placed("Unconfirmed"))], &[], &map, 2_000)
            .await
            .unwrap();
        assert_eq!(outcomes, [Applied::CreationEnded(OrderState::Created)]);
        let fallback = AttemptEnd::Fallback {
            reason: "gave up".into(),
            error_code: None,
        };
        assert!(
            !store
                .finish_attempt(
                    order.id,
                    "w1",
                    attempt_change(&fallback, None, 3_000),
                    3_000
                )
                .await
                .unwrap(),
            "the lease was taken away"
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Created);
        assert_eq!(stored.site_status.as_deref(), Some("unconfirmed"));
        let kinds: Vec<Value> = store
            .site_events_of("lenina", "A")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e["type"].clone())
            .collect();
        assert_eq!(kinds, [json!("order.created"), json!("order.status")]);
    }

    #[tokio::test]
    async fn a_creation_error_from_iiko_sends_the_order_to_the_operators_once() {
        let (store, _dir, order) = sending_order().await;
        let refused = Creation::Failed {
            code: Some("PaymentTypeNotFound".into()),
            message: "PaymentTypeNotFound: no such type".into(),
            transient: false,
        };
        let unconfirmed = store
            .apply_delivery_reports(&[report(5, refused.clone())], &[], &map, 2_000)
            .await
            .unwrap();
        assert_eq!(unconfirmed, [Applied::Unconfirmed]);
        let outcomes = store
            .apply_read_back(
                &[report(5, refused.clone()), report(5, refused)],
                &[],
                &map,
                2_000,
            )
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                Applied::CreationEnded(OrderState::Fallback),
                Applied::Unchanged
            ]
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Fallback);
        assert_eq!(stored.error_code.as_deref(), Some("PaymentTypeNotFound"));
        assert_eq!(store.site_events_of("lenina", "A").await.unwrap().len(), 1);
        // iiko creating it after all leaves it with the operators, who hear of it once.
        let said = store
            .apply_delivery_reports(&[report(9, placed("Unconfirmed"))], &[], &map, 3_000)
            .await
            .unwrap();
        assert_eq!(said, [Applied::Unconfirmed]);
        let late = store
            .apply_read_back(&[report(9, placed("Unconfirmed"))], &[], &map, 3_000)
            .await
            .unwrap();
        assert_eq!(
            late,
            [Applied::LateCreation(LateCreation {
                branch: "lenina".into(),
                site_id: "A".into(),
                iiko_order_id: "00000000-0000-0000-0000-000000000001".into(),
                number: 7,
                state: OrderState::Fallback,
            })]
        );
        let stored = store.order(order.id).await.unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Fallback);
        assert_eq!(
            (stored.late_created_at, stored.iiko_number),
            (Some(3_000), Some(7))
        );
        let again = store
            .apply_read_back(&[report(10, placed("WaitCooking"))], &[], &map, 4_000)
            .await
            .unwrap();
        assert_eq!(again, [Applied::Ignored]);
        // The operators' alert waits in the store until it is delivered.
        let waiting = store.unalerted_late_creations().await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!((waiting[0].0, waiting[0].1.number), (order.id, 7));
        store.mark_late_alerted(order.id, 5_000).await.unwrap();
        assert!(store.unalerted_late_creations().await.unwrap().is_empty());
    }
}
