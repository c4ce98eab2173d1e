//! Menus and prices: the RMS nomenclature, the external menus (`/api/2/menu*`) and the newer
//! `/api/menu/v3/by_id`. The SKU is only for matching; orders need the UUIDs these carry.
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::common::{IikoDateTime, null_as_empty, open_enum};

// ---- RMS nomenclature (`/api/1/nomenclature`) ------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NomenclatureRequest {
    pub organization_id: Uuid,
    /// The `revision` last received; an unchanged menu then comes back with empty arrays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_revision: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NomenclatureResponse {
    pub correlation_id: Uuid,
    pub revision: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub groups: Vec<ProductGroup>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub product_categories: Vec<ProductCategory>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub products: Vec<Product>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sizes: Vec<Size>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductGroup {
    pub id: Uuid,
    /// The group's article code.
    pub code: Option<String>,
    pub name: String,
    pub parent_group: Option<Uuid>,
    pub order: Option<i32>,
    #[serde(default)]
    pub is_included_in_menu: bool,
    /// A modifier group rather than a menu folder.
    #[serde(default)]
    pub is_group_modifier: bool,
    #[serde(default)]
    pub is_deleted: bool,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub image_links: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCategory {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub is_deleted: bool,
}

open_enum! {
    pub enum OrderItemType { Product = "Product", Compound = "Compound" }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The `productId` for orders.
    pub id: Uuid,
    /// The article code (SKU); nullable and not unique across deleted items.
    pub code: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub group_id: Option<Uuid>,
    pub parent_group: Option<Uuid>,
    pub product_category_id: Option<Uuid>,
    /// `dish`, `good` or `modifier`, in whatever case iiko sends.
    #[serde(rename = "type")]
    pub product_type: Option<String>,
    pub order_item_type: Option<OrderItemType>,
    pub modifier_schema_id: Option<Uuid>,
    pub modifier_schema_name: Option<String>,
    pub measure_unit: Option<String>,
    #[serde(default)]
    pub splittable: bool,
    #[serde(default)]
    pub use_balance_for_sell: bool,
    #[serde(default)]
    pub can_set_open_price: bool,
    #[serde(default)]
    pub do_not_print_in_cheque: bool,
    pub payment_subject: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
    pub order: Option<i32>,
    pub weight: Option<Decimal>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub size_prices: Vec<SizePrice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modifiers: Vec<SimpleModifier>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub group_modifiers: Vec<GroupModifier>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub image_links: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SizePrice {
    /// `None` when the product has no size scale; send `productSizeId: null` then.
    pub size_id: Option<Uuid>,
    pub price: Price,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub current_price: Decimal,
    pub is_included_in_menu: bool,
    pub next_price: Option<Decimal>,
    #[serde(default)]
    pub next_included_in_menu: bool,
    pub next_date_price: Option<IikoDateTime>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleModifier {
    /// The modifier's product id.
    pub id: Uuid,
    pub default_amount: Option<i32>,
    pub min_amount: i32,
    pub max_amount: i32,
    pub required: Option<bool>,
    pub hide_if_default_amount: Option<bool>,
    pub splittable: Option<bool>,
    pub free_of_charge_amount: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupModifier {
    /// The `productGroupId` for order modifiers.
    pub id: Uuid,
    pub min_amount: i32,
    pub max_amount: i32,
    pub required: Option<bool>,
    pub child_modifiers_have_min_max_restrictions: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub child_modifiers: Vec<SimpleModifier>,
    pub hide_if_default_amount: Option<bool>,
    pub default_amount: Option<i32>,
    pub splittable: Option<bool>,
    pub free_of_charge_amount: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Size {
    pub id: Uuid,
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub is_default: Option<bool>,
}

// ---- External menus (`/api/2/menu`, `/api/2/menu/by_id`) -------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMenusResponse {
    pub correlation_id: Uuid,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub external_menus: Vec<MenuRef>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub price_categories: Vec<MenuRef>,
}

/// An external menu or price category; the ids are strings such as `"15#3"`, not UUIDs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MenuRef {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMenuRequest {
    pub external_menu_id: String,
    pub organization_ids: Vec<Uuid>,
    /// Without it, prices come from the menu itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_category_id: Option<String>,
    /// Response format: 2, 3 or 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_revision: Option<i64>,
    pub async_mode: bool,
}

/// `/api/2/menu/by_id` in one of its formats. The schema defaults `formatVersion` to 2 for all three, so
/// the root key decides first: `itemCategories` is V2, `itemGroups` is V3 or V4.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ExternalMenu {
    V2(ExternalMenuV2),
    V3(ExternalMenuV3),
    /// The V3 shape whose groups may also hold combo entries.
    V4(ExternalMenuV3),
}

impl<'de> Deserialize<'de> for ExternalMenu {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let format_version = value
            .get("formatVersion")
            .and_then(serde_json::Value::as_i64);
        let menu = if value.get("itemCategories").is_some() {
            serde_json::from_value(value).map(ExternalMenu::V2)
        } else if value.get("itemGroups").is_some() {
            let grouped = serde_json::from_value(value);
            if format_version == Some(4) {
                grouped.map(ExternalMenu::V4)
            } else {
                grouped.map(ExternalMenu::V3)
            }
        } else {
            return Err(D::Error::custom(
                "external menu has neither itemCategories (V2) nor itemGroups (V3/V4)",
            ));
        };
        menu.map_err(D::Error::custom)
    }
}

open_enum! {
    pub enum MenuItemType { Dish = "DISH", Combo = "COMBO", Service = "SERVICE" }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMenuV2 {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub revision: Option<i64>,
    pub format_version: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_categories: Vec<MenuCategoryV2>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuCategoryV2 {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub iiko_group_id: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<MenuItemV2>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItemV2 {
    /// The `productId` for orders (a UUID in a string).
    pub item_id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<MenuItemType>,
    pub order_item_type: Option<OrderItemType>,
    pub modifier_schema_id: Option<String>,
    pub measure_unit: Option<String>,
    pub product_category_id: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default)]
    pub can_set_open_price: bool,
    #[serde(default)]
    pub use_balance_for_sell: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_sizes: Vec<MenuItemSizeV2>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItemSizeV2 {
    /// The `productSizeId`; null or empty when there is only the default size.
    pub size_id: Option<String>,
    /// Product code plus size name; equals the product SKU when there is one size.
    pub sku: Option<String>,
    pub size_code: Option<String>,
    pub size_name: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_hidden: bool,
    pub portion_weight_grams: Option<Decimal>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prices: Vec<MenuPrice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_modifier_groups: Vec<ModifierGroupV2>,
}

/// A price for the listed organizations; `None` means not sold there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuPrice {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub organizations: Vec<String>,
    pub price: Option<Decimal>,
    pub tax_category_id: Option<Uuid>,
}

impl MenuPrice {
    /// The price in `organization`, from the entry that lists it.
    pub fn for_organization(prices: &[MenuPrice], organization: Uuid) -> Option<Decimal> {
        let organization = organization.to_string();
        prices
            .iter()
            .find(|entry| {
                entry
                    .organizations
                    .iter()
                    .any(|id| id.eq_ignore_ascii_case(&organization))
            })
            .and_then(|entry| entry.price)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierRestrictions {
    pub min_quantity: Option<i32>,
    pub max_quantity: Option<i32>,
    pub free_quantity: Option<i32>,
    /// `byDefault` in V2, `defaultQuantity` in V3/V4.
    #[serde(alias = "defaultQuantity")]
    pub by_default: Option<i32>,
    pub hide_if_default_quantity: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierGroupV2 {
    /// The `productGroupId` for group modifiers.
    pub item_group_id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default)]
    pub can_be_divided: bool,
    #[serde(default)]
    pub child_modifiers_have_min_max_restrictions: bool,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<ModifierRestrictions>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<ModifierItemV2>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierItemV2 {
    /// The modifier's product id.
    pub item_id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<ModifierRestrictions>,
    pub portion_weight_grams: Option<Decimal>,
    #[serde(default)]
    pub independent_quantity: bool,
    pub position: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prices: Vec<MenuPrice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMenuV3 {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub revision: Option<i64>,
    pub format_version: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_groups: Vec<MenuGroupV3>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuGroupV3 {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub iiko_group_id: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<MenuGroupEntry>,
}

/// A V3/V4 group entry: a dish (or service), or in V4 a combo.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MenuGroupEntry {
    Item(MenuItemV3),
    Combo(MenuComboV4),
}

impl<'de> Deserialize<'de> for MenuGroupEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let is_combo = value.get("type").and_then(serde_json::Value::as_str) == Some("COMBO")
            && value.get("itemSizes").is_none();
        if is_combo {
            serde_json::from_value(value).map(MenuGroupEntry::Combo)
        } else {
            serde_json::from_value(value).map(MenuGroupEntry::Item)
        }
        .map_err(D::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItemV3 {
    /// The `productId` for orders.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<MenuItemType>,
    pub order_item_type: Option<OrderItemType>,
    pub modifier_schema_id: Option<String>,
    pub measure_unit: Option<String>,
    pub product_category_id: Option<String>,
    pub tax_category_id: Option<String>,
    #[serde(default)]
    pub splittable: bool,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default)]
    pub can_set_open_price: bool,
    #[serde(default)]
    pub use_balance_for_sell: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_sizes: Vec<MenuItemSizeV3>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuItemSizeV3 {
    /// The `productSizeId`; null or empty when there is only the default size.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub size_code: Option<String>,
    pub size_name: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_hidden: bool,
    pub weight: Option<Decimal>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prices: Vec<MenuPrice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_modifier_groups: Vec<ModifierGroupV3>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierGroupV3 {
    /// The `productGroupId` for group modifiers.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default)]
    pub splittable: bool,
    #[serde(default)]
    pub child_modifiers_have_min_max_restrictions: bool,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<ModifierRestrictions>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<ModifierItemV3>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierItemV3 {
    /// The modifier's product id.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<ModifierRestrictions>,
    pub weight: Option<Decimal>,
    #[serde(default)]
    pub independent_quantity: bool,
    pub tax_category_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prices: Vec<MenuPrice>,
}

open_enum! {
    pub enum ComboPriceStrategy { ByComponent = "BY_COMPONENT", Fixed = "FIXED" }
}

/// A combo entry of a V4 menu group; its component groups are kept raw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuComboV4 {
    pub id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_strategy: Option<ComboPriceStrategy>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sizes: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub groups: Vec<serde_json::Value>,
}

// ---- `/api/menu/v3/by_id` (newer schema, REFERENCE §4.4) -------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Request {
    pub external_menu_id: String,
    /// One organization per call.
    pub organization_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_category_id: Option<String>,
}

/// A normalised menu: `items_groups` refer to the `products`, `modifiers` and `combos` dictionaries by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3 {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub products: Vec<MenuV3Product>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modifiers: Vec<MenuV3Modifier>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub combos: Vec<MenuV3Combo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items_groups: Vec<MenuV3ItemsGroup>,
}

open_enum! {
    pub enum MenuProductType {
        Dish = "DISH",
        Goods = "GOODS",
        Service = "SERVICE",
        Combo = "COMBO",
        Prepared = "PREPARED",
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Product {
    pub id: Uuid,
    pub sku: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub product_type: Option<MenuProductType>,
    pub order_item_type: Option<OrderItemType>,
    pub modifier_schema_id: Option<Uuid>,
    pub measure_unit: Option<String>,
    pub product_category_id: Option<Uuid>,
    pub tax_category_id: Option<Uuid>,
    pub splittable: Option<bool>,
    pub can_set_open_price: Option<bool>,
    pub use_balance_for_sell: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Modifier {
    pub id: Uuid,
    pub sku: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<ModifierRestrictions>,
    /// Modifier prices live here, not in the group entries.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub size_prices: Vec<MenuSizePrice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Combo {
    pub id: Uuid,
    pub sku: Option<String>,
    pub price_strategy: Option<ComboPriceStrategy>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub component_groups: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3ItemsGroup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub is_hidden: Option<bool>,
    pub schedule_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<MenuV3Item>,
}

open_enum! {
    pub enum MenuV3ItemType { Product = "PRODUCT", Combo = "COMBO" }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Item {
    pub product_id: Option<Uuid>,
    pub name: Option<String>,
    /// Not in REFERENCE §4.4's list, but sent per menu item by the newer schema's model.
    pub description: Option<String>,
    pub is_hidden: Option<bool>,
    pub item_type: Option<MenuV3ItemType>,
    pub combo_id: Option<Uuid>,
    pub menu_item_id: Option<String>,
    pub sort_order: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub size_prices: Vec<MenuSizePrice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub modifier_groups: Vec<MenuV3ModifierGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuSizePrice {
    pub size_id: Option<Uuid>,
    pub size_name: Option<String>,
    pub size_code: Option<String>,
    pub is_default: Option<bool>,
    /// `None` means not sold in this organization.
    pub price: Option<Decimal>,
    pub sku: Option<String>,
    pub menu_item_size_id: Option<String>,
    pub tax_category_id: Option<Uuid>,
    pub is_hidden: Option<bool>,
    pub weight: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3ModifierGroup {
    /// The `productGroupId` for group modifiers.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<MenuV3Restrictions>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<MenuV3ModifierRef>,
    pub splittable: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3Restrictions {
    pub min_quantity: Option<i32>,
    pub max_quantity: Option<i32>,
    pub free_quantity: Option<i32>,
    pub default_quantity: Option<i32>,
    pub hide_if_default_quantity: Option<bool>,
}

/// A modifier in a group; its price is in `MenuV3::modifiers` under the same id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuV3ModifierRef {
    pub id: Uuid,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "object_or_first")]
    pub restrictions: Option<MenuV3Restrictions>,
}

/// The schema declares some objects as arrays (modifier `restrictions`); accept either shape.
fn object_or_first<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Array(items) => items
            .into_iter()
            .next()
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom),
        object => serde_json::from_value(object)
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// Menu ids are integers in V2–V4 and strings elsewhere; keep them as strings.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        other => Err(D::Error::custom(format!("expected a menu id, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    const ORGANIZATION: &str = "7bc05553-4b68-44e8-b7bc-37be63c6d9e9";

    #[test]
    fn nomenclature_reads_codes_size_prices_and_group_modifiers() {
        let json = r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","revision":4312,
          "groups":[{"imageLinks":[],"parentGroup":null,"order":0,"isIncludedInMenu":true,"isGroupModifier":true,
            "id":"00000000-0000-0000-0000-000000000007","code":null,"name":"Extras","isDeleted":false}],
          "productCategories":[{"id":"00000000-0000-0000-0000-000000000041","name":"Pizza","isDeleted":false}],
          "products":[{"id":"00000000-0000-0000-0000-000000000004","code":"00042","name":"Margherita",
            "type":"Dish","orderItemType":"Product","splittable":false,"measureUnit":"pcs",
            "useBalanceForSell":false,"canSetOpenPrice":false,"isDeleted":false,"order":1,"imageLinks":[],
            "sizePrices":[{"sizeId":null,"price":{"currentPrice":450,"isIncludedInMenu":true,"nextPrice":null,
              "nextIncludedInMenu":false,"nextDatePrice":null}}],
            "modifiers":[],
            "groupModifiers":[{"id":"00000000-0000-0000-0000-000000000007","minAmount":0,"maxAmount":3,"required":false,
              "childModifiers":[{"id":"00000000-0000-0000-0000-000000000006","defaultAmount":0,"minAmount":0,"maxAmount":2}]}],
            "weight":0.45,"fatAmount":10.5}],
          "sizes":[]}"#;
        let response: NomenclatureResponse = serde_json::from_str(json).unwrap();
        let product = &response.products[0];
        assert_eq!(product.code.as_deref(), Some("00042"));
        assert_eq!(product.size_prices[0].size_id, None);
        assert_eq!(product.size_prices[0].price.current_price, dec!(450));
        assert_eq!(product.group_modifiers[0].child_modifiers[0].max_amount, 2);
        assert!(response.groups[0].is_group_modifier);
    }

    #[test]
    fn external_menu_list_keeps_string_ids() {
        let json = r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0",
          "externalMenus":[{"id":"15#3","name":"Site"}],"priceCategories":null}"#;
        let response: ExternalMenusResponse = serde_json::from_str(json).unwrap();
        assert_eq!(response.external_menus[0].id, "15#3");
        assert!(response.price_categories.is_empty());
    }

    #[test]
    fn external_menu_with_item_categories_is_v2_and_tolerates_schema_defects() {
        let json = format!(
            r#"{{"id":15,"name":"Site","formatVersion":2,"revision":7,"comboCategories":[],"itemCategories":[{{
              "id":"c1","name":"Pizza","items":[{{"itemId":"00000000-0000-0000-0000-000000000004","sku":"00042",
              "name":"Margherita","type":"DISH","orderItemType":"Product","modifierSchemaId":null,"taxCategory":[],
              "barcode":null,"itemSizes":[{{"sizeId":null,"sku":"00042","isDefault":true,"portionWeightGrams":450,
                "nutritionPerHundredGrams":[],
                "prices":[{{"organizations":["{ORGANIZATION}"],"price":450.0}},{{"organizations":["other"],"price":null}}],
                "itemModifierGroups":[{{"itemGroupId":"00000000-0000-0000-0000-000000000007","name":"Extras",
                  "restrictions":{{"minQuantity":0,"maxQuantity":3,"freeQuantity":0,"byDefault":0}},
                  "items":[{{"itemId":"00000000-0000-0000-0000-000000000006","sku":"00077","name":"Cheese",
                    "restrictions":[{{"minQuantity":0,"maxQuantity":2}}],
                    "prices":[{{"organizations":["{ORGANIZATION}"],"price":50}}]}}]}}]}}]}}]}}]}}"#
        );
        let menu: ExternalMenu = serde_json::from_str(&json).unwrap();
        let ExternalMenu::V2(menu) = menu else {
            panic!("expected V2, got {menu:?}")
        };
        assert_eq!(menu.id, "15");
        let item = &menu.item_categories[0].items[0];
        let size = &item.item_sizes[0];
        let organization: Uuid = ORGANIZATION.parse().unwrap();
        assert_eq!(
            MenuPrice::for_organization(&size.prices, organization),
            Some(dec!(450))
        );
        let group = &size.item_modifier_groups[0];
        assert_eq!(group.restrictions.as_ref().unwrap().max_quantity, Some(3));
        assert_eq!(
            group.items[0].restrictions.as_ref().unwrap().max_quantity,
            Some(2)
        );
    }

    #[test]
    fn external_menu_with_item_groups_is_v3_or_v4_by_format_version() {
        let v3 = r#"{"id":15,"formatVersion":2,"comboCategories":[],"itemGroups":[{"name":"Pizza","items":[{
            "id":"00000000-0000-0000-0000-000000000004","sku":"00042","type":"DISH","orderItemType":"Compound",
            "splittable":false,"allergenGroupIds":[],"modifierSchemaId":"00000000-0000-0000-0000-000000000051",
            "itemSizes":[{"id":"00000000-0000-0000-0000-000000000052","sku":"00042-30","sizeName":"30 cm",
              "weight":0.5,"prices":[{"organizations":[],"price":null}],
              "itemModifierGroups":[{"id":"00000000-0000-0000-0000-000000000007","splittable":true,
                "restrictions":[{"minQuantity":1,"maxQuantity":1}],"items":[{"id":"00000000-0000-0000-0000-000000000006",
                "weight":0.1,"allergenGroupIds":[],"labels":[],"tags":[]}]}]}]}]}]}"#;
        let ExternalMenu::V3(menu) = serde_json::from_str(v3).unwrap() else {
            panic!("expected V3")
        };
        let MenuGroupEntry::Item(item) = &menu.item_groups[0].items[0] else {
            panic!("expected a dish")
        };
        assert_eq!(item.order_item_type, Some(OrderItemType::Compound));
        assert_eq!(
            item.item_sizes[0].item_modifier_groups[0]
                .restrictions
                .as_ref()
                .unwrap()
                .min_quantity,
            Some(1)
        );

        let v4 = r#"{"id":16,"formatVersion":4,"comboCategories":[],"itemGroups":[{"name":"Combos","items":[
            {"id":"00000000-0000-0000-0000-000000000061","sku":"C-1","name":"Lunch","type":"COMBO",
             "priceStrategy":"BY_COMPONENT","sizes":[],"groups":[{"id":"g"}]},
            {"id":"00000000-0000-0000-0000-000000000004","sku":"00042","type":"SERVICE","splittable":false,
             "itemSizes":[]}]}]}"#;
        let ExternalMenu::V4(menu) = serde_json::from_str(v4).unwrap() else {
            panic!("expected V4")
        };
        let entries = &menu.item_groups[0].items;
        assert!(
            matches!(&entries[0], MenuGroupEntry::Combo(combo) if combo.price_strategy == Some(ComboPriceStrategy::ByComponent))
        );
        assert!(
            matches!(&entries[1], MenuGroupEntry::Item(item) if item.item_type == Some(MenuItemType::Service))
        );
    }

    #[test]
    fn menu_v3_reads_products_modifier_prices_and_groups() {
        let json = r#"{"id":"15","name":"Site","products":[{"sku":"00042","id":"00000000-0000-0000-0000-000000000004",
            "type":"DISH","orderItemType":"Product"}],
          "modifiers":[{"sku":"00077","id":"00000000-0000-0000-0000-000000000006","name":"Cheese",
            "sizePrices":[{"sizeId":null,"price":50}]}],
          "combos":[],
          "itemsGroups":[{"id":"g1","name":"Pizza","items":[{"productId":"00000000-0000-0000-0000-000000000004",
            "name":"Margherita","itemType":"PRODUCT","sizePrices":[{"sizeId":null,"price":450,"sku":"00042","isDefault":true}],
            "modifierGroups":[{"id":"00000000-0000-0000-0000-000000000007","name":"Extras",
              "restrictions":{"minQuantity":0,"maxQuantity":3,"freeQuantity":0,"defaultQuantity":0},
              "items":[{"id":"00000000-0000-0000-0000-000000000006"}]}]}]}]}"#;
        let menu: MenuV3 = serde_json::from_str(json).unwrap();
        let item = &menu.items_groups[0].items[0];
        assert_eq!(item.item_type, Some(MenuV3ItemType::Product));
        assert_eq!(item.size_prices[0].price, Some(dec!(450)));
        assert_eq!(item.modifier_groups[0].items[0].id, menu.modifiers[0].id);
        assert_eq!(menu.modifiers[0].size_prices[0].price, Some(dec!(50)));
    }
}
