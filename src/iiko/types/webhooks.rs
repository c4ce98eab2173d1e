//! Webhook settings and the events iiko POSTs to the bridge.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    common::{IikoDateTime, null_as_empty, open_enum},
    deliveries::{DeliveryStatus, OrderInfo, OrderItemStatus},
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettingsRequest {
    pub organization_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettingsResponse {
    pub correlation_id: Uuid,
    pub api_login_name: Option<String>,
    pub web_hooks_uri: Option<String>,
    pub auth_token: Option<String>,
    pub web_hooks_filter: Option<WebhooksFilter>,
}

/// Replaces the one webhook registration of this (organization, API login) pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookSettingsRequest {
    pub organization_id: Uuid,
    pub web_hooks_uri: String,
    /// Passed back to the handler, so the bridge can authenticate iiko's calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Always send one: iiko does not document what a missing filter means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_hooks_filter: Option<WebhooksFilter>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhooksFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_order_filter: Option<DeliveryOrderWebhookFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_order_filter: Option<TableOrderWebhookFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_filter: Option<ReserveWebhookFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_list_update_filter: Option<UpdatesFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_shift_filter: Option<UpdatesFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomenclature_update_filter: Option<UpdatesFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_hours_and_mapping_update_filter: Option<UpdatesFilter>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOrderWebhookFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_statuses: Option<Vec<DeliveryStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_statuses: Option<Vec<OrderItemStatus>>,
    #[serde(default)]
    pub errors: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned_external_data_keys: Option<Vec<String>>,
}

