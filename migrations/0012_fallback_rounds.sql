-- An order can reach the operators more than once: an operator sends it back to iiko
-- (`orders retry`), iiko fails again, and staff must get it again. Each hand-over is a round;
-- `orders.fallback_round` is the round the order's next hand-over belongs to. SQLite cannot
-- change a key, so both fallback tables are rebuilt with the round in their keys (deliveries
-- first: they refer to the orders).
ALTER TABLE orders ADD COLUMN fallback_round INTEGER NOT NULL DEFAULT 1;

CREATE TABLE fallback_orders_new (
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 1,
    number TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    alerted_at TEXT,
    PRIMARY KEY (branch, order_id, round)
);
INSERT INTO fallback_orders_new (branch, order_id, number, reason, created_at, alerted_at)
    SELECT branch, order_id, number, reason, created_at, alerted_at FROM fallback_orders;

CREATE TABLE fallback_deliveries_new (
    id INTEGER PRIMARY KEY,
    branch TEXT NOT NULL,
    order_id TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 1,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'telegram')),
    recipient TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    html TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed_permanently')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    sending_at INTEGER,
    UNIQUE (branch, order_id, round, channel, recipient),
    FOREIGN KEY (branch, order_id, round) REFERENCES fallback_orders_new (branch, order_id, round)
);
INSERT INTO fallback_deliveries_new (id, branch, order_id, channel, recipient, subject, body,
        html, state, attempts, next_attempt_at, last_error, delivered_at, sending_at)
    SELECT id, branch, order_id, channel, recipient, subject, body, html, state, attempts,
        next_attempt_at, last_error, delivered_at, sending_at
    FROM fallback_deliveries;

DROP TABLE fallback_deliveries;
DROP TABLE fallback_orders;
ALTER TABLE fallback_orders_new RENAME TO fallback_orders;
ALTER TABLE fallback_deliveries_new RENAME TO fallback_deliveries;
CREATE INDEX fallback_deliveries_due ON fallback_deliveries (next_attempt_at)
    WHERE state = 'pending';
