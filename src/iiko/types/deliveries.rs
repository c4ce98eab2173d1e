//! Delivery orders: creation, command status, reading back and cancelling.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::common::{IikoDateTime, null_as_empty, open_enum};

// ---- Creating a delivery (`/api/1/deliveries/create`) -------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDeliveryRequest {
    pub organization_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_group_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_order_settings: Option<CreateOrderSettings>,
    pub order: DeliveryOrder,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderSettings {
    /// Seconds for the order to reach iikoFront before it is voided; iiko's default is 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_to_front_timeout: Option<i32>,
    pub check_stop_list: bool,
}

/// The order being created. Loyalty `calculate` takes the same shape; leave `menu_id` unset there.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOrder {
    /// Generate and persist it before sending, so a retry after a timeout cannot create a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_number: Option<String>,
    /// Terminal-local time; `None` means as soon as possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_before: Option<IikoDateTime>,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_extension: Option<String>,
    /// Set exactly one of `order_type_id` and `order_service_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_service_type: Option<DeliveryServiceKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_point: Option<DeliveryPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guests: Option<Guests>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketing_source_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_duration: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menu_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_category_id: Option<Uuid>,
    pub items: Vec<OrderItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combos: Vec<Combo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tips: Vec<TipsPayment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discounts_info: Option<DiscountsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loyalty_info: Option<LoyaltyInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cheque_additional_info: Option<ChequeAdditionalInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<OrderExternalData>,
}

