//! Retention: what the bridge no longer needs is deleted, so the store does not grow forever;
//! and orders iiko never closes stop being followed.
use chrono::{DateTime, Utc};

use super::{Store, StoreError};

impl Store {
    /// Deletes up to one batch of orders finished before `before`, with their iiko calls,
    /// history, remembered webhook ids and fallback messages; returns how many orders.
    pub async fn prune_finished_orders(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_finished_orders(before).await)
    }

    /// Deletes fallback messages written before `before` whose order is no longer stored.
    pub async fn prune_orphan_fallbacks(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_orphan_fallbacks(before).await)
    }

    /// Deletes iiko webhook calls received before `before` (applied ones are gone already).
    pub async fn prune_webhook_calls(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, b => b.prune_webhook_calls(before).await)
    }

    /// Created orders still followed that were accepted before `accepted_before`: their row,
    /// and the time the site wanted them (`deliver_at` as sent; none for "as soon as possible").
    pub async fn followed_orders_accepted_before(
        &self,
        accepted_before: DateTime<Utc>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        on_backend!(self, b => b.followed_orders_accepted_before(accepted_before).await)
    }

    /// Stops following the created orders `ids` (those still followed), each with `note` in
    /// its history; returns how many.
    pub async fn stop_tracking(
        &self,
        ids: &[i64],
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_backend!(self, b => b.stop_tracking(ids, note, now).await)
    }
}
