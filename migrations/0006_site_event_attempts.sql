-- Every attempt to deliver a site event (CONTRACT section 2), for `events list` and support:
-- when, where to, what the site answered and how long it took.
CREATE TABLE site_event_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event INTEGER NOT NULL REFERENCES site_events (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    url TEXT NOT NULL,
    -- NULL when no HTTP answer came (connect error, timeout).
    http_status INTEGER,
    error TEXT,
    latency_ms INTEGER NOT NULL
);
CREATE INDEX site_event_attempts_by_event ON site_event_attempts (event);

-- Event URLs that answered 410 Gone: nothing more is sent there, across restarts, until
-- `site.events_url` names another URL.
CREATE TABLE site_event_stops (
    url TEXT PRIMARY KEY,
    stopped_at INTEGER NOT NULL,
    -- When operators were told; NULL until the alert got through.
    alerted_at INTEGER
);

-- Pruning old events looks them up by age.
CREATE INDEX site_events_by_age ON site_events (created_at);
