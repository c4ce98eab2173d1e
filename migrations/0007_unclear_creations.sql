-- The outcome of the last allowed deliveries/create is unclear (timeout, 5xx, creation still
-- running): until this unix-ms time the dispatcher only reads the order back, and hands it to
-- the operators when iiko says it does not have it or when the time is up. Kept after a
-- hand-over that ran out of time: iiko may still report the order, and is then followed.
ALTER TABLE orders ADD COLUMN unclear_until INTEGER;
-- Unix ms when iiko reported creating an order that had already gone to the operators, and
-- when the operators were told (an alert lost to a Telegram outage is sent again).
ALTER TABLE orders ADD COLUMN late_created_at INTEGER;
ALTER TABLE orders ADD COLUMN late_alerted_at INTEGER;
