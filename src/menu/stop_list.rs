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

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::menu::sample::{self, COLA, LARGE, PIZZA, SMALL};

    fn stop(product: Uuid, size: Option<Uuid>, balance: Decimal) -> StopListItem {
        StopListItem {
            balance,
            product_id: product,
            size_id: size,
            sku: None,
            date_add: None,
        }
    }

    fn availability(catalog: &Catalog) -> Vec<(bool, Vec<bool>)> {
        catalog
            .products
            .iter()
            .map(|p| (p.available, p.sizes.iter().map(|s| s.available).collect()))
            .collect()
    }

    #[test]
    fn a_stopped_size_leaves_the_product_available_in_its_other_sizes() {
        let catalog = apply_stop_list(sample::catalog(), &[stop(PIZZA, Some(LARGE), dec!(0))]);
        assert_eq!(
            availability(&catalog),
            [(true, vec![true, false]), (true, vec![true])]
        );
    }

    #[test]
    fn a_product_with_every_size_stopped_is_unavailable() {
        let stop_list = [
            stop(PIZZA, Some(SMALL), dec!(0)),
            stop(PIZZA, Some(LARGE), dec!(-2)),
        ];
        let catalog = apply_stop_list(sample::catalog(), &stop_list);
        assert_eq!(availability(&catalog)[0], (false, vec![false, false]));
    }

    #[test]
    fn an_entry_without_a_size_stops_the_whole_product() {
        let stop_list = [stop(PIZZA, None, dec!(0)), stop(COLA, Some(SMALL), dec!(0))];
        let catalog = apply_stop_list(sample::catalog(), &stop_list);
        assert_eq!(
            availability(&catalog),
            [(false, vec![false, false]), (false, vec![false])]
        );
    }

    #[test]
    fn a_positive_balance_is_not_a_stop() {
        let catalog = apply_stop_list(sample::catalog(), &[stop(COLA, None, dec!(3))]);
        assert!(catalog.products[1].available);
    }

    #[test]
    fn applying_a_newer_stop_list_brings_back_what_left_it() {
        let stopped = apply_stop_list(sample::catalog(), &[stop(COLA, None, dec!(0))]);
        assert!(!stopped.products[1].available);
        let cleared = apply_stop_list(stopped, &[]);
        assert_eq!(cleared, sample::catalog());
    }

    #[test]
    fn only_the_branch_terminal_group_counts() {
        let json = format!(
            r#"{{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","terminalGroupStopLists":[{{
            "organizationId":"00000000-0000-0000-0000-000000000001","items":[
              {{"terminalGroupId":"00000000-0000-0000-0000-000000000002","items":[{{"balance":0,"productId":"{PIZZA}"}}]}},
              {{"terminalGroupId":"00000000-0000-0000-0000-000000000003","items":[{{"balance":0,"productId":"{COLA}"}}]}}]}}]}}"#
        );
        let response: StopListsResponse = serde_json::from_str(&json).unwrap();
        let items = stop_list_of(&response, Uuid::from_u128(3));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].product_id, COLA);
    }
}
