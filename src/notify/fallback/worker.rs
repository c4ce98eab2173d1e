//! Sends stored fallback deliveries, each channel and recipient retried on its own, and tells
//! operators about an order no channel got through.
use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{FallbackMessage, Handover};
use crate::config::FallbackConfig;
use crate::notify::{Email, Mailer, Telegram, alerts::OperatorChats, html};
use crate::store::{
    FallbackChannel, FallbackDelivery, NewDelivery, NewFallback, Store, StoreError,
    UndeliveredFallback,
};

pub use crate::store::FALLBACK_ATTEMPTS_BEFORE_ALERT as ATTEMPTS_BEFORE_ALERT;

const FIRST_RETRY: Duration = Duration::from_secs(5);
const LONGEST_RETRY: Duration = Duration::from_secs(5 * 60);
/// Deliveries sent per step; the rest wait for the next step.
const BATCH: u32 = 50;
/// How often `run` looks for due deliveries.
const TICK: Duration = Duration::from_secs(1);

/// The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s ... at most 5 min, spread
/// by `jitter` (0..1 maps to -20 %..+20 %) so deliveries that failed together do not retry in
/// lockstep against a server that is just coming back.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let base = FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY);
    base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
        .min(LONGEST_RETRY)
}

/// Hands an order to staff: stores one delivery per e-mail address and Telegram chat of the
/// branch, in one transaction. `false` when the order was already handed over (nothing is
/// sent twice). The worker sends them.
pub async fn enqueue_fallback(
    store: &Store,
    branch: &str,
    order_id: &str,
    message: &FallbackMessage,
    recipients: &FallbackConfig,
) -> Result<bool, StoreError> {
    let emails = recipients.emails.iter().map(|address| NewDelivery {
        channel: FallbackChannel::Email,
        recipient: address.trim().to_owned(),
        subject: Some(&message.email_subject),
        body: &message.email_text,
        html: Some(&message.email_html),
    });
    let chats = recipients.telegram_chats.iter().map(|chat| NewDelivery {
        channel: FallbackChannel::Telegram,
        recipient: chat.to_string(),
        subject: None,
        body: &message.telegram_html,
        html: None,
    });
    store
        .insert_fallback(&NewFallback {
            branch,
            order_id,
            number: &message.number,
            reason: &message.reason,
            created_at: Utc::now(),
            deliveries: emails.chain(chats).collect(),
        })
        .await
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Orders newly handed to the channels.
    pub handed_over: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Orders operators were told about.
    pub alerted: usize,
}

/// Sends due fallback deliveries through the channels it has.
#[derive(Clone)]
pub struct FallbackWorker {
    store: Store,
    mailer: Option<Mailer>,
    telegram: Option<Telegram>,
    operators: OperatorChats,
    handover: Option<Handover>,
}

enum Outcome {
    Delivered,
    Retry(String, Option<Duration>),
    Failed(String),
}

impl FallbackWorker {
    /// `None` for a channel that is not configured: its deliveries fail for good, visibly.
    pub fn new(
        store: Store,
        mailer: Option<Mailer>,
        telegram: Option<Telegram>,
        operators: OperatorChats,
    ) -> FallbackWorker {
        FallbackWorker {
            store,
            mailer,
            telegram,
            operators,
            handover: None,
        }
    }

    /// Also hands each order that enters `fallback` to the channels, at the start of a step.
    pub fn with_handover(self, handover: Handover) -> FallbackWorker {
        FallbackWorker {
            handover: Some(handover),
            ..self
        }
    }

