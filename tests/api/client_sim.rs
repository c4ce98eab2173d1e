//! The typed `IikoClient` against a spawned simulator over real HTTP: every request the client
//! sends and every answer the simulator gives validate against the official iikoCloud schema, and
//! the client's behaviour (asynchronous creation, transient faults, token refresh, rate limits,
//! iiko error codes) holds end to end.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use iiko_bridge::config::{Credentials, IikoSettings};
use iiko_bridge::iiko::types::deliveries::{
    Address, CancelDeliveryRequest, ChequeAdditionalInfo, CommandStatus, CommandStatusRequest,
    Coordinates, CreateDeliveryRequest, CreateDeliveryResponse, CreateOrderSettings,
    CreationStatus, Customer, DeliveriesByDateAndFilterRequest, DeliveriesByDateAndPhoneRequest,
    DeliveriesByDateAndStatusRequest, DeliveriesByIdRequest, DeliveriesByRevisionRequest,
    DeliveriesResponse, DeliveriesWithRevisionResponse, DeliveryOrder, DeliveryPoint,
    DeliveryServiceKind, DeliveryStatus, Discount, DiscountsInfo, ExternalPaymentData, Gender,
    Guests, LegacyAddress, LoyaltyCardPaymentData, LoyaltyInfo, Modifier, OrderExternalData,
    OrderInfo, OrderItem, OrderItemStatus, OrderSortProperty, Payment, PaymentAdditionalData,
    PaymentKind, ProductItem, RegularCustomer, RmsDiscount, SearchScope, SortDirection, Street,
};
use iiko_bridge::iiko::types::dictionaries::{
    CancelCausesResponse, DiscountsResponse, OrderTypesResponse, OrganizationIdsRequest,
    OrganizationsRequest, OrganizationsResponse, PaymentTypesResponse,
    TerminalGroupsIsAliveRequest, TerminalGroupsIsAliveResponse, TerminalGroupsRequest,
    TerminalGroupsResponse,
};
use iiko_bridge::iiko::types::loyalty::{
    CalculateCheckinRequest, CalculateCheckinResponse, CustomerInfo, CustomerInfoRequest,
    CustomerLookup, LoyaltyProgramsRequest, LoyaltyProgramsResponse,
};
use iiko_bridge::iiko::types::menu::{
    ExternalMenu, ExternalMenuRequest, ExternalMenusResponse, MenuV3, MenuV3Request,
    NomenclatureRequest, NomenclatureResponse,
};
use iiko_bridge::iiko::types::stop_lists::{
    CheckStopListRequest, CheckStopListResponse, StopListsRequest, StopListsResponse,
};
use iiko_bridge::iiko::types::webhooks::{
    DeliveryOrderWebhookFilter, ReserveWebhookFilter, TableOrderStatus, TableOrderWebhookFilter,
    UpdateWebhookSettingsRequest, UpdatesFilter, WebhookSettingsRequest, WebhookSettingsResponse,
    WebhooksFilter,
};
use iiko_bridge::iiko::{CorrelationIdResponse, IikoClient, IikoDateTime, IikoError};
use iiko_bridge::sim::demo_ids as ids;
use iiko_bridge::sim::seed::Product;
use iiko_bridge::sim::{Seed, SimConfig, SimHandle, Simulator};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::iiko_schema;

/// The organization the orders go to (loyalty on).
const ORG: Uuid = ids::ORG_LENINA;
const SOURCE_KEY: &str = "site";
const EXTERNAL_DATA_KEY: &str = "siteOrderId";
/// The official schema snapshot has no `/api/menu/v3/by_id`; it is only checked for coverage.
const MENU_V3: &str = "/api/menu/v3/by_id";
/// Where the webhook settings point; nothing listens, the simulator's deliveries just fail.
const WEBHOOK_URI: &str = "http://127.0.0.1:9/iiko/webhook";
const UNIVERSAL_DISCOUNT: Decimal = dec!(100);
const BONUS_PAYMENT: Decimal = dec!(200);

/// Every path `IikoClient` calls (both token flows included).
const CLIENT_PATHS: [&str; 28] = [
    "/api/1/access_token",
    "/api/v2/access_token",
    "/api/1/organizations",
    "/api/1/terminal_groups",
    "/api/1/terminal_groups/is_alive",
    "/api/1/payment_types",
    "/api/1/deliveries/order_types",
    "/api/1/discounts",
    "/api/1/cancel_causes",
    "/api/1/nomenclature",
    "/api/2/menu",
    "/api/2/menu/by_id",
    MENU_V3,
    "/api/1/stop_lists",
    "/api/1/stop_lists/check",
    "/api/1/deliveries/create",
    "/api/1/commands/status",
    "/api/1/deliveries/by_id",
    "/api/1/deliveries/by_revision",
    "/api/1/deliveries/by_delivery_date_and_status",
    "/api/1/deliveries/cancel",
    "/api/1/loyalty/iiko/customer/info",
    "/api/1/loyalty/iiko/calculate",
    "/api/1/loyalty/iiko/program",
    "/api/1/webhooks/settings",
    "/api/1/webhooks/update_settings",
    "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
    "/api/1/deliveries/by_delivery_date_and_phone",
];

// ---- Simulator, clients and control routes ------------------------------------------------------

/// Fast creation; statuses move only through `/sim/advance`.
fn sim_config() -> SimConfig {
    SimConfig {
        creation_delay: Duration::from_millis(50),
        status_step: Duration::from_secs(3600),
        ..SimConfig::default()
    }
}

/// A fresh simulator and an `apiLogin` client for it.
async fn spawn() -> (SimHandle, IikoClient) {
    let handle = Simulator::spawn(sim_config())
        .await
        .expect("simulator starts");
    let client = client_for(
        &handle,
        Credentials::ApiLogin(SecretString::from(ids::API_LOGIN)),
    );
    (handle, client)
}

fn client_for(handle: &SimHandle, credentials: Credentials) -> IikoClient {
    IikoClient::new(IikoSettings {
        base_url: handle.base_url.clone(),
        credentials,
        timeout: Duration::from_secs(15),
        requests_per_second: NonZeroU32::new(1000).unwrap(),
    })
    .expect("client builds")
}

