//! Hands each order that entered `fallback` to the operators' channels: renders it from the
//! stored site payload and enqueues one delivery per recipient.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{FallbackMessage, Templates, enqueue_fallback};
use crate::{
    config::Config,
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
        }
    }

    /// Enqueues every order awaiting its fallback; returns how many were handed over.
    pub async fn try_step(&self) -> Result<usize, StoreError> {
        let orders = self.store.orders_awaiting_fallback(BATCH).await?;
        let mut handed = 0;
        for order in &orders {
            let Some(branch) = self.config.branches.iter().find(|b| b.key == order.branch) else {
                tracing::error!(branch = %order.branch, order = %order.site_id,
                    "a fallback order of a branch no longer configured");
                continue;
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
            handed += 1;
        }
        Ok(handed)
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
