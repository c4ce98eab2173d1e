//! Delivers the site events outbox (CONTRACT section 2) to `site.events_url`.
//!
//! Each event was written with its body in the transaction of its change; here it is POSTed,
//! byte for byte, signed with Standard Webhooks headers under its stable `webhook-id`, until
//! the site answers 2xx: at least once, and in order per order (an order's later event waits
//! until the earlier ones are delivered, other orders' events do not). The store is never held
//! across an HTTP call. A 410 Gone means the site dropped the endpoint: delivery to that URL
//! stops for good (remembered in the store) and operators hear of it once. An event the site
//! keeps refusing for `site.events_give_up_hours` becomes `dead`: operators hear of it once,
//! the order's later events go on without it (the site would rather have the news late than
//! never), and `events redeliver` queues it again.
//!
//! The URL may carry the site's credentials (`https://user:pass@host/`, `?token=...`): it is
//! stored, logged and shown redacted, also inside error messages.
//!
//! When the store cannot record an attempt, the step stops sending: the outcomes already had
//! are kept and recorded first at the next step, and the worker pauses with growing delays.
//!
//! Several instances share the outbox: each event is claimed before it is POSTed, by this
//! worker's id under a lease of its own that outlasts the step's POSTs, and only that lease
//! records the outcome. An instance that dies mid-send leaves its claims to run out; the
//! events are then due again and go out once more under the same `webhook-id` (at least
//! once). An order never has two events in flight (see `store::claims`).
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use url::Url;

use super::{
    alerts::{AlertClaims, OperatorChats},
    error_chain, html, redact,
};
use crate::{
    config::Config,
    retry::{self, Pause},
    signing::{WebhookSecret, sign},
    store::{DueEvent, EventAttempt, EventAttemptEnd, Store, StoreError, StoredEvent},
    worker::{Step, Worker},
};

/// Events taken per step (at most one per order).
const BATCH: i64 = 64;
/// POSTs in flight at once: a slow site must not tie up more than this.
const CONCURRENCY: usize = 8;
/// How often the loop looks for due events.
const TICK: Duration = Duration::from_secs(1);
/// How often the loop deletes old events.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// A claim outlasts the step's POSTs by this much: time to record their outcomes.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Steps every second (at once again after a full batch) and prunes every hour; a store error
/// pauses the worker, longer each time in a row, until the store records again.
impl Worker for EventsWorker {
    const NAME: &'static str = "events";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        let prune = {
            let mut memory = self.memory();
            let due = memory
                .pruned_at
                .is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
            if due {
                memory.pruned_at = Some(Instant::now());
            }
            due
        };
        if prune {
            match self.prune(Utc::now()).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "old site events deleted"),
                Err(error) => tracing::error!(%error, "pruning site events failed"),
            }
        }
        let step = self.try_step(Utc::now()).await?;
        // A backlog (the site was down) drains without waiting for ticks.
        Ok(match step.sent as i64 == BATCH {
            true => Step::Again,
            false => Step::Wait(TICK),
        })
    }
}

/// Where events go and how they are signed.
#[derive(Clone)]
struct Target {
    url: Url,
    /// The URL as stored and shown: see [`redact_url`].
    shown: String,
    /// The URL's secret parts, cut out of any error text.
    secrets: Vec<String>,
    secret: WebhookSecret,
    http: reqwest::Client,
}

/// `url` with its user name, password and query values replaced, fragment dropped: what may
/// be stored, logged and shown.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username("redacted");
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some("redacted"));
    }
    if shown.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
        let mut pairs = shown.query_pairs_mut();
        pairs.clear();
        for key in keys {
            pairs.append_pair(&key, "redacted");
        }
    }
    shown.set_fragment(None);
    shown.to_string()
}

/// The parts of `url` that [`redact_url`] hides, as written and decoded, longest first. Parts
/// shorter than four characters are left out: cutting every "v=2" out of an error text would
/// garble it, and they are hardly secrets.
fn url_secrets(url: &Url) -> Vec<String> {
    let query = url.query().unwrap_or_default();
    let values = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, value)| value));
    let mut secrets: Vec<String> = std::iter::once(url.username())
        .chain(url.password())
        .chain(values)
        .flat_map(|written| {
            let decoded = url::form_urlencoded::parse(format!("x={written}").as_bytes())
                .next()
                .map(|(_, decoded)| decoded.into_owned());
            [Some(written.to_owned()), decoded]
        })
        .flatten()
        .filter(|secret| secret.len() >= 4)
        .collect();
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets.dedup();
    secrets
}

