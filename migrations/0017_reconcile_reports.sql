-- Reconciliation reports (docs/reconciliation.md): one row per branch and run. `report` is the
-- branch's entry of the contract's JSON. A daily run (`daily` = 1) covers one day
-- (`from_day` = `to_day`) and is stored once per branch and day: the unique index makes a
-- restart or a second instance skip a day already reported. `summary_owed` is the JSON array of
-- the operator chats the daily report's Telegram summary still has to reach (NULL: none), tried
-- again from `summary_retry_at_ms` on, so a summary Telegram failed to take is not lost.
CREATE TABLE reconcile_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL,
    from_day TEXT NOT NULL,
    to_day TEXT NOT NULL,
    daily INTEGER NOT NULL,
    report TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    summary_owed TEXT,
    summary_retry_at_ms INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX reconcile_reports_daily ON reconcile_reports (branch, from_day) WHERE daily = 1;
CREATE INDEX reconcile_reports_by_branch ON reconcile_reports (branch, id);
CREATE INDEX reconcile_reports_summary_owed ON reconcile_reports (id) WHERE summary_owed IS NOT NULL;
