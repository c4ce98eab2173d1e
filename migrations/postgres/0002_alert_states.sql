-- The twin of migrations/0015_alert_states.sql (column comments there).
CREATE TABLE alert_states (
    key TEXT NOT NULL,
    watch TEXT NOT NULL,
    down BIGINT NOT NULL,
    changed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (key, watch)
);
