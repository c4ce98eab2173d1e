//! The iiko ids of one order, generated once and stored with it before the first call, so that
//! every retry sends the same ids and iiko never creates the order twice (`DuplicatedOrderId`).
//! The one exception: when iiko closed the id with `creationStatus: Error` for a reason that may
//! pass (an offline terminal), that id can never be created, so the next attempt stores and
//! sends fresh ones (see `follow::Courier::attempt`).
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::domain::Order;

/// Serializable so the store can keep them beside the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIds {
    /// iiko `order.id`.
    pub order_id: Uuid,
    /// `positionId`s in the order's own order: each item line, then that line's modifiers,
    /// then the next line. See [`OrderIds::positions_needed`].
    pub position_ids: Vec<Uuid>,
}

impl OrderIds {
    /// Fresh random ids for `order`.
    pub fn generate(order: &Order) -> Self {
        Self {
            order_id: Uuid::new_v4(),
            position_ids: (0..Self::positions_needed(order))
                .map(|_| Uuid::new_v4())
                .collect(),
        }
    }

    /// One position per item line and one per modifier.
    pub fn positions_needed(order: &Order) -> usize {
        order
            .items
            .iter()
            .map(|item| 1 + item.modifiers.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::parse_order;
    use crate::orders::test_support::{config, order_json};

    #[test]
    fn one_fresh_position_per_line_and_per_modifier() {
        let order = parse_order(order_json().to_string().as_bytes(), &config(), true).unwrap();
        // Two lines, the first with one modifier.
        assert_eq!(OrderIds::positions_needed(&order), 3);
        let ids = OrderIds::generate(&order);
        let again = OrderIds::generate(&order);
        assert_eq!(ids.position_ids.len(), 3);
        assert!(
            ids.position_ids
                .iter()
                .all(|id| !again.position_ids.contains(id))
        );
        assert_ne!(ids.order_id, again.order_id);
        let stored = serde_json::to_string(&ids).unwrap();
        assert_eq!(serde_json::from_str::<OrderIds>(&stored).unwrap(), ids);
    }
}
