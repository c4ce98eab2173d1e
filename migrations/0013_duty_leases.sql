-- Singleton duties (the status poller, the menu schedule, retention, the terminal watch): one
-- row per duty naming the `serve` instance that runs it, under a lease its holder renews. A row
-- whose lease ran out may be taken over by another instance; its holder gives it up on shutdown.
CREATE TABLE duty_leases (
    duty           TEXT PRIMARY KEY,
    -- The instance's id (a UUID made at its start) and, for humans, its host name and pid.
    holder         TEXT NOT NULL,
    holder_label   TEXT NOT NULL,
    -- Fresh per acquisition: a renewal or give-up names it, so one that lost the duty touches
    -- nothing.
    lease_id       TEXT NOT NULL,
    acquired_at_ms INTEGER NOT NULL,
    renewed_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL
);
