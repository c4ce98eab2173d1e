//! The status tracker: applies the iiko webhook calls the receiver stored, and polls iiko as the
//! safety net under them (`by_revision` from each organization's cursor, then `by_id` in
//! batches of 200 for orders iiko has not mentioned lately).
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use super::apply::{
    Applied, DeliveryReport, StatusMapper, apply_delivery_reports, apply_read_back,
};
use super::map::{mapper, report_of};
use crate::config::Config;
use crate::iiko::{
    IikoClient,
    types::deliveries::{DeliveriesByIdRequest, DeliveriesByRevisionRequest},
    types::webhooks::{WebhookEvent, WebhookEventInfo, WebhookEventType},
};
use crate::menu::{MenuTrigger, SyncKind};
use crate::notify::{OperatorChats, alerts::AlertClaims, html};
use crate::store::{LateCreation, Store, StoreError};
use crate::worker::{Step, Worker};
use futures::StreamExt;

/// iiko's limit of ids per `deliveries/by_id` call.
pub const BY_ID_BATCH: usize = 200;
/// `by_id` calls of one poll in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;
/// Webhook calls applied per store transaction.
const INBOX_BATCH: i64 = 200;
/// How often the loop looks at the inbox when nobody wakes it.
const TICK: Duration = Duration::from_millis(500);

/// How many reports ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub changed: usize,
    pub unchanged: usize,
    pub stale: usize,
    /// Deliveries that are not the bridge's orders: ignored.
    pub unknown: usize,
    pub moved: usize,
    pub creations_ended: usize,
    /// Creation ends asked back by id before being believed.
    pub unconfirmed: usize,
    /// Orders iiko created after they went to the operators (operators alerted).
    pub late_creations: usize,
    pub ignored: usize,
}

impl Tally {
    fn add(&mut self, outcomes: &[Applied]) {
        for outcome in outcomes {
            match outcome {
                Applied::Changed { .. } => self.changed += 1,
                Applied::Unchanged => self.unchanged += 1,
                Applied::Stale => self.stale += 1,
                Applied::Unknown => self.unknown += 1,
                Applied::Moved => self.moved += 1,
                Applied::CreationEnded(_) => self.creations_ended += 1,
                Applied::Unconfirmed => self.unconfirmed += 1,
                Applied::LateCreation(_) => self.late_creations += 1,
                Applied::Ignored => self.ignored += 1,
            }
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// iiko calls made.
    pub requests: usize,
    pub tally: Tally,
    /// Organizations whose cursor was too old, read back with `by_id` instead.
    pub fell_back: Vec<Uuid>,
    /// iiko calls that failed (the orders are asked again next time).
    pub failures: usize,
}

/// What one pass over the webhook inbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxReport {
    pub calls: usize,
    pub events: usize,
    /// Events that could not be read (logged, skipped).
    pub malformed: usize,
    pub tally: Tally,
    /// Menu syncs asked for (stop lists, nomenclature).
    pub menu_syncs: usize,
}

/// What `try_step` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerStep {
    pub webhooks: InboxReport,
    /// `Some` when a poll was due.
    pub poll: Option<PollReport>,
}

pub struct StatusTracker {
    store: Store,
    iiko: IikoClient,
    config: Arc<Config>,
    menu: Option<MenuTrigger>,
    wake: Arc<Notify>,
    next_poll: Mutex<Option<DateTime<Utc>>>,
    /// Told when iiko creates an order the operators already have.
    operators: OperatorChats,
    /// After a failed alert, none is tried before this.
    late_alerts_after: Mutex<Option<DateTime<Utc>>>,
    /// With several instances, one at a time sends the late-creation alerts.
    alert_claims: AlertClaims,
}

impl StatusTracker {
    pub fn new(store: Store, iiko: IikoClient, config: Arc<Config>) -> Self {
        Self {
            operators: OperatorChats::from_config(&config.telegram),
            alert_claims: AlertClaims::new(store.clone()),
            store,
            iiko,
            config,
            menu: None,
            wake: Arc::new(Notify::new()),
            next_poll: Mutex::new(None),
            late_alerts_after: Mutex::new(None),
        }
    }

    /// Stop-list and nomenclature webhooks ask this schedule for a sync.
    pub fn with_menu(mut self, trigger: MenuTrigger) -> Self {
        self.menu = Some(trigger);
        self
    }

