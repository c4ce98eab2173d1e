-- The twin of migrations/0016_bot.sql (comments there).
CREATE TABLE bot_offsets (
    bot TEXT PRIMARY KEY,
    next_update BIGINT NOT NULL
);

CREATE TABLE bot_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id BIGINT NOT NULL,
    chat_id BIGINT NOT NULL,
    message_id BIGINT,
    text TEXT NOT NULL,
    sent_at_ms BIGINT NOT NULL,
    outcome TEXT,
    outcome_by TEXT,
    outcome_at_ms BIGINT,
    edit_pending BIGINT NOT NULL,
    UNIQUE (chat_id, message_id)
);
CREATE INDEX bot_messages_order ON bot_messages (order_id);
CREATE INDEX bot_messages_pending ON bot_messages (edit_pending);

CREATE TABLE alert_mutes (
    key TEXT NOT NULL,
    watch TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (key, watch)
);
