//! Organizations, terminal groups and the dictionaries an order refers to.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::common::{ExternalData, PerOrganization, null_as_empty, open_enum};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationsRequest {
    /// `None` asks for every organization the credential can see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_ids: Option<Vec<Uuid>>,
    pub return_additional_info: bool,
    pub include_disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_external_data: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationsResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub organizations: Vec<OrganizationInfo>,
}

open_enum! {
    pub enum OrganizationResponseType { Simple = "Simple", Extended = "Extended" }
}

open_enum! {
    pub enum AddressFormatType {
        Legacy = "Legacy",
        City = "City",
        International = "International",
        IntNoPostcode = "IntNoPostcode",
    }
}

open_enum! {
    pub enum DeliveryServiceType {
        CourierOnly = "CourierOnly",
        SelfServiceOnly = "SelfServiceOnly",
        CourierAndSelfService = "CourierAndSelfService",
    }
}

/// Simple and extended organization info in one shape: the extended fields are `None` in a simple answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationInfo {
    pub response_type: OrganizationResponseType,
    pub id: Uuid,
    pub name: Option<String>,
    pub code: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub external_data: Vec<ExternalData>,
    pub country: Option<String>,
    pub restaurant_address: Option<String>,
    pub version: Option<String>,
    pub currency_iso_name: Option<String>,
    pub currency_minimum_denomination: Option<Decimal>,
    pub country_phone_code: Option<String>,
    pub marketing_source_required_in_delivery: Option<bool>,
    pub delivery_service_type: Option<DeliveryServiceType>,
    pub default_call_center_payment_type_id: Option<Uuid>,
    pub order_item_comment_enabled: Option<bool>,
    pub address_format_type: Option<AddressFormatType>,
    pub is_confirmation_enabled: Option<bool>,
    pub is_cloud: Option<bool>,
    pub is_anonymous_guests_allowed: Option<bool>,
}

