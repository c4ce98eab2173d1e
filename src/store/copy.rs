//! `store copy`: a SQLite store into an empty PostgreSQL one, every id kept, in one PostgreSQL
//! transaction (a failed copy leaves the target empty), then the rows counted on both sides.
//!
//! The tables and their columns are one list ([`TABLES`]), parents first; both schemas have the
//! same columns in the same order (the `postgres_schema` test), and a test here checks the list
//! against the SQLite schema, so a new table or column cannot be left behind unnoticed.
use super::{Backend, Store, StoreError, is_postgres, postgres::PgStore, sqlite::SqliteStore};
use crate::config::StoreConfig;

/// A batch holds at most this many rows ...
const BATCH_ROWS: usize = 500;
/// ... or this much text (catalog versions hold whole menus).
const BATCH_BYTES: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    /// SQLite INTEGER, PostgreSQL BIGINT.
    Integer,
    /// TEXT on both.
    Text,
}

pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

impl Table {
    /// Whether the table's id is an identity column on PostgreSQL (the schema makes every `id`
    /// one), whose sequence must pass the copied ids.
    pub fn has_identity(&self) -> bool {
        self.columns[0].0 == "id"
    }

    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }
}

const I: Kind = Kind::Integer;
const T: Kind = Kind::Text;

/// Every table with data, parents before the tables whose foreign keys name them.
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "catalog_versions",
        columns: &[
            ("id", I),
            ("branch", T),
            ("revision", I),
            ("synced_at", T),
            ("etag", T),
            ("catalog", T),
            ("public_catalog", T),
            ("report", T),
        ],
    },
    Table {
        name: "catalog_current",
        columns: &[("branch", T), ("version_id", I), ("previous_id", I)],
    },
    Table {
        name: "orders",
        columns: &[
            ("id", I),
            ("branch", T),
            ("site_id", T),
            ("raw_body", T),
            ("content_hash", T),
            ("answer", T),
            ("iiko_ids", T),
            ("iiko_order_id", T),
            ("request", T),
            ("problems", T),
            ("state", T),
            ("fallback_reason", T),
            ("attempts", I),
            ("next_attempt_at", I),
            ("lease_owner", T),
            ("lease_until", I),
            ("create_sent", I),
            ("correlation_id", T),
            ("iiko_number", I),
            ("iiko_status", T),
            ("creation_status", T),
            ("error_code", T),
            ("error_message", T),
            ("created_at", I),
            ("updated_at", I),
            ("reported_iiko_status", T),
            ("site_status", T),
            ("iiko_timestamp", I),
            ("status_seen_at", I),
            ("tracked_iiko_id", T),
            ("tracked_organization_id", T),
            ("cancel_reason", T),
            ("status_final", I),
            ("unclear_until", I),
            ("late_created_at", I),
            ("late_alerted_at", I),
            ("fallback_round", I),
        ],
    },
    Table {
        name: "order_attempts",
        columns: &[
            ("id", I),
            ("order_id", I),
            ("at", I),
            ("operation", T),
            ("request_summary", T),
            ("http_status", I),
            ("correlation_id", T),
            ("error_code", T),
            ("error_message", T),
            ("latency_ms", I),
        ],
    },
    Table {
        name: "order_history",
        columns: &[
            ("id", I),
            ("order_id", I),
            ("at", I),
            ("state", T),
            ("note", T),
            ("status", T),
        ],
    },
    Table {
        name: "seen_webhook_ids",
        columns: &[("webhook_id", T), ("order_id", I), ("expires_at", I)],
    },
    Table {
        name: "fallback_orders",
        columns: &[
            ("branch", T),
            ("order_id", T),
            ("round", I),
            ("number", T),
            ("reason", T),
            ("created_at", T),
            ("alerted_at", T),
        ],
    },
    Table {
        name: "fallback_deliveries",
        columns: &[
            ("id", I),
            ("branch", T),
            ("order_id", T),
            ("round", I),
            ("channel", T),
            ("recipient", T),
            ("subject", T),
            ("body", T),
            ("html", T),
            ("state", T),
            ("attempts", I),
            ("next_attempt_at", I),
            ("last_error", T),
            ("delivered_at", T),
            ("sending_at", I),
            ("claimed_by", T),
            ("lease_id", T),
            ("lease_expires_at_ms", I),
        ],
    },
    Table {
        name: "site_events",
        columns: &[
            ("id", I),
            ("event_id", T),
            ("type", T),
            ("branch", T),
            ("order_id", T),
            ("body", T),
            ("created_at", I),
            ("state", T),
            ("attempts", I),
            ("next_attempt_at", I),
            ("last_error", T),
            ("delivered_at", I),
            ("queued_at", I),
            ("dead_alerted_at", I),
            ("claimed_by", T),
            ("lease_id", T),
            ("lease_expires_at_ms", I),
        ],
    },
    Table {
        name: "site_event_attempts",
        columns: &[
            ("id", I),
            ("event", I),
            ("at", I),
            ("url", T),
            ("http_status", I),
            ("error", T),
            ("latency_ms", I),
        ],
    },
    Table {
        name: "site_event_stops",
        columns: &[("url", T), ("stopped_at", I), ("alerted_at", I)],
    },
    Table {
        name: "status_cursors",
        columns: &[("organization_id", T), ("revision", I), ("updated_at", I)],
    },
    Table {
        name: "iiko_webhook_inbox",
        columns: &[("id", I), ("received_at", I), ("body", T)],
    },
    Table {
        name: "reconcile_reports",
        columns: &[
            ("id", I),
            ("branch", T),
            ("from_day", T),
            ("to_day", T),
            ("daily", I),
            ("report", T),
            ("created_at_ms", I),
            ("summary_owed", T),
            ("summary_retry_at_ms", I),
        ],
    },
    Table {
        name: "bot_offsets",
        columns: &[("bot", T), ("next_update", I)],
    },
    Table {
        name: "bot_messages",
        columns: &[
            ("id", I),
            ("order_id", I),
            ("chat_id", I),
            ("message_id", I),
            ("text", T),
            ("sent_at_ms", I),
            ("outcome", T),
            ("outcome_by", T),
            ("outcome_at_ms", I),
            ("edit_pending", I),
        ],
    },
];

