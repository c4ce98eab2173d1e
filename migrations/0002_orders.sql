-- Every order the site submitted, from acceptance to iiko (or the operators). Times are unix
-- milliseconds (UTC) so that due and lease comparisons are plain integer comparisons.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL,
    -- The site's order id: the idempotency key within a branch.
    site_id TEXT NOT NULL,
    -- The body exactly as received, and its content hash (a repeat with another hash is a 409).
    raw_body TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    -- The 202 body, answered again (as 200) to an identical repeat.
    answer TEXT NOT NULL,
    -- OrderIds as JSON: the iiko order id and every positionId, generated once.
    iiko_ids TEXT NOT NULL,
    iiko_order_id TEXT NOT NULL,
    -- The deliveries/create request, sent unchanged on every attempt; NULL when unmappable.
    request TEXT,
    -- Mapping problems as JSON when the order could not be mapped.
    problems TEXT,
    -- queued | sending | retrying | created | fallback | resolved | cancelled
    state TEXT NOT NULL,
    fallback_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    -- 1 once a deliveries/create may have reached iiko: later attempts read back before re-sending.
    create_sent INTEGER NOT NULL DEFAULT 0,
    correlation_id TEXT,
    iiko_number INTEGER,
    iiko_status TEXT,
    creation_status TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (branch, site_id)
);
CREATE INDEX orders_due ON orders (state, next_attempt_at);

-- Every iiko call made for an order, append-only: what iiko support and operators ask for.
CREATE TABLE order_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    at INTEGER NOT NULL,
    operation TEXT NOT NULL,
    request_summary TEXT NOT NULL,
    http_status INTEGER,
    correlation_id TEXT,
    error_code TEXT,
    error_message TEXT,
    latency_ms INTEGER NOT NULL
);
CREATE INDEX order_attempts_by_order ON order_attempts (order_id, id);

-- The order's life as staff and the site see it.
CREATE TABLE order_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    at INTEGER NOT NULL,
    state TEXT,
    note TEXT
);
CREATE INDEX order_history_by_order ON order_history (order_id, id);

-- Standard Webhooks ids of accepted submissions, kept for the signature tolerance window.
CREATE TABLE seen_webhook_ids (
    webhook_id TEXT PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    expires_at INTEGER NOT NULL
);
