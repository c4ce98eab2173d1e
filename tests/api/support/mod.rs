//! What the test modules share.
pub mod bed;
pub mod iiko_schema;