    /// The receiver wakes the tracker with this after storing a call.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Applies the stored webhook calls, then polls iiko if a poll is due. Tests drive the
    /// tracker through this (or `poll` and `process_webhooks`) without sleeping.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<TrackerStep, StoreError> {
        let webhooks = self.process_webhooks().await?;
        let due = {
            let next = self.next_poll.lock().unwrap_or_else(|p| p.into_inner());
            next.is_none_or(|at| at <= now)
        };
        let poll = if due {
            let report = self.poll(now).await?;
            *self.next_poll.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(now + self.poll_interval());
            Some(report)
        } else {
            None
        };
        self.alert_late_creations(now).await?;
        Ok(TrackerStep { webhooks, poll })
    }

    /// Applies every stored webhook call, oldest first, and drops it once applied. A crash in
    /// between applies it again, which the timestamps make harmless.
    pub async fn process_webhooks(&self) -> Result<InboxReport, StoreError> {
        let mut report = InboxReport::default();
        let map = mapper(&self.config);
        loop {
            let calls = self.store.webhook_calls(INBOX_BATCH).await?;
            let Some(&(last, _)) = calls.last() else {
                return Ok(report);
            };
            let mut deliveries = Vec::new();
            let mut syncs = HashSet::new();
            for (id, body) in &calls {
                report.calls += 1;
                let events = match WebhookEvent::parse_batch(body.as_bytes()) {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!(inbox = id, %error, "stored iiko webhook call is not a JSON array");
                        report.malformed += 1;
                        continue;
                    }
                };
                for event in events {
                    report.events += 1;
                    match event {
                        Ok(event) => self.route(event, &mut deliveries, &mut syncs),
                        Err(error) => {
                            tracing::warn!(inbox = id, %error, "malformed iiko webhook event skipped");
                            report.malformed += 1;
                        }
                    }
                }
            }
            let now = Utc::now();
            let now_ms = now.timestamp_millis();
            let outcomes =
                apply_delivery_reports(&self.store, &deliveries, &[], &map, now_ms).await?;
            log_outcomes(&deliveries, &outcomes, "webhook");
            report.tally.add(&outcomes);
            let confirmed = self.confirm(&deliveries, &outcomes, &map, now).await?;
            report.tally.add(&confirmed);
            if let Some(menu) = &self.menu {
                for (branch, kind) in &syncs {
                    menu.request(branch, *kind);
                }
            }
            report.menu_syncs += syncs.len();
            self.store.drop_webhook_calls(last).await?;
        }
    }

    fn route(
        &self,
        event: WebhookEvent,
        deliveries: &mut Vec<DeliveryReport>,
        syncs: &mut HashSet<(String, SyncKind)>,
    ) {
        match (&event.event_type, event.event_info) {
            (_, WebhookEventInfo::DeliveryOrder(info)) => deliveries.push(report_of(&info)),
            (_, WebhookEventInfo::StopListUpdate(update)) => {
                for group in update.terminal_groups_stop_lists_updates {
                    for branch in self
                        .config
                        .branches
                        .iter()
                        .filter(|b| b.terminal_group_id == group.id)
                    {
                        syncs.insert((branch.key.clone(), SyncKind::StopList));
                    }
                }
            }
            (WebhookEventType::NomenclatureUpdate, _) => {
                for branch in self
                    .config
                    .branches
                    .iter()
                    .filter(|b| b.organization_id == event.organization_id)
                {
                    syncs.insert((branch.key.clone(), SyncKind::Full));
                }
            }
            (other, _) => tracing::debug!(event = %other, "iiko webhook event not used"),
        }
    }

    /// One polling cycle over every organization with orders to follow.
    pub async fn poll(&self, now: DateTime<Utc>) -> Result<PollReport, StoreError> {
        let mut report = PollReport::default();
        let recheck = chrono::Duration::from_std(Duration::from_secs_f64(
            self.config.status.recheck_after_seconds,
        ))
        .unwrap_or(chrono::Duration::MAX);
        let stale_before = (now - recheck).timestamp_millis();
        let mut by_organization: BTreeMap<Uuid, Vec<_>> = BTreeMap::new();
        for order in self.store.tracked_orders().await? {
            let organization = match &order.organization_id {
                Some(id) => Uuid::parse_str(id).ok(),
                None => self.config.branch(&order.branch).map(|b| b.organization_id),
            };
            let Some(organization) = organization else {
                tracing::warn!(order = order.id, branch = %order.branch,
                    "order of a branch no longer configured is not followed");
                continue;
            };
            by_organization.entry(organization).or_default().push(order);
        }
        let map = mapper(&self.config);
        for (organization, orders) in by_organization {
            let key = organization.to_string();
            let cursor = self.store.status_cursor(&key).await?;
            let request = DeliveriesByRevisionRequest {
                start_revision: cursor.unwrap_or(0),
                organization_ids: vec![organization],
                source_keys: Some(vec![self.config.site.source_key.clone()]),
            };
            report.requests += 1;
            let mut heard = HashSet::new();
            let cursor_lost = match self.iiko.deliveries_by_revision(&request).await {
                Ok(response) => {
                    let reports: Vec<DeliveryReport> = response
                        .orders_by_organizations
                        .iter()
                        .flat_map(|group| group.orders.iter().map(report_of))
                        .collect();
                    heard.extend(reports.iter().map(|r| r.delivery_id.clone()));
                    let now_ms = now.timestamp_millis();
                    let outcomes =
                        apply_delivery_reports(&self.store, &reports, &[], &map, now_ms).await?;
                    log_outcomes(&reports, &outcomes, "by_revision");
                    report.tally.add(&outcomes);
                    let confirmed = self.confirm(&reports, &outcomes, &map, now).await?;
                    report.tally.add(&confirmed);
                    self.store
                        .save_status_cursor(
                            &key,
                            Some(response.max_revision),
                            now.timestamp_millis(),
                        )
                        .await?;
                    false
                }
                // iiko refuses a cursor older than it keeps (3 hours): read every order back.
                Err(error) if !error.is_transient() => {
                    tracing::warn!(%organization, %error, "by_revision cursor refused; reading orders by id");
                    report.fell_back.push(organization);
                    true
                }
                Err(error) => {
                    tracing::warn!(%organization, %error, "polling iiko for statuses failed");
                    report.failures += 1;
                    continue;
                }
            };
            let due: Vec<_> = orders
                .iter()
                .filter(|o| !heard.contains(&o.delivery_id))
                .filter(|o| cursor_lost || o.seen_at.is_none_or(|seen| seen <= stale_before))
                .collect();
            // A few batches in flight at once: each waits mostly on iiko, and the client's
            // rate limit still bounds the calls.
            let batches: Vec<Vec<(i64, Uuid)>> = due
                .chunks(BY_ID_BATCH)
                .map(|batch| {
                    batch
                        .iter()
                        .filter_map(|o| Some((o.id, Uuid::parse_str(&o.delivery_id).ok()?)))
                        .collect()
                })
                .collect();
            let batches = futures::stream::iter(batches)
                .map(|batch| self.read_batch(organization, batch, &map, now))
                .buffer_unordered(BATCHES_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await;
            let mut newest = None;
            for batch in batches {
                report.requests += 1;
                match batch? {
                    Some((outcomes, batch_newest)) => {
                        report.tally.add(&outcomes);
                        newest = newest.max(batch_newest);
                    }
                    None => report.failures += 1,
                }
            }
            if cursor_lost {
                // iiko's revision and its orders' timestamps come from the same counter, so
                // the newest timestamp read is a cursor that misses nothing changed since.
                self.store
                    .save_status_cursor(&key, newest, now.timestamp_millis())
                    .await?;
            }
        }
        Ok(report)
    }
}

