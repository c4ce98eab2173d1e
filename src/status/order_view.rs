//! `GET /api/v1/orders/{id}` and `POST /api/v1/orders/{id}/cancel` (CONTRACT section 1) as
//! plain functions over the store and iiko; the HTTP layer only translates.
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::apply::apply_delivery_reports;
use super::map::{mapper, report_of};
use crate::config::Config;
use crate::iiko::{
    IikoClient, IikoError,
    types::deliveries::{
        CancelDeliveryRequest, CommandStatus, CommandStatusRequest, DeliveriesByIdRequest,
    },
};
use crate::orders::follow::logged_call;
use crate::store::{OrderState, Store, StoreError, StoredOrder};

/// Pause between `commands/status` polls of a cancellation.
const COMMAND_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("no order {0} in this branch")]
    NotFound(String),
    /// The order can no longer be cancelled (or not now), and why.
    #[error("{0}")]
    Refused(String),
    #[error("iiko is unavailable: {0}")]
    Iiko(#[source] IikoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The order as the site sees it: the bridge's state, the mapped status, iiko's side and the
/// history.
pub async fn order_view(store: &Store, branch: &str, site_id: &str) -> Result<Value, ViewError> {
    let order = find(store, branch, site_id).await?;
    view(store, &order).await
}

async fn find(store: &Store, branch: &str, site_id: &str) -> Result<StoredOrder, ViewError> {
    store
        .orders_by_site_id(site_id, Some(branch))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ViewError::NotFound(site_id.to_owned()))
}

async fn view(store: &Store, order: &StoredOrder) -> Result<Value, ViewError> {
    let history = store.order_history(order.id).await?;
    let mut iiko = json!({ "order_id": order.current_iiko_id() });
    for (key, value) in [
        ("number", order.iiko_number.map(Value::from)),
        ("status", order.iiko_status.clone().map(Value::from)),
        (
            "creation_status",
            order.creation_status.clone().map(Value::from),
        ),
    ] {
        if let Some(value) = value {
            iiko[key] = value;
        }
    }
    if order.error_code.is_some() || order.error_message.is_some() {
        iiko["error"] = json!({ "code": order.error_code, "message": order.error_message });
    }
    // iiko created it after it went to the operators: it may be cooked twice.
    if let Some(at) = order.late_created_at {
        iiko["created_after_handover_at"] = json!(timestamp(at));
    }
    let history: Vec<Value> = history
        .iter()
        .map(|entry| {
            let mut item = json!({ "at": timestamp(entry.at_ms) });
            for (key, value) in [
                ("state", &entry.state),
                ("status", &entry.status),
                ("note", &entry.note),
            ] {
                if let Some(value) = value {
                    item[key] = json!(value);
                }
            }
            item
        })
        .collect();
    Ok(json!({
        "order_id": order.site_id,
        "branch": order.branch,
        "state": order.state.as_str(),
        "status": order.site_status,
        "iiko": iiko,
        "attempts": order.attempts,
        "history": history,
    }))
}