/// The service type of an order being created (pickup is `DeliveryByClient` here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryServiceKind {
    DeliveryByCourier,
    DeliveryByClient,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_cartography_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Address {
    #[serde(rename = "legacy")]
    Legacy(LegacyAddress),
    /// Only when the organization's `addressFormatType` is `City`.
    #[serde(rename = "city")]
    City(CityAddress),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyAddress {
    pub street: Street,
    pub house: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doorphone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_id: Option<Uuid>,
}

/// Give only one of: `classifier_id`, `id`, or `name` with `city`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Street {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CityAddress {
    pub line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doorphone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Customer {
    /// Joins the loyalty programs and is stored in the guest base; needed for bonus accrual.
    #[serde(rename = "regular")]
    Regular(RegularCustomer),
    /// Anonymous and not stored.
    #[serde(rename = "one-time")]
    OneTime { name: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegularCustomer {
    /// `None` makes iiko look the customer up by phone or create one (then `name` is required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub should_receive_order_status_notifications: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
}

open_enum! {
    pub enum Gender { NotSpecified = "NotSpecified", Male = "Male", Female = "Female" }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guests {
    /// Number of cutlery sets.
    pub count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_between_persons: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderItem {
    Product(ProductItem),
    /// A product with a modifier scheme, such as pizza halves.
    Compound(CompoundItem),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductItem {
    pub product_id: Uuid,
    /// Sent even when `None`: iiko reads an explicit null as "no size scale".
    pub product_size_id: Option<Uuid>,
    pub amount: Decimal,
    /// Unit price.
    pub price: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<Modifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub combo_information: Option<ComboInformation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompoundItem {
    pub primary_component: CompoundComponent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_component: Option<CompoundComponent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_modifiers: Vec<Modifier>,
    pub product_size_id: Option<Uuid>,
    pub amount: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub combo_information: Option<ComboInformation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompoundComponent {
    pub product_id: Uuid,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<Modifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Modifier {
    pub product_id: Uuid,
    pub amount: Decimal,
    /// Required for a group modifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_group_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComboInformation {
    pub combo_id: Uuid,
    pub combo_source_id: Uuid,
    pub combo_group_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub combo_group_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Combo {
    /// A new UUID per combo instance.
    pub id: Uuid,
    pub name: String,
    pub amount: i32,
    pub price: Decimal,
    pub source_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_id: Option<Uuid>,
}

/// The kind of an order payment; must match the dictionary kind of `payment_type_id`
/// (`LoyaltyCard` goes with the `IikoCard` dictionary kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentKind {
    Cash,
    Card,
    LoyaltyCard,
    External,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_type_kind: PaymentKind,
    pub sum: Decimal,
    pub payment_type_id: Uuid,
    /// True when the money was already taken outside iiko (online acquiring).
    pub is_processed_externally: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_additional_data: Option<PaymentAdditionalData>,
    pub is_fiscalized_externally: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TipsPaymentKind {
    Cash,
    Card,
    External,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TipsPayment {
    pub payment_type_kind: TipsPaymentKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tips_type_id: Option<Uuid>,
    pub sum: Decimal,
    pub payment_type_id: Uuid,
    pub is_processed_externally: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_additional_data: Option<PaymentAdditionalData>,
    pub is_fiscalized_externally: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PaymentAdditionalData {
    LoyaltyCard(LoyaltyCardPaymentData),
    Card(CardPaymentData),
    External(ExternalPaymentData),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyCardPaymentData {
    /// How the loyalty system finds the guest; its meaning follows `search_scope`.
    pub credential: String,
    pub search_scope: SearchScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchScope {
    Reserved,
    Phone,
    CardNumber,
    CardTrack,
    PaymentToken,
    FindFaceId,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardPaymentData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalPaymentData {
    pub custom_data: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountsInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<DiscountCard>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<Discount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_loyalty_discounts: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscountCard {
    pub track: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Discount {
    #[serde(rename = "RMS")]
    Rms(RmsDiscount),
    #[serde(rename = "iikoCard")]
    IikoCard(IikoCardDiscount),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RmsDiscount {
    pub discount_type_id: Uuid,
    /// Only for "assign amount" (free-sum) discount types; iiko rejects it for others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selective_positions: Option<Vec<Uuid>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IikoCardDiscount {
    pub discount_type_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selective_positions: Option<Vec<Uuid>>,
    pub program_id: Uuid,
    pub program_name: String,
    pub discount_items: Vec<IikoCardDiscountItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IikoCardDiscountItem {
    pub position_id: Uuid,
    pub sum: Decimal,
    pub amount: Decimal,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicable_manual_conditions: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_discounts: Option<Vec<DynamicDiscount>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicDiscount {
    pub manual_condition_id: Uuid,
    pub sum: Decimal,
}

/// Receipt details required by Russian law 54-FZ.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChequeAdditionalInfo {
    pub need_receipt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_place: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retail_address: Option<String>,
    pub is_internet_payment: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderExternalData {
    pub key: String,
    pub value: String,
    /// Shown in reports when true.
    pub is_public: bool,
}

// ---- Command status (`/api/1/commands/status`) --------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandStatusRequest {
    pub organization_id: Uuid,
    pub correlation_id: Uuid,
}

/// `Success` only says the command ran; for creation the order's `creation_status` is the final word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum CommandStatus {
    InProgress,
    Success,
    #[serde(rename_all = "camelCase")]
    Error {
        #[serde(default)]
        exception: Option<serde_json::Value>,
        #[serde(default)]
        error_reason: Option<String>,
    },
    #[serde(other)]
    Unknown,
}

// ---- Reading deliveries back ------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesByIdRequest {
    pub organization_id: Uuid,
    /// At most 200; set either these or `pos_order_ids`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_ids: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_order_ids: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_external_data_keys: Option<Vec<String>>,
    pub return_locked_by_user: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesByRevisionRequest {
    /// Orders changed after (not at) this revision; iiko looks back at most 3 hours.
    pub start_revision: i64,
    pub organization_ids: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_keys: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesByDateAndStatusRequest {
    pub organization_ids: Vec<Uuid>,
    /// Terminal-local; only 7 days back are guaranteed.
    pub delivery_date_from: IikoDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_date_to: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<DeliveryStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub courier_ids: Option<Vec<Uuid>>,
}

/// `deliveries/by_delivery_date_and_source_key_and_filter`: iiko has no page offset, so a caller
/// pages by sorting on `CompleteBefore` and moving `delivery_date_from` to the last order read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesByDateAndFilterRequest {
    pub organization_ids: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_group_ids: Option<Vec<Uuid>>,
    /// Terminal-local, inclusive; only the last 7 days are guaranteed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_date_from: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_date_to: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<DeliveryStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_property: Option<OrderSortProperty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_direction: Option<SortDirection>,
    /// The most orders one answer holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_keys: Option<Vec<String>>,
}

open_enum! {
    pub enum OrderSortProperty {
        Number = "Number",
        CompleteBefore = "CompleteBefore",
        Sum = "Sum",
        Customer = "Customer",
        Courier = "Courier",
        Status = "Status",
        OrderTypeName = "OrderTypeName",
    }
}

open_enum! {
    pub enum SortDirection { Ascending = "Ascending", Descending = "Descending" }
}

/// `deliveries/by_delivery_date_and_phone`: every order with this phone, whatever its source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesByDateAndPhoneRequest {
    pub organization_ids: Vec<Uuid>,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_date_from: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_date_to: Option<IikoDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_keys: Option<Vec<String>>,
    /// None: every matching order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_count: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDeliveryResponse {
    pub correlation_id: Uuid,
    pub order_info: OrderInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub orders: Vec<OrderInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesWithRevisionResponse {
    pub correlation_id: Uuid,
    /// The cursor for the next `by_revision` call.
    pub max_revision: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub orders_by_organizations: Vec<OrdersByOrganization>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersByOrganization {
    pub organization_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub orders: Vec<OrderInfo>,
}

/// A delivery as iiko reports it (also the payload of delivery webhooks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInfo {
    pub id: Uuid,
    pub pos_id: Option<Uuid>,
    pub external_number: Option<String>,
    pub organization_id: Uuid,
    /// The latest change on iiko's side; use it to drop stale updates.
    pub timestamp: i64,
    pub creation_status: CreationStatus,
    pub error_info: Option<ErrorInfo>,
    /// Present when `creation_status` is `Success`.
    pub order: Option<Order>,
}

open_enum! {
    pub enum CreationStatus { Success = "Success", InProgress = "InProgress", Error = "Error" }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    pub code: OrderErrorCode,
    pub message: Option<String>,
    pub description: Option<String>,
    pub additional_data: Option<serde_json::Value>,
    pub error_reason: Option<String>,
}

open_enum! {
    /// Why iiko could not create or change an order (`errorInfo.code`).
    pub enum OrderErrorCode {
        Common = "Common",
        IllegalDeliveryStatus = "IllegalDeliveryStatus",
        CustomerNameNotSpecified = "CustomerNameNotSpecified",
        ProductNotFound = "ProductNotFound",
        MarketingSourceNotFound = "MarketingSourceNotFound",
        PaymentTypeNotFound = "PaymentTypeNotFound",
        ProductSizeNotFound = "ProductSizeNotFound",
        ProductGroupNotFound = "ProductGroupNotFound",
        OrderNotFound = "OrderNotFound",
        ConceptionNotFound = "ConceptionNotFound",
        DuplicatedOrderId = "DuplicatedOrderId",
        TerminalGroupIdNotDetermined = "TerminalGroupIdNotDetermined",
        TerminalGroupUnregistered = "TerminalGroupUnregistered",
        InvalidPhone = "InvalidPhone",
        ModifierDuplicated = "ModifierDuplicated",
        ProductCanBuyFromCashdesk = "ProductCanBuyFromCashdesk",
        DeliveryOpinionMarkInvalid = "DeliveryOpinionMarkInvalid",
        WrongDeliveryStatusForOpinion = "WrongDeliveryStatusForOpinion",
        OpinionCommentTooLong = "OpinionCommentTooLong",
        SurveyItemNotFound = "SurveyItemNotFound",
        PaymentTypeCanNotBeUsedAsExternal = "PaymentTypeCanNotBeUsedAsExternal",
        AddressNotFound = "AddressNotFound",
        HomeNotFound = "HomeNotFound",
        IikonetPaymentAdditionalDataCanNotBeParsed = "IikonetPaymentAdditionalDataCanNotBeParsed",
        IikonetPaymentExternalIdNotFound = "IikonetPaymentExternalIdNotFound",
        IikonetPaymentSumLessThanMarketingDiscount = "IikonetPaymentSumLessThanMarketingDiscount",
        DiscountCardNotFound = "DiscountCardNotFound",
        DiscountCardTypeModeForbidden = "DiscountCardTypeModeForbidden",
        Iikocard5PaymentAdditionalDataCanNotBeParsed = "Iikocard5PaymentAdditionalDataCanNotBeParsed",
        Iikocard5PaymentExternalIdNotFound = "Iikocard5PaymentExternalIdNotFound",
        Iikocard5PaymentSumLessThanMarketingDiscount = "Iikocard5PaymentSumLessThanMarketingDiscount",
        Iikocard5PaymentCanNotCreateCustomData = "Iikocard5PaymentCanNotCreateCustomData",
        CourierIdDoesNotExist = "CourierIdDoesNotExist",
        CourierDoesNotOwnOrder = "CourierDoesNotOwnOrder",
        WrongDeliveryStatus = "WrongDeliveryStatus",
        CanNotAssignCourierToOrder = "CanNotAssignCourierToOrder",
        UserNotFoundByExternalPassword = "UserNotFoundByExternalPassword",
        UserNotFound = "UserNotFound",
        Iikocard51PaymentAdditionalDataCanNotBeParsed = "Iikocard51PaymentAdditionalDataCanNotBeParsed",
        Iikocard51PaymentCredentialNotFound = "Iikocard51PaymentCredentialNotFound",
        Iikocard51PaymentSearchScopeNotFound = "Iikocard51PaymentSearchScopeNotFound",
        ComboDuplicated = "ComboDuplicated",
        InvalidReferenceToCombo = "InvalidReferenceToCombo",
        InvalidComboItemsAmount = "InvalidComboItemsAmount",
        InvalidComboItemsGuest = "InvalidComboItemsGuest",
        InvalidReferenceToGuest = "InvalidReferenceToGuest",
        GuestDuplicated = "GuestDuplicated",
        GuestNameNotSpecified = "GuestNameNotSpecified",
        OrderTypeNotFound = "OrderTypeNotFound",
        OrderServiceTypeDoesNotMatchSelfServiceMode = "OrderServiceTypeDoesNotMatchSelfServiceMode",
        DeliveryDateNotSpecified = "DeliveryDateNotSpecified",
        OrderStatusChangedInIikoFront = "OrderStatusChangedInIikoFront",
        PaymentAdditionalDataTooLong = "PaymentAdditionalDataTooLong",
        PaymentSumShouldBePositive = "PaymentSumShouldBePositive",
        DiscountSumNotSpecified = "DiscountSumNotSpecified",
        InvalidDiscountItem = "InvalidDiscountItem",
        RequestProductPriceIsNotEqualToFrontPrice = "RequestProductPriceIsNotEqualToFrontPrice",
        OrderItemsNotExists = "OrderItemsNotExists",
        EntityAlreadyInUse = "EntityAlreadyInUse",
        DiscountItemPositionNotFound = "DiscountItemPositionNotFound",
        DiscountItemDuplicatePositions = "DiscountItemDuplicatePositions",
        NonUnqiueOrderItemPosition = "NonUnqiueOrderItemPosition",
        EmptyOrderItemPosition = "EmptyOrderItemPosition",
        IncorrectOrderType = "IncorrectOrderType",
        Incorrect = "Incorrect",
        TerminalGroupDisabled = "TerminalGroupDisabled",
        OrganizationUnregistered = "OrganizationUnregistered",
        OrganizationDisabled = "OrganizationDisabled",
        TooSmallDeliveryDate = "TooSmallDeliveryDate",
        IikoFrontTooOldVersion = "IikoFrontTooOldVersion",
        DuplicatedReserveId = "DuplicatedReserveId",
        TipsTypeNotApplicable = "TipsTypeNotApplicable",
        AnonymousCustomerDisabled = "AnonymousCustomerDisabled",
        MayBeInconsistentUpdates = "MayBeInconsistentUpdates",
        InconsistentUpdates = "InconsistentUpdates",
        Line1Disabled = "Line1Disabled",
        InternalServerError = "InternalServerError",
        UnknownError = "UnknownError",
    }
}

open_enum! {
    /// Spelled `Cancelled`; `ReadyForCooking` is deprecated since RMS 9.0.6.
    pub enum DeliveryStatus {
        Unconfirmed = "Unconfirmed",
        WaitCooking = "WaitCooking",
        ReadyForCooking = "ReadyForCooking",
        CookingStarted = "CookingStarted",
        CookingCompleted = "CookingCompleted",
        Waiting = "Waiting",
        OnWay = "OnWay",
        Delivered = "Delivered",
        Closed = "Closed",
        Cancelled = "Cancelled",
    }
}

open_enum! {
    pub enum OrderItemStatus {
        Added = "Added",
        PrintedNotCooking = "PrintedNotCooking",
        CookingStarted = "CookingStarted",
        CookingCompleted = "CookingCompleted",
        Served = "Served",
    }
}

open_enum! {
    /// The service type of an existing order (pickup is `DeliveryByClient`).
    pub enum OrderServiceType {
        Common = "Common",
        DeliveryByCourier = "DeliveryByCourier",
        DeliveryByClient = "DeliveryByClient",
    }
}

open_enum! {
    /// The payment kind in a reported order; a different list from the payment-type dictionary's.
    pub enum OrderPaymentKind {
        /// iiko's own `"Unknown"` value, distinct from a value this client does not know.
        Unspecified = "Unknown",
        Cash = "Cash",
        Card = "Card",
        Credit = "Credit",
        Writeoff = "Writeoff",
        Voucher = "Voucher",
        External = "External",
        SmartSale = "SmartSale",
        Sberbank = "Sberbank",
        Trpos = "Trpos",
    }
}

/// An `{id, name}` reference (product, size, discount type, cause, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedRef {
    pub id: Uuid,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub status: DeliveryStatus,
    /// The POS delivery number.
    pub number: i64,
    /// Total after discounts and surcharges.
    pub sum: Decimal,
    pub processed_payments_sum: Option<Decimal>,
    pub phone: String,
    pub customer: Option<OrderCustomer>,
    pub delivery_point: Option<OrderDeliveryPoint>,
    pub complete_before: Option<IikoDateTime>,
    pub when_created: Option<IikoDateTime>,
    pub when_confirmed: Option<IikoDateTime>,
    pub when_printed: Option<IikoDateTime>,
    pub when_cooking_completed: Option<IikoDateTime>,
    pub when_sended: Option<IikoDateTime>,
    pub when_delivered: Option<IikoDateTime>,
    pub when_closed: Option<IikoDateTime>,
    pub cooking_start_time: Option<IikoDateTime>,
    pub estimated_time: Option<IikoDateTime>,
    pub is_asap: Option<bool>,
    pub comment: Option<String>,
    pub cancel_info: Option<CancelInfo>,
    pub courier_info: Option<CourierInfo>,
    pub problem: Option<Problem>,
    pub guests_info: Option<GuestsInfo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<OrderItemInfo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub combos: Vec<OrderCombo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub payments: Vec<PaymentItem>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub discounts: Vec<DiscountItem>,
    pub order_type: Option<OrderTypeRef>,
    pub terminal_group_id: Uuid,
    pub source_key: Option<String>,
    pub loyalty_info: Option<OrderLoyaltyInfo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub external_data: Vec<super::common::ExternalData>,
    pub moved_from_delivery_id: Option<Uuid>,
    pub moved_from_terminal_group_id: Option<Uuid>,
    pub moved_from_organization_id: Option<Uuid>,
    /// A move cancels this delivery and creates a new one: follow this id.
    pub moved_to_delivery_id: Option<Uuid>,
    pub moved_to_terminal_group_id: Option<Uuid>,
    pub moved_to_organization_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderCustomer {
    #[serde(rename = "regular", rename_all = "camelCase")]
    Regular {
        id: Uuid,
        name: Option<String>,
        surname: Option<String>,
        comment: Option<String>,
        gender: Option<Gender>,
        #[serde(default)]
        in_blacklist: bool,
        blacklist_reason: Option<String>,
        birthdate: Option<IikoDateTime>,
    },
    #[serde(rename = "one-time")]
    OneTime { name: Option<String> },
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDeliveryPoint {
    pub coordinates: Option<Coordinates>,
    pub address: Option<OrderAddress>,
    pub external_cartography_id: Option<String>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAddress {
    pub street: Option<OrderStreet>,
    pub index: Option<String>,
    pub house: Option<String>,
    pub building: Option<String>,
    pub flat: Option<String>,
    pub entrance: Option<String>,
    pub floor: Option<String>,
    pub doorphone: Option<String>,
    pub region: Option<NamedRef>,
    pub line1: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderStreet {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub city: Option<NamedRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelInfo {
    pub when_cancelled: Option<IikoDateTime>,
    pub cause: Option<NamedRef>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CourierInfo {
    pub courier: Option<Employee>,
    #[serde(default)]
    pub is_courier_selected_manually: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Employee {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub has_problem: bool,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestsInfo {
    pub count: i32,
    #[serde(default)]
    pub split_between_persons: bool,
}

/// A reported order line: the fields every kind shares, plus the kind-specific ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemInfo {
    #[serde(flatten)]
    pub kind: OrderItemKind,
    pub status: Option<OrderItemStatus>,
    /// Present when the line was removed.
    pub deleted: Option<serde_json::Value>,
    pub amount: Decimal,
    pub comment: Option<String>,
    pub size: Option<NamedRef>,
    pub combo_information: Option<OrderComboInformation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderItemKind {
    #[serde(rename_all = "camelCase")]
    Product {
        product: NamedRef,
        price: Option<Decimal>,
        cost: Option<Decimal>,
        result_sum: Option<Decimal>,
        position_id: Option<Uuid>,
        #[serde(default, deserialize_with = "null_as_empty")]
        modifiers: Vec<OrderItemModifier>,
    },
    /// Boxed: the two components would make every line as large as a pizza with halves.
    #[serde(rename_all = "camelCase")]
    Compound {
        primary_component: Box<OrderCompoundComponent>,
        secondary_component: Option<Box<OrderCompoundComponent>>,
        #[serde(default, deserialize_with = "null_as_empty")]
        common_modifiers: Vec<OrderItemModifier>,
        template: Option<NamedRef>,
    },
    Service {
        service: NamedRef,
        cost: Option<Decimal>,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCompoundComponent {
    pub product: NamedRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modifiers: Vec<OrderItemModifier>,
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
    pub result_sum: Option<Decimal>,
    pub position_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemModifier {
    pub product: NamedRef,
    pub amount: Decimal,
    /// Whether `amount` stays fixed when the parent line's amount changes.
    #[serde(default)]
    pub amount_independent_of_parent_amount: bool,
    pub product_group: Option<NamedRef>,
    pub price: Option<Decimal>,
    pub result_sum: Option<Decimal>,
    pub position_id: Option<Uuid>,
    pub deleted: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderComboInformation {
    pub combo_id: Uuid,
    pub combo_source_id: Uuid,
    pub group_id: Uuid,
    pub group_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCombo {
    pub id: Uuid,
    pub name: Option<String>,
    pub amount: i32,
    pub price: Decimal,
    pub source_id: Uuid,
    pub size: Option<NamedRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentItem {
    pub payment_type: OrderPaymentType,
    pub sum: Decimal,
    #[serde(default)]
    pub is_preliminary: bool,
    #[serde(default)]
    pub is_external: bool,
    #[serde(default)]
    pub is_processed_externally: bool,
    #[serde(default)]
    pub is_fiscalized_externally: bool,
    #[serde(default)]
    pub is_prepay: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPaymentType {
    pub id: Uuid,
    pub name: Option<String>,
    pub kind: Option<OrderPaymentKind>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscountItem {
    pub discount_type: NamedRef,
    pub sum: Decimal,
    pub selective_positions: Option<Vec<Uuid>>,
    pub selective_positions_with_sum: Option<Vec<PositionWithSum>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionWithSum {
    pub position_id: Uuid,
    pub sum: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTypeRef {
    pub id: Uuid,
    pub name: Option<String>,
    pub order_service_type: Option<OrderServiceType>,
}

/// Note `appliedManualConditions` here versus `applicableManualConditions` in the request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLoyaltyInfo {
    pub coupon: Option<String>,
    pub applied_manual_conditions: Option<Vec<Uuid>>,
    pub dynamic_discounts: Option<Vec<DynamicDiscount>>,
}

// ---- Cancelling (`/api/1/deliveries/cancel`) ------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelDeliveryRequest {
    pub organization_id: Uuid,
    pub order_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_cause_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_type_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id_for_writeoff: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal_macros::dec;
    use serde_json::{Value, json};

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Integral numbers: serde_json keeps `2` and `2.0` apart, iiko reads both as the same double.
    fn numbers_as_f64(value: Value) -> Value {
        match value {
            Value::Number(n) => json!(n.as_f64().unwrap()),
            Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_f64).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, numbers_as_f64(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// REFERENCE §6.9, with the placeholder ids replaced by real UUIDs.
    fn reference_example() -> Value {
        let text = r#"{
          "organizationId": "ORG-UUID",
          "terminalGroupId": "TG-UUID",
          "createOrderSettings": { "transportToFrontTimeout": 30, "checkStopList": false },
          "order": {
            "id": "NEW-UUID", "externalNumber": "WEB-10042", "sourceKey": "my-site",
            "completeBefore": "2024-05-01 19:30:00.000",
            "phone": "+79990001122", "orderServiceType": "DeliveryByCourier",
            "customer": { "type": "regular", "name": "Ivan" },
            "deliveryPoint": { "address": { "type": "legacy",
                "street": { "name": "Lenina", "city": "Moscow" }, "house": "10", "flat": "5" } },
            "guests": { "count": 2 },
            "items": [
              { "type": "Product", "productId": "PROD-UUID", "productSizeId": null, "amount": 2, "price": 450.0,
                "positionId": "POS-UUID-1",
                "modifiers": [ { "productId": "MOD-UUID", "productGroupId": "MODGRP-UUID", "amount": 1, "price": 50.0 } ] }
            ],
            "discountsInfo": { "discounts": [ { "type": "RMS", "discountTypeId": "DISC-UUID", "sum": 100.0 } ] },
            "payments": [ { "paymentTypeKind": "External", "paymentTypeId": "PT-UUID", "sum": 900.0,
                            "isProcessedExternally": true, "isFiscalizedExternally": false,
                            "paymentAdditionalData": { "type": "External", "customData": "acq-txn-123" } } ]
          }
        }"#;
        let text = [
            ("ORG-UUID", 1),
            ("TG-UUID", 2),
            ("NEW-UUID", 3),
            ("PROD-UUID", 4),
            ("POS-UUID-1", 5),
            ("MODGRP-UUID", 7),
            ("MOD-UUID", 6),
            ("DISC-UUID", 8),
            ("PT-UUID", 9),
        ]
        .iter()
        .fold(text.to_owned(), |text, (placeholder, n)| {
            text.replace(placeholder, &id(*n).to_string())
        });
        serde_json::from_str(&text).unwrap()
    }

    fn reference_request() -> CreateDeliveryRequest {
        CreateDeliveryRequest {
            organization_id: id(1),
            terminal_group_id: Some(id(2)),
            create_order_settings: Some(CreateOrderSettings {
                transport_to_front_timeout: Some(30),
                check_stop_list: false,
            }),
            order: DeliveryOrder {
                id: Some(id(3)),
                external_number: Some("WEB-10042".into()),
                source_key: Some("my-site".into()),
                complete_before: Some(IikoDateTime(
                    NaiveDate::from_ymd_opt(2024, 5, 1)
                        .unwrap()
                        .and_hms_opt(19, 30, 0)
                        .unwrap(),
                )),
                phone: "+79990001122".into(),
                order_service_type: Some(DeliveryServiceKind::DeliveryByCourier),
                customer: Some(Customer::Regular(RegularCustomer {
                    name: Some("Ivan".into()),
                    ..Default::default()
                })),
                delivery_point: Some(DeliveryPoint {
                    address: Some(Address::Legacy(LegacyAddress {
                        street: Street {
                            name: Some("Lenina".into()),
                            city: Some("Moscow".into()),
                            ..Default::default()
                        },
                        house: "10".into(),
                        flat: Some("5".into()),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                guests: Some(Guests {
                    count: 2,
                    split_between_persons: None,
                }),
                items: vec![OrderItem::Product(ProductItem {
                    product_id: id(4),
                    product_size_id: None,
                    amount: dec!(2),
                    price: dec!(450.0),
                    position_id: Some(id(5)),
                    modifiers: vec![Modifier {
                        product_id: id(6),
                        amount: dec!(1),
                        product_group_id: Some(id(7)),
                        price: Some(dec!(50.0)),
                        position_id: None,
                    }],
                    comment: None,
                    combo_information: None,
                })],
                discounts_info: Some(DiscountsInfo {
                    discounts: vec![Discount::Rms(RmsDiscount {
                        discount_type_id: id(8),
                        sum: Some(dec!(100.0)),
                        selective_positions: None,
                    })],
                    ..Default::default()
                }),
                payments: vec![Payment {
                    payment_type_kind: PaymentKind::External,
                    sum: dec!(900.0),
                    payment_type_id: id(9),
                    is_processed_externally: true,
                    payment_additional_data: Some(PaymentAdditionalData::External(
                        ExternalPaymentData {
                            custom_data: "acq-txn-123".into(),
                        },
                    )),
                    is_fiscalized_externally: false,
                }],
                ..Default::default()
            },
        }
    }

    #[test]
    fn create_request_serializes_exactly_like_the_reference_example() {
        let serialized = serde_json::to_value(reference_request()).unwrap();
        assert_eq!(
            numbers_as_f64(serialized),
            numbers_as_f64(reference_example())
        );
    }

    #[test]
    fn create_request_round_trips_through_its_own_deserializer() {
        let parsed: CreateDeliveryRequest = serde_json::from_value(reference_example()).unwrap();
        assert_eq!(parsed, reference_request());
    }

    #[test]
    fn discriminators_use_iikos_exact_wire_values() {
        let one_time = serde_json::to_value(Customer::OneTime {
            name: "Anna".into(),
        })
        .unwrap();
        assert_eq!(one_time, json!({"type": "one-time", "name": "Anna"}));
        let city = serde_json::to_value(Address::City(CityAddress {
            line1: "Dubai Marina 1".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(city, json!({"type": "city", "line1": "Dubai Marina 1"}));
        let loyalty =
            serde_json::to_value(PaymentAdditionalData::LoyaltyCard(LoyaltyCardPaymentData {
                credential: "+79990001122".into(),
                search_scope: SearchScope::Phone,
            }))
            .unwrap();
        assert_eq!(
            loyalty,
            json!({"type": "LoyaltyCard", "credential": "+79990001122", "searchScope": "Phone"})
        );
        let compound = serde_json::to_value(OrderItem::Compound(CompoundItem {
            primary_component: CompoundComponent {
                product_id: id(1),
                modifiers: vec![],
                price: None,
                position_id: None,
            },
            secondary_component: None,
            common_modifiers: vec![],
            product_size_id: Some(id(2)),
            amount: dec!(1),
            comment: None,
            combo_information: None,
        }))
        .unwrap();
        assert_eq!(compound["type"], "Compound");
        assert_eq!(compound["primaryComponent"], json!({"productId": id(1)}));
    }

    const DELIVERED_ORDER: &str = r#"{
      "correlationId": "8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0",
      "orders": [{
        "id": "00000000-0000-0000-0000-000000000003", "posId": "6b2a5c1d-0000-4000-8000-000000000001",
        "externalNumber": "WEB-10042", "organizationId": "00000000-0000-0000-0000-000000000001",
        "timestamp": 1714580000123, "creationStatus": "Success", "errorInfo": null,
        "order": {
          "parentDeliveryId": null, "phone": "+79990001122", "status": "OnWay", "number": 1042,
          "sum": 900.0, "processedPaymentsSum": 900.0,
          "customer": {"type": "regular", "id": "00000000-0000-0000-0000-00000000000a", "name": "Ivan",
                       "surname": null, "comment": null, "gender": "NotSpecified", "inBlacklist": false,
                       "blacklistReason": null, "birthdate": null},
          "deliveryPoint": {"coordinates": {"latitude": 55.75, "longitude": 37.61},
                            "address": {"street": {"id": "00000000-0000-0000-0000-00000000000b", "name": "Lenina",
                                        "city": {"id": "00000000-0000-0000-0000-00000000000c", "name": "Moscow"}},
                                        "index": null, "house": "10", "building": null, "flat": "5", "entrance": null,
                                        "floor": null, "doorphone": null, "region": null, "line1": null},
                            "externalCartographyId": null, "comment": null},
          "completeBefore": "2024-05-01 19:30:00.000", "whenCreated": "2024-05-01 18:31:02.347",
          "whenConfirmed": "2024-05-01 18:32:00", "whenSended": "2024-05-01 19:05:10.1234567",
          "cookingStartTime": "2024-05-01 18:40:00.000", "isAsap": false,
          "courierInfo": {"courier": {"id": "00000000-0000-0000-0000-00000000000d", "name": "Petr", "phone": null},
                          "isCourierSelectedManually": true},
          "guestsInfo": {"count": 2, "splitBetweenPersons": false},
          "items": [
            {"type": "Product", "status": "CookingCompleted", "deleted": null, "amount": 2, "comment": null,
             "whenPrinted": null, "size": null, "comboInformation": null,
             "product": {"id": "00000000-0000-0000-0000-000000000004", "name": "Margherita"},
             "modifiers": [{"product": {"id": "00000000-0000-0000-0000-000000000006", "name": "Cheese"},
                            "amount": 1, "amountIndependentOfParentAmount": false,
                            "productGroup": {"id": "00000000-0000-0000-0000-000000000007", "name": "Extras"},
                            "price": 50.0, "pricePredefined": true, "resultSum": 100.0, "positionId": null}],
             "price": 450.0, "cost": 1000.0, "pricePredefined": true,
             "positionId": "00000000-0000-0000-0000-000000000005", "taxPercent": null, "resultSum": 900.0},
            {"type": "Hologram", "status": "Teleporting", "amount": 1}
          ],
          "payments": [{"paymentType": {"id": "00000000-0000-0000-0000-000000000009", "name": "Online", "kind": "External"},
                        "sum": 900.0, "isPreliminary": false, "isExternal": true, "isProcessedExternally": true,
                        "isFiscalizedExternally": false, "isPrepay": true}],
          "discounts": [{"discountType": {"id": "00000000-0000-0000-0000-000000000008", "name": "Site discount"},
                         "sum": 100.0, "selectivePositions": null}],
          "orderType": {"id": "00000000-0000-0000-0000-00000000000e", "name": "Courier",
                        "orderServiceType": "DeliveryByCourier"},
          "terminalGroupId": "00000000-0000-0000-0000-000000000002", "sourceKey": "my-site",
          "combos": null, "tips": null, "externalData": null,
          "loyaltyInfo": {"coupon": null, "appliedManualConditions": null}
        }
      }]
    }"#;

    #[test]
    fn delivered_order_parses_with_items_payments_and_unknown_values() {
        let response: DeliveriesResponse = serde_json::from_str(DELIVERED_ORDER).unwrap();
        let info = &response.orders[0];
        assert_eq!(info.creation_status, CreationStatus::Success);
        let order = info.order.as_ref().unwrap();
        assert_eq!(order.status, DeliveryStatus::OnWay);
        assert_eq!(order.sum, dec!(900));
        assert!(
            matches!(&order.customer, Some(OrderCustomer::Regular { name: Some(name), .. }) if name == "Ivan")
        );
        match &order.items[0].kind {
            OrderItemKind::Product {
                product,
                modifiers,
                result_sum,
                ..
            } => {
                assert_eq!(product.id, id(4));
                assert_eq!(modifiers[0].product_group.as_ref().unwrap().id, id(7));
                assert_eq!(*result_sum, Some(dec!(900)));
            }
            other => panic!("expected a product line, got {other:?}"),
        }
        assert_eq!(order.items[1].kind, OrderItemKind::Unknown);
        assert_eq!(
            order.items[1].status,
            Some(OrderItemStatus::Unknown("Teleporting".into()))
        );
        assert_eq!(
            order.payments[0].payment_type.kind,
            Some(OrderPaymentKind::External)
        );
        assert_eq!(order.discounts[0].sum, dec!(100));
        assert!(order.combos.is_empty() && order.external_data.is_empty());
        assert_eq!(
            order
                .when_sended
                .unwrap()
                .0
                .and_utc()
                .timestamp_subsec_nanos(),
            123_456_700
        );
    }

    #[test]
    fn failed_creation_keeps_the_error_code_and_unknown_codes_survive() {
        let json = r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","orderInfo":{
            "id":"00000000-0000-0000-0000-000000000003","posId":null,"externalNumber":null,
            "organizationId":"00000000-0000-0000-0000-000000000001","timestamp":1714580000123,
            "creationStatus":"Error","errorInfo":{"code":"ProductNotFound","message":"Product not found",
            "description":null,"additionalData":null},"order":null}}"#;
        let response: CreateDeliveryResponse = serde_json::from_str(json).unwrap();
        let error = response.order_info.error_info.unwrap();
        assert_eq!(error.code, OrderErrorCode::ProductNotFound);
        assert_eq!(
            serde_json::from_str::<OrderErrorCode>(r#""QuantumFailure""#).unwrap(),
            OrderErrorCode::Unknown("QuantumFailure".into())
        );
    }

    #[test]
    fn command_status_parses_every_state_and_tolerates_new_ones() {
        let parse = |s: &str| serde_json::from_str::<CommandStatus>(s).unwrap();
        assert_eq!(
            parse(r#"{"state":"InProgress"}"#),
            CommandStatus::InProgress
        );
        assert_eq!(parse(r#"{"state":"Success"}"#), CommandStatus::Success);
        assert_eq!(
            parse(
                r#"{"state":"Error","exception":{"message":"Terminal offline"},"errorReason":"Timeout"}"#
            ),
            CommandStatus::Error {
                exception: Some(json!({"message": "Terminal offline"})),
                error_reason: Some("Timeout".into()),
            }
        );
        assert_eq!(parse(r#"{"state":"Paused"}"#), CommandStatus::Unknown);
    }
}
