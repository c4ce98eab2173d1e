//! What `/health` reads from the store, per branch: the shared alert states (what the
//! dispatcher and the terminal watch last told operators), the queues, the current menu.
use std::collections::HashMap;

use super::render::BranchHealth;
use crate::menu::IntegrityReport;
use crate::store::{OrderState, Store, StoreError};

/// Each branch's health by branch key (branches with nothing recorded are absent).
pub async fn gather(store: &Store) -> Result<HashMap<String, BranchHealth>, StoreError> {
    let mut branches: HashMap<String, BranchHealth> = HashMap::new();
    for alert in store.alert_states().await? {
        let health = branches.entry(alert.key).or_default();
        let state = Some((alert.down, alert.changed_at_ms));
        // The watches `notify::alerts` records.
        match alert.watch.as_str() {
            "iiko" => health.iiko = state,
            "terminal" => health.terminal = state,
            _ => {}
        }
    }
    for count in store.open_order_counts().await? {
        let health = branches.entry(count.branch).or_default();
        let oldest = count.oldest_created_at;
        let waiting = match count.state {
            OrderState::Queued => &mut health.queued,
            OrderState::Sending => &mut health.sending,
            OrderState::Retrying => &mut health.retrying,
            OrderState::Fallback => {
                health.fallback = count.count;
                health.oldest_fallback = Some(oldest);
                continue;
            }
            _ => continue,
        };
        *waiting = count.count;
        health.oldest_waiting = Some(health.oldest_waiting.map_or(oldest, |at| at.min(oldest)));
    }
    for (branch, pending) in store.pending_site_events_by_branch().await? {
        branches.entry(branch).or_default().pending_events = pending;
    }
    for order in store.undelivered_fallbacks().await? {
        branches.entry(order.branch).or_default().undelivered += 1;
    }
    for catalog in store.catalog_reports().await? {
        let report = serde_json::from_str::<IntegrityReport>(&catalog.report_json)
            .unwrap_or_else(|error| {
                tracing::warn!(branch = catalog.branch, %error, "a stored menu report does not parse");
                IntegrityReport::default()
            });
        branches.entry(catalog.branch).or_default().menu =
            Some((catalog.synced_at.timestamp_millis(), report));
    }
    Ok(branches)
}
