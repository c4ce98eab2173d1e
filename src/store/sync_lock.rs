//! One menu sync per branch at a time, also between processes (a CLI `prices sync` next to
//! `serve`'s schedule): a row per branch naming its holder until an expiry, taken by one
//! atomic upsert.
use super::{Store, StoreError};

impl Store {
    /// Takes the branch's sync lock for `owner` until `until_ms`, unless another owner holds
    /// it and its hold has not run out at `now_ms`. `true` when taken.
    pub async fn try_lock_sync(
        &self,
        branch: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.try_lock_sync(branch, owner, now_ms, until_ms).await)
    }

    /// Lets go of the branch's sync lock, if `owner` still holds it.
    pub async fn unlock_sync(&self, branch: &str, owner: &str) -> Result<(), StoreError> {
        on_backend!(self, b => b.unlock_sync(branch, owner).await)
    }
}
