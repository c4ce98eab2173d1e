//! The source side of `store copy`: a table's rows read in batches, all from one snapshot.
use futures::TryStreamExt;
use sqlx::{Row, Sqlite, Transaction};

use super::{SqliteStore, sqlite_path};
use crate::store::{
    StoreError,
    copy::{Batch, Table, Values},
};

/// A read transaction (WAL: one snapshot of every table for as long as it lasts).
pub struct CopySource {
    tx: Transaction<'static, Sqlite>,
}

/// Whether the SQLite file of `url` exists (opening creates a missing one).
pub fn exists(url: &str) -> Result<bool, StoreError> {
    Ok(std::path::Path::new(sqlite_path(url)?).is_file())
}

impl SqliteStore {
    pub async fn copy_source(&self) -> Result<CopySource, StoreError> {
        Ok(CopySource {
            tx: self.pool.begin().await?,
        })
    }
}

impl CopySource {
    /// The next rows of `table` after the row `after` (its rowid, the id where it has one), and
    /// the last rowid read; `None` past the end.
    pub async fn read(
        &mut self,
        table: &Table,
        after: i64,
    ) -> Result<Option<(Batch, i64)>, StoreError> {
        let sql = format!(
            "SELECT rowid, {} FROM {} WHERE rowid > ? ORDER BY rowid",
            table.column_list(),
            table.name
        );
        let mut rows = sqlx::query(&sql).bind(after).fetch(&mut *self.tx);
        let mut batch = Batch::new(table);
        let mut last = after;
        while let Some(row) = rows.try_next().await? {
            last = row.try_get(0)?;
            let mut bytes = 0;
            for (i, values) in batch.columns.iter_mut().enumerate() {
                match values {
                    Values::Integer(values) => values.push(row.try_get(i + 1)?),
                    Values::Text(values) => {
                        let value: Option<String> = row.try_get(i + 1)?;
                        bytes += value.as_ref().map_or(0, String::len);
                        values.push(value);
                    }
                }
            }
            batch.row_added(bytes);
            if batch.full() {
                break;
            }
        }
        Ok((batch.rows > 0).then_some((batch, last)))
    }

    pub async fn count(&mut self, table: &Table) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        Ok(sqlx::query_scalar(&sql).fetch_one(&mut *self.tx).await?)
    }
}

/// A table of the SQLite schema, for the test that holds `copy::TABLES` against it.
#[cfg(test)]
pub struct SchemaTable {
    pub name: String,
    pub columns: Vec<(String, crate::store::copy::Kind)>,
    /// The tables its foreign keys name.
    pub parents: Vec<String>,
}

#[cfg(test)]
impl SqliteStore {
    pub async fn schema(&self) -> Result<Vec<SchemaTable>, StoreError> {
        use crate::store::copy::Kind;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut tables = Vec::new();
        for name in names {
            let columns: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&name)
                    .fetch_all(&self.pool)
                    .await?;
            let columns = columns
                .into_iter()
                .map(|(column, kind)| {
                    let kind = match kind.as_str() {
                        "INTEGER" => Kind::Integer,
                        "TEXT" => Kind::Text,
                        other => {
                            panic!("{name}.{column}: type {other} is neither INTEGER nor TEXT")
                        }
                    };
                    (column, kind)
                })
                .collect();
            let parents =
                sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)")
                    .bind(&name)
                    .fetch_all(&self.pool)
                    .await?;
            tables.push(SchemaTable {
                name,
                columns,
                parents,
            });
        }
        Ok(tables)
    }
}
