//! The operator alerts' claims (`store::claims`) on PostgreSQL, one conditional upsert each
//! (events and deliveries are claimed in `events` and `fallback`).
use super::PgStore;
use crate::store::claims::new_lease_id;
use crate::store::{AlertClaim, StoreError};

impl PgStore {
    pub async fn claim_alerts(
        &self,
        kind: &str,
        claimer: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Option<AlertClaim>, StoreError> {
        let lease_id = new_lease_id(claimer);
        let won = sqlx::query(
            "INSERT INTO alert_claims (kind, claimed_by, lease_id, lease_expires_at_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind) DO UPDATE SET claimed_by = excluded.claimed_by,
                 lease_id = excluded.lease_id, lease_expires_at_ms = excluded.lease_expires_at_ms
             WHERE alert_claims.lease_expires_at_ms <= $5
                 OR alert_claims.claimed_by = excluded.claimed_by",
        )
        .bind(kind)
        .bind(claimer)
        .bind(&lease_id)
        .bind(expires_at_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(won.then(|| AlertClaim {
            kind: kind.to_owned(),
            lease_id,
        }))
    }

    pub async fn flip_alert_state(
        &self,
        key: &str,
        watch: &str,
        down: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        // No row is "nothing told": only a down makes one.
        let changed = match down {
            true => sqlx::query(
                "INSERT INTO alert_states (key, watch, down, changed_at_ms) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (key, watch) DO UPDATE
                 SET down = 1, changed_at_ms = excluded.changed_at_ms
                 WHERE alert_states.down = 0",
            ),
            false => sqlx::query(
                "UPDATE alert_states SET down = 0, changed_at_ms = $3
                 WHERE key = $1 AND watch = $2 AND down = 1",
            ),
        }
        .bind(key)
        .bind(watch)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    pub async fn release_alerts(&self, claim: &AlertClaim) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM alert_claims WHERE kind = $1 AND lease_id = $2")
            .bind(&claim.kind)
            .bind(&claim.lease_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