    /// Sends what is due at `now`, records each outcome, then alerts operators about orders no
    /// channel got through. Does not sleep, so tests drive it with any `now`.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<StepReport, StoreError> {
        let handed_over = match &self.handover {
            Some(handover) => handover.try_step().await?,
            None => 0,
        };
        let due = self.store.due_fallback_deliveries(now, BATCH).await?;
        // All at once: a hanging SMTP server must not hold back the Telegram messages.
        let outcomes = join_all(due.iter().map(|delivery| self.send(delivery))).await;
        let mut report = StepReport {
            handed_over,
            ..StepReport::default()
        };
        for (delivery, outcome) in due.iter().zip(outcomes) {
            // A crash between sending and this write sends the message again after restart:
            // a duplicate is better than a lost order.
            match outcome {
                Outcome::Delivered => {
                    fallback_metric(delivery, "delivered");
                    self.store.mark_fallback_delivered(delivery.id, now).await?;
                    report.delivered += 1;
                }
                Outcome::Retry(error, asked) => {
                    fallback_metric(delivery, "retrying");
                    let wait = backoff(delivery.attempts + 1, rand::random())
                        .max(asked.unwrap_or_default());
                    tracing::warn!(order = %delivery.order_id, channel = ?delivery.channel,
                        recipient = %delivery.recipient, %error, ?wait, "fallback delivery will be retried");
                    self.store
                        .mark_fallback_retry(delivery.id, &error, now + wait)
                        .await?;
                    report.retrying += 1;
                }
                Outcome::Failed(error) => {
                    fallback_metric(delivery, "failed");
                    tracing::error!(order = %delivery.order_id, channel = ?delivery.channel,
                        recipient = %delivery.recipient, %error, "fallback delivery failed for good");
                    self.store.mark_fallback_failed(delivery.id, &error).await?;
                    report.failed += 1;
                }
            }
        }
        for order in self.store.fallbacks_to_alert().await? {
            // Marked only once sent, so an alert lost to a Telegram outage is sent later.
            if self.operators.send(&undelivered_alert(&order)).await {
                self.store
                    .mark_fallback_alerted(&order.branch, &order.order_id, now)
                    .await?;
                report.alerted += 1;
            }
        }
        Ok(report)
    }

    /// Steps every second until `shutdown`; a store error is logged and the next tick retries.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    if let Err(error) = self.try_step(Utc::now()).await {
                        tracing::error!(%error, "fallback worker step failed");
                    }
                }
            }
        }
    }

    async fn send(&self, delivery: &FallbackDelivery) -> Outcome {
        match delivery.channel {
            FallbackChannel::Email => {
                let Some(mailer) = &self.mailer else {
                    return Outcome::Failed("e-mail is not configured (email.smtp_url)".into());
                };
                let email = Email {
                    to: vec![delivery.recipient.clone()],
                    subject: delivery.subject.clone().unwrap_or_default(),
                    text: delivery.body.clone(),
                    html: delivery.html.clone(),
                };
                match mailer.send(&email).await {
                    Ok(()) => Outcome::Delivered,
                    Err(error) if error.is_retryable() => Outcome::Retry(error.to_string(), None),
                    Err(error) => Outcome::Failed(error.to_string()),
                }
            }
            FallbackChannel::Telegram => {
                let Some(telegram) = &self.telegram else {
                    return Outcome::Failed(
                        "Telegram is not configured (telegram.bot_token)".into(),
                    );
                };
                let Ok(chat) = delivery.recipient.parse::<i64>() else {
                    return Outcome::Failed(format!("invalid chat id {:?}", delivery.recipient));
                };
                match telegram.send_html(chat, &delivery.body).await {
                    Ok(()) => Outcome::Delivered,
                    Err(error) if error.is_retryable() => {
                        Outcome::Retry(error.to_string(), error.retry_after())
                    }
                    Err(error) => Outcome::Failed(error.to_string()),
                }
            }
        }
    }
}

fn fallback_metric(delivery: &FallbackDelivery, outcome: &'static str) {
    let channel = match delivery.channel {
        FallbackChannel::Email => "email",
        FallbackChannel::Telegram => "telegram",
    };
    metrics::counter!("iiko_bridge_fallback_deliveries_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
}

fn undelivered_alert(order: &UndeliveredFallback) -> String {
    let mut text = format!(
        "🚨 <b>Заказ {} (филиал {}) не дошёл до персонала ни по одному каналу</b>\niiko не принял его: {}\n",
        html::escape(&order.number),
        html::escape(&order.branch),
        html::escape(&order.reason),
    );
    if order.deliveries.is_empty() {
        text.push_str(
            "У филиала не настроены получатели (fallback.emails, fallback.telegram_chats).\n",
        );
    }
    for delivery in &order.deliveries {
        text.push_str(&format!(
            "• {} {}: {}\n",
            match delivery.channel {
                FallbackChannel::Email => "e-mail",
                FallbackChannel::Telegram => "Telegram",
            },
            html::escape(&delivery.recipient),
            html::escape(delivery.last_error.as_deref().unwrap_or("—")),
        ));
    }
    text.push_str("Свяжитесь с филиалом; заказ виден в <code>iiko-bridge orders</code>.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n, 0.5).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX, 0.5), LONGEST_RETRY);
    }

    #[test]
    fn jitter_spreads_a_wait_by_a_fifth_either_way_and_never_past_the_cap() {
        assert_eq!(backoff(1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(1, 1.0), Duration::from_secs(6));
        assert_eq!(backoff(20, 1.0), LONGEST_RETRY);
        assert!(backoff(20, 0.0) < LONGEST_RETRY);
    }
}
