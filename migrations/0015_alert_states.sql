-- What operators were last told about one kind of trouble (`watch`: `iiko`, `terminal`) of one
-- branch (`key`), shared by every `serve` on the store: of several instances seeing iiko go
-- down, the one that flips `down` here tells the operators and the others stay quiet; the
-- same for the recovery.
CREATE TABLE alert_states (
    key TEXT NOT NULL,
    watch TEXT NOT NULL,
    down INTEGER NOT NULL,
    changed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (key, watch)
);
