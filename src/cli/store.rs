//! `store copy --to postgres://...`: the SQLite store of `store.url` into an empty PostgreSQL
//! store, then the rows of each table counted on both sides.
use std::path::Path;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use secrecy::SecretString;

use super::Failure;
use crate::{
    config::{Config, StoreConfig},
    store::Store,
};

pub async fn copy(
    config: &Config,
    to: &str,
    password_file: Option<&Path>,
    as_json: bool,
) -> Result<(), Failure> {
    let mut target = StoreConfig::at(to);
    if let Some(path) = password_file {
        let password = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--password-file {}: {e}", path.display())))?;
        // Secret files usually end with a newline that is not part of the secret.
        target.password = Some(SecretString::from(
            password.trim_end_matches(['\n', '\r']).to_owned(),
        ));
    }
    let counted = Store::copy(&config.store, &target)
        .await
        .map_err(|e| match e.refused() {
            true => Failure::Usage(e.to_string()),
            false => Failure::Unexpected(e.into()),
        })?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&counted).expect("JSON"));
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["table", "sqlite rows", "postgres rows"]);
        for copied in &counted {
            table.add_row([
                copied.table.to_owned(),
                copied.sqlite_rows.to_string(),
                copied.postgres_rows.to_string(),
            ]);
        }
        println!("{table}");
    }
    let differing: Vec<String> = counted
        .iter()
        .filter(|c| c.sqlite_rows != c.postgres_rows)
        .map(|c| {
            format!(
                "{} ({} in SQLite, {} in PostgreSQL)",
                c.table, c.sqlite_rows, c.postgres_rows
            )
        })
        .collect();
    if !differing.is_empty() {
        return Err(Failure::Unexpected(anyhow::anyhow!(
            "the copy differs from its source: {}",
            differing.join(", ")
        )));
    }
    if !as_json {
        println!(
            "copied into {}; set store.url to it and start the instances",
            target.display_url()
        );
    }
    Ok(())
}
