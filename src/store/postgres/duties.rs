//! The singleton duties' lease rows (`store::duties`) on PostgreSQL: taken by one conditional
//! upsert, renewed and given up by lease id.
use super::PgStore;
use crate::store::{DutyLease, StoreError};

impl PgStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)
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
            "UPDATE duty_leases SET renewed_at_ms = $1, expires_at_ms = $2
             WHERE duty = $3 AND lease_id = $4",
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
        sqlx::query("DELETE FROM duty_leases WHERE duty = $1 AND lease_id = $2")
            .bind(duty)
            .bind(lease_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn duty_lease(&self, duty: &str) -> Result<Option<DutyLease>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM duty_leases WHERE duty = $1")
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
