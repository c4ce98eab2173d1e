//! The SQLite SQL of the store, one file per aggregate.
pub(super) mod batch;
pub(super) mod catalog;
pub(super) mod claims;
pub(super) mod duties;
pub(super) mod events;
pub(super) mod fallback;
pub(super) mod intake;
pub(super) mod leases;
pub(super) mod orders;
mod retention;
pub(super) mod status;
mod sync_lock;

use super::{Store, StoreError};
