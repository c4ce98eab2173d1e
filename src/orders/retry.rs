//! An operator's retry of an order iiko has not created (`orders retry`, and the operator
//! bot's retry button): back to `queued` with a fresh attempt budget, under the ids iiko can
//! still create it with.
//!
//! - Same iiko ids after a transient failure (iiko may hold the order: it is read back first).
//! - Fresh ids after iiko closed the order with `creationStatus: Error`: iiko never creates an
//!   id it closed, so the old one would only be read back and found failed again.
//! - An order that could not be mapped is mapped anew from the branch's current catalog (its
//!   raw body is stored); if it still cannot be, the retry is refused with the reasons.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::follow::with_fresh_ids;
use super::lifecycle::ActionError;
use super::operator::requeue_renewed;
use super::{OrderIds, map_order, parse_order_at};
use crate::config::Config;
use crate::menu::CatalogCache;
use crate::store::{Actor, OrderState, RenewedIds, Store, StoreError, StoredOrder};

/// New ids and request for a retried order, and the history note that explains them.
struct Renewal {
    ids: OrderIds,
    request: String,
    note: String,
}

/// Queues order `id` (a `fallback` order, or a `retrying` one between attempts) for iiko again,
/// on `actor`'s word.
pub async fn retry_order(
    store: &Store,
    catalogs: &CatalogCache,
    config: &Config,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredOrder, ActionError> {
    let order = store.order(id).await?.ok_or(ActionError::NotFound(id))?;
    // Anything else is refused by the store, which decides under its lock.
    let open = matches!(order.state, OrderState::Fallback | OrderState::Retrying)
        && order.lease_owner.is_none();
    let renewal = match (&order.request, order.creation_status.as_deref()) {
        (None, _) if open => Some(remap(&order, catalogs, config).await?),
        (Some(request), Some("Error")) if open => Some(fresh_ids(&order, request)?),
        _ => None,
    };
    let ids_json = renewal
        .as_ref()
        .map(|r| serde_json::to_string(&r.ids).expect("ids serialize"));
    let order_id = renewal.as_ref().map(|r| r.ids.order_id.to_string());
    let renewed = match (&renewal, &ids_json, &order_id) {
        (Some(renewal), Some(ids_json), Some(order_id)) => Some(RenewedIds {
            order_id,
            ids_json,
            request: &renewal.request,
            note: &renewal.note,
        }),
        _ => None,
    };
    requeue_renewed(
        store,
        id,
        renewed.as_ref().map(|r| (order.iiko_order_id.as_str(), r)),
        actor,
        now.timestamp_millis(),
    )
    .await
}

/// The stored request under new iiko ids.
fn fresh_ids(order: &StoredOrder, request: &str) -> Result<Renewal, ActionError> {
    let request: Value = serde_json::from_str(request)
        .map_err(|e| StoreError::Corrupt(format!("request of order {}: {e}", order.id)))?;
    let (ids, request) = with_fresh_ids(&request);
    let note = format!(
        "iiko закрыл заказ {} с ошибкой и не создаст его под этим id; повтор уходит под новым id {}",
        order.iiko_order_id, ids.order_id
    );
    Ok(Renewal {
        ids,
        request: request.to_string(),
        note,
    })
}

/// The order's raw body mapped onto the branch's current catalog, under new ids. It is read
/// as of its acceptance, so a delivery time that has passed since does not refuse it.
async fn remap(
    order: &StoredOrder,
    catalogs: &CatalogCache,
    config: &Config,
) -> Result<Renewal, ActionError> {
    let accepted = DateTime::<Utc>::from_timestamp_millis(order.created_at).unwrap_or_default();
    let parsed = parse_order_at(order.raw_body.as_bytes(), config, true, accepted)
        .map_err(|e| ActionError::Unmappable(format!("the stored order no longer reads: {e}")))?;
    let branch = config
        .branch(&order.branch)
        .ok_or_else(|| ActionError::Unmappable("its branch is no longer configured".into()))?;
    let catalog = catalogs
        .current(&order.branch)
        .await?
        .ok_or_else(|| ActionError::Unmappable("the branch's menu is not synced".into()))?;
    let ids = OrderIds::generate(&parsed);
    let request = map_order(&parsed, branch, &catalog, &ids, &config.site.source_key).map_err(
        |problems| {
            let reasons: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
            ActionError::Unmappable(reasons.join("; "))
        },
    )?;
    let note = format!(
        "заказ сопоставлен с текущим меню iiko; отправляется под id {}",
        ids.order_id
    );
    Ok(Renewal {
        request: serde_json::to_string(&request).expect("a request serializes"),
        ids,
        note,
    })
}
