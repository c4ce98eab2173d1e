//! One dispatch attempt of one order: read back what an unclear earlier attempt left in iiko,
//! send the stored `deliveries/create` if iiko does not have it, and follow the asynchronous
//! creation to `Success` or `Error`. Every iiko call goes to the order's ledger.
use std::{
    future::Future,
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::OrderIds;
use crate::iiko::IikoClient;
use crate::iiko::IikoError;
use crate::iiko::types::deliveries::{
    CommandStatus, CommandStatusRequest, CreateDeliveryResponse, CreationStatus,
    DeliveriesByIdRequest, DeliveriesResponse, OrderInfo,
};
use crate::store::{CallRecord, RenewedIds, Store, StoredOrder};

/// The first pause between creation polls; each next one is 1.5 times longer, up to the cap.
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(2);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// iiko reports `creationStatus: Success`.
    Created {
        number: Option<i64>,
        status: Option<String>,
    },
    /// iiko refused the order for good; sending it again cannot help.
    Rejected {
        reason: String,
        code: Option<String>,
    },
    /// It may work later (network, 5xx, 408, offline terminal, creation still running).
    /// `unclear` when the order may have reached iiko and be cooked: before handing it to the
    /// operators the bridge must hear from iiko that it does not have it.
    Transient { reason: String, unclear: bool },
}

/// The iiko operations the ledger names.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    Create,
    CommandStatus,
    ById,
}

impl Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::Create => "create",
            Call::CommandStatus => "command_status",
            Call::ById => "by_id",
        }
    }
}

pub struct Courier {
    store: Store,
    iiko: IikoClient,
    creation_wait: Duration,
}

/// What an attempt needs to know of the order.
struct Target<'a> {
    row: i64,
    organization_id: Uuid,
    iiko_order_id: Uuid,
    request: &'a Value,
}

impl Courier {
    pub fn new(store: Store, iiko: IikoClient, creation_wait: Duration) -> Self {
        Self {
            store,
            iiko,
            creation_wait,
        }
    }

    /// Reads the order back once (no create): what iiko says settles an unclear outcome.
    /// An order iiko does not have ends `Transient` but clear.
    pub async fn confirm(&self, order: &StoredOrder, request: &str) -> Attempt {
        let (request, organization_id, iiko_order_id) = match parsed(order, request) {
            Ok(parsed) => parsed,
            Err(attempt) => return attempt,
        };
        let target = Target {
            row: order.id,
            organization_id,
            iiko_order_id,
            request: &request,
        };
        match self.read_back(&target).await {
            // A creation still running stays unclear; the next read comes after a pause.
            Ok(Some(info)) => self.follow_order(&target, info, Instant::now()).await,
            Ok(None) => clear("iiko подтвердил, что заказа у него нет".into()),
            Err(error) => transient(format!("не удалось проверить заказ в iiko: {error}")),
        }
    }

    pub async fn attempt(&self, order: &StoredOrder, request: &str) -> Attempt {
        let (mut request, organization_id, mut iiko_order_id) = match parsed(order, request) {
            Ok(parsed) => parsed,
            Err(attempt) => return attempt,
        };
        let deadline = Instant::now() + self.creation_wait;
        // An earlier create may have reached iiko (timeout, 5xx, 408, or a crash mid-call; the
        // lease marks every attempt as possibly sent): never send again before reading back,
        // or iiko could get the order twice.
        if order.create_sent {
            let target = Target {
                row: order.id,
                organization_id,
                iiko_order_id,
                request: &request,
            };
            match self.read_back(&target).await {
                // iiko closed that id as failed (an offline terminal): it can never be created
                // under it now, and nothing was cooked, so this attempt sends fresh ids.
                Ok(Some(info)) if retryable_failure(&info) => {
                    match self.renew_ids(order, &info, &request).await {
                        Ok(renewed) => (iiko_order_id, request) = renewed,
                        Err(attempt) => return attempt,
                    }
                }
                Ok(Some(info)) => return self.follow_order(&target, info, deadline).await,
                Ok(None) => {}
                Err(error) => {
                    return transient(format!("не удалось проверить заказ в iiko: {error}"));
                }
            }
        }
        let target = Target {
            row: order.id,
            organization_id,
            iiko_order_id,
            request: &request,
        };
        let sent = self
            .logged(
                &target,
                Call::Create,
                format!("order {}", target.iiko_order_id),
                self.iiko.post::<Value, CreateDeliveryResponse>(
                    "/api/1/deliveries/create",
                    target.request,
                ),
                |response| Some(response.correlation_id),
            )
            .await;
        match sent {
            Ok(response) => {
                self.follow_command(&target, response.correlation_id, deadline)
                    .await
            }
            // iiko already has this order id (an earlier attempt got through): follow it.
            Err(error) if error.code() == Some("DuplicatedOrderId") => {
                match self.read_back(&target).await {
                    Ok(Some(info)) => self.follow_order(&target, info, deadline).await,
                    Ok(None) => transient("iiko сообщил о дубликате, но заказ не находится".into()),
                    Err(error) => transient(error.to_string()),
                }
            }
            Err(error @ IikoError::Api { .. }) if !error.is_transient() => {
                let code = error.code().map(str::to_owned);
                rejected(error.to_string(), code)
            }
            // iiko turned the call away before looking at it.
            Err(error @ IikoError::RateLimited { .. }) => clear(error.to_string()),
            Err(error) => transient(error.to_string()),
        }
    }

