//! `POST /orders/check`: what would stop an order from reaching the kitchen, without side effects.
use super::domain::{FieldProblem, Order};
use super::ids::OrderIds;
use super::mapping::map_order;
use crate::config::BranchConfig;
use crate::menu::Catalog;

/// The mapping problems of `order` as field problems: unknown, hidden or stopped articles,
/// price differences, modifier counts, arithmetic and branch settings it needs. Empty = fine.
pub fn check_order(order: &Order, branch: &BranchConfig, catalog: &Catalog) -> Vec<FieldProblem> {
    // Throwaway ids: the check maps exactly like the real send, so it cannot disagree with it.
    let ids = OrderIds::generate(order);
    match map_order(order, branch, catalog, &ids, "check") {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(FieldProblem::from).collect(),
    }
}