/// The request shape shared by dictionaries that only take organization ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationIdsRequest {
    pub organization_ids: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupsRequest {
    pub organization_ids: Vec<Uuid>,
    /// Groups not granted to the API login only show up with `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_external_data: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupsResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub terminal_groups: Vec<PerOrganization<TerminalGroup>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub terminal_groups_in_sleep: Vec<PerOrganization<TerminalGroup>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroup {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub address: Option<String>,
    /// A .NET time span such as `"03:00:00"` or an IANA-like name; kept as sent.
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub external_data: Vec<ExternalData>,
    pub pos_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupsIsAliveRequest {
    pub organization_ids: Vec<Uuid>,
    pub terminal_group_ids: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupsIsAliveResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub is_alive_status: Vec<TerminalGroupAliveInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalGroupAliveInfo {
    pub is_alive: bool,
    pub terminal_group_id: Uuid,
    pub organization_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentTypesResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub payment_types: Vec<PaymentType>,
}

open_enum! {
    /// The payment type's kind in the dictionary (not the kind sent in an order payment).
    pub enum PaymentTypeKind {
        /// iiko's own `"Unknown"` value, distinct from a value this client does not know.
        Unspecified = "Unknown",
        Cash = "Cash",
        Card = "Card",
        Credit = "Credit",
        Writeoff = "Writeoff",
        Voucher = "Voucher",
        External = "External",
        IikoCard = "IikoCard",
    }
}

open_enum! {
    pub enum PaymentProcessingType { External = "External", Internal = "Internal", Both = "Both" }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentType {
    pub id: Option<Uuid>,
    pub code: Option<String>,
    pub name: Option<String>,
    pub comment: Option<String>,
    #[serde(default)]
    pub combinable: bool,
    pub external_revision: Option<i64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub applicable_marketing_campaigns: Vec<Uuid>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub print_cheque: bool,
    pub payment_processing_type: Option<PaymentProcessingType>,
    pub payment_type_kind: Option<PaymentTypeKind>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub terminal_groups: Vec<TerminalGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTypesResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub order_types: Vec<PerOrganization<OrderType>>,
}

open_enum! {
    /// The order-type dictionary's service type; note `DeliveryPickUp`, unlike orders' `DeliveryByClient`.
    pub enum OrderTypeServiceType {
        Common = "Common",
        DeliveryByCourier = "DeliveryByCourier",
        DeliveryPickUp = "DeliveryPickUp",
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderType {
    pub id: Uuid,
    pub name: String,
    pub order_service_type: OrderTypeServiceType,
    #[serde(default)]
    pub is_deleted: bool,
    pub external_revision: Option<i64>,
    pub is_default: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountsResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub discounts: Vec<PerOrganization<DiscountType>>,
}

open_enum! {
    pub enum DiscountMode { Percent = "Percent", FlexibleSum = "FlexibleSum", FixedSum = "FixedSum" }
}

/// A discount or surcharge type (iiko's `DiscountCardTypeInfo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountType {
    pub id: Uuid,
    pub name: Option<String>,
    pub percent: Decimal,
    pub is_categorised_discount: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub product_category_discounts: Vec<ProductCategoryDiscount>,
    pub comment: Option<String>,
    pub can_be_applied_selectively: bool,
    pub min_order_sum: Option<Decimal>,
    pub mode: DiscountMode,
    pub sum: Decimal,
    pub can_apply_by_card_number: bool,
    pub is_manual: bool,
    pub is_card: bool,
    pub is_automatic: bool,
    #[serde(default)]
    pub is_deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCategoryDiscount {
    pub category_id: Uuid,
    pub category_name: Option<String>,
    pub percent: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelCausesResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cancel_causes: Vec<CancelCause>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelCause {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub is_deleted: bool,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn organizations_request_omits_unset_filters() {
        let request = OrganizationsRequest {
            return_additional_info: true,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"returnAdditionalInfo": true, "includeDisabled": false})
        );
    }

    #[test]
    fn extended_organization_parses_with_unknown_fields_and_enum_values() {
        let json = r#"{"correlationId":"b1c4d1f6-2a38-4b1e-9a71-5c44b6a9c2d3","organizations":[{
            "responseType":"Extended","id":"7bc05553-4b68-44e8-b7bc-37be63c6d9e9","name":"Pizza on Lenina",
            "code":null,"country":"Russia","restaurantAddress":"Lenina 1","latitude":55.7,"longitude":37.6,
            "useUaeAddressingSystem":false,"version":"9.2.6000.0","currencyIsoName":"RUB",
            "currencyMinimumDenomination":0.01,"countryPhoneCode":"7","marketingSourceRequiredInDelivery":false,
            "defaultDeliveryCityId":null,"deliveryCityIds":[],"deliveryServiceType":"CourierAndSelfService",
            "defaultCallCenterPaymentTypeId":null,"orderItemCommentEnabled":true,"inn":null,
            "addressFormatType":"Hyperspace","isConfirmationEnabled":false,"confirmAllowedIntervalInMinutes":null,
            "isCloud":true,"isAnonymousGuestsAllowed":true,"addressLookup":["DaData"],"brandNewField":1}]}"#;
        let response: OrganizationsResponse = serde_json::from_str(json).unwrap();
        let organization = &response.organizations[0];
        assert_eq!(
            organization.response_type,
            OrganizationResponseType::Extended
        );
        assert_eq!(organization.currency_minimum_denomination, Some(dec!(0.01)));
        assert_eq!(
            organization.address_format_type,
            Some(AddressFormatType::Unknown("Hyperspace".into()))
        );
    }

    #[test]
    fn payment_type_kind_unknown_is_iikos_own_value_not_a_new_one() {
        let kinds: Vec<PaymentTypeKind> =
            serde_json::from_str(r#"["Unknown","IikoCard","Crypto"]"#).unwrap();
        assert_eq!(
            kinds,
            vec![
                PaymentTypeKind::Unspecified,
                PaymentTypeKind::IikoCard,
                PaymentTypeKind::Unknown("Crypto".into())
            ]
        );
    }

    #[test]
    fn discounts_parse_per_organization() {
        let json = r#"{"correlationId":"b1c4d1f6-2a38-4b1e-9a71-5c44b6a9c2d3","discounts":[{
            "organizationId":"7bc05553-4b68-44e8-b7bc-37be63c6d9e9","items":[{
            "id":"0f4d5a4e-8a43-4f4b-9d3e-0cd1f9a1b2c3","name":"Universal","percent":0,"isCategorisedDiscount":false,
            "productCategoryDiscounts":[],"comment":null,"canBeAppliedSelectively":true,"minOrderSum":null,
            "mode":"FlexibleSum","sum":0,"canApplyByCardNumber":false,"isManual":true,"isCard":false,
            "isAutomatic":false,"isDeleted":false}]}]}"#;
        let response: DiscountsResponse = serde_json::from_str(json).unwrap();
        let discount = &response.discounts[0].items[0];
        assert_eq!(discount.mode, DiscountMode::FlexibleSum);
        assert!(discount.is_manual && !discount.is_automatic);
    }
}