/// An attempt made but not yet recorded (the store refused it): recorded first next time.
#[derive(Debug, Clone)]
struct Unrecorded {
    id: i64,
    /// The claim it was sent under: only it records the outcome.
    lease_id: String,
    at_ms: i64,
    http_status: Option<u16>,
    error: Option<String>,
    latency_ms: i64,
    end: EventAttemptEnd,
}

/// An alert sent whose sending the store did not record yet.
#[derive(Debug, Clone)]
enum UnrecordedAlert {
    Gone(String),
    Dead(Vec<i64>),
}

/// What the worker keeps in memory between steps while the store cannot record.
#[derive(Debug, Default)]
struct Memory {
    attempts: Vec<Unrecorded>,
    alerts: Vec<UnrecordedAlert>,
    /// Alerts Telegram did not take wait here before the next try.
    alert_pause: Pause,
    /// When the loop last deleted old events.
    pruned_at: Option<Instant>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsStep {
    /// Events taken (a full batch means more may be due).
    pub sent: usize,
    pub delivered: usize,
    pub retrying: usize,
    /// Events stopped because the URL answered (or had answered) 410 Gone.
    pub stopped: usize,
    /// Operators were told the URL is gone.
    pub alerted: bool,
    /// Events that gave up (`site.events_give_up_hours`) in this step.
    pub dead: usize,
    /// Operators were told about dead events.
    pub dead_alerted: bool,
}

/// Sends due site events; see the module docs.
#[derive(Clone)]
pub struct EventsWorker {
    store: Store,
    target: Option<Target>,
    operators: OperatorChats,
    alert_claims: AlertClaims,
    /// This worker's id in its claims (each claim has a lease id of its own besides).
    claimer: String,
    /// How long a claim holds.
    lease: Duration,
    delays: Vec<Duration>,
    retention: Duration,
    give_up: Duration,
    memory: Arc<Mutex<Memory>>,
}

impl EventsWorker {
    /// From `[site]`: without `events_url` nothing is sent and events are only pruned.
    pub fn from_config(store: Store, config: &Config) -> anyhow::Result<EventsWorker> {
        let site = &config.site;
        let target = match (&site.events_url, &site.events_secret) {
            (Some(url), Some(secret)) => Some(Target {
                url: url.clone(),
                shown: redact_url(url),
                secrets: url_secrets(url),
                secret: WebhookSecret::parse(secret.expose_secret())
                    .map_err(|e| anyhow::anyhow!("site.events_secret: {e}"))?,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs_f64(site.events_timeout_seconds))
                    // A redirect of a POST is a misconfigured URL, not a delivery.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("iiko-bridge/", env!("CARGO_PKG_VERSION")))
                    .build()?,
            }),
            (Some(_), None) => anyhow::bail!("site.events_secret: required with site.events_url"),
            (None, _) => None,
        };
        // A step's batch goes out CONCURRENCY at a time, each POST cut off at the timeout.
        let rounds = (BATCH as u32).div_ceil(CONCURRENCY as u32);
        let lease = Duration::from_secs_f64(site.events_timeout_seconds) * rounds + LEASE_MARGIN;
        Ok(EventsWorker {
            alert_claims: AlertClaims::new(store.clone()),
            store,
            target,
            operators: OperatorChats::from_config(&config.telegram),
            claimer: uuid::Uuid::new_v4().simple().to_string(),
            lease,
            delays: site
                .events_retry_delays_seconds
                .iter()
                .map(|&s| Duration::from_secs_f64(s))
                .collect(),
            retention: Duration::from_secs_f64(site.events_retention_days * 86_400.0),
            give_up: Duration::from_secs_f64(site.events_give_up_hours * 3_600.0),
            memory: Arc::default(),
        })
    }

