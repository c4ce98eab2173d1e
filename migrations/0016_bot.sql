-- The operator bot (src/bot/). `bot_offsets`: the next Telegram update to ask for, stored after
-- each update is handled, so a restart never replays a press.
CREATE TABLE bot_offsets (
    bot TEXT PRIMARY KEY,
    next_update INTEGER NOT NULL
);

-- Each fallback Telegram message that carries the order's buttons (the last part of a long
-- one): reserved before it is sent (`message_id` NULL until Telegram answers, so an order dealt
-- with meanwhile still marks it), filled in after. When the order leaves the fallback (a press, `orders resolve|retry`), the same
-- transaction sets `outcome` (the state it went to), who did it and when, and `edit_pending`:
-- the bot's step edits every such message (buttons dropped) and clears the mark.
CREATE TABLE bot_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    message_id INTEGER,
    text TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    outcome TEXT,
    outcome_by TEXT,
    outcome_at_ms INTEGER,
    edit_pending INTEGER NOT NULL,
    UNIQUE (chat_id, message_id)
);
CREATE INDEX bot_messages_order ON bot_messages (order_id);
CREATE INDEX bot_messages_pending ON bot_messages (edit_pending);

-- An operator alert muted for a while from its button ("Не сообщать час"): `watch` (`iiko`,
-- `terminal`) of branch `key`, until `until_ms`; shared by every instance.
CREATE TABLE alert_mutes (
    key TEXT NOT NULL,
    watch TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (key, watch)
);
