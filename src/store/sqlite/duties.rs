//! The singleton duties' lease rows (`store::duties`) on SQLite: taken by one conditional
//! upsert, renewed and given up by lease id.
use super::SqliteStore;
use crate::store::{DutyLease, StoreError};

impl SqliteStore {
    pub async fn take_duty(
        &self,
        duty: &str,
        holder: &str,
        holder_label: &str,
        lease_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO duty_leases
                 (duty, holder, holder_label, lease_id, acquired_at_ms, renewed_at_ms, expires_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (duty) DO UPDATE
             SET holder = excluded.holder, holder_label = excluded.holder_label,
                 lease_id = excluded.lease_id, acquired_at_ms = excluded.acquired_at_ms,
                 renewed_at_ms = excluded.renewed_at_ms, expires_at_ms = excluded.expires_at_ms
             WHERE duty_leases.expires_at_ms <= excluded.acquired_at_ms
                OR duty_leases.holder = excluded.holder",
        )
        .bind(duty)
        .bind(holder)
        .bind(holder_label)
        .bind(lease_id)
        .bind(now_ms)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    pub async fn renew_duty(
        &self,
        duty: &str,
        lease_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE duty_leases SET renewed_at_ms = ?, expires_at_ms = ?
             WHERE duty = ? AND lease_id = ?",
        )
        .bind(now_ms)
        .bind(expires_at_ms)
        .bind(duty)
        .bind(lease_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    pub async fn give_up_duty(&self, duty: &str, lease_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM duty_leases WHERE duty = ? AND lease_id = ?")
            .bind(duty)
            .bind(lease_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn duty_lease(&self, duty: &str) -> Result<Option<DutyLease>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM duty_leases WHERE duty = ?")
            .bind(duty)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn duty_leases(&self) -> Result<Vec<DutyLease>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM duty_leases ORDER BY duty")
            .fetch_all(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {

    use crate::store::Store;

    /// Two instances' handles on one store file, as two processes sharing a store would have.
    async fn two_handles() -> (tempfile::TempDir, Store, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        (dir, a, b)
    }

    #[tokio::test]
    async fn of_two_instances_taking_a_free_duty_only_one_gets_it() {
        let (_dir, a, b) = two_handles().await;
        let (took_a, took_b) = tokio::join!(
            a.take_duty("status", "A", "a-host pid 1", "lease-a", 0, 30_000),
            b.take_duty("status", "B", "b-host pid 2", "lease-b", 0, 30_000),
        );
        assert!(took_a.unwrap() ^ took_b.unwrap(), "exactly one holder");
        let row = a.duty_lease("status").await.unwrap().unwrap();
        assert_eq!(row.acquired_at_ms, 0);
        assert_eq!(row.expires_at_ms, 30_000);
        assert!(
            b.take_duty("menu", "B", "b-host pid 2", "lease-m", 0, 30_000)
                .await
                .unwrap(),
            "duties are held on their own"
        );
    }

    #[tokio::test]
    async fn the_holder_renews_and_another_takes_the_duty_over_only_once_it_ran_out() {
        let (_dir, a, b) = two_handles().await;
        assert!(
            a.take_duty("status", "A", "a", "l1", 0, 30_000)
                .await
                .unwrap()
        );
        assert!(a.renew_duty("status", "l1", 10_000, 40_000).await.unwrap());
        assert!(
            !b.take_duty("status", "B", "b", "l2", 39_999, 69_999)
                .await
                .unwrap(),
            "renewed until 40 s"
        );
        assert!(
            b.take_duty("status", "B", "b", "l2", 40_000, 70_000)
                .await
                .unwrap()
        );
        let row = b.duty_lease("status").await.unwrap().unwrap();
        assert_eq!(
            (
                row.holder.as_str(),
                row.holder_label.as_str(),
                row.lease_id.as_str()
            ),
            ("B", "b", "l2")
        );
        assert_eq!((row.acquired_at_ms, row.renewed_at_ms), (40_000, 40_000));
    }

    #[tokio::test]
    async fn a_renewal_after_the_duty_was_taken_over_reports_the_loss_and_changes_nothing() {
        let (_dir, a, b) = two_handles().await;
        assert!(
            a.take_duty("status", "A", "a", "l1", 0, 30_000)
                .await
                .unwrap()
        );
        assert!(
            b.take_duty("status", "B", "b", "l2", 30_000, 60_000)
                .await
                .unwrap()
        );
        assert!(!a.renew_duty("status", "l1", 31_000, 61_000).await.unwrap());
        a.give_up_duty("status", "l1").await.unwrap();
        let row = a.duty_lease("status").await.unwrap().unwrap();
        assert_eq!((row.lease_id.as_str(), row.expires_at_ms), ("l2", 60_000));
    }

    #[tokio::test]
    async fn giving_a_duty_up_frees_it_at_once() {
        let (_dir, a, b) = two_handles().await;
        assert!(
            a.take_duty("retention", "A", "a", "l1", 0, 30_000)
                .await
                .unwrap()
        );
        a.give_up_duty("retention", "l1").await.unwrap();
        assert!(
            b.take_duty("retention", "B", "b", "l2", 1, 30_001)
                .await
                .unwrap()
        );
        assert_eq!(b.duty_leases().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_instance_takes_its_own_unexpired_duty_again_under_a_new_lease() {
        let (_dir, a, _b) = two_handles().await;
        assert!(
            a.take_duty("menu", "A", "a", "l1", 0, 30_000)
                .await
                .unwrap()
        );
        assert!(
            a.take_duty("menu", "A", "a", "l2", 5_000, 35_000)
                .await
                .unwrap()
        );
        assert!(
            !a.renew_duty("menu", "l1", 6_000, 36_000).await.unwrap(),
            "the old lease is gone"
        );
    }
}
