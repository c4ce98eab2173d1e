-- Every synced catalog of a branch, newest last; the store keeps a few for diff and rollback.
CREATE TABLE catalog_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL,
    -- iiko's revision of the source (nomenclature revision, menu revision), when it has one.
    revision INTEGER,
    synced_at TEXT NOT NULL,
    -- A hash of public_catalog: the site's ETag.
    etag TEXT NOT NULL,
    -- The bridge's own catalog, with the iiko ids that orders need.
    catalog TEXT NOT NULL,
    -- The site's view, exactly as served (keyed by article, no iiko ids).
    public_catalog TEXT NOT NULL,
    -- The sync's article-integrity report.
    report TEXT NOT NULL
);
CREATE INDEX catalog_versions_by_branch ON catalog_versions (branch, id);

-- Which version the site sees, and the one a rollback returns to.
CREATE TABLE catalog_current (
    branch TEXT PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES catalog_versions (id),
    previous_id INTEGER REFERENCES catalog_versions (id)
);
