//! Stop lists: what a terminal group cannot sell right now.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    common::{IikoDateTime, PerOrganization, null_as_empty},
    deliveries::OrderItem,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopListsRequest {
    pub organization_ids: Vec<Uuid>,
    /// Ask for the size of each stopped item.
    pub return_size: bool,
    /// Note iiko's plural "Groups".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_groups_ids: Option<Vec<Uuid>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopListsResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub terminal_group_stop_lists: Vec<PerOrganization<TerminalGroupStopList>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupStopList {
    pub terminal_group_id: Option<Uuid>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<StopListItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopListItem {
    /// Remaining quantity.
    pub balance: Decimal,
    pub product_id: Uuid,
    pub size_id: Option<Uuid>,
    pub sku: Option<String>,
    /// UTC, unlike order times.
    pub date_add: Option<IikoDateTime>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStopListRequest {
    pub organization_id: Uuid,
    pub terminal_group_id: Uuid,
    pub items: Vec<OrderItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStopListResponse {
    pub correlation_id: Uuid,
    /// Empty when everything is available.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub rejected_items: Vec<StopListItem>,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn stop_lists_parse_per_organization_and_terminal_group() {
        let json = r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","terminalGroupStopLists":[{
            "organizationId":"00000000-0000-0000-0000-000000000001","items":[{
            "terminalGroupId":"00000000-0000-0000-0000-000000000002","items":[{
            "balance":0,"productId":"00000000-0000-0000-0000-000000000004","sizeId":null,"sku":"00042",
            "dateAdd":"2024-05-01 10:15:00.000"}]}]}]}"#;
        let response: StopListsResponse = serde_json::from_str(json).unwrap();
        let stopped = &response.terminal_group_stop_lists[0].items[0].items[0];
        assert_eq!(stopped.balance, dec!(0));
        assert_eq!(stopped.sku.as_deref(), Some("00042"));
        assert_eq!(
            stopped.date_add.unwrap().assume_utc().to_rfc3339(),
            "2024-05-01T10:15:00+00:00"
        );
    }

    #[test]
    fn stop_list_check_treats_null_rejections_as_none() {
        let json =
            r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","rejectedItems":null}"#;
        let response: CheckStopListResponse = serde_json::from_str(json).unwrap();
        assert!(response.rejected_items.is_empty());
    }

    #[test]
    fn stop_lists_request_uses_the_plural_groups_field_name() {
        let request = StopListsRequest {
            organization_ids: vec![Uuid::nil()],
            return_size: true,
            terminal_groups_ids: Some(vec![Uuid::nil()]),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert!(json.get("terminalGroupsIds").is_some());
    }
}