    /// Delivers the events due at `now` (one per order, a batch at most) and records every
    /// attempt. Does not sleep, so tests drive it with any `now`.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<EventsStep, StoreError> {
        let Some(target) = &self.target else {
            return Ok(EventsStep::default());
        };
        self.record_unrecorded().await?;
        let mut step = EventsStep::default();
        if let Some(stop) = self.store.stopped_event_url(&target.shown).await? {
            // Events written since the 410 have nowhere to go either; read first, so an idle
            // step does not take the store's write lock every second.
            if self.store.pending_site_events().await? > 0 {
                step.stopped = self
                    .store
                    .stop_pending_site_events("the site answered 410 Gone")
                    .await? as usize;
            }
            if !stop.alerted {
                step.alerted = self.alert_gone(target, now).await?;
            }
            return Ok(step);
        }
        let expires = now + chrono::Duration::from_std(self.lease).expect("a short lease");
        let due = self
            .store
            .claim_site_events(
                &self.claimer,
                now.timestamp_millis(),
                expires.timestamp_millis(),
                BATCH as usize,
            )
            .await?;
        step.sent = due.len();
        // Collected first: rustc cannot prove a lazy map of borrowing futures `Send` inside
        // `tokio::spawn` (rust-lang/rust#102211).
        let sends: Vec<_> = due
            .iter()
            .map(|event| self.deliver(target, event, now))
            .collect();
        let mut sent = stream::iter(sends).buffer_unordered(CONCURRENCY);
        while let Some(attempt) = sent.next().await {
            let end = attempt.end.clone();
            let stopped = match self.record(target, &attempt).await {
                Ok(Some(stopped)) => stopped,
                // Another instance took the event over: its attempt counts, not this one.
                Ok(None) => continue,
                Err(error) => {
                    // Stop sending: the POSTs still in flight are dropped (sent again later,
                    // under the same webhook-id); this outcome is recorded first next time.
                    self.memory().attempts.push(attempt);
                    return Err(error);
                }
            };
            match end {
                EventAttemptEnd::Delivered => step.delivered += 1,
                EventAttemptEnd::Retry { .. } => step.retrying += 1,
                EventAttemptEnd::Gone => step.stopped += stopped as usize,
                EventAttemptEnd::Dead => step.dead += 1,
            }
        }
        if step.stopped > 0 {
            step.alerted = self.alert_gone(target, now).await?;
        }
        step.dead_alerted = self.alert_dead(target, now).await?;
        Ok(step)
    }

    /// Records what earlier steps sent but could not record; an error leaves the rest kept.
    async fn record_unrecorded(&self) -> Result<(), StoreError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let (attempts, alerts) = {
            let mut memory = self.memory();
            (
                std::mem::take(&mut memory.attempts),
                std::mem::take(&mut memory.alerts),
            )
        };
        let mut attempts = attempts.into_iter();
        while let Some(attempt) = attempts.next() {
            if let Err(error) = self.record(target, &attempt).await {
                let mut memory = self.memory();
                memory.attempts.push(attempt);
                memory.attempts.extend(attempts);
                memory.alerts.extend(alerts);
                return Err(error);
            }
        }
        let mut alerts = alerts.into_iter();
        while let Some(alert) = alerts.next() {
            if let Err(error) = self.record_alert(&alert).await {
                let mut memory = self.memory();
                memory.alerts.push(alert);
                memory.alerts.extend(alerts);
                return Err(error);
            }
        }
        Ok(())
    }

    /// `None` when this worker's claim ran out and another took the event over (logged).
    async fn record(
        &self,
        target: &Target,
        attempt: &Unrecorded,
    ) -> Result<Option<u64>, StoreError> {
        let recorded = self
            .store
            .finish_site_event_attempt(
                attempt.id,
                &attempt.lease_id,
                &EventAttempt {
                    at_ms: attempt.at_ms,
                    url: &target.shown,
                    http_status: attempt.http_status,
                    error: attempt.error.as_deref(),
                    latency_ms: attempt.latency_ms,
                },
                &attempt.end,
            )
            .await?;
        if recorded.is_none() {
            tracing::warn!(
                event = attempt.id,
                "site event attempt not recorded: its claim ran out and another instance took the event over"
            );
        }
        Ok(recorded)
    }

    async fn record_alert(&self, alert: &UnrecordedAlert) -> Result<(), StoreError> {
        let now_ms = Utc::now().timestamp_millis();
        match alert {
            UnrecordedAlert::Gone(url) => self.store.mark_event_url_alerted(url, now_ms).await,
            UnrecordedAlert::Dead(ids) => {
                self.store.mark_dead_site_events_alerted(ids, now_ms).await
            }
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `text` to the operators unless an earlier alert failed lately; `true` once sent.
    async fn alert(&self, text: &str, now: DateTime<Utc>) -> bool {
        if !self.memory().alert_pause.ready(now) {
            return false;
        }
        let sent = self.operators.send(text).await;
        let mut memory = self.memory();
        if sent {
            memory.alert_pause.succeeded();
        } else {
            let pause = memory.alert_pause.failed(now);
            tracing::warn!(
                ?pause,
                "operator alert about site events not sent; trying again later"
            );
        }
        sent
    }

    /// Deletes delivered and stopped events older than `site.events_retention_days`, and
    /// without `site.events_url` pending ones too (nobody will ever take them).
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = now - chrono::Duration::from_std(self.retention).unwrap_or_default();
        self.store
            .prune_site_events(before.timestamp_millis(), self.target.is_none())
            .await
    }

    /// POSTs one event; the outcome is recorded by the caller.
    async fn deliver(&self, target: &Target, event: &DueEvent, now: DateTime<Utc>) -> Unrecorded {
        let started = Instant::now();
        // The signature's timestamp is the wall clock: the site checks it against its own.
        let timestamp = Utc::now().timestamp();
        let signature = sign(
            &target.secret,
            &event.event_id,
            timestamp,
            event.body.as_bytes(),
        );
        let answer = target
            .http
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &event.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.body.clone())
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status, error) = match answer {
            Ok(response) if response.status().is_success() => (Some(response.status()), None),
            Ok(response) => (
                Some(response.status()),
                Some(format!("the site answered {}", response.status())),
            ),
            // Without the URL, and with its secrets cut out of the causes too.
            Err(error) => (
                None,
                Some(redact(
                    &error_chain(&error.without_url()),
                    &target
                        .secrets
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                )),
            ),
        };
        let given_up = gives_up(
            event.attempts,
            event.queued_at_ms,
            now.timestamp_millis(),
            self.give_up,
        );
        let end = match status {
            Some(status) if status.is_success() => EventAttemptEnd::Delivered,
            Some(StatusCode::GONE) => EventAttemptEnd::Gone,
            _ if given_up => EventAttemptEnd::Dead,
            _ => {
                let wait = retry::listed(&self.delays, event.attempts + 1);
                EventAttemptEnd::Retry {
                    next_attempt_at_ms: (now
                        + chrono::Duration::from_std(wait).unwrap_or_default())
                    .timestamp_millis(),
                }
            }
        };
        let outcome = match &end {
            EventAttemptEnd::Delivered => "delivered",
            EventAttemptEnd::Retry { .. } => "failed",
            EventAttemptEnd::Gone => "gone",
            EventAttemptEnd::Dead => "dead",
        };
        metrics::counter!("iiko_bridge_site_events_total", "type" => event.kind.clone(), "outcome" => outcome)
            .increment(1);
        if let Some(error) = &error {
            tracing::warn!(event = %event.event_id, kind = %event.kind, branch = %event.branch,
                order = ?event.order_id, attempts = event.attempts + 1, %error, "site event not delivered");
        }
        if end == EventAttemptEnd::Dead {
            tracing::error!(event = %event.event_id, kind = %event.kind, branch = %event.branch,
                order = ?event.order_id, "site event given up (site.events_give_up_hours)");
        }
        Unrecorded {
            id: event.id,
            lease_id: event.lease_id.clone(),
            at_ms: now.timestamp_millis(),
            http_status: status.map(|s| s.as_u16()),
            error,
            latency_ms,
            end,
        }
    }

    /// Tells operators once that the site's URL is gone; `true` once the alert is done with.
    async fn alert_gone(&self, target: &Target, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let url = target.shown.as_str();
        let Some(turn) = self.alert_claims.claim(&format!("gone {url}"), now).await? else {
            return Ok(false);
        };
        let alerted = self.alert_gone_claimed(url, now).await?;
        self.alert_claims.release(turn).await?;
        Ok(alerted)
    }

    /// [`Self::alert_gone`] under its claim: read after the claim, so an alert another
    /// instance sent and marked is not sent again.
    async fn alert_gone_claimed(&self, url: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        if self
            .store
            .stopped_event_url(url)
            .await?
            .is_some_and(|stop| stop.alerted)
        {
            return Ok(false);
        }
        let text = format!(
            "🔴 <b>Сайт ответил 410 Gone на событие</b>: отправка событий на {} остановлена.\nСайт больше не получает новости о заказах и меню. Укажите новый адрес в <code>site.events_url</code>, чтобы возобновить отправку.",
            html::escape(url)
        );
        if !self.alert(&text, now).await {
            return Ok(false);
        }
        let alert = UnrecordedAlert::Gone(url.to_owned());
        if let Err(error) = self.record_alert(&alert).await {
            self.memory().alerts.push(alert);
            return Err(error);
        }
        Ok(true)
    }

    /// Tells operators once about events that gave up; `true` when an alert went out.
    async fn alert_dead(&self, target: &Target, now: DateTime<Utc>) -> Result<bool, StoreError> {
        // Read first, so an idle step does not write a claim every second.
        if self.store.dead_site_events_to_alert().await?.is_empty() {
            return Ok(false);
        }
        let Some(turn) = self.alert_claims.claim("dead-events", now).await? else {
            return Ok(false);
        };
        // Read again under the claim: what another instance alerted meanwhile is marked.
        let dead = self.store.dead_site_events_to_alert().await?;
        if dead.is_empty() || !self.alert(&dead_alert(&dead, &target.shown), now).await {
            self.alert_claims.release(turn).await?;
            return Ok(false);
        }
        let alert = UnrecordedAlert::Dead(dead.iter().map(|event| event.id).collect());
        if let Err(error) = self.record_alert(&alert).await {
            self.memory().alerts.push(alert);
            return Err(error);
        }
        self.alert_claims.release(turn).await?;
        Ok(true)
    }
}

