//! `orders list|show|retry|resolve|undelivered`: look at and act on stored orders.
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

use super::{Failure, menu::open_store};
use crate::{
    config::Config,
    menu::CatalogCache,
    orders::{ActionError, FindError, find_order, resolve_order, retry_order},
    store::{Actor, FallbackDelivery, OrderState, Store, StoredOrder},
};

/// How many orders `list` shows, newest first.
const LIST_LIMIT: i64 = 200;

pub async fn list(
    config: &Config,
    state: Option<&str>,
    branch: Option<&str>,
    as_json: bool,
) -> Result<(), Failure> {
    let state = state
        .map(|text| {
            OrderState::parse(text).ok_or_else(|| {
                let known: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
                Failure::Usage(format!("--state {text}: one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let store = open_store(config).await?;
    let orders = store
        .list_orders(state, branch, LIST_LIMIT)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    if as_json {
        let rows: Vec<Value> = orders.iter().map(summary).collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("JSON"));
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "branch",
            "order",
            "state",
            "attempts",
            "iiko number",
            "updated",
        ]);
    for order in &orders {
        table.add_row([
            order.branch.clone(),
            order.site_id.clone(),
            order.state.to_string(),
            order.attempts.to_string(),
            order
                .iiko_number
                .map_or_else(String::new, |n| n.to_string()),
            time(order.updated_at),
        ]);
    }
    println!("{table}");
    Ok(())
}

pub async fn show(config: &Config, id: &str, branch: Option<&str>) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let order = find(&store, id, branch).await?;
    let calls = store
        .order_calls(order.id)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    let history = store
        .order_history(order.id)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    // How far the operators' copies got, channel by channel, for an order in `fallback`.
    let deliveries = store
        .fallback_deliveries(&order.branch, &order.site_id)
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let view = json!({
        "order": summary(&order),
        "fallback_reason": order.fallback_reason,
        "iiko": {
            "order_id": order.iiko_order_id,
            "correlation_id": order.correlation_id,
            "number": order.iiko_number,
            "status": order.iiko_status,
            "creation_status": order.creation_status,
            "error_code": order.error_code,
            "error_message": order.error_message,
        },
        "lease": order.lease_owner.as_ref().map(|owner| json!({
            "owner": owner, "until": order.lease_until.map(time),
        })),
        "next_attempt_at": time(order.next_attempt_at),
        "created_at": time(order.created_at),
        "site_body": parse(Some(&order.raw_body)),
        "mapping_problems": parse(order.problems.as_deref()),
        "iiko_request": parse(order.request.as_deref()),
        "calls": calls.iter().map(|c| json!({
            "at": time(c.at_ms), "operation": c.operation, "request": c.request_summary,
            "http_status": c.http_status, "correlation_id": c.correlation_id,
            "error_code": c.error_code, "error": c.error_message, "latency_ms": c.latency_ms,
        })).collect::<Vec<_>>(),
        "history": history.iter().map(|h| json!({
            "at": time(h.at_ms), "state": h.state, "note": h.note,
        })).collect::<Vec<_>>(),
        "fallback_deliveries": deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&view).expect("JSON"));
    Ok(())
}

pub async fn retry(config: &Config, id: &str, branch: Option<&str>) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let before = find(&store, id, branch).await?;
    let catalogs = CatalogCache::new(store.clone());
    let order = retry_order(
        &store,
        &catalogs,
        config,
        before.id,
        &Actor::Cli,
        Utc::now(),
    )
    .await
    .map_err(action_failure)?;
    let renewed = if order.iiko_order_id == before.iiko_order_id {
        ""
    } else {
        " (new)"
    };
    println!(
        "order {} of branch {}: queued for iiko again (iiko order id {}{renewed})",
        order.site_id, order.branch, order.iiko_order_id
    );
    Ok(())
}

pub async fn resolve(config: &Config, id: &str, branch: Option<&str>) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let order = find(&store, id, branch).await?;
    let order = resolve_order(&store, order.id, Utc::now().timestamp_millis())
        .await
        .map_err(action_failure)?;
    println!(
        "order {} of branch {}: resolved by hand",
        order.site_id, order.branch
    );
    Ok(())
}

/// Every fallback order staff have not got on any channel, with how each channel is doing.
pub async fn undelivered(config: &Config, as_json: bool) -> Result<(), Failure> {
    let store = open_store(config).await?;
    let orders = store
        .undelivered_fallbacks()
        .await
        .map_err(|e| Failure::Unexpected(e.into()))?;
    if as_json {
        let rows: Vec<Value> = orders
            .iter()
            .map(|o| {
                json!({
                    "branch": o.branch, "order_id": o.order_id, "number": o.number,
                    "reason": o.reason, "since": o.created_at.to_rfc3339(),
                    "operators_alerted_at": o.alerted_at.map(|t| t.to_rfc3339()),
                    "deliveries": o.deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("JSON"));
    } else if orders.is_empty() {
        println!("every fallback order has reached staff on at least one channel");
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["branch", "order", "since", "reason", "channels"]);
        for order in &orders {
            let channels: Vec<String> = order
                .deliveries
                .iter()
                .map(|d| {
                    format!(
                        "{} {}: {} after {} attempts{}",
                        d.channel.as_str(),
                        d.recipient,
                        d.state.as_str(),
                        d.attempts,
                        d.last_error
                            .as_ref()
                            .map_or_else(String::new, |e| format!(" ({e})"))
                    )
                })
                .collect();
            table.add_row([
                order.branch.clone(),
                order.order_id.clone(),
                order.created_at.to_rfc3339(),
                order.reason.clone(),
                if channels.is_empty() {
                    "no recipients configured".to_owned()
                } else {
                    channels.join("\n")
                },
            ]);
        }
        println!("{table}");
    }
    match orders.len() {
        0 => Ok(()),
        n => Err(Failure::DataProblems(format!(
            "{n} fallback order(s) have not reached staff on any channel"
        ))),
    }
}

fn delivery_json(d: &FallbackDelivery) -> Value {
    json!({
        "channel": d.channel.as_str(), "recipient": d.recipient, "state": d.state.as_str(),
        "attempts": d.attempts, "next_attempt_at": d.next_attempt_at.to_rfc3339(),
        "last_error": d.last_error, "delivered_at": d.delivered_at.map(|t| t.to_rfc3339()),
    })
}

/// The one order `id` names (see [`find_order`]); `--branch` tells apart equal ids of different
/// branches.
async fn find(store: &Store, id: &str, branch: Option<&str>) -> Result<StoredOrder, Failure> {
    find_order(store, id, branch)
        .await
        .map_err(|error| match error {
            FindError::Store(error) => Failure::Unexpected(error.into()),
            FindError::InSeveralBranches { id, branches } => Failure::Usage(format!(
                "order {id:?} exists in several branches ({}); give --branch",
                branches.join(", ")
            )),
            not_found => Failure::Usage(not_found.to_string()),
        })
}

fn action_failure(error: ActionError) -> Failure {
    match error {
        ActionError::Store(error) => Failure::Unexpected(error.into()),
        refused => Failure::Usage(refused.to_string()),
    }
}

fn summary(order: &StoredOrder) -> Value {
    json!({
        "branch": order.branch,
        "order_id": order.site_id,
        "state": order.state.as_str(),
        "attempts": order.attempts,
        "iiko_order_id": order.iiko_order_id,
        "iiko_number": order.iiko_number,
        "updated_at": time(order.updated_at),
    })
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}
