//! Order intake: the site's body parsed into a validated [`Order`] at the edge, its idempotency
//! fingerprint, and its mapping onto iiko's `deliveries/create` through the branch's catalog.
//!
//! Everything here is pure: the HTTP handlers, the store and the dispatcher call it.
//!
//! Decisions where the contract is silent:
//! - Unknown fields are refused at every level (`unknown_field`): a misspelt optional field
//!   would otherwise silently change the order the kitchen gets.
//! - `null` and blank optional strings count as absent; strings are trimmed.
//! - Money with a third decimal is refused (`too_precise`), not rounded.
//! - Each line is rounded once to kopecks, half away from zero, as a receipt line is; the sum
//!   of lines less discount and bonus must equal `total` exactly.
//! - A modifier without a price is free; charging 0 for a modifier of a group with free
//!   pieces is not price drift (iiko applies the free quantity itself).
//! - Bonus points need `bonus.enabled` and stay within `bonus.limit_percent` of the items
//!   less the discount; the guest's balance and iiko's own limit are settled with iiko at
//!   submission ([`crate::loyalty`]), since parsing never waits for iiko.
//! - A discount above the items is refused naming `discount.amount`.
//! - `change_from` is only for cash and at least the total; `transaction_id` only for online.
//! - An address on a pickup order is checked but dropped.
//! - Mapping reasons are Russian sentences for restaurant staff; parsing messages are English
//!   for the site's developers.
mod check;
mod dispatch;
mod domain;
mod find;
pub(crate) mod follow;
mod hash;
mod ids;
mod intake;
mod lifecycle;
mod lines;
mod loyalty;
mod mapping;
mod operator;
mod reader;
mod retry;
pub mod service;
#[cfg(test)]
pub(crate) mod test_support;

pub use check::check_order;
pub use dispatch::{Dispatcher, StepOutcome};
pub use domain::{
    Address, Article, BranchKey, Customer, Discount, FieldProblem, Item, ItemModifier, Money,
    Order, OrderId, Payment, PaymentMethod, Persons, Phone, Quantity, Refusal, Service,
    percent_limit, to_kopecks,
};
pub use find::{FindError, find_order};
pub use hash::content_hash;
pub use ids::OrderIds;
pub use intake::{IntakeError, parse_cart, parse_order, parse_order_at};
pub use lifecycle::{ActionError, AttemptEnd, attempt_change};
pub use loyalty::{balance_answer, calculate_answer};
pub use mapping::{MappingProblem, TRANSPORT_TO_FRONT_TIMEOUT_SECONDS, map_order};
pub use operator::{requeue_order, resolve_matched, resolve_order, resolve_order_by};
pub use retry::retry_order;
pub use service::RequestError;
