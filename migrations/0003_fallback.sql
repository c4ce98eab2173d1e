-- Orders handed to staff because iiko did not take them, and their deliveries per channel.
-- Keyed by (branch, site order id) only, so the fallback never depends on the orders table.
CREATE TABLE fallback_orders (
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    -- The number staff see, for listings.
    number TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- When operators were told that no channel got the order through (once).
    alerted_at TEXT,
    PRIMARY KEY (branch, order_id)
);

-- One row per channel and recipient, each retried on its own.
CREATE TABLE fallback_deliveries (
    id INTEGER PRIMARY KEY,
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'telegram')),
    -- An e-mail address or a Telegram chat id.
    recipient TEXT NOT NULL,
    -- E-mail only.
    subject TEXT,
    -- The plain-text e-mail or the Telegram HTML.
    body TEXT NOT NULL,
    -- E-mail only: the HTML alternative.
    html TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed_permanently')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds: compared as numbers, never as text.
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    UNIQUE (branch, order_id, channel, recipient),
    FOREIGN KEY (branch, order_id) REFERENCES fallback_orders (branch, order_id)
);

CREATE INDEX fallback_deliveries_due ON fallback_deliveries (next_attempt_at)
    WHERE state = 'pending';
