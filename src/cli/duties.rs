//! `duties`: which `serve` instance holds each singleton duty (the status poller, the menu
//! schedule ...) and until when, to see who runs what when several share the store.
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use super::{Failure, menu::open_store};
use crate::{config::Config, duties::expired};

pub async fn list(config: &Config, as_json: bool) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let leases = store
        .duty_leases()
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    let now = Utc::now().timestamp_millis();
    if as_json {
        let rows: Vec<_> = leases
            .iter()
            .map(|lease| {
                json!({
                    "duty": lease.duty, "holder": lease.holder, "holder_label": lease.holder_label,
                    "acquired_at": time(lease.acquired_at_ms), "renewed_at": time(lease.renewed_at_ms),
                    "expires_at": time(lease.expires_at_ms),
                    "expired": expired(lease.expires_at_ms, now),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("JSON"));
        return Ok(());
    }
    if leases.is_empty() {
        println!("no duty is held (no `serve` runs on this store, or none has started its duties)");
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["duty", "holder", "instance", "held since", "lease"]);
    for lease in &leases {
        let left = (lease.expires_at_ms - now) / 1000;
        let state = if expired(lease.expires_at_ms, now) {
            format!("ran out {} s ago: free to take", -left)
        } else {
            format!("runs out in {left} s")
        };
        table.add_row([
            lease.duty.clone(),
            lease.holder_label.clone(),
            lease.holder.clone(),
            time(lease.acquired_at_ms),
            state,
        ]);
    }
    println!("{table}");
    Ok(())
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}
