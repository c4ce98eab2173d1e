-- Order statuses from iiko (webhooks and polling), the per-organization by_revision cursor and
-- the inbox of iiko webhook calls.

-- The iiko status last written to the history and told to the site, and its mapped site status.
-- (iiko_status is what iiko last said; it may be set at creation before anything is reported.)
ALTER TABLE orders ADD COLUMN reported_iiko_status TEXT;
ALTER TABLE orders ADD COLUMN site_status TEXT;
-- iiko's `timestamp` of the newest update applied to the tracked delivery: older ones are stale.
ALTER TABLE orders ADD COLUMN iiko_timestamp INTEGER;
-- Unix ms when iiko last reported the order (webhook or poll); old ones are re-read by_id.
ALTER TABLE orders ADD COLUMN status_seen_at INTEGER;
-- After a move between terminal groups iiko knows the order under a new delivery id (and maybe
-- another organization); NULL while it is still iiko_order_id in the branch's organization.
ALTER TABLE orders ADD COLUMN tracked_iiko_id TEXT;
ALTER TABLE orders ADD COLUMN tracked_organization_id TEXT;
-- Why the order was cancelled (iiko's cancel cause and comment, or the site's reason).
ALTER TABLE orders ADD COLUMN cancel_reason TEXT;
-- 1 once iiko's status is final (Closed, or Cancelled without a move): no more tracking.
ALTER TABLE orders ADD COLUMN status_final INTEGER NOT NULL DEFAULT 0;

CREATE INDEX orders_by_iiko_id ON orders (iiko_order_id);
CREATE INDEX orders_by_tracked_id ON orders (tracked_iiko_id) WHERE tracked_iiko_id IS NOT NULL;
CREATE INDEX orders_tracked ON orders (status_seen_at) WHERE state = 'created' AND status_final = 0;

-- The site status an entry reports (CONTRACT: history entries carry state?, status?, note?).
ALTER TABLE order_history ADD COLUMN status TEXT;

-- The by_revision cursor (iiko's maxRevision) per organization.
CREATE TABLE status_cursors (
    organization_id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- iiko webhook calls, stored before the 200 and processed in order afterwards.
CREATE TABLE iiko_webhook_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    -- The JSON array of events exactly as received.
    body TEXT NOT NULL
);
