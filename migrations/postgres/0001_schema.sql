-- The PostgreSQL store: the schema that migrations/0001..0014 leave in SQLite, in one file,
-- with the same tables, columns (in the same order), names, keys, checks and indexes. The
-- test `postgres_schema` compares the two catalogues, so a SQLite migration without its
-- PostgreSQL twin fails the build. Column comments live in the SQLite migrations.
--
-- Types, and why they differ from SQLite:
-- - SQLite INTEGER is a 64-bit integer: every INTEGER here is BIGINT (the code reads i64).
-- - Times in unix milliseconds stay BIGINT, so due and lease comparisons stay integer ones.
-- - Times stored as RFC 3339 text in SQLite (catalog_versions.synced_at, fallback_orders
--   .created_at/.alerted_at, fallback_deliveries.delivered_at) stay TEXT: the code writes and
--   reads strings there.
-- - The 0/1 flags (orders.create_sent, orders.status_final) stay BIGINT, not BOOLEAN: the
--   store's SQL compares and sets them as 0 and 1 (and the partial index orders_tracked says
--   `status_final = 0`), which a BOOLEAN column would refuse.
-- - `INTEGER PRIMARY KEY [AUTOINCREMENT]` ids are `BIGINT GENERATED ALWAYS AS IDENTITY`: the
--   store never chooses an id, and identities, like AUTOINCREMENT, never hand one out twice.
-- - A SQLite UNIQUE/PRIMARY KEY makes an automatic index; PostgreSQL names the same constraint
--   <table>_pkey / <table>_<columns>_key itself.

CREATE TABLE catalog_versions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch TEXT NOT NULL,
    revision BIGINT,
    synced_at TEXT NOT NULL,
    etag TEXT NOT NULL,
    catalog TEXT NOT NULL,
    public_catalog TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX catalog_versions_by_branch ON catalog_versions (branch, id);

CREATE TABLE catalog_current (
    branch TEXT PRIMARY KEY,
    version_id BIGINT NOT NULL REFERENCES catalog_versions (id),
    previous_id BIGINT REFERENCES catalog_versions (id)
);

CREATE TABLE orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch TEXT NOT NULL,
    site_id TEXT NOT NULL,
    raw_body TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    answer TEXT NOT NULL,
    iiko_ids TEXT NOT NULL,
    iiko_order_id TEXT NOT NULL,
    request TEXT,
    problems TEXT,
    state TEXT NOT NULL,
    fallback_reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    create_sent BIGINT NOT NULL DEFAULT 0,
    correlation_id TEXT,
    iiko_number BIGINT,
    iiko_status TEXT,
    creation_status TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    reported_iiko_status TEXT,
    site_status TEXT,
    iiko_timestamp BIGINT,
    status_seen_at BIGINT,
    tracked_iiko_id TEXT,
    tracked_organization_id TEXT,
    cancel_reason TEXT,
    status_final BIGINT NOT NULL DEFAULT 0,
    unclear_until BIGINT,
    late_created_at BIGINT,
    late_alerted_at BIGINT,
    fallback_round BIGINT NOT NULL DEFAULT 1,
    UNIQUE (branch, site_id)
);
CREATE INDEX orders_due ON orders (state, next_attempt_at);
CREATE INDEX orders_by_iiko_id ON orders (iiko_order_id);
CREATE INDEX orders_by_tracked_id ON orders (tracked_iiko_id) WHERE tracked_iiko_id IS NOT NULL;
CREATE INDEX orders_tracked ON orders (status_seen_at) WHERE state = 'created' AND status_final = 0;

CREATE TABLE order_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    at BIGINT NOT NULL,
    operation TEXT NOT NULL,
    request_summary TEXT NOT NULL,
    http_status BIGINT,
    correlation_id TEXT,
    error_code TEXT,
    error_message TEXT,
    latency_ms BIGINT NOT NULL
);
CREATE INDEX order_attempts_by_order ON order_attempts (order_id, id);

CREATE TABLE order_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    at BIGINT NOT NULL,
    state TEXT,
    note TEXT,
    status TEXT
);
CREATE INDEX order_history_by_order ON order_history (order_id, id);

CREATE TABLE seen_webhook_ids (
    webhook_id TEXT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    expires_at BIGINT NOT NULL
);

CREATE TABLE fallback_orders (
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    round BIGINT NOT NULL DEFAULT 1,
    number TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    alerted_at TEXT,
    PRIMARY KEY (branch, order_id, round)
);

CREATE TABLE fallback_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    round BIGINT NOT NULL DEFAULT 1,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'telegram')),
    recipient TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    html TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed_permanently')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    sending_at BIGINT,
    claimed_by TEXT,
    lease_id TEXT,
    lease_expires_at_ms BIGINT,
    UNIQUE (branch, order_id, round, channel, recipient),
    FOREIGN KEY (branch, order_id, round) REFERENCES fallback_orders (branch, order_id, round)
);
CREATE INDEX fallback_deliveries_due ON fallback_deliveries (next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE site_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    branch TEXT NOT NULL,
    order_id TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'stopped', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at BIGINT,
    queued_at BIGINT,
    dead_alerted_at BIGINT,
    claimed_by TEXT,
    lease_id TEXT,
    lease_expires_at_ms BIGINT
);
CREATE INDEX site_events_pending ON site_events (state, next_attempt_at);
CREATE INDEX site_events_by_order ON site_events (branch, order_id, id);
CREATE INDEX site_events_by_age ON site_events (created_at);

CREATE TABLE site_event_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event BIGINT NOT NULL REFERENCES site_events (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    url TEXT NOT NULL,
    http_status BIGINT,
    error TEXT,
    latency_ms BIGINT NOT NULL
);
CREATE INDEX site_event_attempts_by_event ON site_event_attempts (event);

CREATE TABLE site_event_stops (
    url TEXT PRIMARY KEY,
    stopped_at BIGINT NOT NULL,
    alerted_at BIGINT
);

CREATE TABLE status_cursors (
    organization_id TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE iiko_webhook_inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE sync_locks (
    branch TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE duty_leases (
    duty TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    holder_label TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    acquired_at_ms BIGINT NOT NULL,
    renewed_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE alert_claims (
    kind TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    lease_expires_at_ms BIGINT NOT NULL
);