fn api_key_credentials() -> Credentials {
    Credentials::ApiKey {
        api_key: SecretString::from(ids::API_KEY),
        app_id: ids::APP_ID,
        client_secret: SecretString::from(ids::CLIENT_SECRET),
    }
}

async fn control(handle: &SimHandle, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(handle.url(path))
        .json(&body)
        .send()
        .await
        .expect("control request sent");
    let status = response.status();
    let body: Value = response.json().await.expect("control answer is JSON");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// `GET /sim/requests`: every iiko request the simulator received, oldest first.
async fn request_log(handle: &SimHandle) -> Vec<Value> {
    let response = reqwest::get(handle.url("sim/requests"))
        .await
        .expect("request log fetched");
    assert!(response.status().is_success());
    match response.json().await.expect("request log is JSON") {
        Value::Array(entries) => entries,
        other => panic!("request log is not an array: {other}"),
    }
}

/// The HTTP statuses the simulator answered to `path`, in order.
fn statuses_of(log: &[Value], path: &str) -> Vec<u64> {
    log.iter()
        .filter(|entry| entry["path"] == path)
        .map(|entry| entry["status"].as_u64().expect("logged status"))
        .collect()
}

// ---- Catalogue picks from the simulator's seed --------------------------------------------------

/// Products the organization sells that no stop list holds.
fn orderable(seed: &Seed) -> impl Iterator<Item = &Product> {
    let stopped: HashSet<Uuid> = seed.stop_list.iter().map(|s| s.product_id).collect();
    seed.products
        .iter()
        .filter(move |p| !p.hidden && !p.not_sold_in.contains(&ORG) && !stopped.contains(&p.id))
}

fn sized_product_with_modifiers(seed: &Seed) -> &Product {
    orderable(seed)
        .find(|p| !p.sizes.is_empty() && !p.modifier_groups.is_empty())
        .expect("the seed has a sized product with group modifiers")
}

fn plain_product(seed: &Seed) -> &Product {
    orderable(seed)
        .find(|p| p.sizes.is_empty())
        .expect("the seed has a product without sizes")
}

/// Order lines and what they cost before discounts.
struct Basket {
    items: Vec<OrderItem>,
    total: Decimal,
}

/// Two sized products with one modifier from each of their modifier groups, plus a plain product.
fn basket(seed: &Seed) -> Basket {
    let pizza = sized_product_with_modifiers(seed);
    let size = pizza.sizes.last().expect("sizes");
    let modifiers: Vec<Modifier> = pizza
        .modifier_groups
        .iter()
        .filter_map(|id| seed.modifier_groups.iter().find(|g| g.id == *id))
        .filter_map(|group| {
            let item = group.items.first()?;
            Some(Modifier {
                product_id: item.id,
                amount: Decimal::from(group.min.max(1)),
                product_group_id: Some(group.id),
                price: Some(item.price),
                position_id: Some(Uuid::new_v4()),
            })
        })
        .collect();
    assert!(!modifiers.is_empty(), "the pizza has group modifiers");
    let pizza_amount = dec!(2);
    let modifiers_price: Decimal = modifiers
        .iter()
        .map(|m| m.amount * m.price.unwrap_or_default())
        .sum();
    let drink = plain_product(seed);
    let total = pizza_amount * (size.price + modifiers_price) + drink.price;
    let items = vec![
        OrderItem::Product(ProductItem {
            product_id: pizza.id,
            product_size_id: Some(size.size_id),
            amount: pizza_amount,
            price: size.price,
            position_id: Some(Uuid::new_v4()),
            modifiers,
            comment: Some("Без лука".into()),
            combo_information: None,
        }),
        OrderItem::Product(ProductItem {
            product_id: drink.id,
            product_size_id: None,
            amount: dec!(1),
            price: drink.price,
            position_id: Some(Uuid::new_v4()),
            ..ProductItem::default()
        }),
    ];
    Basket { items, total }
}

/// A line for a product on the Lenina terminal's stop list (balance 0), which `check` rejects.
fn stopped_item(seed: &Seed) -> OrderItem {
    let entry = seed
        .stop_list
        .iter()
        .find(|s| s.terminal_group_id == ids::TG_LENINA)
        .expect("the seed stops something on the Lenina terminal");
    let product = seed.product(entry.product_id).expect("stopped product");
    let price = product
        .sizes
        .iter()
        .find(|s| Some(s.size_id) == entry.size_id)
        .map_or(product.price, |s| s.price);
    OrderItem::Product(ProductItem {
        product_id: product.id,
        product_size_id: entry.size_id,
        amount: dec!(1),
        price,
        position_id: Some(Uuid::new_v4()),
        ..ProductItem::default()
    })
}

/// Terminal-local (Moscow) time `offset` from now.
fn moscow_in(offset: chrono::Duration) -> IikoDateTime {
    IikoDateTime::local_at(&(Utc::now() + offset), chrono_tz::Europe::Moscow)
}

// ---- Request builders ---------------------------------------------------------------------------

fn both_organizations() -> OrganizationIdsRequest {
    OrganizationIdsRequest {
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
    }
}

fn organizations_request() -> OrganizationsRequest {
    OrganizationsRequest {
        organization_ids: Some(vec![ids::ORG_LENINA, ids::ORG_MIRA]),
        return_additional_info: true,
        include_disabled: false,
        return_external_data: Some(vec!["siteBranchId".into()]),
    }
}

fn terminal_groups_request() -> TerminalGroupsRequest {
    TerminalGroupsRequest {
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
        include_disabled: Some(true),
        return_external_data: Some(vec!["siteBranchId".into()]),
    }
}

fn is_alive_request() -> TerminalGroupsIsAliveRequest {
    TerminalGroupsIsAliveRequest {
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
        terminal_group_ids: vec![ids::TG_LENINA, ids::TG_LENINA_SLEEPING, ids::TG_MIRA],
    }
}

fn nomenclature_request(start_revision: Option<i64>) -> NomenclatureRequest {
    NomenclatureRequest {
        organization_id: ORG,
        start_revision,
    }
}

fn external_menu_request(version: i32, price_category: Option<&str>) -> ExternalMenuRequest {
    ExternalMenuRequest {
        external_menu_id: ids::EXTERNAL_MENU_ID.into(),
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
        price_category_id: price_category.map(str::to_owned),
        version: Some(version),
        language: Some("ru".into()),
        start_revision: None,
        async_mode: false,
    }
}

/// The external-menu calls: versions 2, 3 and 4, and version 4 in the aggregators' price category.
fn external_menu_requests() -> [ExternalMenuRequest; 4] {
    [
        external_menu_request(2, None),
        external_menu_request(3, None),
        external_menu_request(4, None),
        external_menu_request(4, Some(ids::PRICE_CATEGORY_AGGREGATORS)),
    ]
}

fn menu_v3_request() -> MenuV3Request {
    MenuV3Request {
        external_menu_id: ids::EXTERNAL_MENU_ID.into(),
        organization_id: ORG,
        price_category_id: Some(ids::PRICE_CATEGORY_BASE.into()),
    }
}

fn stop_lists_request() -> StopListsRequest {
    StopListsRequest {
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
        return_size: true,
        terminal_groups_ids: Some(vec![ids::TG_LENINA, ids::TG_MIRA]),
    }
}

fn stop_list_check_request(seed: &Seed) -> CheckStopListRequest {
    let mut items = basket(seed).items;
    items.push(stopped_item(seed));
    CheckStopListRequest {
        organization_id: ORG,
        terminal_group_id: ids::TG_LENINA,
        items,
    }
}

/// What the courier order costs after the universal discount.
fn courier_order_sum(seed: &Seed) -> Decimal {
    basket(seed).total - UNIVERSAL_DISCOUNT
}

/// A courier order to a legacy address for a regular customer: sized items with group
/// modifiers, a universal discount, cash plus a bonus payment from the customer's wallet.
fn courier_order(seed: &Seed, order_id: Uuid) -> CreateDeliveryRequest {
    let basket = basket(seed);
    let cash = basket.total - UNIVERSAL_DISCOUNT - BONUS_PAYMENT;
    assert!(cash > Decimal::ZERO, "the basket costs {}", basket.total);
    CreateDeliveryRequest {
        organization_id: ORG,
        terminal_group_id: Some(ids::TG_LENINA),
        create_order_settings: Some(CreateOrderSettings {
            transport_to_front_timeout: Some(30),
            check_stop_list: true,
        }),
        order: DeliveryOrder {
            id: Some(order_id),
            external_number: Some("WEB-10042".into()),
            complete_before: Some(moscow_in(chrono::Duration::hours(2))),
            phone: ids::CUSTOMER_PHONE.into(),
            phone_extension: Some("101".into()),
            order_type_id: Some(ids::ORDER_TYPE_COURIER),
            delivery_point: Some(DeliveryPoint {
                coordinates: Some(Coordinates {
                    latitude: 55.7512,
                    longitude: 37.6184,
                }),
                address: Some(Address::Legacy(LegacyAddress {
                    street: Street {
                        name: Some("Ленина".into()),
                        city: Some("Москва".into()),
                        ..Street::default()
                    },
                    house: "10".into(),
                    index: Some("101000".into()),
                    building: Some("2".into()),
                    flat: Some("5".into()),
                    entrance: Some("1".into()),
                    floor: Some("3".into()),
                    doorphone: Some("5К".into()),
                    region_id: None,
                })),
                external_cartography_id: None,
                comment: Some("Вход со двора".into()),
            }),
            comment: Some("Позвонить за 10 минут".into()),
            customer: Some(Customer::Regular(RegularCustomer {
                name: Some("Иван".into()),
                surname: Some("Петров".into()),
                email: Some("ivan@example.com".into()),
                should_receive_order_status_notifications: Some(true),
                gender: Some(Gender::Male),
                ..RegularCustomer::default()
            })),
            guests: Some(Guests {
                count: 2,
                split_between_persons: Some(false),
            }),
            items: basket.items,
            payments: vec![
                Payment {
                    payment_type_kind: PaymentKind::Cash,
                    sum: cash,
                    payment_type_id: ids::PAYMENT_CASH,
                    is_processed_externally: false,
                    payment_additional_data: None,
                    is_fiscalized_externally: false,
                },
                Payment {
                    payment_type_kind: PaymentKind::LoyaltyCard,
                    sum: BONUS_PAYMENT,
                    payment_type_id: ids::PAYMENT_BONUS,
                    is_processed_externally: false,
                    payment_additional_data: Some(PaymentAdditionalData::LoyaltyCard(
                        LoyaltyCardPaymentData {
                            credential: ids::CUSTOMER_PHONE.into(),
                            search_scope: SearchScope::Phone,
                        },
                    )),
                    is_fiscalized_externally: false,
                },
            ],
            source_key: Some(SOURCE_KEY.into()),
            discounts_info: Some(DiscountsInfo {
                discounts: vec![Discount::Rms(RmsDiscount {
                    discount_type_id: ids::DISCOUNT_UNIVERSAL,
                    sum: Some(UNIVERSAL_DISCOUNT),
                    selective_positions: None,
                })],
                ..DiscountsInfo::default()
            }),
            cheque_additional_info: Some(ChequeAdditionalInfo {
                need_receipt: true,
                email: Some("ivan@example.com".into()),
                is_internet_payment: false,
                ..ChequeAdditionalInfo::default()
            }),
            external_data: vec![OrderExternalData {
                key: EXTERNAL_DATA_KEY.into(),
                value: "10042".into(),
                is_public: false,
            }],
            ..DeliveryOrder::default()
        },
    }
}

/// A pickup order by service type, prepaid online (External payment).
fn pickup_order(seed: &Seed, order_id: Uuid) -> CreateDeliveryRequest {
    let drink = plain_product(seed);
    let sum = drink.price * dec!(3);
    CreateDeliveryRequest {
        organization_id: ORG,
        terminal_group_id: Some(ids::TG_LENINA),
        create_order_settings: Some(CreateOrderSettings {
            transport_to_front_timeout: None,
            check_stop_list: false,
        }),
        order: DeliveryOrder {
            id: Some(order_id),
            external_number: Some("WEB-10043".into()),
            complete_before: Some(moscow_in(chrono::Duration::minutes(40))),
            phone: "+79990002233".into(),
            order_service_type: Some(DeliveryServiceKind::DeliveryByClient),
            comment: Some("Заберу сам".into()),
            customer: Some(Customer::OneTime {
                name: "Анна".into(),
            }),
            guests: Some(Guests {
                count: 1,
                split_between_persons: None,
            }),
            items: vec![OrderItem::Product(ProductItem {
                product_id: drink.id,
                product_size_id: None,
                amount: dec!(3),
                price: drink.price,
                position_id: Some(Uuid::new_v4()),
                ..ProductItem::default()
            })],
            payments: vec![Payment {
                payment_type_kind: PaymentKind::External,
                sum,
                payment_type_id: ids::PAYMENT_ONLINE,
                is_processed_externally: true,
                payment_additional_data: Some(PaymentAdditionalData::External(
                    ExternalPaymentData {
                        custom_data: "acq-txn-10043".into(),
                    },
                )),
                is_fiscalized_externally: false,
            }],
            source_key: Some(SOURCE_KEY.into()),
            ..DeliveryOrder::default()
        },
    }
}

/// An order whose product the catalogue does not know: creation ends in `Error`.
fn unknown_product_order(seed: &Seed, order_id: Uuid) -> CreateDeliveryRequest {
    let mut request = pickup_order(seed, order_id);
    if let OrderItem::Product(item) = &mut request.order.items[0] {
        item.product_id = Uuid::new_v4();
    }
    request
}

fn command_status_request(correlation_id: Uuid) -> CommandStatusRequest {
    CommandStatusRequest {
        organization_id: ORG,
        correlation_id,
    }
}

fn by_id_request(order_ids: Vec<Uuid>) -> DeliveriesByIdRequest {
    DeliveriesByIdRequest {
        organization_id: ORG,
        order_ids: Some(order_ids),
        pos_order_ids: None,
        source_keys: Some(vec![SOURCE_KEY.into()]),
        return_external_data_keys: Some(vec![EXTERNAL_DATA_KEY.into()]),
        return_locked_by_user: false,
    }
}

fn by_revision_request() -> DeliveriesByRevisionRequest {
    DeliveriesByRevisionRequest {
        start_revision: 0,
        organization_ids: vec![ids::ORG_LENINA, ids::ORG_MIRA],
        source_keys: Some(vec![SOURCE_KEY.into()]),
    }
}

fn by_date_and_status_request() -> DeliveriesByDateAndStatusRequest {
    DeliveriesByDateAndStatusRequest {
        organization_ids: vec![ORG],
        delivery_date_from: moscow_in(chrono::Duration::days(-1)),
        delivery_date_to: Some(moscow_in(chrono::Duration::days(1))),
        statuses: Some(vec![
            DeliveryStatus::Unconfirmed,
            DeliveryStatus::WaitCooking,
            DeliveryStatus::CookingStarted,
            DeliveryStatus::CookingCompleted,
            DeliveryStatus::Waiting,
            DeliveryStatus::OnWay,
            DeliveryStatus::Delivered,
            DeliveryStatus::Closed,
            DeliveryStatus::Cancelled,
        ]),
        source_keys: Some(vec![SOURCE_KEY.into()]),
        courier_ids: None,
    }
}

fn by_date_and_filter_request() -> DeliveriesByDateAndFilterRequest {
    DeliveriesByDateAndFilterRequest {
        organization_ids: vec![ORG],
        delivery_date_from: Some(moscow_in(chrono::Duration::days(-1))),
        delivery_date_to: Some(moscow_in(chrono::Duration::days(1))),
        sort_property: Some(OrderSortProperty::CompleteBefore),
        sort_direction: Some(SortDirection::Ascending),
        rows_count: Some(500),
        source_keys: Some(vec![SOURCE_KEY.into()]),
        ..Default::default()
    }
}

fn by_date_and_phone_request(phone: &str) -> DeliveriesByDateAndPhoneRequest {
    DeliveriesByDateAndPhoneRequest {
        organization_ids: vec![ORG],
        phone: phone.into(),
        delivery_date_from: Some(moscow_in(chrono::Duration::days(-1))),
        delivery_date_to: Some(moscow_in(chrono::Duration::days(1))),
        source_keys: None,
        rows_count: None,
    }
}

fn cancel_request(order_id: Uuid) -> CancelDeliveryRequest {
    CancelDeliveryRequest {
        organization_id: ORG,
        order_id,
        moved_order_id: None,
        cancel_cause_id: Some(ids::CANCEL_CAUSE_GUEST),
        cancel_comment: Some("Гость передумал".into()),
        removal_type_id: None,
        removal_comment: None,
        user_id_for_writeoff: None,
    }
}

fn customer_info_request() -> CustomerInfoRequest {
    CustomerInfoRequest {
        organization_id: ORG,
        lookup: CustomerLookup::Phone {
            phone: ids::CUSTOMER_PHONE.into(),
        },
    }
}

/// The basket with a coupon, as the site asks before the guest pays.
fn calculate_request(seed: &Seed) -> CalculateCheckinRequest {
    CalculateCheckinRequest {
        organization_id: ORG,
        order: DeliveryOrder {
            phone: ids::CUSTOMER_PHONE.into(),
            order_type_id: Some(ids::ORDER_TYPE_COURIER),
            items: basket(seed).items,
            loyalty_info: Some(LoyaltyInfo {
                coupon: Some(ids::COUPON_100.into()),
                ..LoyaltyInfo::default()
            }),
            ..DeliveryOrder::default()
        },
        terminal_group_id: Some(ids::TG_LENINA),
        referrer_id: None,
        available_payment_marketing_campaign_ids: vec![ids::BONUS_CAMPAIGN],
        is_loyalty_trace_enabled: false,
    }
}

fn loyalty_program_request() -> LoyaltyProgramsRequest {
    LoyaltyProgramsRequest {
        organization_id: ORG,
        without_marketing_campaigns: Some(false),
    }
}

fn webhook_settings_request() -> WebhookSettingsRequest {
    WebhookSettingsRequest {
        organization_id: ORG,
    }
}

fn update_webhook_settings_request() -> UpdateWebhookSettingsRequest {
    UpdateWebhookSettingsRequest {
        organization_id: ORG,
        web_hooks_uri: WEBHOOK_URI.into(),
        auth_token: Some("bridge-webhook-secret".into()),
        web_hooks_filter: Some(WebhooksFilter {
            delivery_order_filter: Some(DeliveryOrderWebhookFilter {
                order_statuses: Some(vec![
                    DeliveryStatus::Unconfirmed,
                    DeliveryStatus::CookingStarted,
                    DeliveryStatus::OnWay,
                    DeliveryStatus::Closed,
                    DeliveryStatus::Cancelled,
                ]),
                item_statuses: Some(vec![OrderItemStatus::CookingCompleted]),
                errors: true,
                returned_external_data_keys: Some(vec![EXTERNAL_DATA_KEY.into()]),
            }),
            table_order_filter: Some(TableOrderWebhookFilter {
                order_statuses: Some(vec![TableOrderStatus::Closed]),
                item_statuses: None,
                errors: false,
            }),
            reserve_filter: Some(ReserveWebhookFilter {
                updates: false,
                errors: false,
            }),
            stop_list_update_filter: Some(UpdatesFilter { updates: true }),
            personal_shift_filter: Some(UpdatesFilter { updates: false }),
            nomenclature_update_filter: Some(UpdatesFilter { updates: true }),
            business_hours_and_mapping_update_filter: Some(UpdatesFilter { updates: false }),
        }),
    }
}

// ---- Following an order with the client ---------------------------------------------------------

const WAIT_LIMIT: Duration = Duration::from_secs(5);

async fn wait_for_command(client: &IikoClient, correlation_id: Uuid) -> CommandStatus {
    let started = Instant::now();
    loop {
        let status = client
            .command_status(&command_status_request(correlation_id))
            .await
            .expect("command status");
        if status != CommandStatus::InProgress {
            return status;
        }
        assert!(started.elapsed() < WAIT_LIMIT, "command never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until_created(client: &IikoClient, order_id: Uuid) -> OrderInfo {
    let started = Instant::now();
    loop {
        let mut response = client
            .deliveries_by_id(&by_id_request(vec![order_id]))
            .await
            .expect("deliveries by id");
        assert_eq!(response.orders.len(), 1, "{response:?}");
        let info = response.orders.remove(0);
        if info.creation_status != CreationStatus::InProgress {
            return info;
        }
        assert!(started.elapsed() < WAIT_LIMIT, "creation never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates the order and waits until iiko reports the command done.
async fn create_and_settle(client: &IikoClient, request: &CreateDeliveryRequest) -> OrderInfo {
    let accepted = client
        .create_delivery(request)
        .await
        .expect("order accepted");
    assert_eq!(
        wait_for_command(client, accepted.correlation_id).await,
        CommandStatus::Success
    );
    wait_until_created(client, accepted.order_info.id).await
}

// ---- 1. Requests --------------------------------------------------------------------------------

/// Calls every `IikoClient` endpoint once or more with realistic, fully populated requests.
async fn call_every_endpoint(handle: &SimHandle, client: &IikoClient) {
    let seed = handle.sim.seed();
    client
        .organizations(&organizations_request())
        .await
        .expect("organizations");
    client
        .terminal_groups(&terminal_groups_request())
        .await
        .expect("terminal groups");
    client
        .terminal_groups_is_alive(&is_alive_request())
        .await
        .expect("is alive");
    client
        .payment_types(&both_organizations())
        .await
        .expect("payment types");
    client
        .order_types(&both_organizations())
        .await
        .expect("order types");
    client
        .discounts(&both_organizations())
        .await
        .expect("discounts");
    client
        .cancel_causes(&both_organizations())
        .await
        .expect("cancel causes");
    let nomenclature = client
        .nomenclature(&nomenclature_request(None))
        .await
        .expect("nomenclature");
    client
        .nomenclature(&nomenclature_request(Some(nomenclature.revision)))
        .await
        .expect("nomenclature since a revision");
    client.external_menus().await.expect("external menus");
    for request in external_menu_requests() {
        client
            .external_menu_by_id(&request)
            .await
            .unwrap_or_else(|e| panic!("external menu {:?}: {e}", request.version));
    }
    client
        .menu_v3_by_id(&menu_v3_request())
        .await
        .expect("menu v3");
    client
        .stop_lists(&stop_lists_request())
        .await
        .expect("stop lists");
    client
        .stop_lists_check(&stop_list_check_request(seed))
        .await
        .expect("stop list check");

    let courier = create_and_settle(client, &courier_order(seed, Uuid::new_v4())).await;
    assert_eq!(courier.creation_status, CreationStatus::Success);
    let pickup = create_and_settle(client, &pickup_order(seed, Uuid::new_v4())).await;
    assert_eq!(pickup.creation_status, CreationStatus::Success);
    client
        .deliveries_by_revision(&by_revision_request())
        .await
        .expect("by revision");
    client
        .deliveries_by_delivery_date_and_status(&by_date_and_status_request())
        .await
        .expect("by date and status");
    client
        .deliveries_by_delivery_date_and_source_key_and_filter(&by_date_and_filter_request())
        .await
        .expect("by date and source key and filter");
    client
        .deliveries_by_delivery_date_and_phone(&by_date_and_phone_request("+79990000000"))
        .await
        .expect("by date and phone");
    let cancel = client
        .cancel_delivery(&cancel_request(pickup.id))
        .await
        .expect("cancel accepted");
    assert_eq!(
        wait_for_command(client, cancel.correlation_id).await,
        CommandStatus::Success
    );

    client
        .loyalty_customer_info(&customer_info_request())
        .await
        .expect("customer info");
    client
        .loyalty_calculate(&calculate_request(seed))
        .await
        .expect("calculate");
    client
        .loyalty_program(&loyalty_program_request())
        .await
        .expect("loyalty program");
    client
        .update_webhook_settings(&update_webhook_settings_request())
        .await
        .expect("update webhook settings");
    client
        .webhook_settings(&webhook_settings_request())
        .await
        .expect("webhook settings");

    // The other token flow: apiKey + appId + clientSecret.
    client_for(handle, api_key_credentials())
        .organizations(&organizations_request())
        .await
        .expect("organizations with an API key");
}

#[bed::test]
async fn every_request_the_client_sends_validates_against_the_official_schema() {
    let (handle, client) = spawn().await;
    call_every_endpoint(&handle, &client).await;

    let log = request_log(&handle).await;
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in &log {
        let path = entry["path"].as_str().expect("logged path");
        seen.insert(path.to_owned());
        if entry["status"] != 200 {
            failures.push(format!(
                "{path} was answered {} for {:#}",
                entry["status"], entry["body"]
            ));
        }
        if path == MENU_V3 {
            continue;
        }
        let errors = iiko_schema::request_errors(path, &entry["body"]);
        if !errors.is_empty() {
            failures.push(format!(
                "{path}:\n    {}\n  body: {:#}",
                errors.join("\n    "),
                entry["body"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests failed:\n{}",
        failures.len(),
        log.len(),
        failures.join("\n")
    );

    let fixture_paths = iiko_schema::known_paths().into_iter().chain(
        iiko_schema::absent_paths()
            .into_iter()
            .map(|(path, _)| path),
    );
    let missing: BTreeSet<&str> = CLIENT_PATHS
        .into_iter()
        .chain(fixture_paths)
        .filter(|path| !seen.contains(*path))
        .collect();
    assert!(
        missing.is_empty(),
        "never called, so never checked: {missing:?}"
    );
}

// ---- 2. Responses -------------------------------------------------------------------------------

/// Posts raw requests with a token from the client and checks each 200 answer against the
/// official response schema and the client's response type, collecting every failure.
struct RawApi<'a> {
    handle: &'a SimHandle,
    http: reqwest::Client,
    token: String,
    failures: Mutex<Vec<String>>,
    checked: Mutex<BTreeMap<String, usize>>,
}

impl<'a> RawApi<'a> {
    async fn new(handle: &'a SimHandle, client: &IikoClient) -> RawApi<'a> {
        let token = client.access_token().await.expect("token");
        RawApi {
            handle,
            http: reqwest::Client::new(),
            token: token.expose_secret().to_owned(),
            failures: Mutex::new(Vec::new()),
            checked: Mutex::new(BTreeMap::new()),
        }
    }

    /// POSTs `body` to `path`, expects 200 and returns the raw answer after checking it.
    async fn post_value(&self, path: &str, body: &(impl Serialize + ?Sized)) -> Value {
        let mut request = self.http.post(self.handle.url(path)).json(body);
        if !path.ends_with("/access_token") {
            request = request.bearer_auth(&self.token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("response body");
        assert_eq!(status, 200, "{path} answered {status}: {text}");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {text}"));
        *self
            .checked
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
        if path != MENU_V3 {
            let mut checked = value.clone();
            if path == "/api/2/menu/by_id" {
                waive_documented_menu_schema_defects(&mut checked);
            }
            let errors = iiko_schema::response_errors(path, &checked);
            if !errors.is_empty() {
                let mut shown = value.to_string();
                shown.truncate(2000);
                self.failures.lock().unwrap().push(format!(
                    "{path}:\n    {}\n  body starts with: {shown}",
                    first_lines(&errors, 40)
                ));
            }
        }
        value
    }

    /// Like [`RawApi::post_value`], then decodes the answer as the client would.
    async fn post<Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Resp {
        let value = self.post_value(path, body).await;
        serde_json::from_value(value)
            .unwrap_or_else(|e| panic!("the client cannot decode the answer of {path}: {e}"))
    }

    async fn wait_for_command(&self, correlation_id: Uuid) -> CommandStatus {
        let started = Instant::now();
        loop {
            let status: CommandStatus = self
                .post(
                    "/api/1/commands/status",
                    &command_status_request(correlation_id),
                )
                .await;
            if status != CommandStatus::InProgress {
                return status;
            }
            assert!(started.elapsed() < WAIT_LIMIT, "command never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn by_id(&self, order_id: Uuid) -> OrderInfo {
        let mut response: DeliveriesResponse = self
            .post("/api/1/deliveries/by_id", &by_id_request(vec![order_id]))
            .await;
        assert_eq!(response.orders.len(), 1, "{response:?}");
        response.orders.remove(0)
    }

    /// Creates the order, checks the `InProgress` answers on the way and returns the final state.
    async fn create_and_settle(
        &self,
        request: &CreateDeliveryRequest,
    ) -> (CommandStatus, OrderInfo) {
        let accepted: CreateDeliveryResponse = self.post("/api/1/deliveries/create", request).await;
        assert_eq!(
            accepted.order_info.creation_status,
            CreationStatus::InProgress
        );
        // Read back while still in progress, so that shape is checked too.
        self.by_id(accepted.order_info.id).await;
        let status = self.wait_for_command(accepted.correlation_id).await;
        (status, self.by_id(accepted.order_info.id).await)
    }

    fn finish(self) {
        let checked = self.checked.into_inner().unwrap();
        let missing: Vec<&str> = CLIENT_PATHS
            .into_iter()
            .filter(|path| !checked.contains_key(*path))
            .collect();
        assert!(missing.is_empty(), "responses never checked: {missing:?}");
        let failures = self.failures.into_inner().unwrap();
        assert!(
            failures.is_empty(),
            "{} simulator answers do not match the official schema (checked {checked:?}):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// At most `limit` error lines, so one systematic mistake in a big menu stays readable.
fn first_lines(errors: &[String], limit: usize) -> String {
    let mut shown = errors[..errors.len().min(limit)].join("\n    ");
    if errors.len() > limit {
        shown.push_str(&format!("\n    ... and {} more", errors.len() - limit));
    }
    shown
}

/// Stands in for an id the external-menu schema wrongly declares non-null.
const NULL_ID_STAND_IN: &str = "00000000-0000-0000-0000-000000000000";

/// The official external-menu schema contradicts real iikoCloud payloads in ways that
/// REFERENCE.md §4.3 lists under "Known schema defects", and the simulator answers as iikoCloud
/// does. Each rule rewrites exactly one such value, and only in its documented real-world shape,
/// into what the schema declares, so everything else in the menu is still checked:
/// - `modifierSchemaId` and a size's `sizeId` (V2) / `id` (V3, V4) "can be null in real
///   payloads": a product without a modifier scheme or without a size scale;
/// - V2 `taxCategory` and `nutritionPerHundredGrams` are "described as arrays" (null here);
/// - a modifier item's `restrictions` is "described as an array" but is one object.
fn waive_documented_menu_schema_defects(menu: &mut Value) {
    let v2 = menu.get("itemCategories").is_some();
    let (groups, size_id) = match v2 {
        true => ("itemCategories", "sizeId"),
        false => ("itemGroups", "id"),
    };
    let items = elements(menu.get_mut(groups)).flat_map(|group| elements(group.get_mut("items")));
    for item in items {
        replace_null(item, "modifierSchemaId", json!(NULL_ID_STAND_IN));
        if v2 {
            replace_null(item, "taxCategory", json!([]));
        }
        for size in elements(item.get_mut("itemSizes")) {
            replace_null(size, size_id, json!(NULL_ID_STAND_IN));
            if v2 {
                replace_null(size, "nutritionPerHundredGrams", json!([]));
            }
            let modifiers = elements(size.get_mut("itemModifierGroups"))
                .flat_map(|group| elements(group.get_mut("items")));
            for modifier in modifiers {
                if let Some(restrictions) = modifier.get_mut("restrictions")
                    && restrictions.is_object()
                {
                    *restrictions = Value::Array(vec![restrictions.take()]);
                }
            }
        }
    }
}

fn elements(array: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    array.and_then(Value::as_array_mut).into_iter().flatten()
}

/// Replaces `object[key]` when it is present and null; a missing key stays missing.
fn replace_null(object: &mut Value, key: &str, stand_in: Value) {
    if let Some(value) = object.get_mut(key).filter(|value| value.is_null()) {
        *value = stand_in;
    }
}

#[bed::test]
async fn every_simulator_response_validates_against_the_official_schema() {
    let (handle, client) = spawn().await;
    let seed = handle.sim.seed();
    let api = RawApi::new(&handle, &client).await;

    api.post_value("/api/1/access_token", &json!({"apiLogin": ids::API_LOGIN}))
        .await;
    api.post_value(
        "/api/v2/access_token",
        &json!({"apiKey": ids::API_KEY, "appId": ids::APP_ID, "clientSecret": ids::CLIENT_SECRET}),
    )
    .await;

    // Dictionaries, in both the simple and the extended organization shape.
    let _: OrganizationsResponse = api
        .post("/api/1/organizations", &organizations_request())
        .await;
    let simple = OrganizationsRequest {
        return_additional_info: false,
        ..organizations_request()
    };
    let _: OrganizationsResponse = api.post("/api/1/organizations", &simple).await;
    let _: TerminalGroupsResponse = api
        .post("/api/1/terminal_groups", &terminal_groups_request())
        .await;
    let _: TerminalGroupsIsAliveResponse = api
        .post("/api/1/terminal_groups/is_alive", &is_alive_request())
        .await;
    let _: PaymentTypesResponse = api
        .post("/api/1/payment_types", &both_organizations())
        .await;
    let _: OrderTypesResponse = api
        .post("/api/1/deliveries/order_types", &both_organizations())
        .await;
    let _: DiscountsResponse = api.post("/api/1/discounts", &both_organizations()).await;
    let _: CancelCausesResponse = api
        .post("/api/1/cancel_causes", &both_organizations())
        .await;

    // Menus: full and unchanged nomenclature, every external-menu version, MenuV3.
    let nomenclature: NomenclatureResponse = api
        .post("/api/1/nomenclature", &nomenclature_request(None))
        .await;
    let _: NomenclatureResponse = api
        .post(
            "/api/1/nomenclature",
            &nomenclature_request(Some(nomenclature.revision)),
        )
        .await;
    let _: ExternalMenusResponse = api.post("/api/2/menu", &json!({})).await;
    for request in external_menu_requests() {
        let _: ExternalMenu = api.post("/api/2/menu/by_id", &request).await;
    }
    let _: MenuV3 = api.post(MENU_V3, &menu_v3_request()).await;

    // Stop lists, with the seed's stopped products listed and rejected.
    let lists: StopListsResponse = api.post("/api/1/stop_lists", &stop_lists_request()).await;
    assert!(
        lists
            .terminal_group_stop_lists
            .iter()
            .flat_map(|o| &o.items)
            .any(|tg| !tg.items.is_empty()),
        "the seed's stop list is served"
    );
    let check: CheckStopListResponse = api
        .post("/api/1/stop_lists/check", &stop_list_check_request(seed))
        .await;
    assert_eq!(check.rejected_items.len(), 1, "{check:?}");

    // Orders: a courier order walked through every status, a pickup order cancelled, and a
    // creation that fails.
    let (status, courier) = api
        .create_and_settle(&courier_order(seed, Uuid::new_v4()))
        .await;
    assert_eq!(status, CommandStatus::Success);
    assert_eq!(courier.creation_status, CreationStatus::Success);
    for _ in 0..8 {
        control(&handle, "sim/advance", json!({"steps": 1})).await;
        api.by_id(courier.id).await;
    }
    let closed = api.by_id(courier.id).await;
    assert_eq!(closed.order.map(|o| o.status), Some(DeliveryStatus::Closed));

    let (status, pickup) = api
        .create_and_settle(&pickup_order(seed, Uuid::new_v4()))
        .await;
    assert_eq!(status, CommandStatus::Success);
    let cancel: CorrelationIdResponse = api
        .post("/api/1/deliveries/cancel", &cancel_request(pickup.id))
        .await;
    assert_eq!(
        api.wait_for_command(cancel.correlation_id).await,
        CommandStatus::Success
    );
    let cancelled = api.by_id(pickup.id).await;
    assert_eq!(
        cancelled.order.map(|o| o.status),
        Some(DeliveryStatus::Cancelled)
    );

    let (status, failed) = api
        .create_and_settle(&unknown_product_order(seed, Uuid::new_v4()))
        .await;
    assert!(matches!(status, CommandStatus::Error { .. }), "{status:?}");
    assert_eq!(failed.creation_status, CreationStatus::Error);

    let by_revision: DeliveriesWithRevisionResponse = api
        .post("/api/1/deliveries/by_revision", &by_revision_request())
        .await;
    assert!(
        by_revision.orders_by_organizations[0].orders.len() >= 3,
        "{by_revision:?}"
    );
    let by_date: DeliveriesWithRevisionResponse = api
        .post(
            "/api/1/deliveries/by_delivery_date_and_status",
            &by_date_and_status_request(),
        )
        .await;
    assert!(
        by_date.orders_by_organizations[0].orders.len() >= 2,
        "{by_date:?}"
    );
    let by_filter: DeliveriesWithRevisionResponse = api
        .post(
            "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
            &by_date_and_filter_request(),
        )
        .await;
    let found = &by_filter.orders_by_organizations[0].orders;
    assert!(found.len() >= 2, "{by_filter:?}");
    let phone = found[0].order.as_ref().expect("created").phone.clone();
    let by_phone: DeliveriesWithRevisionResponse = api
        .post(
            "/api/1/deliveries/by_delivery_date_and_phone",
            &by_date_and_phone_request(&phone),
        )
        .await;
    assert!(
        !by_phone.orders_by_organizations[0].orders.is_empty(),
        "{by_phone:?}"
    );

    // Loyalty.
    let _: CustomerInfo = api
        .post(
            "/api/1/loyalty/iiko/customer/info",
            &customer_info_request(),
        )
        .await;
    let calculated: CalculateCheckinResponse = api
        .post("/api/1/loyalty/iiko/calculate", &calculate_request(seed))
        .await;
    assert!(
        calculated.total_discount() > Decimal::ZERO,
        "{calculated:?}"
    );
    let unknown_coupon = {
        let mut request = calculate_request(seed);
        request.order.loyalty_info = Some(LoyaltyInfo {
            coupon: Some("NO-SUCH-COUPON".into()),
            ..LoyaltyInfo::default()
        });
        request
    };
    let _: CalculateCheckinResponse = api
        .post("/api/1/loyalty/iiko/calculate", &unknown_coupon)
        .await;
    let _: LoyaltyProgramsResponse = api
        .post("/api/1/loyalty/iiko/program", &loyalty_program_request())
        .await;

    // Webhook settings, before and after they are set.
    let _: WebhookSettingsResponse = api
        .post("/api/1/webhooks/settings", &webhook_settings_request())
        .await;
    let _: CorrelationIdResponse = api
        .post(
            "/api/1/webhooks/update_settings",
            &update_webhook_settings_request(),
        )
        .await;
    let settings: WebhookSettingsResponse = api
        .post("/api/1/webhooks/settings", &webhook_settings_request())
        .await;
    assert_eq!(settings.web_hooks_uri.as_deref(), Some(WEBHOOK_URI));

    api.finish();
}

// ---- 3. Behaviour -------------------------------------------------------------------------------

#[bed::test]
async fn an_order_created_with_the_client_becomes_success_with_its_lines_payments_and_bonuses() {
    let (handle, client) = spawn().await;
    let seed = handle.sim.seed();
    let order_id = Uuid::new_v4();
    let request = courier_order(seed, order_id);

    let accepted = client.create_delivery(&request).await.expect("accepted");
    assert_eq!(accepted.order_info.id, order_id);
    assert_eq!(
        accepted.order_info.creation_status,
        CreationStatus::InProgress
    );
    assert_eq!(
        wait_for_command(&client, accepted.correlation_id).await,
        CommandStatus::Success
    );
    let info = wait_until_created(&client, order_id).await;

    assert_eq!(info.creation_status, CreationStatus::Success, "{info:?}");
    assert_eq!(info.external_number.as_deref(), Some("WEB-10042"));
    let order = info.order.expect("a created order has its body");
    assert_eq!(order.status, DeliveryStatus::Unconfirmed);
    assert_eq!(order.phone, ids::CUSTOMER_PHONE);
    assert_eq!(order.terminal_group_id, ids::TG_LENINA);
    assert_eq!(order.source_key.as_deref(), Some(SOURCE_KEY));
    assert_eq!(order.sum, courier_order_sum(seed));
    assert_eq!(order.items.len(), 2);
    assert_eq!(order.payments.len(), 2);
    assert_eq!(order.discounts.len(), 1);
    assert_eq!(
        order.complete_before.map(|t| t.to_string()),
        request.order.complete_before.map(|t| t.to_string())
    );

    let customer = client
        .loyalty_customer_info(&customer_info_request())
        .await
        .expect("customer info");
    assert_eq!(
        customer.bonus_balance(),
        dec!(1500) - BONUS_PAYMENT,
        "the bonus payment is debited from the wallet"
    );
}

#[bed::test]
async fn a_server_error_is_a_transient_iiko_error_and_the_next_call_succeeds() {
    let (handle, client) = spawn().await;
    control(
        &handle,
        "sim/faults",
        json!({"rules": [{"path": "/api/1/organizations", "status": 500, "times": 1}]}),
    )
    .await;

    let error = client
        .organizations(&organizations_request())
        .await
        .expect_err("the fault answers 500");
    assert!(
        matches!(&error, IikoError::Api { status: 500, path, .. } if path == "/api/1/organizations"),
        "{error:?}"
    );
    assert!(error.is_transient(), "{error:?}");

    let organizations = client
        .organizations(&organizations_request())
        .await
        .expect("the rule expired after one hit");
    assert_eq!(organizations.organizations.len(), 2);
}

#[bed::test]
async fn expired_tokens_are_refreshed_transparently() {
    let (handle, client) = spawn().await;
    client
        .organizations(&organizations_request())
        .await
        .expect("first call");
    control(&handle, "sim/faults", json!({"expire_tokens": true})).await;

    client
        .organizations(&organizations_request())
        .await
        .expect("the client gets a new token and retries");

    let log = request_log(&handle).await;
    assert_eq!(statuses_of(&log, "/api/1/access_token"), [200, 200]);
    assert_eq!(statuses_of(&log, "/api/1/organizations"), [200, 401, 200]);
}

#[bed::test]
async fn a_rate_limit_with_retry_after_is_waited_out_transparently() {
    let (handle, client) = spawn().await;
    client.access_token().await.expect("token");
    control(
        &handle,
        "sim/faults",
        json!({"rules": [{"path": "/api/1/organizations", "status": 429, "times": 1, "retry_after": 1}]}),
    )
    .await;

    let started = Instant::now();
    client
        .organizations(&organizations_request())
        .await
        .expect("the client waits and retries");
    let waited = started.elapsed();

    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "waited too long: {waited:?}"
    );
    let log = request_log(&handle).await;
    assert_eq!(statuses_of(&log, "/api/1/organizations"), [429, 200]);
}

#[bed::test]
async fn a_repeated_order_id_surfaces_as_an_api_error_with_the_duplicated_order_id_code() {
    let (handle, client) = spawn().await;
    let request = pickup_order(handle.sim.seed(), Uuid::new_v4());
    client.create_delivery(&request).await.expect("first time");

    let error = client
        .create_delivery(&request)
        .await
        .expect_err("the same order id again");

    assert!(
        matches!(&error, IikoError::Api { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(error.code(), Some("DuplicatedOrderId"));
    assert!(error.correlation_id().is_some());
    assert!(!error.is_transient());
}
