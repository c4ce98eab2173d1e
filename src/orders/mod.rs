//! Order intake: the site's body parsed into a validated [`Order`] at the edge, its idempotency
//! fingerprint, and its mapping onto iiko's `deliveries/create` through the branch's catalog.
//!
//! Everything here is pure: the HTTP handlers, the store and the dispatcher call it.
mod check;
mod domain;
mod hash;
mod ids;
mod intake;
mod lines;
mod mapping;
mod reader;
#[cfg(test)]
mod test_support;

pub use check::check_order;
pub use domain::{
    Address, Article, BranchKey, Customer, Discount, Item, ItemModifier, Money, Order, OrderId,
    Payment, PaymentMethod, Persons, Phone, Quantity, Refusal, Service, to_kopecks,
};
pub use hash::content_hash;
pub use ids::OrderIds;
pub use intake::{IntakeError, parse_order, parse_order_at};
pub use mapping::{MappingProblem, TRANSPORT_TO_FRONT_TIMEOUT_SECONDS, map_order};