fn timestamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Cancels an order for the site. Before iiko has it, it is simply not sent; once created, iiko
/// gets `deliveries/cancel` with the branch's cancel cause and the command is followed for up
/// to `status.cancel_wait_seconds` (iiko's Cancelled status then arrives like any other).
/// Returns the order view.
pub async fn cancel_order(
    store: &Store,
    iiko: &IikoClient,
    config: &Config,
    branch: &str,
    site_id: &str,
    reason: Option<&str>,
) -> Result<Value, ViewError> {
    let order = find(store, branch, site_id).await?;
    let reason = reason.unwrap_or("отменён по запросу сайта");
    let now = Utc::now().timestamp_millis();
    let refused = |why: &str| Err(ViewError::Refused(why.to_owned()));
    match order.state {
        OrderState::Cancelled => return view(store, &order).await,
        OrderState::Queued | OrderState::Retrying => {
            if let Some(order) = store.cancel_before_iiko(order.id, reason, now).await? {
                return view(store, &order).await;
            }
            return refused("the order is being sent to iiko right now; try again in a minute");
        }
        OrderState::Sending => {
            return refused("the order is being sent to iiko right now; try again in a minute");
        }
        OrderState::Fallback | OrderState::Resolved => {
            return refused(
                "the order went to the restaurant's operators; call the restaurant to cancel it",
            );
        }
        OrderState::Created if order.status_final => {
            return refused(&format!(
                "iiko has the order as {}; it can no longer be cancelled",
                order.iiko_status.as_deref().unwrap_or("final")
            ));
        }
        OrderState::Created => {}
    }
    let Some(branch_config) = config.branch(&order.branch) else {
        return refused("the order's branch is no longer configured");
    };
    let organization_id = match &order.tracked_organization_id {
        Some(id) => Uuid::parse_str(id).unwrap_or(branch_config.organization_id),
        None => branch_config.organization_id,
    };
    let delivery_id = Uuid::parse_str(order.current_iiko_id())
        .map_err(|_| StoreError::Corrupt(format!("iiko order id of order {}", order.id)))?;
    store.note_cancel_request(order.id, reason, now).await?;
    let request = CancelDeliveryRequest {
        organization_id,
        order_id: delivery_id,
        moved_order_id: None,
        cancel_cause_id: branch_config.cancel_cause_id,
        cancel_comment: Some(reason.to_owned()),
        removal_type_id: None,
        removal_comment: None,
        user_id_for_writeoff: None,
    };
    let sent = logged_call(
        store,
        order.id,
        "cancel",
        format!("order {delivery_id}"),
        iiko.cancel_delivery(&request),
        |r| Some(r.correlation_id),
    )
    .await;
    let correlation_id = match sent {
        Ok(response) => response.correlation_id,
        Err(error) if error.is_transient() => return Err(ViewError::Iiko(error)),
        Err(error) => return Err(ViewError::Refused(format!("iiko refused: {error}"))),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(config.status.cancel_wait_seconds);
    let status_request = CommandStatusRequest {
        organization_id,
        correlation_id,
    };
    loop {
        let status = logged_call(
            store,
            order.id,
            "command_status",
            format!("correlation {correlation_id}"),
            iiko.command_status(&status_request),
            |_| None,
        )
        .await;
        match status {
            Ok(CommandStatus::Success) => break,
            Ok(CommandStatus::Error {
                error_reason,
                exception,
            }) => {
                let why = error_reason
                    .or_else(|| exception.map(|e| e.to_string()))
                    .unwrap_or_else(|| "the cancel command failed".into());
                return Err(ViewError::Refused(format!("iiko refused: {why}")));
            }
            // Still running (or iiko unsure) when the wait is over: the tracker sees the outcome.
            _ if Instant::now() >= deadline => {
                return view(store, &find_again(store, &order).await?).await;
            }
            _ => tokio::time::sleep(COMMAND_POLL).await,
        }
    }
    // Read the order back so the answer (and the site's events) already show the cancellation.
    let read = DeliveriesByIdRequest {
        organization_id,
        order_ids: Some(vec![delivery_id]),
        ..DeliveriesByIdRequest::default()
    };
    match logged_call(
        store,
        order.id,
        "by_id",
        format!("order {delivery_id}"),
        iiko.deliveries_by_id(&read),
        |r| Some(r.correlation_id),
    )
    .await
    {
        Ok(response) => {
            let reports: Vec<_> = response.orders.iter().map(report_of).collect();
            let now_ms = Utc::now().timestamp_millis();
            apply_delivery_reports(store, &reports, &[], &mapper(config), now_ms).await?;
        }
        Err(error) => {
            tracing::warn!(%error, order = order.id, "reading a cancelled order back failed")
        }
    }
    view(store, &find_again(store, &order).await?).await
}

async fn find_again(store: &Store, order: &StoredOrder) -> Result<StoredOrder, ViewError> {
    store
        .order(order.id)
        .await?
        .ok_or_else(|| ViewError::NotFound(order.site_id.clone()))
}