/// Steps on a short tick, or at once when the receiver stored a call.
impl Worker for StatusTracker {
    const NAME: &'static str = "status";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let step = self.try_step(Utc::now()).await?;
        if step != TrackerStep::default() {
            tracing::debug!(?step, "status tracker step");
        }
        Ok(Step::Wait(TICK))
    }

    fn after_failure(&self, _failures: u32) -> Duration {
        TICK
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }
}

/// Updates about deliveries the bridge does not have are counted and ignored; iiko creating an
/// order the operators already have is worth a warning (they may enter it twice).
impl StatusTracker {
    /// One `by_id` call for up to 200 orders and its reports applied; `None` when iiko failed.
    async fn read_batch(
        &self,
        organization: Uuid,
        batch: Vec<(i64, Uuid)>,
        map: StatusMapper<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Vec<Applied>, Option<i64>)>, StoreError> {
        let request = DeliveriesByIdRequest {
            organization_id: organization,
            order_ids: Some(batch.iter().map(|(_, delivery)| *delivery).collect()),
            ..DeliveriesByIdRequest::default()
        };
        let response = match self.iiko.deliveries_by_id(&request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(%organization, %error, "reading orders back by id failed");
                return Ok(None);
            }
        };
        let reports: Vec<DeliveryReport> = response.orders.iter().map(report_of).collect();
        let newest = reports.iter().map(|r| r.timestamp).max();
        // iiko answered for all of them, also for those it no longer returns.
        let asked: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let now_ms = now.timestamp_millis();
        let outcomes = apply_read_back(&self.store, &reports, &asked, map, now_ms).await?;
        log_outcomes(&reports, &outcomes, "by_id");
        Ok(Some((outcomes, newest)))
    }

    /// Asks iiko by id about the deliveries whose reports were [`Applied::Unconfirmed`] and
    /// applies its answer; a delivery iiko does not return stays as it was. A failed read is
    /// left to the dispatcher (which follows the creation itself) and to the next poll.
    async fn confirm(
        &self,
        reports: &[DeliveryReport],
        outcomes: &[Applied],
        map: StatusMapper<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>, StoreError> {
        let mut asked: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for (report, _) in reports
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| **outcome == Applied::Unconfirmed)
        {
            let ids = (
                Uuid::parse_str(&report.organization_id),
                Uuid::parse_str(&report.delivery_id),
            );
            if let (Ok(organization), Ok(delivery)) = ids {
                let ids = asked.entry(organization).or_default();
                if !ids.contains(&delivery) {
                    ids.push(delivery);
                }
            }
        }
        let mut applied = Vec::new();
        for (organization, ids) in asked {
            for batch in ids.chunks(BY_ID_BATCH) {
                let request = DeliveriesByIdRequest {
                    organization_id: organization,
                    order_ids: Some(batch.to_vec()),
                    ..DeliveriesByIdRequest::default()
                };
                let response = match self.iiko.deliveries_by_id(&request).await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::warn!(%organization, %error, "confirming a creation by id failed");
                        continue;
                    }
                };
                let reports: Vec<DeliveryReport> = response.orders.iter().map(report_of).collect();
                let now_ms = now.timestamp_millis();
                let outcomes = apply_read_back(&self.store, &reports, &[], map, now_ms).await?;
                log_outcomes(&reports, &outcomes, "by_id");
                applied.extend(outcomes);
            }
        }
        Ok(applied)
    }

    /// Tells the operators about every order iiko created after it went to them, once each
    /// (recorded in the store); when Telegram fails, again after a poll interval.
    async fn alert_late_creations(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let waiting = {
            let next = self
                .late_alerts_after
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            next.is_some_and(|at| at > now)
        };
        // Read first, so an idle step does not write a claim every time.
        if waiting || self.store.unalerted_late_creations().await?.is_empty() {
            return Ok(());
        }
        // Claimed, then read again: what another instance alerted meanwhile is marked.
        let Some(turn) = self.alert_claims.claim("late-creations", now).await? else {
            return Ok(());
        };
        for (id, late) in self.store.unalerted_late_creations().await? {
            if !turn.time_left() {
                break;
            }
            let name = self
                .config
                .branch(&late.branch)
                .map_or(late.branch.as_str(), |b| b.name.as_str());
            if !self.operators.send(&late_creation_text(&late, name)).await {
                tracing::warn!(order = %late.site_id, "late creation alert not delivered; trying again later");
                *self
                    .late_alerts_after
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(now + self.poll_interval());
                break;
            }
            self.store
                .mark_late_alerted(id, now.timestamp_millis())
                .await?;
        }
        self.alert_claims.release(turn).await
    }

    fn poll_interval(&self) -> chrono::Duration {
        chrono::Duration::from_std(Duration::from_secs_f64(
            self.config.status.poll_interval_seconds,
        ))
        .unwrap_or(chrono::Duration::MAX)
    }
}

