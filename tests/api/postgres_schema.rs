//! The PostgreSQL schema (`migrations/postgres`) against the SQLite one (`migrations/*.sql`):
//! both catalogues are read back from real databases and compared, so the two cannot drift,
//! and every PostgreSQL table takes and gives back a row.
use std::collections::{BTreeMap, BTreeSet};

use sqlx::{
    Connection, PgConnection, Row, SqliteConnection, migrate::Migrator, postgres::PgRow,
    sqlite::SqliteConnectOptions,
};

use crate::support::postgres::TestDatabase;

static SQLITE: Migrator = sqlx::migrate!("./migrations");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// One table as both backends describe it, in SQLite's terms: PostgreSQL's BIGINT is `INTEGER`
/// and its TEXT `TEXT` (any other type differs); an `INTEGER PRIMARY KEY` and an identity are both `generated`.
#[derive(Debug, Default, PartialEq)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    unique: BTreeSet<Vec<String>>,
    foreign_keys: BTreeSet<ForeignKey>,
    /// A column and the values its CHECK (column IN (...)) allows.
    checks: BTreeSet<(String, Vec<String>)>,
    /// Named indexes: columns and partial predicate (normalised).
    indexes: BTreeMap<String, (Vec<String>, Option<String>)>,
}

#[derive(Debug, PartialEq)]
struct Column {
    name: String,
    kind: String,
    not_null: bool,
    default: Option<String>,
    generated: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    references: Vec<String>,
    on_delete: String,
}

type Schema = BTreeMap<String, Table>;

#[bed::test]
async fn the_postgres_schema_has_every_sqlite_table_column_key_check_and_index() {
    let Some(db) = TestDatabase::create(
        "the_postgres_schema_has_every_sqlite_table_column_key_check_and_index",
    )
    .await
    else {
        return;
    };
    let mut pg = PgConnection::connect(db.url()).await.unwrap();
    POSTGRES.run(&mut pg).await.unwrap();
    let postgres = postgres_schema(&mut pg).await;
    let sqlite = sqlite_schema().await;

    let mut differences = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => differences.extend(compare(name, s, p)),
            (Some(_), None) => differences.push(format!("{name}: only in SQLite")),
            (None, _) => differences.push(format!("{name}: only in PostgreSQL")),
        }
    }
    assert!(
        differences.is_empty(),
        "migrations/postgres differs from migrations/*.sql:\n{}",
        differences.join("\n")
    );
}

