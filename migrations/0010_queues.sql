-- Queues that never block and never grow forever (issue 10, defects 8 and 12).

-- A site event the site keeps refusing gives up after `site.events_give_up_hours` and becomes
-- 'dead': it no longer holds back the later events of its order, operators hear of it once
-- (dead_alerted_at), and `events redeliver` queues it again (queued_at: the give-up counts
-- from there; NULL = created_at). SQLite cannot alter a CHECK, so the table is rebuilt, with
-- its attempts: dropping the events first would cascade onto them.
CREATE TABLE site_events_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    branch TEXT NOT NULL,
    order_id TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'stopped', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at INTEGER,
    queued_at INTEGER,
    dead_alerted_at INTEGER
);
INSERT INTO site_events_new (id, event_id, type, branch, order_id, body, created_at, state,
        attempts, next_attempt_at, last_error, delivered_at)
    SELECT id, event_id, type, branch, order_id, body, created_at, state, attempts,
        next_attempt_at, last_error, delivered_at
    FROM site_events;
DELETE FROM sqlite_sequence WHERE name = 'site_events_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'site_events_new', seq FROM sqlite_sequence WHERE name = 'site_events';

CREATE TABLE site_event_attempts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event INTEGER NOT NULL REFERENCES site_events_new (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    -- Redacted: userinfo and query values replaced (they may hold the site's credentials).
    url TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    latency_ms INTEGER NOT NULL
);
INSERT INTO site_event_attempts_new (id, event, at, url, http_status, error, latency_ms)
    SELECT id, event, at, url, http_status, error, latency_ms FROM site_event_attempts;
DELETE FROM sqlite_sequence WHERE name = 'site_event_attempts_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'site_event_attempts_new', seq FROM sqlite_sequence WHERE name = 'site_event_attempts';

DROP TABLE site_event_attempts;
DROP TABLE site_events;
ALTER TABLE site_events_new RENAME TO site_events;
ALTER TABLE site_event_attempts_new RENAME TO site_event_attempts;
CREATE INDEX site_events_pending ON site_events (state, next_attempt_at);
CREATE INDEX site_events_by_order ON site_events (branch, order_id, id);
CREATE INDEX site_events_by_age ON site_events (created_at);
CREATE INDEX site_event_attempts_by_event ON site_event_attempts (event);

-- Set when a fallback delivery is handed to its channel, cleared when the outcome is recorded:
-- a row still carrying it was perhaps sent by a process that stopped before recording, and
-- is sent again marked as a possible repeat.
ALTER TABLE fallback_deliveries ADD COLUMN sending_at INTEGER;