/// The operators' alert for an order iiko created after it went to them: both the site's
/// order and iiko's, so the one typed in by hand can be found and cancelled.
fn late_creation_text(late: &LateCreation, branch_name: &str) -> String {
    let by_hand = match late.state {
        crate::store::OrderState::Resolved => "уже введён вручную",
        _ => "передан вам для ввода вручную",
    };
    format!(
        "⚠️ <b>iiko всё же создал заказ {} филиала {}</b>, который {by_hand}: в iiko это заказ № {} (id {}). Проверьте iikoFront и отмените лишний, чтобы его не приготовили дважды.",
        html::escape(&late.site_id),
        html::escape(branch_name),
        late.number,
        html::escape(&late.iiko_order_id),
    )
}

fn log_outcomes(reports: &[DeliveryReport], outcomes: &[Applied], source: &str) {
    for (report, outcome) in reports.iter().zip(outcomes) {
        match outcome {
            Applied::Unknown => tracing::info!(delivery = %report.delivery_id, source,
                "iiko update for an order the bridge does not have; ignored"),
            Applied::LateCreation(late) => tracing::warn!(delivery = %report.delivery_id, source,
                order = %late.site_id, branch = %late.branch,
                "iiko created an order that was already handed to the operators"),
            _ => {}
        }
    }
}