    /// Stores fresh iiko ids for an order iiko closed as failed and returns the request to send.
    /// Only the attempt that still sees the old id renews it, so two workers cannot both send.
    async fn renew_ids(
        &self,
        order: &StoredOrder,
        failed: &OrderInfo,
        request: &Value,
    ) -> Result<(Uuid, Value), Attempt> {
        let (ids, request) = with_fresh_ids(request);
        let reason = failure_reason(failed);
        let renewed = self
            .store
            .renew_iiko_ids(
                order.id,
                &order.iiko_order_id,
                &RenewedIds {
                    order_id: &ids.order_id.to_string(),
                    ids_json: &serde_json::to_string(&ids).expect("ids serialize"),
                    request: &request.to_string(),
                    note: &format!(
                        "iiko закрыл заказ {} с ошибкой ({reason}); отправляем заново под новым id {}",
                        order.iiko_order_id, ids.order_id
                    ),
                },
                Utc::now().timestamp_millis(),
            )
            .await;
        match renewed {
            Ok(true) => Ok((ids.order_id, request)),
            Ok(false) => Err(transient(
                "заказ уже отправляет другой обработчик под новым id".into(),
            )),
            // The old id is closed and the new one was never sent: nothing can be cooked.
            Err(error) => Err(clear(format!("хранилище недоступно: {error}"))),
        }
    }

    /// Polls `commands/status` until the creation command finishes, then reads the order for
    /// the final word (`creationStatus`, number, status).
    async fn follow_command(
        &self,
        target: &Target<'_>,
        correlation: Uuid,
        deadline: Instant,
    ) -> Attempt {
        let request = CommandStatusRequest {
            organization_id: target.organization_id,
            correlation_id: correlation,
        };
        let mut pause = FIRST_POLL;
        loop {
            let status = self
                .logged(
                    target,
                    Call::CommandStatus,
                    format!("correlation {correlation}"),
                    self.iiko.command_status(&request),
                    |_| None,
                )
                .await;
            match status {
                Ok(CommandStatus::Success | CommandStatus::Error { .. }) => break,
                // Too old to track: the order itself tells the rest.
                Err(IikoError::CommandExpired { .. }) => break,
                Ok(_) | Err(_) if Instant::now() >= deadline => break,
                Ok(_) | Err(_) => {}
            }
            pause = sleep_and_grow(pause).await;
        }
        match self.read_back(target).await {
            Ok(Some(info)) => self.follow_order(target, info, deadline).await,
            Ok(None) => transient("iiko принял заказ, но не находит его".into()),
            Err(error) => transient(format!("не удалось проверить заказ в iiko: {error}")),
        }
    }

    /// Follows the order through `by_id` until its creation ends or the wait runs out.
    async fn follow_order(
        &self,
        target: &Target<'_>,
        mut info: OrderInfo,
        deadline: Instant,
    ) -> Attempt {
        let mut pause = FIRST_POLL;
        loop {
            match &info.creation_status {
                CreationStatus::Success => {
                    return Attempt::Created {
                        number: info.order.as_ref().map(|order| order.number),
                        status: info.order.as_ref().map(|order| order.status.to_string()),
                    };
                }
                CreationStatus::Error => return creation_error(&info),
                _ if Instant::now() >= deadline => {
                    return transient(format!(
                        "iiko создаёт заказ дольше {} с",
                        self.creation_wait.as_secs_f64()
                    ));
                }
                _ => {}
            }
            pause = sleep_and_grow(pause).await;
            match self.read_back(target).await {
                Ok(Some(next)) => info = next,
                Ok(None) => return transient("iiko перестал находить заказ".into()),
                // A failed read is retried until the deadline.
                Err(_) => {}
            }
        }
    }

