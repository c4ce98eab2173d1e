//! The menu sync lock (`store::sync_lock`) on SQLite: one conditional upsert.
use super::SqliteStore;
use crate::store::StoreError;

impl SqliteStore {
    pub async fn try_lock_sync(
        &self,
        branch: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO sync_locks (branch, owner, expires_at_ms) VALUES (?, ?, ?)
             ON CONFLICT (branch) DO UPDATE
             SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms
             WHERE sync_locks.owner = excluded.owner OR sync_locks.expires_at_ms <= ?",
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
        sqlx::query("DELETE FROM sync_locks WHERE branch = ? AND owner = ?")
            .bind(branch)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use crate::store::Store;

    #[tokio::test]
    async fn a_sync_lock_has_one_holder_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bridge.db", dir.path().display()))
            .await
            .unwrap();
        assert!(store.try_lock_sync("lenina", "a", 0, 100).await.unwrap());
        assert!(!store.try_lock_sync("lenina", "b", 50, 150).await.unwrap());
        assert!(
            store.try_lock_sync("mira", "b", 50, 150).await.unwrap(),
            "branches lock on their own"
        );
        assert!(
            store.try_lock_sync("lenina", "a", 50, 200).await.unwrap(),
            "the holder renews"
        );
        assert!(
            store.try_lock_sync("lenina", "b", 200, 300).await.unwrap(),
            "an expired hold is taken over"
        );
        store.unlock_sync("lenina", "a").await.unwrap();
        assert!(
            !store.try_lock_sync("lenina", "c", 250, 350).await.unwrap(),
            "only the holder releases"
        );
        store.unlock_sync("lenina", "b").await.unwrap();
        assert!(store.try_lock_sync("lenina", "c", 250, 350).await.unwrap());
    }
}
