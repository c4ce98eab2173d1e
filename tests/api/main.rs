//! The integration tests: one binary, one module per area, all sharing `support`.
//!
//! Each test starts its own simulator, store and (when it needs one) server on free ports, so
//! they run in parallel threads of this one process.
mod bot;
mod bot_answers;
mod cli;
mod client_sim;
mod duties;
mod events;
mod examples;
mod fallback;
mod http_edge;
mod instances;
mod loyalty;
mod menu;
mod notify;
mod order_intake_props;
mod order_mapping;
mod orders;
mod postgres_schema;
mod reconcile;
mod schema_fidelity;
mod sim;
mod status;
mod store_copy;
mod support;
