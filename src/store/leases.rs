//! Leases and the ledger: the dispatcher leases due orders (each lease its own id), every
//! iiko call of an attempt goes to the order's ledger (`order_attempts`), and the attempt's
//! decided end is written with the lease release. These writes come many at a time and go
//! through the group-commit writer (`batch`).
use super::{OrderEvent, OrderState, Store, StoreError, StoredOrder};

/// One iiko call, for the ledger.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CallRecord {
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    pub operation: String,
    pub request_summary: String,
    pub http_status: Option<i64>,
    pub correlation_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: i64,
}

/// An attempt's end as decided by the life cycle (`orders::lifecycle`), written with the
/// lease release, its history entry and its event.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptChange {
    pub state: OrderState,
    /// `None` keeps the order's time.
    pub next_attempt_at_ms: Option<i64>,
    pub fallback_reason: Option<String>,
    /// `None` keeps the order's code (and number, status, creation status below).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub iiko_number: Option<i64>,
    pub iiko_status: Option<String>,
    pub creation_status: Option<String>,
    /// `Some` keeps the order's unclear limit, or sets this one when it has none; `None`
    /// clears it.
    pub unclear_until_ms: Option<i64>,
    pub note: String,
    pub event: Option<OrderEvent>,
}

impl Store {
    /// Leases up to `limit` due orders until `lease_until_ms` and marks them `sending`. Each
    /// lease gets its own id (`owner/…`, in the returned order's `lease_owner`), so no two
    /// attempts of one order can both write its end. `skip` are orders the caller still has in
    /// flight. An order whose lease ran out (its worker died) is due again.
    pub async fn lease_due_orders(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip: &[i64],
    ) -> Result<Vec<StoredOrder>, StoreError> {
        on_backend!(self, b => b.lease_due_orders(owner, now_ms, lease_until_ms, limit, skip).await)
    }

    /// Appends one iiko call to the order's ledger (and keeps the last correlation id).
    /// The caller does not wait for the commit: the record goes out with the next batch, ahead
    /// of the attempt's outcome, and a failure is logged by the writer.
    pub async fn record_call(&self, id: i64, call: &CallRecord) {
        on_backend!(self, b => b.record_call(id, call).await)
    }

    /// Extends a running attempt's lease to `lease_until_ms`, while `owner` (the lease id)
    /// still holds it; returns whether it did.
    pub async fn renew_order_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.renew_order_lease(id, owner, lease_until_ms).await)
    }

    /// Writes an attempt's end and releases the lease, but only while `owner` still holds
    /// it: a worker whose lease ran out must not overwrite the one that took the order over.
    /// Returns whether the write happened.
    pub async fn finish_attempt(
        &self,
        id: i64,
        owner: &str,
        change: AttemptChange,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.finish_attempt(id, owner, change, now_ms).await)
    }

    pub async fn order_calls(&self, id: i64) -> Result<Vec<CallRecord>, StoreError> {
        on_backend!(self, b => b.order_calls(id).await)
    }
}
