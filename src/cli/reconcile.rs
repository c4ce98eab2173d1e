//! `reconcile`: the bridge's orders against iiko's (docs/reconciliation.md): a table, the
//! contract's JSON or CSV for accountants; exit 0 clean, 4 findings, 3 iiko unreachable.
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{
    Failure, iiko_client,
    menu::{branches, open_store},
};
use crate::{
    config::Config,
    orders::resolve_matched,
    reconcile::{BranchReport, Kind, Outcome, Period, Reconciler, Report, local_day},
    store::{NewReconcileReport, Store},
};

#[derive(Args)]
pub struct ReconcileArgs {
    /// Only this branch (default: every branch).
    #[arg(long)]
    branch: Option<String>,
    /// The first day, YYYY-MM-DD, branch local (default: yesterday).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// The last day, YYYY-MM-DD, branch local (default: today).
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Print the contract's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the findings as CSV to this file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Mark fallback orders that have a manual match in iiko as resolved.
    #[arg(long)]
    resolve_matched: bool,
    /// Print the last stored report instead of reconciling.
    #[arg(long, conflicts_with_all = ["from", "to", "resolve_matched"])]
    last: bool,
}

pub async fn run(config: &Config, args: ReconcileArgs) -> Result<(), Failure> {
    let branches = branches(config, args.branch.as_deref())?;
    let now = Utc::now();
    let mut periods = Vec::new();
    for branch in &branches {
        let today = local_day(now, branch.timezone);
        let period = Period::asked(args.from, args.to, today)
            .map_err(|e| Failure::Usage(format!("branch {}: {e}", branch.key)))?;
        periods.push(period);
    }
    let store = open_store(config).await?;
    let report = match args.last {
        true => last(&store, args.branch.as_deref()).await?,
        false => {
            let reconciler = Reconciler::new(
                store.clone(),
                iiko_client(&config.iiko)?,
                &config.site.source_key,
            );
            let mut report = Report {
                branches: Vec::new(),
            };
            for (branch, period) in branches.iter().zip(periods) {
                let mut found = reconciler
                    .branch(branch, period)
                    .await
                    .map_err(|e| Failure::Unexpected(e.into()))?;
                if args.resolve_matched {
                    resolve(&store, &mut found).await?;
                }
                keep(&store, &found).await?;
                report.branches.push(found);
            }
            report
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serializes")
        );
    } else {
        print!("{}", table(&report));
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv(&report))
            .map_err(|e| Failure::Usage(format!("--csv {}: {e}", path.display())))?;
    }
    match report.outcome() {
        Outcome::Clean => Ok(()),
        Outcome::Unreachable => Err(Failure::IikoUnreachable(
            "iiko did not answer for any day of the period".into(),
        )),
        Outcome::Findings => {
            let findings: usize = report.branches.iter().map(|b| b.discrepancies.len()).sum();
            let incomplete: usize = report
                .branches
                .iter()
                .map(|b| b.incomplete_days.len())
                .sum();
            Err(Failure::DataProblems(format!(
                "{findings} discrepancies, {incomplete} days incomplete"
            )))
        }
    }
}

async fn last(store: &Store, branch: Option<&str>) -> Result<Report, Failure> {
    let stored = store
        .last_reconcile_reports(branch)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    if stored.is_empty() {
        return Err(Failure::Usage(
            "no reconciliation report is stored yet".into(),
        ));
    }
    let branches = stored
        .iter()
        .map(|row| serde_json::from_str(&row.report))
        .collect::<Result<Vec<BranchReport>, _>>()
        .map_err(|e| Failure::Unexpected(anyhow::anyhow!("a stored report: {e}")))?;
    Ok(Report { branches })
}

/// Resolves each fallback order with a manual match; what is resolved leaves the findings.
async fn resolve(store: &Store, report: &mut BranchReport) -> Result<(), Failure> {
    let mut kept = Vec::new();
    for found in std::mem::take(&mut report.discrepancies) {
        let (Kind::FallbackUnresolved, Some(order_id), Some(matched)) =
            (found.kind, &found.order_id, found.manual_match)
        else {
            kept.push(found);
            continue;
        };
        let stored = store
            .order_by_site_key(&report.branch, order_id)
            .await
            .map_err(|e| Failure::Unexpected(e.into()))?;
        let resolved = match stored {
            Some(order) => resolve_matched(
                store,
                order.id,
                &matched.to_string(),
                Utc::now().timestamp_millis(),
            )
            .await
            .map_err(|e| eprintln!("order {order_id} not resolved: {e}"))
            .is_ok(),
            None => false,
        };
        match resolved {
            true => eprintln!(
                "resolved {} order {order_id}: iiko order {matched}",
                report.branch
            ),
            false => kept.push(found),
        }
    }
    report.discrepancies = kept;
    Ok(())
}

async fn keep(store: &Store, report: &BranchReport) -> Result<(), Failure> {
    let json = serde_json::to_string(report).expect("a report serializes");
    store
        .insert_reconcile_report(&NewReconcileReport {
            branch: &report.branch,
            from_day: &report.from.to_string(),
            to_day: &report.to.to_string(),
            daily: false,
            report: &json,
            now_ms: Utc::now().timestamp_millis(),
            summary_owed: &[],
        })
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    Ok(())
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    for branch in &report.branches {
        let _ = writeln!(
            out,
            "{} {}..{}: {} orders in the bridge, {} in iiko with its source key",
            branch.branch, branch.from, branch.to, branch.bridge_orders, branch.iiko_orders
        );
        if !branch.incomplete_days.is_empty() {
            let days: Vec<String> = branch
                .incomplete_days
                .iter()
                .map(|d| d.to_string())
                .collect();
            let _ = writeln!(
                out,
                "incomplete (iiko did not answer; not checked): {}",
                days.join(", ")
            );
        }
        if branch.discrepancies.is_empty() {
            let _ = writeln!(out, "no discrepancies");
            continue;
        }
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["kind", "order", "iiko order", "manual match", "detail"]);
        for found in &branch.discrepancies {
            table.add_row([
                found.kind.as_str().to_owned(),
                found.order_id.clone().unwrap_or_default(),
                found
                    .iiko_order_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                found
                    .manual_match
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                found.detail.clone(),
            ]);
        }
        let _ = writeln!(out, "{table}");
    }
    out
}

/// One line per finding (and per incomplete day), every field quoted.
fn csv(report: &Report) -> String {
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut out = String::from("branch,from,to,kind,order_id,iiko_order_id,manual_match,detail\n");
    for branch in &report.branches {
        let rows = branch
            .discrepancies
            .iter()
            .map(|d| {
                [
                    d.kind.as_str().to_owned(),
                    d.order_id.clone().unwrap_or_default(),
                    d.iiko_order_id.map(|id| id.to_string()).unwrap_or_default(),
                    d.manual_match.map(|id| id.to_string()).unwrap_or_default(),
                    d.detail.clone(),
                ]
            })
            .chain(branch.incomplete_days.iter().map(|day| {
                [
                    "incomplete_day".to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("iiko did not answer for {day}"),
                ]
            }));
        for row in rows {
            let fields: Vec<String> = [
                branch.branch.clone(),
                branch.from.to_string(),
                branch.to.to_string(),
            ]
            .iter()
            .chain(row.iter())
            .map(|f| quote(f))
            .collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
    }
    out
}
