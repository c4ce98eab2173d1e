//! Delivers the site events outbox (CONTRACT section 2) to `site.events_url`.
//!
//! Each event was written with its body in the transaction of its change; here it is POSTed,
//! byte for byte, signed with Standard Webhooks headers under its stable `webhook-id`, until
//! the site answers 2xx: at least once, and in order per order (an order's later event waits
//! until the earlier ones are delivered, other orders' events do not). The store is never held
//! across an HTTP call. A 410 Gone means the site dropped the endpoint: delivery to that URL
//! stops for good (remembered in the store) and operators hear of it once.
use std::{
    future::Future,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use url::Url;

use super::{alerts::OperatorChats, error_chain, html};
use crate::{
    config::Config,
    http::signature::{WebhookSecret, sign},
    store::{DueEvent, EventAttempt, EventAttemptEnd, Store, StoreError},
};

/// Events taken per step (at most one per order).
const BATCH: i64 = 64;
/// POSTs in flight at once: a slow site must not tie up more than this.
const CONCURRENCY: usize = 8;
/// How often `run` looks for due events.
const TICK: Duration = Duration::from_secs(1);
/// How often `run` deletes old events.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Where events go and how they are signed.
#[derive(Clone)]
struct Target {
    url: Url,
    secret: WebhookSecret,
    http: reqwest::Client,
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
}

/// Sends due site events; see the module docs.
#[derive(Clone)]
pub struct EventsWorker {
    store: Store,
    target: Option<Target>,
    operators: OperatorChats,
    delays: Vec<Duration>,
    retention: Duration,
}

impl EventsWorker {
    /// From `[site]`: without `events_url` nothing is sent and events are only pruned.
    pub fn from_config(store: Store, config: &Config) -> anyhow::Result<EventsWorker> {
        let site = &config.site;
        let target = match (&site.events_url, &site.events_secret) {
            (Some(url), Some(secret)) => Some(Target {
                url: url.clone(),
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
        Ok(EventsWorker {
            store,
            target,
            operators: OperatorChats::from_config(&config.telegram),
            delays: site
                .events_retry_delays_seconds
                .iter()
                .map(|&s| Duration::from_secs_f64(s))
                .collect(),
            retention: Duration::from_secs_f64(site.events_retention_days * 86_400.0),
        })
    }

    /// Delivers the events due at `now` (one per order, a batch at most) and records every
    /// attempt. Does not sleep, so tests drive it with any `now`.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<EventsStep, StoreError> {
        let Some(target) = &self.target else {
            return Ok(EventsStep::default());
        };
        let mut step = EventsStep::default();
        if let Some(stop) = self.store.stopped_event_url(target.url.as_str()).await? {
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
        let due = self
            .store
            .due_site_events(now.timestamp_millis(), BATCH)
            .await?;
        step.sent = due.len();
        // Collected first: rustc cannot prove a lazy map of borrowing futures `Send` inside
        // `tokio::spawn` (rust-lang/rust#102211).
        let sends: Vec<_> = due
            .iter()
            .map(|event| self.deliver(target, event, now))
            .collect();
        let mut sent = stream::iter(sends).buffer_unordered(CONCURRENCY);
        while let Some(result) = sent.next().await {
            match result? {
                (EventAttemptEnd::Delivered, _) => step.delivered += 1,
                (EventAttemptEnd::Retry { .. }, _) => step.retrying += 1,
                (EventAttemptEnd::Gone, stopped) => step.stopped += stopped as usize,
            }
        }
        if step.stopped > 0 {
            step.alerted = self.alert_gone(target, now).await?;
        }
        Ok(step)
    }

    /// Deletes delivered and stopped events older than `site.events_retention_days`, and
    /// without `site.events_url` pending ones too (nobody will ever take them).
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = now - chrono::Duration::from_std(self.retention).unwrap_or_default();
        self.store
            .prune_site_events(before.timestamp_millis(), self.target.is_none())
            .await
    }

    /// Steps every second (at once again after a full batch) and prunes every hour until
    /// `shutdown`; the step in flight finishes first. A store error is logged and the next
    /// tick retries.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at: Option<Instant> = None;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                        pruned_at = Some(Instant::now());
                        match self.prune(Utc::now()).await {
                            Ok(0) => {}
                            Ok(pruned) => tracing::info!(pruned, "old site events deleted"),
                            Err(error) => tracing::error!(%error, "pruning site events failed"),
                        }
                    }
                    match self.try_step(Utc::now()).await {
                        // A backlog (the site was down) drains without waiting for ticks.
                        Ok(step) if step.sent as i64 == BATCH => tick.reset_immediately(),
                        Ok(_) => {}
                        Err(error) => tracing::error!(%error, "site events step failed"),
                    }
                }
            }
        }
    }

    /// POSTs one event and records the attempt with its consequence (and how many events a
    /// 410 stopped).
    async fn deliver(
        &self,
        target: &Target,
        event: &DueEvent,
        now: DateTime<Utc>,
    ) -> Result<(EventAttemptEnd, u64), StoreError> {
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
            Err(error) => (None, Some(error_chain(&error))),
        };
        let end = match status {
            Some(status) if status.is_success() => EventAttemptEnd::Delivered,
            Some(StatusCode::GONE) => EventAttemptEnd::Gone,
            _ => {
                let wait = retry_delay(&self.delays, event.attempts + 1);
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
        };
        metrics::counter!("iiko_bridge_site_events_total", "type" => event.kind.clone(), "outcome" => outcome)
            .increment(1);
        if let Some(error) = &error {
            tracing::warn!(event = %event.event_id, kind = %event.kind, branch = %event.branch,
                order = ?event.order_id, attempts = event.attempts + 1, %error, "site event not delivered");
        }
        let stopped = self
            .store
            .finish_site_event_attempt(
                event.id,
                &EventAttempt {
                    at_ms: now.timestamp_millis(),
                    url: target.url.as_str(),
                    http_status: status.map(|s| s.as_u16()),
                    error: error.as_deref(),
                    latency_ms,
                },
                &end,
            )
            .await?;
        Ok((end, stopped))
    }

    /// Tells operators once that the site's URL is gone; `true` once the alert is done with.
    async fn alert_gone(&self, target: &Target, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let url = target.url.as_str();
        if self
            .store
            .stopped_event_url(url)
            .await?
            .is_some_and(|stop| stop.alerted)
        {
            return Ok(false);
        }
        // The query or the user part may hold the site's credentials: the alert shows the rest.
        let mut shown = target.url.clone();
        shown.set_query(None);
        let _ = shown.set_password(None);
        let text = format!(
            "🔴 <b>Сайт ответил 410 Gone на событие</b>: отправка событий на {} остановлена.\nСайт больше не получает новости о заказах и меню. Укажите новый адрес в <code>site.events_url</code>, чтобы возобновить отправку.",
            html::escape(shown.as_str())
        );
        if !self.operators.send(&text).await {
            return Ok(false);
        }
        self.store
            .mark_event_url_alerted(url, now.timestamp_millis())
            .await?;
        Ok(true)
    }
}

/// The wait after the `attempts`-th failed attempt: the `attempts`-th delay, then the last one.
pub fn retry_delay(delays: &[Duration], attempts: i64) -> Duration {
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(0);
    delays
        .get(index)
        .or(delays.last())
        .copied()
        .unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_follow_the_settings_and_the_last_one_repeats() {
        let delays: Vec<Duration> = [5, 30, 120].map(Duration::from_secs).to_vec();
        let waits: Vec<u64> = (1..=5).map(|n| retry_delay(&delays, n).as_secs()).collect();
        assert_eq!(waits, [5, 30, 120, 120, 120]);
        assert_eq!(retry_delay(&delays, 0).as_secs(), 5);
    }
}