/// Rows of one table, column by column (as PostgreSQL's `UNNEST` takes them).
pub(super) struct Batch {
    pub columns: Vec<Values>,
    pub rows: usize,
    bytes: usize,
}

pub(super) enum Values {
    Integer(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
}

impl Batch {
    pub fn new(table: &Table) -> Batch {
        let columns = table
            .columns
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Integer => Values::Integer(Vec::new()),
                Kind::Text => Values::Text(Vec::new()),
            })
            .collect();
        Batch {
            columns,
            rows: 0,
            bytes: 0,
        }
    }

    /// Counts a row whose values were pushed onto `columns`, `bytes` of text among them.
    pub fn row_added(&mut self, bytes: usize) {
        self.rows += 1;
        self.bytes += bytes;
    }

    pub fn full(&self) -> bool {
        self.rows >= BATCH_ROWS || self.bytes >= BATCH_BYTES
    }
}

/// One table's rows on both sides after a copy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopiedTable {
    pub table: &'static str,
    pub sqlite_rows: i64,
    pub postgres_rows: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("store.url {0}: store copy reads a SQLite store (sqlite://PATH)")]
    SourceNotSqlite(String),
    #[error("--to {0}: store copy writes a PostgreSQL store (postgres://...)")]
    TargetNotPostgres(String),
    #[error("--to {0}: {1}")]
    TargetUrl(String, String),
    #[error("store.url {0}: no such SQLite store")]
    NoSource(String),
    #[error(
        "store.url {0}: a `serve` runs on this store; stop serve first, so the copy is consistent"
    )]
    Serving(String),
    #[error("--to {0}: the table {1} already holds rows; store copy fills an empty database only")]
    TargetNotEmpty(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CopyError {
    /// Whether the copy was refused as asked (a URL, a store in use or not empty), nothing
    /// written, rather than failed on the way.
    pub fn refused(&self) -> bool {
        !matches!(self, CopyError::Store(e) if !matches!(e, StoreError::Url(..)))
    }
}

impl Store {
    /// Copies the SQLite store `from` into the empty PostgreSQL store `to` (migrated on opening),
    /// and answers each table's rows on both sides, counted after the commit.
    pub async fn copy(from: &StoreConfig, to: &StoreConfig) -> Result<Vec<CopiedTable>, CopyError> {
        if !from.url.starts_with("sqlite://") {
            return Err(CopyError::SourceNotSqlite(from.display_url()));
        }
        if !is_postgres(&to.url) {
            return Err(CopyError::TargetNotPostgres(to.display_url()));
        }
        // Opening would create an empty one.
        if !super::sqlite::exists(&from.url)? {
            return Err(CopyError::NoSource(from.display_url()));
        }
        // Held to the end: no `serve` starts on the source meanwhile.
        let _alone = Store::lock_for_serving(&from.url).map_err(|e| match e {
            StoreError::InUse(..) => CopyError::Serving(from.display_url()),
            e => e.into(),
        })?;
        let source = Store::connect(from).await?;
        let target = Store::connect(to).await.map_err(|e| match e {
            StoreError::Url(url, why) => CopyError::TargetUrl(url, why),
            e => e.into(),
        })?;
        let (Backend::Sqlite(source), Backend::Postgres(target)) =
            (&source.backend, &target.backend)
        else {
            unreachable!("the schemes were checked")
        };
        copy_rows(source, target, &to.display_url()).await
    }
}

async fn copy_rows(
    source: &SqliteStore,
    target: &PgStore,
    target_url: &str,
) -> Result<Vec<CopiedTable>, CopyError> {
    // One read transaction: every table from one snapshot, counted in it too.
    let mut reading = source.copy_source().await?;
    let mut writing = target.copy_target(TABLES).await?;
    if let Some(table) = writing.first_with_rows(TABLES).await? {
        return Err(CopyError::TargetNotEmpty(target_url.to_owned(), table));
    }
    for table in TABLES {
        let mut after = i64::MIN;
        let mut rows = 0;
        while let Some((batch, last)) = reading.read(table, after).await? {
            rows += batch.rows;
            writing.insert(table, batch).await?;
            after = last;
        }
        tracing::info!(table = table.name, rows, "copied");
    }
    writing.commit(TABLES).await?;
    let mut counted = Vec::new();
    for table in TABLES {
        counted.push(CopiedTable {
            table: table.name,
            sqlite_rows: reading.count(table).await?,
            postgres_rows: target.count_rows(table).await?,
        });
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coordination between instances, not data: leases and claims that run out on their own,
    /// and what operators were last told (the instances on the new store start afresh).
    const LEFT_OUT: [&str; 5] = [
        "duty_leases",
        "alert_claims",
        "sync_locks",
        "alert_states",
        "alert_mutes",
    ];

    #[tokio::test]
    async fn the_copied_tables_are_every_sqlite_table_but_the_coordination_ones_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bridge.db", dir.path().display()))
            .await
            .unwrap();
        let mut schema = store.sqlite().schema().await.unwrap();
        schema.retain(|table| !LEFT_OUT.contains(&table.name.as_str()));

        let mut listed: Vec<(&str, Vec<(&str, Kind)>)> = TABLES
            .iter()
            .map(|t| (t.name, t.columns.to_vec()))
            .collect();
        let mut expected: Vec<(&str, Vec<(&str, Kind)>)> = schema
            .iter()
            .map(|t| {
                let columns = t.columns.iter().map(|(c, k)| (c.as_str(), *k)).collect();
                (t.name.as_str(), columns)
            })
            .collect();
        listed.sort_by_key(|t| t.0);
        expected.sort_by_key(|t| t.0);
        assert_eq!(
            listed, expected,
            "store::copy::TABLES against the SQLite schema"
        );

        let position = |name: &str| TABLES.iter().position(|t| t.name == name);
        for table in &schema {
            for parent in &table.parents {
                assert!(
                    position(parent) < position(&table.name),
                    "{parent} must come before {} in TABLES",
                    table.name
                );
            }
        }
    }
}
