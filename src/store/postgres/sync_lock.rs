//! The menu sync lock (`store::sync_lock`) on PostgreSQL: one conditional upsert.
use super::PgStore;
use crate::store::StoreError;

impl PgStore {
    pub async fn try_lock_sync(
        &self,
        branch: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO sync_locks (branch, owner, expires_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (branch) DO UPDATE
             SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
             WHERE sync_locks.owner = excluded.owner OR sync_locks.expires_at_ms <= $4",
        )
        .bind(branch)
        .bind(owner)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    pub async fn unlock_sync(&self, branch: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sync_locks WHERE branch = $1 AND owner = $2")
            .bind(branch)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
