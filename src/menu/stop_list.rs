//! The stop list (`/api/1/stop_lists`, per terminal group) on top of a catalog: what the kitchen
//! cannot sell right now. Pure, so a fast price or stop-list sync can re-apply it to the stored
//! catalog without rebuilding.
use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::catalog::Catalog;
use crate::iiko::types::stop_lists::{StopListItem, StopListsResponse};

/// What the stop list holds of one product.
#[derive(Default)]
struct Stopped {
    whole_product: bool,
    sizes: HashSet<Uuid>,
}

/// The catalog with availability set from `stop_list`: an entry with `balance <= 0` stops its
/// size, or the whole product when it names no size (or the product has no size scale); a
/// product with every size stopped is unavailable. Everything else becomes available again, so
/// applying a newer stop list also brings back what left it.
pub fn apply_stop_list(mut catalog: Catalog, stop_list: &[StopListItem]) -> Catalog {
    let mut stopped: HashMap<Uuid, Stopped> = HashMap::new();
    for item in stop_list
        .iter()
        .filter(|item| item.balance <= Decimal::ZERO)
    {
        let entry = stopped.entry(item.product_id).or_default();
        match item.size_id {
            Some(size) => {
                entry.sizes.insert(size);
            }
            None => entry.whole_product = true,
        }
    }
    for product in &mut catalog.products {
        let stop = stopped.get(&product.iiko_id);
        for size in &mut product.sizes {
            size.available = match (stop, size.iiko_id) {
                (None, _) => true,
                (Some(stop), _) if stop.whole_product => false,
                // A product without a size scale is stopped by any entry for it.
                (Some(_), None) => false,
                (Some(stop), Some(size)) => !stop.sizes.contains(&size),
            };
        }
        product.available = product.sizes.iter().any(|size| size.available);
    }
    catalog
}

/// The stop list of one terminal group out of iiko's per-organization answer.
pub fn stop_list_of(response: &StopListsResponse, terminal_group: Uuid) -> Vec<StopListItem> {
    response
        .terminal_group_stop_lists
        .iter()
        .flat_map(|organization| &organization.items)
        .filter(|list| list.terminal_group_id == Some(terminal_group))
        .flat_map(|list| list.items.iter().cloned())
        .collect()
}
