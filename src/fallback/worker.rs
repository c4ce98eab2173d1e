//! Sends stored fallback deliveries, each channel and recipient retried on its own, and tells
//! operators about an order no channel got through.
//!
//! Never twice because the store failed: each batch is marked as being sent before anything
//! goes out (if that write fails, nothing is sent), and an outcome the store then refuses to
//! record is kept in memory and recorded before anything else at the next step; meanwhile
//! nothing is sent and the worker pauses, longer each time. Only a process that stops between
//! sending and recording leaves a row marked as being sent: it is sent again after the
//! restart, marked as a possible repeat (neither SMTP nor Telegram can be asked whether a
//! message arrived, and a lost order is worse than a duplicate staff can recognise).
//!
//! Several instances share the deliveries: the mark is a claim, by this worker's id under a
//! lease of its own per delivery that outlasts the send's hard limit, and only that lease
//! records the outcome; no other instance takes a delivery while the claim holds. A dead
//! instance's deliveries are due again once their claims run out, and go out headed as a
//! possible repeat. The alert about an order no channel got through is claimed per kind
//! (`notify::alerts::AlertClaims`), so it too goes out once.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{FallbackMessage, Handover};
use crate::config::FallbackConfig;
use crate::notify::{
    Email, Mailer, Telegram,
    alerts::{AlertClaims, OperatorChats},
    buttons::fallback_buttons,
    html,
};
use crate::retry::{Backoff, Pause};
use crate::store::{
    FallbackChannel, FallbackDelivery, NewDelivery, NewFallback, OrderState, Store, StoreError,
    UndeliveredFallback,
};
use crate::worker::{Step, Worker};

pub use crate::store::FALLBACK_ATTEMPTS_BEFORE_ALERT as ATTEMPTS_BEFORE_ALERT;

/// The wait after a delivery's failed attempt: 5 s, 10 s, 20 s ... at most 5 min, spread by
/// a fifth either way.
const RETRY: Backoff =
    Backoff::doubling(Duration::from_secs(5), Duration::from_secs(5 * 60)).spread(0.2);
/// Deliveries sent per step; the rest wait for the next step.
const BATCH: u32 = 50;
/// How often the loop looks for due deliveries.
const TICK: Duration = Duration::from_secs(1);
/// The hard limit of one delivery's send (a long Telegram message goes in several parts);
/// the claim outlasts it by the margin, time to record the outcome, so a live worker never
/// loses a delivery to another instance.
const SEND_LIMIT: Duration = Duration::from_secs(2 * 60);
const LEASE_MARGIN: Duration = Duration::from_secs(30);

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
    alert_claims: AlertClaims,
    /// This worker's id in its claims (each claim has a lease id of its own besides).
    claimer: String,
    handover: Option<Handover>,
    memory: Arc<Mutex<Memory>>,
}

enum Outcome {
    Delivered,
    Retry(String, Option<Duration>),
    Failed(String),
}

/// An outcome to write to the store, under the delivery's id and lease id.
#[derive(Debug, Clone)]
enum Mark {
    Delivered(i64, String),
    Retry {
        id: i64,
        lease_id: String,
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    Failed(i64, String, String),
    Alerted {
        branch: String,
        order_id: String,
    },
}

/// What the worker keeps between steps.
#[derive(Debug, Default)]
struct Memory {
    /// Outcomes the store refused to record: written first at the next step.
    unrecorded: Vec<(Mark, DateTime<Utc>)>,
    /// Alerts Telegram did not take wait before the next try.
    alert_pause: Pause,
}

/// Put before a message whose earlier sending was perhaps not recorded.
const REPEAT_NOTE: &str = "Возможно, повтор: отправка этого сообщения могла не записаться. Проверьте, не введён ли заказ уже.";

impl FallbackWorker {
    /// `None` for a channel that is not configured: its deliveries fail for good, visibly.
    pub fn new(
        store: Store,
        mailer: Option<Mailer>,
        telegram: Option<Telegram>,
        operators: OperatorChats,
    ) -> FallbackWorker {
        FallbackWorker {
            alert_claims: AlertClaims::new(store.clone()),
            store,
            mailer,
            telegram,
            operators,
            claimer: uuid::Uuid::new_v4().simple().to_string(),
            handover: None,
            memory: Arc::default(),
        }
    }

    /// Also hands each order that enters `fallback` to the channels, at the start of a step.
    pub fn with_handover(self, handover: Handover) -> FallbackWorker {
        FallbackWorker {
            handover: Some(handover),
            ..self
        }
    }

