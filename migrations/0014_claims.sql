-- Claims that hold across processes (several `serve` on one store): a queue item is taken
-- by one claimer (`claimed_by`: a worker's instance id) under a lease of its own (`lease_id`,
-- fresh per claim) until `lease_expires_at_ms` (unix ms). Only the lease holder records the
-- outcome; a claim whose time is up (its process died) lets the item be taken again. All
-- NULL on existing rows: nothing is claimed, so every row stays valid and due as before.
ALTER TABLE site_events ADD COLUMN claimed_by TEXT;
ALTER TABLE site_events ADD COLUMN lease_id TEXT;
ALTER TABLE site_events ADD COLUMN lease_expires_at_ms INTEGER;

-- `sending_at` stays: set by every claim, cleared with the outcome, so a delivery claimed
-- again with it still set was perhaps sent before ("Возможно, повтор").
ALTER TABLE fallback_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE fallback_deliveries ADD COLUMN lease_id TEXT;
ALTER TABLE fallback_deliveries ADD COLUMN lease_expires_at_ms INTEGER;

-- One row per kind of operator alert being sent (`fallback`, `late-creations`,
-- `dead-events`, `gone <url>`): the holder reads what is still unalerted, sends, marks it
-- alerted and deletes its row; another instance skips that kind meanwhile.
CREATE TABLE alert_claims (
    kind TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    lease_expires_at_ms INTEGER NOT NULL
);
