-- The outbox of events for the site (CONTRACT section 2). Each row is written in the same
-- transaction as the change it reports, with its body fixed then, so every retry sends the
-- same bytes under the same webhook-id.
CREATE TABLE site_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The Standard Webhooks `webhook-id`, stable across retries.
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    branch TEXT NOT NULL,
    -- The site's order id; NULL for branch-wide events (catalog.updated). Events of one order
    -- are delivered in `id` order.
    order_id TEXT,
    -- The whole JSON body as it is POSTed.
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'stopped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at INTEGER
);
CREATE INDEX site_events_pending ON site_events (state, next_attempt_at);
CREATE INDEX site_events_by_order ON site_events (branch, order_id, id);
