//! The operator alerts' claims (`store::claims`) on SQLite, one conditional upsert each, and
//! the release at start of what a dead process had claimed (events and deliveries are claimed
//! in `events` and `fallback`).
use super::SqliteStore;
use crate::store::claims::new_lease_id;
use crate::store::{AlertClaim, StoreError};

impl SqliteStore {
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
             VALUES (?, ?, ?, ?)
             ON CONFLICT (kind) DO UPDATE SET claimed_by = excluded.claimed_by,
                 lease_id = excluded.lease_id, lease_expires_at_ms = excluded.lease_expires_at_ms
             WHERE alert_claims.lease_expires_at_ms <= ?
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

    pub async fn release_dead_claims(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut released = 0;
        for sql in [
            "UPDATE site_events SET claimed_by = NULL, lease_id = NULL, lease_expires_at_ms = NULL
             WHERE lease_id IS NOT NULL",
            "UPDATE fallback_deliveries
             SET claimed_by = NULL, lease_id = NULL, lease_expires_at_ms = NULL
             WHERE lease_id IS NOT NULL",
            "DELETE FROM alert_claims",
            "DELETE FROM duty_leases",
        ] {
            released += sqlx::query(sql).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(released)
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
                "INSERT INTO alert_states (key, watch, down, changed_at_ms) VALUES (?, ?, 1, ?)
                 ON CONFLICT (key, watch) DO UPDATE
                 SET down = 1, changed_at_ms = excluded.changed_at_ms
                 WHERE alert_states.down = 0",
            ),
            false => sqlx::query(
                "UPDATE alert_states SET down = 0, changed_at_ms = ?3
                 WHERE key = ?1 AND watch = ?2 AND down = 1",
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
        sqlx::query("DELETE FROM alert_claims WHERE kind = ? AND lease_id = ?")
            .bind(&claim.kind)
            .bind(&claim.lease_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn one_of_two_instances_claims_an_alert_kind_until_it_releases_or_its_claim_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        let (one, two) = (
            Store::open(&url).await.unwrap(),
            Store::open(&url).await.unwrap(),
        );
        let first = one.claim_alerts("fallback", "one", 0, 100).await.unwrap();
        let first = first.expect("free");
        assert_eq!(
            two.claim_alerts("fallback", "two", 50, 150).await.unwrap(),
            None
        );
        assert!(
            two.claim_alerts("dead-events", "two", 50, 150)
                .await
                .unwrap()
                .is_some()
        );
        one.release_alerts(&first).await.unwrap();
        let second = two
            .claim_alerts("fallback", "two", 60, 160)
            .await
            .unwrap()
            .unwrap();

        // `two` dies holding it: from the expiry on, `one` takes it over, and `two`'s late
        // release gives back nothing of `one`'s.
        assert_eq!(
            one.claim_alerts("fallback", "one", 159, 300).await.unwrap(),
            None
        );
        let taken = one.claim_alerts("fallback", "one", 160, 300).await.unwrap();
        two.release_alerts(&second).await.unwrap();
        assert_eq!(
            two.claim_alerts("fallback", "two", 200, 400).await.unwrap(),
            None
        );
        one.release_alerts(&taken.unwrap()).await.unwrap();
    }
}
