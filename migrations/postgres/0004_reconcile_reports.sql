-- The twin of migrations/0017_reconcile_reports.sql (comments there).
CREATE TABLE reconcile_reports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch TEXT NOT NULL,
    from_day TEXT NOT NULL,
    to_day TEXT NOT NULL,
    daily BIGINT NOT NULL,
    report TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    summary_owed TEXT,
    summary_retry_at_ms BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX reconcile_reports_daily ON reconcile_reports (branch, from_day) WHERE daily = 1;
CREATE INDEX reconcile_reports_by_branch ON reconcile_reports (branch, id);
CREATE INDEX reconcile_reports_summary_owed ON reconcile_reports (id) WHERE summary_owed IS NOT NULL;
