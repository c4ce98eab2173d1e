//! Singleton duties: a lease row per duty naming the one `serve` instance that runs it. Taken by
//! one atomic upsert (insert if absent, or take over a row whose lease ran out), renewed and
//! given up by its lease id, so an instance that lost the duty touches nothing. When a lease
//! counts as held, expired or due for renewal is decided above the store (`src/duties.rs`);
//! the SQL applies it.
use super::{Store, StoreError};

/// A duty's lease row, as `iiko-bridge duties` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DutyLease {
    pub duty: String,
    /// The holding instance's id.
    pub holder: String,
    /// Its host name and pid, for humans.
    pub holder_label: String,
    pub lease_id: String,
    pub acquired_at_ms: i64,
    pub renewed_at_ms: i64,
    pub expires_at_ms: i64,
}

impl Store {
    /// Takes `duty` for `holder` under the fresh `lease_id` until `expires_at_ms`, unless another
    /// instance holds it with a lease not run out at `now_ms` (its own row it takes again, under
    /// the new lease id). `true` when taken.
    pub async fn take_duty(
        &self,
        duty: &str,
        holder: &str,
        holder_label: &str,
        lease_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => {
            b.take_duty(duty, holder, holder_label, lease_id, now_ms, expires_at_ms)
                .await
        })
    }

    /// Extends the lease `lease_id` of `duty` to `expires_at_ms`. `false` when that lease is no
    /// longer the duty's: the duty was lost (taken over after it ran out).
    pub async fn renew_duty(
        &self,
        duty: &str,
        lease_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.renew_duty(duty, lease_id, now_ms, expires_at_ms).await)
    }

    /// Frees `duty` at once for another instance, if the lease `lease_id` still holds it.
    pub async fn give_up_duty(&self, duty: &str, lease_id: &str) -> Result<(), StoreError> {
        on_backend!(self, b => b.give_up_duty(duty, lease_id).await)
    }

    /// The lease row of `duty`, if any instance took it.
    pub async fn duty_lease(&self, duty: &str) -> Result<Option<DutyLease>, StoreError> {
        on_backend!(self, b => b.duty_lease(duty).await)
    }

    /// Every duty's lease row, by duty.
    pub async fn duty_leases(&self) -> Result<Vec<DutyLease>, StoreError> {
        on_backend!(self, b => b.duty_leases().await)
    }
}
