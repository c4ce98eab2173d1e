//! iikoCloud request and response contracts. Requests are strict (only schema fields, exact names);
//! responses are tolerant (unknown fields ignored, unknown enum values kept).
pub mod common;
pub mod deliveries;
pub mod dictionaries;
pub mod loyalty;
pub mod menu;
pub mod stop_lists;
pub mod webhooks;