    /// Records what earlier steps could not, sends what is due at `now` (after marking it as
    /// being sent), records each outcome, then alerts operators about orders no channel got
    /// through. A store error ends the step before anything more is sent. Does not sleep, so
    /// tests drive it with any `now`.
    pub async fn try_step(&self, now: DateTime<Utc>) -> Result<StepReport, StoreError> {
        self.record_unrecorded().await?;
        let handed_over = match &self.handover {
            Some(handover) => handover.try_step().await?,
            None => 0,
        };
        let expires =
            now + chrono::Duration::from_std(SEND_LIMIT + LEASE_MARGIN).expect("a short lease");
        let due = self
            .store
            .claim_fallback_deliveries(&self.claimer, now, expires, BATCH)
            .await?;
        // All at once: a hanging SMTP server must not hold back the Telegram messages.
        let outcomes = join_all(due.iter().map(|delivery| async {
            tokio::time::timeout(SEND_LIMIT, self.send(delivery))
                .await
                .unwrap_or_else(|_| Outcome::Retry(format!("not sent within {SEND_LIMIT:?}"), None))
        }))
        .await;
        let mut report = StepReport {
            handed_over,
            ..StepReport::default()
        };
        let mut marks = Vec::with_capacity(due.len());
        for (delivery, outcome) in due.iter().zip(outcomes) {
            let lease_id = delivery.lease_id.clone().unwrap_or_default();
            let mark = match outcome {
                Outcome::Delivered => {
                    fallback_metric(delivery, "delivered");
                    report.delivered += 1;
                    Mark::Delivered(delivery.id, lease_id)
                }
                Outcome::Retry(error, asked) => {
                    fallback_metric(delivery, "retrying");
                    let wait = RETRY
                        .jittered(delivery.attempts + 1, rand::random())
                        .max(asked.unwrap_or_default());
                    tracing::warn!(order = %delivery.order_id, channel = ?delivery.channel,
                        recipient = %delivery.recipient, %error, ?wait, "fallback delivery will be retried");
                    report.retrying += 1;
                    Mark::Retry {
                        id: delivery.id,
                        lease_id,
                        error,
                        next_attempt_at: now + wait,
                    }
                }
                Outcome::Failed(error) => {
                    fallback_metric(delivery, "failed");
                    tracing::error!(order = %delivery.order_id, channel = ?delivery.channel,
                        recipient = %delivery.recipient, %error, "fallback delivery failed for good");
                    report.failed += 1;
                    Mark::Failed(delivery.id, lease_id, error)
                }
            };
            marks.push((mark, now));
        }
        self.record(marks).await?;
        report.alerted = self.alert_undelivered(now).await?;
        Ok(report)
    }

    /// Tells operators about each order no channel got through, once: under the claim of
    /// this kind of alert, read after the claim (what another instance alerted is marked).
    async fn alert_undelivered(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        // Read first, so an idle step does not write a claim every second.
        if self.store.fallbacks_to_alert().await?.is_empty()
            || !self.memory().alert_pause.ready(now)
        {
            return Ok(0);
        }
        let Some(turn) = self.alert_claims.claim("fallback", now).await? else {
            return Ok(0);
        };
        let mut alerted = 0;
        for order in self.store.fallbacks_to_alert().await? {
            if !self.memory().alert_pause.ready(now) || !turn.time_left() {
                break;
            }
            // Marked only once sent, so an alert lost to a Telegram outage is sent later.
            if self.operators.send(&undelivered_alert(&order)).await {
                self.memory().alert_pause.succeeded();
                let mark = Mark::Alerted {
                    branch: order.branch.clone(),
                    order_id: order.order_id.clone(),
                };
                self.record(vec![(mark, now)]).await?;
                alerted += 1;
            } else {
                let pause = self.memory().alert_pause.failed(now);
                tracing::warn!(order = %order.order_id, ?pause, "undelivered-fallback alert not sent; trying again later");
            }
        }
        self.alert_claims.release(turn).await?;
        Ok(alerted)
    }

    /// Writes the outcomes kept from earlier steps.
    async fn record_unrecorded(&self) -> Result<(), StoreError> {
        let kept = std::mem::take(&mut self.memory().unrecorded);
        self.record(kept).await
    }

    /// Writes `marks` in order; on the first refusal it and the rest are kept for later.
    async fn record(&self, marks: Vec<(Mark, DateTime<Utc>)>) -> Result<(), StoreError> {
        let mut marks = marks.into_iter();
        while let Some((mark, at)) = marks.next() {
            if let Err(error) = self.write(&mark, at).await {
                let mut memory = self.memory();
                memory.unrecorded.push((mark, at));
                memory.unrecorded.extend(marks);
                tracing::error!(%error, kept = memory.unrecorded.len(),
                    "fallback outcomes not recorded; kept until the store takes them, nothing is sent meanwhile");
                return Err(error);
            }
        }
        Ok(())
    }

