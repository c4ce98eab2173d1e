//! Hands each order that entered `fallback` to the operators' channels: renders it from the
//! stored site payload and enqueues one delivery per recipient.
//!
//! An order of a branch no longer configured (removed or renamed) goes to
//! `telegram.operator_chats` with the raw order as the site sent it. The queue is walked in
//! rounds from a cursor, so an order that cannot be handed over (its write keeps failing) is
//! tried once per round and never holds back the orders behind it.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{FallbackMessage, Templates, enqueue_fallback};
use crate::{
    config::{Config, FallbackConfig},
    menu::{Catalog, CatalogCache},
    orders::parse_order_at,
    store::{Store, StoreError, StoredOrder},
};

/// Orders handed over per step; the rest follow on the next step.
const BATCH: u32 = 50;

#[derive(Clone)]
pub struct Handover {
    store: Store,
    catalogs: CatalogCache,
    config: Arc<Config>,
    templates: Arc<Templates>,
    /// The last order id of the previous batch; 0 starts a new round.
    cursor: Arc<Mutex<i64>>,
}

impl Handover {
    pub fn new(
        store: Store,
        catalogs: CatalogCache,
        config: Arc<Config>,
        templates: Arc<Templates>,
    ) -> Handover {
        Handover {
            store,
            catalogs,
            config,
            templates,
            cursor: Arc::default(),
        }
    }

    /// Enqueues the next batch of orders awaiting their fallback; returns how many were
    /// handed over. An order whose hand-over fails is logged and tried again next round; the
    /// step fails only when none of the batch could be handed over.
    pub async fn try_step(&self) -> Result<usize, StoreError> {
        let after = *self.cursor();
        let orders = self.store.orders_awaiting_fallback(after, BATCH).await?;
        *self.cursor() = next_cursor(after, orders.last().map(|order| order.id), orders.len());
        let mut handed = 0;
        let mut failure = None;
        for order in &orders {
            match self.hand_over(order).await {
                Ok(()) => handed += 1,
                Err(error) => {
                    tracing::error!(order = %order.site_id, branch = %order.branch, %error,
                        "fallback order not handed over; tried again next round");
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) if handed == 0 => Err(error),
            _ => Ok(handed),
        }
    }

    async fn hand_over(&self, order: &StoredOrder) -> Result<(), StoreError> {
        let Some(branch) = self.config.branch(&order.branch) else {
            // Someone must still get it: the operators, with the order as the site sent it.
            tracing::error!(branch = %order.branch, order = %order.site_id,
                "a fallback order of a branch no longer configured goes to telegram.operator_chats");
            let reason = format!(
                "филиал «{}» больше не настроен в iiko-bridge; {}",
                order.branch,
                order
                    .fallback_reason
                    .as_deref()
                    .unwrap_or("iiko не принял заказ")
            );
            let operators = FallbackConfig {
                emails: Vec::new(),
                telegram_chats: self.config.telegram.operator_chats.clone(),
            };
            let message = raw_message(order, &reason);
            enqueue_fallback(
                &self.store,
                &order.branch,
                &order.site_id,
                &message,
                &operators,
            )
            .await?;
            return Ok(());
        };
        let catalog = self.catalog(&branch.key).await?;
        let message = self.render(order, branch, catalog.as_deref());
        enqueue_fallback(
            &self.store,
            &branch.key,
            &order.site_id,
            &message,
            &branch.fallback,
        )
        .await?;
        Ok(())
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, i64> {
        self.cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn render(
        &self,
        order: &StoredOrder,
        branch: &crate::config::BranchConfig,
        catalog: Option<&Catalog>,
    ) -> FallbackMessage {
        let reason = order
            .fallback_reason
            .as_deref()
            .unwrap_or("iiko не принял заказ");
        // Parsed as of its acceptance, so a delivery time that has passed since is no error.
        let accepted = DateTime::<Utc>::from_timestamp_millis(order.created_at).unwrap_or_default();
        let parsed = parse_order_at(order.raw_body.as_bytes(), &self.config, true, accepted);
        let rendered = parsed.map_err(|e| format!("{e:?}")).and_then(|parsed| {
            self.templates
                .render_fallback(&parsed, branch, catalog, reason)
                .map_err(|e| e.to_string())
        });
        rendered.unwrap_or_else(|error| {
            // The order was accepted, so someone must still get it: send the payload as received.
            tracing::error!(order = %order.site_id, %error, "fallback rendered from the raw payload");
            raw_message(order, reason)
        })
    }

    /// A catalog that no longer parses only costs the staff the dishes' names.
    async fn catalog(&self, branch: &str) -> Result<Option<Arc<Catalog>>, StoreError> {
        match self.catalogs.current(branch).await {
            Err(StoreError::Corrupt(problem)) => {
                tracing::error!(branch, problem, "fallback rendered without the catalog");
                Ok(None)
            }
            other => other,
        }
    }
}

/// Where the next batch starts: after this one's last order, or from the beginning once a
/// batch came back short (the round is over).
fn next_cursor(after: i64, last: Option<i64>, taken: usize) -> i64 {
    match last {
        Some(last) if taken >= BATCH as usize => last.max(after),
        _ => 0,
    }
}

fn raw_message(order: &StoredOrder, reason: &str) -> FallbackMessage {
    let text = format!(
        "Заказ {} не попал в iiko: {reason}\n\nЗаказ в том виде, в каком его прислал сайт:\n{}",
        order.site_id, order.raw_body
    );
    FallbackMessage {
        number: order.site_id.clone(),
        reason: reason.to_owned(),
        email_subject: format!("Заказ {} не попал в iiko", order.site_id),
        email_html: format!("<pre>{}</pre>", crate::notify::html::escape(&text)),
        telegram_html: crate::notify::html::escape(&text),
        email_text: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_moves_past_a_full_batch_and_starts_over_after_a_short_one() {
        assert_eq!(next_cursor(0, Some(80), BATCH as usize), 80);
        assert_eq!(next_cursor(80, Some(200), BATCH as usize), 200);
        assert_eq!(next_cursor(80, Some(90), 3), 0);
        assert_eq!(next_cursor(80, None, 0), 0);
    }
}
