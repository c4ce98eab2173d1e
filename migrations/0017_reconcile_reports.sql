-- Reconciliation reports (docs/reconciliation.md): one row per branch and run. `report` is the
-- branch's entry of the contract's JSON. A daily run (`daily` = 1) covers one day
-- (`from_day` = `to_day`) and is stored once per branch and day: the unique index makes a
-- restart or a second instance skip a day already reported.
CREATE TABLE reconcile_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL,
    from_day TEXT NOT NULL,
    to_day TEXT NOT NULL,
    daily INTEGER NOT NULL,
    report TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX reconcile_reports_daily ON reconcile_reports (branch, from_day) WHERE daily = 1;
CREATE INDEX reconcile_reports_by_branch ON reconcile_reports (branch, id);
