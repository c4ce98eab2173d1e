//! `events list`: the site events outbox, to see what the site was told and what it answered;
//! `events redeliver`: queue dead (or stopped) events again.
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

use super::{Failure, menu::open_store};
use crate::{
    config::Config,
    store::{Redelivered, StoredEvent},
};

/// How many events `list` shows, newest first.
const LIST_LIMIT: i64 = 200;
const STATES: [&str; 4] = ["pending", "delivered", "stopped", "dead"];

pub async fn list(config: &Config, state: Option<&str>, as_json: bool) -> Result<(), Failure> {
    if let Some(state) = state.filter(|s| !STATES.contains(s)) {
        return Err(Failure::Usage(format!(
            "--state {state}: one of {}",
            STATES.join(", ")
        )));
    }
    let store = open_store(config).await?;
    let unexpected = |e: crate::store::StoreError| Failure::Unexpected(e.into());
    let events = store
        .list_site_events(state, LIST_LIMIT)
        .await
        .map_err(unexpected)?;
    if as_json {
        let mut rows = Vec::with_capacity(events.len());
        for event in &events {
            let attempts = store
                .site_event_attempts(event.id)
                .await
                .map_err(unexpected)?;
            let attempts: Vec<Value> = attempts
                .iter()
                .map(|a| {
                    json!({"at": time(a.at_ms), "url": a.url, "http_status": a.http_status,
                           "error": a.error, "latency_ms": a.latency_ms})
                })
                .collect();
            rows.push(json!({
                "event_id": event.event_id, "type": event.kind, "branch": event.branch,
                "order_id": event.order_id, "state": event.state, "created_at": time(event.created_at_ms),
                "next_attempt_at": (event.state == "pending").then(|| time(event.next_attempt_at_ms)),
                "delivered_at": event.delivered_at_ms.map(time), "last_error": event.last_error,
                "attempts": attempts,
            }));
        }
        println!("{}", serde_json::to_string_pretty(&rows).expect("JSON"));
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "event",
            "type",
            "branch",
            "order",
            "state",
            "attempts",
            "created",
            "last error",
        ]);
    for event in &events {
        table.add_row(row(event));
    }
    println!("{table}");
    Ok(())
}

/// Queues the event `id` again, or with `None` every dead event. A `serve` running on the store
/// sends them on its next step.
pub async fn redeliver(config: &Config, id: Option<&str>) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let unexpected = |e: crate::store::StoreError| Failure::Unexpected(e.into());
    let now_ms = Utc::now().timestamp_millis();
    let Some(id) = id else {
        let queued = store
            .redeliver_dead_site_events(now_ms)
            .await
            .map_err(unexpected)?;
        println!("{queued} dead events queued for the site again");
        return Ok(());
    };
    match store
        .redeliver_site_event(id, now_ms)
        .await
        .map_err(unexpected)?
    {
        Redelivered::Queued => {
            println!("event {id} queued for the site again");
            Ok(())
        }
        Redelivered::NotFound => Err(Failure::Usage(format!("no event {id}"))),
        Redelivered::Refused(state) => Err(Failure::Usage(format!(
            "event {id} is {state}: only dead and stopped events are sent again"
        ))),
    }
}

fn row(event: &StoredEvent) -> [String; 8] {
    [
        event.event_id.clone(),
        event.kind.clone(),
        event.branch.clone(),
        event.order_id.clone().unwrap_or_default(),
        event.state.clone(),
        event.attempts.to_string(),
        time(event.created_at_ms),
        event.last_error.clone().unwrap_or_default(),
    ]
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}