open_enum! {
    pub enum TableOrderStatus { New = "New", Bill = "Bill", Closed = "Closed", Deleted = "Deleted" }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableOrderWebhookFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_statuses: Option<Vec<TableOrderStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_statuses: Option<Vec<OrderItemStatus>>,
    #[serde(default)]
    pub errors: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveWebhookFilter {
    #[serde(default)]
    pub updates: bool,
    #[serde(default)]
    pub errors: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatesFilter {
    #[serde(default)]
    pub updates: bool,
}

open_enum! {
    pub enum WebhookEventType {
        DeliveryOrderUpdate = "DeliveryOrderUpdate",
        DeliveryOrderError = "DeliveryOrderError",
        ReserveUpdate = "ReserveUpdate",
        ReserveError = "ReserveError",
        TableOrderUpdate = "TableOrderUpdate",
        TableOrderError = "TableOrderError",
        StopListUpdate = "StopListUpdate",
        PersonalShift = "PersonalShift",
        KitchenOrderUpdate = "KitchenOrderUpdate",
        NomenclatureUpdate = "NomenclatureUpdate",
        BusinessHoursAndMappingUpdate = "BusinessHoursAndMappingUpdate",
    }
}

/// One event of the JSON array iiko POSTs to the webhook URI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawWebhookEvent", into = "RawWebhookEvent")]
pub struct WebhookEvent {
    pub event_type: WebhookEventType,
    /// UTC.
    pub event_time: IikoDateTime,
    pub organization_id: Uuid,
    pub correlation_id: Uuid,
    pub event_info: WebhookEventInfo,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WebhookEventInfo {
    /// `DeliveryOrderUpdate` and `DeliveryOrderError`: the same order info as `deliveries/by_id`.
    DeliveryOrder(Box<OrderInfo>),
    StopListUpdate(StopListUpdateInfo),
    /// Any other event type, kept raw: the bridge treats it as a signal to re-fetch.
    Other(serde_json::Value),
}

/// Which terminal groups' stop lists changed; the items must be re-fetched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopListUpdateInfo {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub terminal_groups_stop_lists_updates: Vec<TerminalGroupStopListUpdate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupStopListUpdate {
    pub id: Uuid,
    pub is_full: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWebhookEvent {
    event_type: WebhookEventType,
    event_time: IikoDateTime,
    organization_id: Uuid,
    correlation_id: Uuid,
    #[serde(default)]
    event_info: serde_json::Value,
}

impl TryFrom<RawWebhookEvent> for WebhookEvent {
    type Error = serde_json::Error;

    fn try_from(raw: RawWebhookEvent) -> Result<Self, Self::Error> {
        let event_info = match raw.event_type {
            WebhookEventType::DeliveryOrderUpdate | WebhookEventType::DeliveryOrderError => {
                WebhookEventInfo::DeliveryOrder(Box::new(serde_json::from_value(raw.event_info)?))
            }
            WebhookEventType::StopListUpdate => {
                WebhookEventInfo::StopListUpdate(serde_json::from_value(raw.event_info)?)
            }
            _ => WebhookEventInfo::Other(raw.event_info),
        };
        Ok(Self {
            event_type: raw.event_type,
            event_time: raw.event_time,
            organization_id: raw.organization_id,
            correlation_id: raw.correlation_id,
            event_info,
        })
    }
}

impl From<WebhookEvent> for RawWebhookEvent {
    fn from(event: WebhookEvent) -> Self {
        let event_info = match event.event_info {
            WebhookEventInfo::DeliveryOrder(order) => {
                serde_json::to_value(order).expect("order info serializes to JSON")
            }
            WebhookEventInfo::StopListUpdate(update) => {
                serde_json::to_value(update).expect("stop-list update serializes to JSON")
            }
            WebhookEventInfo::Other(value) => value,
        };
        Self {
            event_type: event.event_type,
            event_time: event.event_time,
            organization_id: event.organization_id,
            correlation_id: event.correlation_id,
            event_info,
        }
    }
}

impl WebhookEvent {
    pub fn event_time_utc(&self) -> DateTime<Utc> {
        self.event_time.assume_utc()
    }

    /// Parses a webhook body event by event, so one malformed event does not hide the others.
    pub fn parse_batch(
        body: &[u8],
    ) -> Result<Vec<Result<Self, serde_json::Error>>, serde_json::Error> {
        let events: Vec<serde_json::Value> = serde_json::from_slice(body)?;
        Ok(events.into_iter().map(serde_json::from_value).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::iiko::types::deliveries::CreationStatus;

    const BATCH: &str = r#"[
      {"eventType":"DeliveryOrderUpdate","eventTime":"2024-05-01 15:31:02.347",
       "organizationId":"00000000-0000-0000-0000-000000000001","correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0",
       "eventInfo":{"id":"00000000-0000-0000-0000-000000000003","posId":null,"externalNumber":"WEB-10042",
         "organizationId":"00000000-0000-0000-0000-000000000001","timestamp":1714580000123,
         "creationStatus":"Error","errorInfo":{"code":"TerminalGroupDisabled","message":"Terminal is off"},"order":null}},
      {"eventType":"StopListUpdate","eventTime":"2024-05-01 15:32:00.000",
       "organizationId":"00000000-0000-0000-0000-000000000001","correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a1",
       "eventInfo":{"terminalGroupsStopListsUpdates":[{"id":"00000000-0000-0000-0000-000000000002","isFull":false}]}},
      {"eventType":"TeleportUpdate","eventTime":"2024-05-01 15:33:00",
       "organizationId":"00000000-0000-0000-0000-000000000001","correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a2",
       "eventInfo":{"anything":1}},
      {"eventType":"DeliveryOrderUpdate","eventTime":"yesterday"}
    ]"#;

    #[test]
    fn webhook_batch_parses_each_event_into_its_typed_payload() {
        let events = WebhookEvent::parse_batch(BATCH.as_bytes()).unwrap();
        assert_eq!(events.len(), 4);

        let delivery = events[0].as_ref().unwrap();
        assert_eq!(
            delivery.event_time_utc().to_rfc3339(),
            "2024-05-01T15:31:02.347+00:00"
        );
        match &delivery.event_info {
            WebhookEventInfo::DeliveryOrder(info) => {
                assert_eq!(info.creation_status, CreationStatus::Error);
                assert_eq!(info.external_number.as_deref(), Some("WEB-10042"));
            }
            other => panic!("expected order info, got {other:?}"),
        }

        let stop_list = events[1].as_ref().unwrap();
        assert_eq!(
            stop_list.event_info,
            WebhookEventInfo::StopListUpdate(StopListUpdateInfo {
                terminal_groups_stop_lists_updates: vec![TerminalGroupStopListUpdate {
                    id: Uuid::from_u128(2),
                    is_full: false
                }]
            })
        );

        let unknown = events[2].as_ref().unwrap();
        assert_eq!(
            unknown.event_type,
            WebhookEventType::Unknown("TeleportUpdate".into())
        );
        assert_eq!(
            unknown.event_info,
            WebhookEventInfo::Other(json!({"anything": 1}))
        );

        assert!(events[3].is_err());
    }

    #[test]
    fn webhook_event_serializes_back_to_the_wire_shape() {
        let events = WebhookEvent::parse_batch(BATCH.as_bytes()).unwrap();
        let stop_list = events[1].as_ref().unwrap();
        assert_eq!(
            serde_json::to_value(stop_list).unwrap(),
            json!({"eventType": "StopListUpdate", "eventTime": "2024-05-01 15:32:00.000",
                   "organizationId": Uuid::from_u128(1), "correlationId": "8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a1",
                   "eventInfo": {"terminalGroupsStopListsUpdates": [{"id": Uuid::from_u128(2), "isFull": false}]}})
        );
    }

    #[test]
    fn update_settings_request_sends_an_explicit_filter() {
        let request = UpdateWebhookSettingsRequest {
            organization_id: Uuid::from_u128(1),
            web_hooks_uri: "https://bridge.example/iiko/webhook".into(),
            auth_token: Some("hook-token".into()),
            web_hooks_filter: Some(WebhooksFilter {
                delivery_order_filter: Some(DeliveryOrderWebhookFilter {
                    order_statuses: Some(vec![DeliveryStatus::Cancelled, DeliveryStatus::Closed]),
                    errors: true,
                    ..Default::default()
                }),
                stop_list_update_filter: Some(UpdatesFilter { updates: true }),
                ..Default::default()
            }),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"organizationId": Uuid::from_u128(1), "webHooksUri": "https://bridge.example/iiko/webhook",
                   "authToken": "hook-token",
                   "webHooksFilter": {"deliveryOrderFilter": {"orderStatuses": ["Cancelled", "Closed"], "errors": true},
                                      "stopListUpdateFilter": {"updates": true}}})
        );
    }
}
