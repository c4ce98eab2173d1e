//! The target side of `store copy`: one transaction holding every copied table locked, rows
//! inserted in batches with their ids, the identity sequences moved past them at the end.
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::{
    StoreError,
    copy::{Batch, Kind, Table, Values},
};

pub struct CopyTarget {
    tx: Transaction<'static, Postgres>,
}

impl PgStore {
    /// Begins the copy's transaction, with `tables` locked against writers (readers may still
    /// look), so that nobody adds a row between the emptiness check and the commit.
    pub async fn copy_target(&self, tables: &[Table]) -> Result<CopyTarget, StoreError> {
        let mut tx = self.pool.begin().await?;
        let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
        sqlx::query(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        ))
        .execute(&mut *tx)
        .await?;
        Ok(CopyTarget { tx })
    }

    pub async fn count_rows(&self, table: &Table) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        Ok(sqlx::query_scalar(&sql).fetch_one(&self.pool).await?)
    }
}

impl CopyTarget {
    /// The first of `tables` that holds a row.
    pub async fn first_with_rows(
        &mut self,
        tables: &'static [Table],
    ) -> Result<Option<&'static str>, StoreError> {
        for table in tables {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
            if sqlx::query_scalar(&sql).fetch_one(&mut *self.tx).await? {
                return Ok(Some(table.name));
            }
        }
        Ok(None)
    }

    /// Inserts `batch` into `table` as it is, ids included.
    pub async fn insert(&mut self, table: &Table, batch: Batch) -> Result<(), StoreError> {
        let arrays: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| match kind {
                Kind::Integer => format!("${}::bigint[]", i + 1),
                Kind::Text => format!("${}::text[]", i + 1),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) {} SELECT * FROM UNNEST({})",
            table.name,
            table.column_list(),
            // Identity columns are GENERATED ALWAYS: the copied ids replace the generated ones.
            if table.has_identity() {
                "OVERRIDING SYSTEM VALUE"
            } else {
                ""
            },
            arrays.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for values in batch.columns {
            query = match values {
                Values::Integer(values) => query.bind(values),
                Values::Text(values) => query.bind(values),
            };
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Moves each identity past the highest copied id, so new rows never take one, and commits.
    /// (`setval` is not undone by a rollback: a failed commit leaves the sequences ahead, which
    /// only skips ids.)
    pub async fn commit(mut self, tables: &[Table]) -> Result<(), StoreError> {
        for table in tables.iter().filter(|t| t.has_identity()) {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), max(id)) FROM {0}",
                table.name
            );
            sqlx::query(&sql).execute(&mut *self.tx).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}