    async fn write(&self, mark: &Mark, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (id, held) = match mark {
            Mark::Delivered(id, lease) => (
                id,
                self.store.mark_fallback_delivered(*id, lease, at).await?,
            ),
            Mark::Retry {
                id,
                lease_id,
                error,
                next_attempt_at,
            } => (
                id,
                self.store
                    .mark_fallback_retry(*id, lease_id, error, *next_attempt_at)
                    .await?,
            ),
            Mark::Failed(id, lease, error) => (
                id,
                self.store.mark_fallback_failed(*id, lease, error).await?,
            ),
            Mark::Alerted { branch, order_id } => {
                return self.store.mark_fallback_alerted(branch, order_id, at).await;
            }
        };
        if !held {
            tracing::warn!(
                delivery = id,
                "fallback outcome not recorded: its claim ran out and another instance took the delivery over"
            );
        }
        Ok(())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn send(&self, delivery: &FallbackDelivery) -> Outcome {
        if delivery.sending_at.is_some() {
            tracing::warn!(order = %delivery.order_id, channel = ?delivery.channel,
                recipient = %delivery.recipient,
                "fallback delivery was being sent when the bridge stopped; sent again as a possible repeat");
        }
        let repeat = delivery.sending_at.is_some();
        match delivery.channel {
            FallbackChannel::Email => {
                let Some(mailer) = &self.mailer else {
                    return Outcome::Failed("e-mail is not configured (email.smtp_url)".into());
                };
                let subject = delivery.subject.clone().unwrap_or_default();
                let email = match repeat {
                    false => Email {
                        to: vec![delivery.recipient.clone()],
                        subject,
                        text: delivery.body.clone(),
                        html: delivery.html.clone(),
                    },
                    true => Email {
                        to: vec![delivery.recipient.clone()],
                        subject: format!("[возможно, повтор] {subject}"),
                        text: format!("{REPEAT_NOTE}\n\n{}", delivery.body),
                        html: delivery.html.as_ref().map(|body| {
                            format!("<p><b>{}</b></p>\n{body}", html::escape(REPEAT_NOTE))
                        }),
                    },
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
                let body = match repeat {
                    false => delivery.body.clone(),
                    true => format!(
                        "⚠️ <b>{}</b>\n\n{}",
                        html::escape(REPEAT_NOTE),
                        delivery.body
                    ),
                };
                match self
                    .send_with_buttons(telegram, chat, delivery, &body)
                    .await
                {
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

impl FallbackWorker {
    /// Sends the message with the operator bot's buttons on its last part, and records that
    /// part so the bot edits it once the order is dealt with. An order the store does not hold
    /// (or cannot find now) gets no buttons; a record the store refuses only costs the edit.
    async fn send_with_buttons(
        &self,
        telegram: &Telegram,
        chat: i64,
        delivery: &FallbackDelivery,
        body: &str,
    ) -> Result<(), crate::notify::TelegramError> {
        let order = match self
            .store
            .orders_by_site_id(&delivery.order_id, Some(&delivery.branch))
            .await
        {
            Ok(mut found) if found.len() == 1 => found.remove(0),
            Ok(_) => return telegram.send_html(chat, body).await,
            Err(error) => {
                tracing::warn!(order = %delivery.order_id, %error, "order not read; its fallback message goes without buttons");
                return telegram.send_html(chat, body).await;
            }
        };
        let now_ms = Utc::now().timestamp_millis();
        // Reserved first: an operator may deal with the order before Telegram answers.
        let reserved = match self.store.reserve_bot_message(order.id, chat, now_ms).await {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::warn!(order = %delivery.order_id, chat, %error,
                    "fallback message not recorded: it will not be edited when the order is dealt with");
                None
            }
        };
        // Read after the reservation: an order dealt with before it (a delivery sent again
        // after the order was resolved) gets no buttons; one dealt with after it marks the row.
        let dealt_with = matches!(self.store.order(order.id).await,
            Ok(Some(now)) if now.state != OrderState::Fallback);
        if dealt_with {
            if let Some(id) = reserved
                && let Err(error) = self.store.forget_bot_message(id).await
            {
                tracing::warn!(order = %delivery.order_id, %error, "a reserved message row left behind");
            }
            return telegram.send_html(chat, body).await;
        }
        let sent = telegram
            .send_html_with_buttons(chat, body, &fallback_buttons(order.id))
            .await;
        let recorded = match (&sent, reserved) {
            (Ok(part), Some(id)) => {
                self.store
                    .bot_message_sent(id, part.message_id, &part.text)
                    .await
            }
            (Err(_), Some(id)) => self.store.forget_bot_message(id).await,
            (_, None) => Ok(()),
        };
        if let Err(error) = recorded {
            tracing::warn!(order = %delivery.order_id, chat, %error,
                "fallback message's record not completed: it may not be edited when the order is dealt with");
        }
        sent?;
        Ok(())
    }
}

/// Steps every second; a store error pauses the worker, longer each time in a row, until the
/// store records again.
impl Worker for FallbackWorker {
    const NAME: &'static str = "fallback";
    type Error = StoreError;

    async fn step(self: Arc<Self>) -> Result<Step, StoreError> {
        self.try_step(Utc::now()).await?;
        Ok(Step::Wait(TICK))
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
    fn deliveries_are_retried_after_five_seconds_doubling_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| RETRY.jittered(n, 0.5).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(RETRY.jittered(1, 0.0), Duration::from_secs(4));
        assert_eq!(RETRY.jittered(1, 1.0), Duration::from_secs(6));
    }
}