    /// The order as iiko has it, or `None` when iiko does not know the id.
    async fn read_back(&self, target: &Target<'_>) -> Result<Option<OrderInfo>, IikoError> {
        let request = DeliveriesByIdRequest {
            organization_id: target.organization_id,
            order_ids: Some(vec![target.iiko_order_id]),
            ..DeliveriesByIdRequest::default()
        };
        let response: DeliveriesResponse = self
            .logged(
                target,
                Call::ById,
                format!("order {}", target.iiko_order_id),
                self.iiko.deliveries_by_id(&request),
                |response| Some(response.correlation_id),
            )
            .await?;
        Ok(response
            .orders
            .into_iter()
            .find(|info| info.id == target.iiko_order_id))
    }

    /// Runs one iiko call and appends it to the order's ledger.
    async fn logged<T>(
        &self,
        target: &Target<'_>,
        call: Call,
        summary: String,
        future: impl Future<Output = Result<T, IikoError>>,
        correlation: impl Fn(&T) -> Option<Uuid>,
    ) -> Result<T, IikoError> {
        logged_call(
            &self.store,
            target.row,
            call.as_str(),
            summary,
            future,
            correlation,
        )
        .await
    }
}

/// Runs one iiko call for order `row` and appends it to the order's ledger.
pub(crate) async fn logged_call<T>(
    store: &Store,
    row: i64,
    operation: &str,
    summary: String,
    future: impl Future<Output = Result<T, IikoError>>,
    correlation: impl Fn(&T) -> Option<Uuid>,
) -> Result<T, IikoError> {
    let at = Utc::now();
    let started = Instant::now();
    let result = future.await;
    let record = CallRecord {
        at_ms: at.timestamp_millis(),
        operation: operation.to_owned(),
        request_summary: summary,
        http_status: match &result {
            Ok(_) => Some(200),
            Err(error) => error.http_status().map(i64::from),
        },
        correlation_id: match &result {
            Ok(value) => correlation(value),
            Err(error) => error.correlation_id(),
        }
        .map(|id| id.to_string()),
        error_code: result
            .as_ref()
            .err()
            .and_then(|error| error.code().map(str::to_owned)),
        error_message: result.as_ref().err().map(ToString::to_string),
        latency_ms: started.elapsed().as_millis() as i64,
    };
    tracing::info!(
        operation,
        http_status = record.http_status,
        correlation_id = record.correlation_id.as_deref(),
        latency_ms = record.latency_ms,
        "iiko call for an order"
    );
    // Not waited for: the order's own state write, which follows in the same or a later
    // batch, is what counts, and a lost ledger line must not fail the attempt.
    store.record_call(row, &record).await;
    result
}

/// `creationStatus: Error`. An offline terminal ("Creation timeout expired") may come back;
/// anything else is iiko refusing the order itself. Either way iiko holds nothing to cook.
fn creation_error(info: &OrderInfo) -> Attempt {
    let (code, reason) = (error_code(info), failure_reason(info));
    if retryable_failure(info) {
        clear(reason)
    } else {
        rejected(reason, Some(code))
    }
}

/// An order iiko closed with `creationStatus: Error` for a reason that may pass (the terminal
/// was offline, iiko failed inside).
fn retryable_failure(info: &OrderInfo) -> bool {
    info.creation_status == CreationStatus::Error
        && creation_error_is_transient(&error_code(info), &error_message(info))
}

/// An offline terminal ("Creation timeout expired") or iiko's own failure may pass; the
/// status tracker leaves such creation errors to the dispatcher's retries too.
pub(crate) fn creation_error_is_transient(code: &str, message: &str) -> bool {
    message.contains("Creation timeout expired")
        || matches!(code, "InternalServerError" | "UnknownError")
}

fn error_code(info: &OrderInfo) -> String {
    info.error_info
        .as_ref()
        .map_or_else(|| "Common".to_owned(), |error| error.code.to_string())
}

fn error_message(info: &OrderInfo) -> String {
    info.error_info
        .as_ref()
        .and_then(|error| error.message.clone().or_else(|| error.description.clone()))
        .unwrap_or_default()
}

fn failure_reason(info: &OrderInfo) -> String {
    format!("{}: {}", error_code(info), error_message(info))
}

