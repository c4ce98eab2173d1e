-- One menu sync per branch at a time, across every process sharing the store: the holder and
-- when its hold runs out (a holder killed mid-sync frees the branch then).
CREATE TABLE sync_locks (
    branch        TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