#[bed::test]
async fn every_postgres_table_gives_back_the_row_it_was_given() {
    let Some(db) =
        TestDatabase::create("every_postgres_table_gives_back_the_row_it_was_given").await
    else {
        return;
    };
    let mut pg = PgConnection::connect(db.url()).await.unwrap();
    POSTGRES.run(&mut pg).await.unwrap();
    let schema = postgres_schema(&mut pg).await;

    for table in parents_first(&schema) {
        let columns = &schema[table].columns;
        let given: Vec<&Column> = columns.iter().filter(|c| !c.generated).collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            given
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            (1..=given.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(&insert);
        for column in &given {
            query = match value(&schema, table, column) {
                Value::Integer(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
        query
            .execute(&mut pg)
            .await
            .unwrap_or_else(|e| panic!("{insert}: {e}"));

        let select = format!(
            "SELECT {} FROM {table}",
            columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = sqlx::query(&select).fetch_one(&mut pg).await.unwrap();
        for (i, column) in columns.iter().enumerate() {
            let read = match value(&schema, table, column) {
                Value::Integer(_) => Value::Integer(row.get(i)),
                Value::Text(_) => Value::Text(row.get(i)),
            };
            assert_eq!(
                read,
                value(&schema, table, column),
                "{table}.{}",
                column.name
            );
        }
    }
}

#[derive(Debug, PartialEq)]
enum Value {
    Integer(i64),
    Text(String),
}

/// What the round trip writes into a column: the one allowed by its CHECK, the parent's value
/// for a foreign key (so every reference holds), 1 for an id (each table's first row), else
/// something made from its name (integers above 32 bits, text beyond ASCII).
fn value(schema: &Schema, table: &str, column: &Column) -> Value {
    let t = &schema[table];
    if column.generated {
        return Value::Integer(1);
    }
    if let Some((_, allowed)) = t.checks.iter().find(|(c, _)| *c == column.name) {
        return Value::Text(allowed[0].clone());
    }
    for fk in &t.foreign_keys {
        if let Some(i) = fk.columns.iter().position(|c| *c == column.name) {
            let parent = &schema[&fk.table];
            let referenced = parent.columns.iter().find(|c| c.name == fk.references[i]);
            return value(schema, &fk.table, referenced.unwrap());
        }
    }
    match column.kind.as_str() {
        "INTEGER" => Value::Integer(
            column
                .name
                .bytes()
                .fold(1i64 << 33, |v, b| v * 31 % 1_000_000_007 + i64::from(b)),
        ),
        _ => Value::Text(format!("{} «ё» ✓", column.name)),
    }
}

/// The tables in an order where each comes after the tables it refers to.
fn parents_first(schema: &Schema) -> Vec<&str> {
    let mut done: Vec<&str> = Vec::new();
    while done.len() < schema.len() {
        let ready = schema.iter().find(|(name, table)| {
            !done.contains(&name.as_str())
                && table
                    .foreign_keys
                    .iter()
                    .all(|fk| fk.table == **name || done.contains(&fk.table.as_str()))
        });
        done.push(ready.expect("foreign keys form a cycle").0);
    }
    done
}

fn compare(name: &str, sqlite: &Table, postgres: &Table) -> Vec<String> {
    let mut differences = Vec::new();
    let columns = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if columns(sqlite) != columns(postgres) {
        differences.push(format!(
            "{name}: columns (in order)\n  sqlite   {:?}\n  postgres {:?}",
            columns(sqlite),
            columns(postgres)
        ));
    }
    for s in &sqlite.columns {
        if let Some(p) = postgres.columns.iter().find(|p| p.name == s.name)
            && s != p
        {
            differences.push(format!(
                "{name}.{}\n  sqlite   {s:?}\n  postgres {p:?}",
                s.name
            ));
        }
    }
    macro_rules! same {
        ($field:ident) => {
            if sqlite.$field != postgres.$field {
                differences.push(format!(
                    "{name}: {}\n  sqlite   {:?}\n  postgres {:?}",
                    stringify!($field),
                    sqlite.$field,
                    postgres.$field
                ));
            }
        };
    }
    same!(primary_key);
    same!(unique);
    same!(foreign_keys);
    same!(checks);
    same!(indexes);
    differences
}

/// SQLite after every migration, read from its catalogue (`sqlite_master` and the pragmas).
async fn sqlite_schema() -> Schema {
    let options = "sqlite::memory:".parse::<SqliteConnectOptions>().unwrap();
    let mut db = SqliteConnection::connect_with(&options).await.unwrap();
    SQLITE.run(&mut db).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (name, sql) in tables {
        let mut table = Table::default();
        let info: Vec<(String, String, bool, Option<String>, i64)> = sqlx::query_as(
            r#"SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid"#,
        )
        .bind(&name)
        .fetch_all(&mut db)
        .await
        .unwrap();
        let mut key: Vec<(i64, String)> = info
            .iter()
            .filter(|c| c.4 > 0)
            .map(|c| (c.4, c.0.clone()))
            .collect();
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        for (column, kind, not_null, default, _) in info {
            let in_key = table.primary_key.contains(&column);
            table.columns.push(Column {
                // A one-column INTEGER PRIMARY KEY is the rowid: SQLite numbers it.
                generated: in_key && table.primary_key.len() == 1 && kind == "INTEGER",
                // SQLite lets a non-rowid key be NULL (a legacy quirk); PostgreSQL never does.
                not_null: not_null || in_key,
                kind,
                default: default.map(|d| normalise(&d)),
                name: column,
            });
        }
        let indexes: Vec<(String, String)> =
            sqlx::query_as("SELECT name, origin FROM pragma_index_list(?)")
                .bind(&name)
                .fetch_all(&mut db)
                .await
                .unwrap();
        for (index, origin) in indexes {
            let columns: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
            let columns = columns.into_iter().map(|(c,)| c).collect();
            match origin.as_str() {
                "u" => {
                    table.unique.insert(columns);
                }
                "c" => {
                    let (sql,): (String,) =
                        sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = ?")
                            .bind(&index)
                            .fetch_one(&mut db)
                            .await
                            .unwrap();
                    let predicate = sql.split_once(" WHERE ").map(|(_, p)| normalise(p));
                    table.indexes.insert(index, (columns, predicate));
                }
                _ => {} // "pk": the primary key, compared above
            }
        }
        let references: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            r#"SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)
               ORDER BY id, seq"#,
        )
        .bind(&name)
        .fetch_all(&mut db)
        .await
        .unwrap();
        let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for (id, parent, from, to, on_delete) in references {
            let key = keys.entry(id).or_insert_with(|| ForeignKey {
                columns: vec![],
                table: parent.trim_matches('"').to_owned(),
                references: vec![],
                on_delete: on_delete.to_lowercase(),
            });
            key.columns.push(from);
            key.references.push(to);
        }
        table.foreign_keys = keys.into_values().collect();
        // SQLite keeps CHECKs only in the table's text: `CHECK (column IN ('a', 'b'))`.
        for check in sql.split("CHECK (").skip(1) {
            let column = check.split_whitespace().next().unwrap().to_owned();
            let list = check.split_once(')').unwrap().0;
            table.checks.insert((column, quoted(list)));
        }
        schema.insert(name, table);
    }
    schema
}

/// PostgreSQL's `public` schema, read from `information_schema` and `pg_catalog`.
async fn postgres_schema(db: &mut PgConnection) -> Schema {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
            AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (name,) in tables {
        let mut table = Table::default();
        let columns: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text,
                    column_default::text, is_identity::text
               FROM information_schema.columns
              WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *db)
        .await
        .unwrap();
        for (column, kind, nullable, default, identity) in columns {
            table.columns.push(Column {
                name: column,
                // SQLite's INTEGER holds 64 bits: BIGINT is its twin, nothing narrower.
                kind: match kind.as_str() {
                    "bigint" => "INTEGER".to_owned(),
                    "text" => "TEXT".to_owned(),
                    other => format!("{other} (PostgreSQL)"),
                },
                not_null: nullable == "NO",
                default: default.map(|d| normalise(&d)),
                generated: identity == "YES",
            });
        }
        let constraints: Vec<PgRow> = sqlx::query(
            "SELECT c.contype::text AS kind,
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                          ORDER BY k.i) AS columns,
                    c.confrelid::regclass::text AS parent,
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                          ORDER BY k.i) AS references,
                    c.confdeltype::text AS on_delete,
                    pg_get_constraintdef(c.oid) AS definition
               FROM pg_constraint c WHERE c.conrelid = $1::regclass",
        )
        .bind(&name)
        .fetch_all(&mut *db)
        .await
        .unwrap();
        for c in constraints {
            let columns: Vec<String> = c.get("columns");
            match c.get::<String, _>("kind").as_str() {
                "p" => table.primary_key = columns,
                "u" => {
                    table.unique.insert(columns);
                }
                "f" => {
                    table.foreign_keys.insert(ForeignKey {
                        columns,
                        table: c.get("parent"),
                        references: c.get("references"),
                        on_delete: match c.get::<String, _>("on_delete").as_str() {
                            "a" => "no action",
                            "r" => "restrict",
                            "c" => "cascade",
                            "n" => "set null",
                            _ => "set default",
                        }
                        .to_owned(),
                    });
                }
                "c" => {
                    let definition: String = c.get("definition");
                    table
                        .checks
                        .insert((columns[0].clone(), quoted(&definition)));
                }
                other => panic!("{name}: constraint of kind {other}"),
            }
        }
        // Indexes made by a key or UNIQUE constraint are compared as constraints above.
        let indexes: Vec<(String, Vec<String>, Option<String>)> = sqlx::query_as(
            "SELECT i.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                          ORDER BY k.o),
                    pg_get_expr(x.indpred, x.indrelid)
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
              WHERE x.indrelid = $1::regclass
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                 WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid
                                   AND c.contype IN ('p', 'u'))",
        )
        .bind(&name)
        .fetch_all(&mut *db)
        .await
        .unwrap();
        for (index, columns, predicate) in indexes {
            table
                .indexes
                .insert(index, (columns, predicate.map(|p| normalise(&p))));
        }
        schema.insert(name, table);
    }
    schema
}

/// An expression as both catalogues can print it: PostgreSQL adds casts and parentheses.
fn normalise(expression: &str) -> String {
    let bare = expression
        .replace("::text", "")
        .replace("::bigint", "")
        .replace(['(', ')'], " ");
    bare.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The quoted literals of a CHECK, in order: `IN ('a', 'b')` and `= ANY (ARRAY['a'::text, ...])`.
fn quoted(text: &str) -> Vec<String> {
    text.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}