/// The stored request with a new `order.id` and new `positionId`s, and those ids in
/// [`OrderIds`] order (each line, then its modifiers).
pub(crate) fn with_fresh_ids(request: &Value) -> (OrderIds, Value) {
    let mut request = request.clone();
    let order_id = Uuid::new_v4();
    request["order"]["id"] = json!(order_id);
    let mut position_ids = Vec::new();
    if let Some(items) = request["order"]["items"].as_array_mut() {
        for item in items {
            let id = Uuid::new_v4();
            item["positionId"] = json!(id);
            position_ids.push(id);
            let modifiers = item.get_mut("modifiers").and_then(Value::as_array_mut);
            for modifier in modifiers.into_iter().flatten() {
                let id = Uuid::new_v4();
                modifier["positionId"] = json!(id);
                position_ids.push(id);
            }
        }
    }
    (
        OrderIds {
            order_id,
            position_ids,
        },
        request,
    )
}

async fn sleep_and_grow(pause: Duration) -> Duration {
    tokio::time::sleep(pause).await;
    (pause * 3 / 2).min(MAX_POLL)
}

/// The stored request and the ids an attempt needs, or the attempt's end when they are broken.
fn parsed(order: &StoredOrder, request: &str) -> Result<(Value, Uuid, Uuid), Attempt> {
    let request: Value = serde_json::from_str(request)
        .map_err(|e| rejected(format!("сохранённый запрос не читается: {e}"), None))?;
    let ids = (
        request["organizationId"].as_str().map(Uuid::parse_str),
        Uuid::parse_str(&order.iiko_order_id),
    );
    let (Some(Ok(organization_id)), Ok(iiko_order_id)) = ids else {
        return Err(rejected(
            "в сохранённом запросе нет идентификаторов".into(),
            None,
        ));
    };
    Ok((request, organization_id, iiko_order_id))
}

/// A transient end after which iiko may hold the order.
fn transient(reason: String) -> Attempt {
    Attempt::Transient {
        reason,
        unclear: true,
    }
}

/// A transient end after which iiko surely holds nothing to cook.
fn clear(reason: String) -> Attempt {
    Attempt::Transient {
        reason,
        unclear: false,
    }
}

fn rejected(reason: String, code: Option<String>) -> Attempt {
    Attempt::Rejected { reason, code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iiko::types::deliveries::ErrorInfo;

    fn failed(code: &str, message: &str) -> OrderInfo {
        OrderInfo {
            id: Uuid::nil(),
            pos_id: None,
            external_number: None,
            organization_id: Uuid::nil(),
            timestamp: 0,
            creation_status: CreationStatus::Error,
            error_info: Some(ErrorInfo {
                code: code.into(),
                message: Some(message.into()),
                description: None,
                additional_data: None,
                error_reason: None,
            }),
            order: None,
        }
    }

    #[test]
    fn fresh_ids_replace_the_order_id_and_every_position_id_in_line_order() {
        let request = json!({"organizationId": "o", "order": {"id": "old", "items": [
            {"productId": "p1", "positionId": "a", "modifiers": [{"productId": "m", "positionId": "b"}]},
            {"productId": "p2", "positionId": "c"},
        ]}});
        let (ids, renewed) = with_fresh_ids(&request);
        let order = &renewed["order"];
        assert_eq!(order["id"], json!(ids.order_id));
        let positions = [
            &order["items"][0]["positionId"],
            &order["items"][0]["modifiers"][0]["positionId"],
            &order["items"][1]["positionId"],
        ];
        let expected: Vec<Value> = ids.position_ids.iter().map(|id| json!(id)).collect();
        assert_eq!(positions.map(Clone::clone).to_vec(), expected);
        assert_eq!(order["items"][1]["productId"], "p2", "nothing else changes");
        assert_eq!(renewed["organizationId"], "o");
    }

    #[test]
    fn an_offline_terminal_may_come_back_but_a_refused_order_goes_to_the_operators() {
        let offline = failed(
            "Common",
            "Creation timeout expired, order automatically transited to error creation status",
        );
        assert!(matches!(
            creation_error(&offline),
            Attempt::Transient { .. }
        ));
        assert_eq!(
            creation_error(&failed("PaymentTypeNotFound", "Payment type not found")),
            Attempt::Rejected {
                reason: "PaymentTypeNotFound: Payment type not found".into(),
                code: Some("PaymentTypeNotFound".into()),
            }
        );
        assert!(matches!(
            creation_error(&failed("Common", "Products are in the stop list: X")),
            Attempt::Rejected { .. }
        ));
    }
}