/// How many dead events one alert names; the rest are counted.
const DEAD_LISTED: usize = 20;

fn dead_alert(dead: &[StoredEvent], url: &str) -> String {
    let mut text = format!(
        "🔴 <b>Сайт не принял {} событий</b> ({}) за отведённое время (<code>site.events_give_up_hours</code>); отправка прекращена:\n",
        dead.len(),
        html::escape(url),
    );
    for event in dead.iter().take(DEAD_LISTED) {
        text.push_str(&format!(
            "• {} {} {}: {}\n",
            html::escape(&event.event_id),
            html::escape(&event.kind),
            html::escape(event.order_id.as_deref().unwrap_or(&event.branch)),
            html::escape(event.last_error.as_deref().unwrap_or("—")),
        ));
    }
    if dead.len() > DEAD_LISTED {
        text.push_str(&format!("… и ещё {}\n", dead.len() - DEAD_LISTED));
    }
    text.push_str("Отправить снова: <code>iiko-bridge events redeliver --dead</code>.");
    text
}

/// Whether an event refused once more now gives up: refused before (`attempts` earlier
/// attempts), and queued at least `give_up` ago. A bridge that was itself down for days does
/// not give up on an event at its first try.
fn gives_up(attempts: i64, queued_at_ms: i64, now_ms: i64, give_up: Duration) -> bool {
    attempts > 0
        && now_ms.saturating_sub(queued_at_ms)
            >= i64::try_from(give_up.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_gives_up_only_when_refused_before_and_queued_long_enough() {
        let hour = Duration::from_secs(3600);
        let h = 3_600_000;
        assert!(!gives_up(3, 0, h - 1, hour));
        assert!(gives_up(3, 0, h, hour));
        assert!(!gives_up(0, 0, 100 * h, hour), "a first try never gives up");
        assert!(
            !gives_up(5, 50 * h, 50 * h + 10, hour),
            "redelivered: counted afresh"
        );
    }

    #[test]
    fn a_url_is_shown_without_its_user_password_and_query_values() {
        let url: Url = "https://shop:p%40ss@example.ru/events?token=s3cr%2Bt&v=2#frag"
            .parse()
            .unwrap();
        assert_eq!(
            redact_url(&url),
            "https://redacted:redacted@example.ru/events?token=redacted&v=redacted"
        );
        let secrets = url_secrets(&url);
        for secret in ["shop", "p%40ss", "p@ss", "s3cr%2Bt", "s3cr+t"] {
            assert!(secrets.iter().any(|s| s == secret), "{secret}: {secrets:?}");
        }
        let plain: Url = "https://example.ru/events".parse().unwrap();
        assert_eq!(redact_url(&plain), "https://example.ru/events");
        assert!(url_secrets(&plain).is_empty());
    }
}
