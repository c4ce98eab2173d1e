//! `menu sync`, `prices sync` and `menu rollback`.
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{Failure, SyncArgs};
use crate::{
    config::{BranchConfig, Config},
    iiko::IikoClient,
    menu::{MenuError, MenuSyncer, Stage, SyncError, SyncKind, SyncOptions, SyncOutcome},
    notify::OperatorChats,
    store::Store,
};

pub async fn syncer(config: &Config) -> Result<MenuSyncer, Failure> {
    let client = super::iiko_client(&config.iiko)?;
    let store = open_store(config).await?;
    Ok(MenuSyncer::new(
        client,
        store,
        config.menu.export_dir.clone(),
        OperatorChats::from_config(&config.telegram),
    ))
}

pub async fn open_store(config: &Config) -> Result<Store, Failure> {
    Store::connect(&config.store)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))
}

pub fn branches<'a>(
    config: &'a Config,
    key: Option<&str>,
) -> Result<Vec<&'a BranchConfig>, Failure> {
    match key {
        None => Ok(config.branches.iter().collect()),
        Some(key) => config.branch(key).map(|b| vec![b]).ok_or_else(|| {
            let known: Vec<&str> = config.branches.iter().map(|b| b.key.as_str()).collect();
            Failure::Usage(format!(
                "--branch {key}: no such branch (configured: {})",
                known.join(", ")
            ))
        }),
    }
}

pub async fn sync(
    config: &Config,
    kind: SyncKind,
    args: &SyncArgs,
    strict: bool,
) -> Result<(), Failure> {
    let branches = branches(config, args.branch.as_deref())?;
    let options = SyncOptions {
        dry_run: args.dry_run,
        strict,
    };
    let json_output = args.json;
    let syncer = syncer(config).await?;
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for branch in branches {
        let progress = spinner(&branch.key, json_output);
        let on_stage = |stage: Stage| {
            progress.set_message(match stage {
                Stage::Fetching => "reading the menu and stop list from iiko",
                Stage::Comparing => "comparing with the stored catalog",
                Stage::Storing => "storing and exporting",
            })
        };
        let result = syncer.sync(branch, kind, options, &on_stage).await;
        progress.finish_and_clear();
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => failures.push((branch.key.clone(), error)),
        }
    }
    if json_output {
        let errors: Vec<_> = failures
            .iter()
            .map(|(branch, e)| json!({"branch": branch, "error": e.to_string()}))
            .collect();
        let text = serde_json::to_string_pretty(&json!({"outcomes": outcomes, "errors": errors}))
            .map_err(anyhow::Error::from)?;
        println!("{text}");
    } else if !outcomes.is_empty() {
        print!("{}", render(&outcomes));
    }
    for (branch, error) in &failures {
        eprintln!("branch {branch}: {error}");
    }
    exit_status(&outcomes, &failures)
}

/// The most serious thing that happened decides the exit code.
fn exit_status(outcomes: &[SyncOutcome], failures: &[(String, SyncError)]) -> Result<(), Failure> {
    let unreachable = failures.iter().find_map(|(_, e)| match e {
        SyncError::Menu(MenuError::Iiko(e)) if e.is_transient() => Some(e.to_string()),
        _ => None,
    });
    if let Some(error) = unreachable {
        return Err(Failure::IikoUnreachable(error));
    }
    if let Some((branch, error)) = failures.first() {
        return Err(match error {
            // iiko refuses a menu or price category it does not know with a 400.
            SyncError::Menu(MenuError::Iiko(e)) if e.http_status() == Some(400) => {
                Failure::Usage(format!(
                    "branch {branch}: iiko does not know its menu.external_menu_id or menu.price_category_id (see above)"
                ))
            }
            SyncError::Menu(_) => Failure::DataProblems(format!(
                "branch {branch}: iiko's menu could not be used; the previous catalog is untouched"
            )),
            other => Failure::Unexpected(anyhow::anyhow!("branch {branch}: {other}")),
        });
    }
    let with_problems: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.report.has_problems())
        .map(|o| o.branch.as_str())
        .collect();
    if with_problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::DataProblems(format!(
            "article problems found in: {}",
            with_problems.join(", ")
        )))
    }
}

fn spinner(branch: &str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_prefix(branch.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A table per run, then what changed and what is wrong, branch by branch.
pub fn render(outcomes: &[SyncOutcome]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "branch", "sync", "result", "products", "added", "removed", "changed", "prices",
            "problems", "seconds",
        ]);
    for o in outcomes {
        let counts = o.diff.counts();
        table.add_row([
            o.branch.clone(),
            format!("{:?}", o.kind).to_lowercase(),
            serde_json::to_value(o.result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            o.products.to_string(),
            counts.added.to_string(),
            counts.removed.to_string(),
            counts.changed.to_string(),
            counts.price_changes.to_string(),
            o.report.problems().count().to_string(),
            format!("{:.2}", o.seconds),
        ]);
    }
    let mut text = format!("{table}\n");
    for o in outcomes {
        if !o.diff.is_empty() {
            text.push_str(&format!("\n{}: {}\n", o.branch, o.diff.summary()));
        }
        if o.report.has_problems() {
            text.push_str(&format!("\n{}\n", o.report.summary()));
        }
        if let Some(path) = &o.exported {
            text.push_str(&format!("\n{}: exported {}\n", o.branch, path.display()));
        }
    }
    text
}

pub async fn rollback(config: &Config, branch: &str) -> Result<(), Failure> {
    let branch = branches(config, Some(branch))?[0];
    let store = open_store(config).await?;
    let client: IikoClient = super::iiko_client(&config.iiko)?;
    // A rollback restores a version that was already reported; it alerts nobody.
    let nobody = OperatorChats::new(None, Vec::new());
    let syncer = MenuSyncer::new(client, store, config.menu.export_dir.clone(), nobody);
    match syncer.rollback(&branch.key).await {
        Ok(Some(restored)) => {
            println!(
                "branch {}: restored the catalog synced at {} (ETag {})",
                branch.key, restored.synced_at, restored.etag
            );
            Ok(())
        }
        Ok(None) => Err(Failure::Usage(format!(
            "branch {}: there is no previous catalog to roll back to",
            branch.key
        ))),
        Err(error) => Err(Failure::Unexpected(error.into())),
    }
}
