//! The bridge's own catalog: one shape whatever iiko menu it was built from, keyed by article,
//! with the iiko ids that orders need kept beside each article.
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which iiko answer a catalog was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuFormat {
    /// `/api/2/menu/by_id` with `version: 2`.
    ExternalV2,
    /// `/api/2/menu/by_id` with `version: 3`.
    ExternalV3,
    /// `/api/2/menu/by_id` with `version: 4`.
    ExternalV4,
    /// `/api/menu/v3/by_id`.
    MenuV3,
    /// `/api/1/nomenclature`.
    Nomenclature,
}

/// One branch's catalog. Every product, size and modifier here has a unique article; items that
/// did not are in the build's [`IntegrityReport`](super::IntegrityReport) instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub branch: String,
    pub format: MenuFormat,
    /// iiko's revision of the source, when it sends one (the nomenclature cursor).
    pub iiko_revision: Option<i64>,
    pub synced_at: DateTime<Utc>,
    pub groups: Vec<Group>,
    pub products: Vec<Product>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// A stable public id derived from the iiko group id, so the site never sees iiko UUIDs.
    pub id: String,
    pub name: String,
    /// The public id of the parent group.
    pub parent: Option<String>,
    pub iiko_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub article: String,
    pub name: String,
    pub description: Option<String>,
    /// The public id of the product's group.
    pub group: Option<String>,
    pub hidden: bool,
    /// False while the stop list has every size of it.
    pub available: bool,
    /// `productId` in orders.
    pub iiko_id: Uuid,
    /// Never empty: a product without a size scale has one default size without an iiko id.
    pub sizes: Vec<Size>,
    pub modifier_groups: Vec<ModifierGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Size {
    /// The size's own article; `None` when it has none (a single size repeats the product's).
    pub article: Option<String>,
    pub name: Option<String>,
    /// The price in the branch's organization (and price category), in rubles.
    pub price: Decimal,
    pub default: bool,
    /// False while the stop list has it.
    pub available: bool,
    /// `productSizeId` in orders; `None` when the product has no size scale.
    pub iiko_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModifierGroup {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub required: bool,
    /// How many modifiers of the group come free of charge.
    pub free_quantity: u32,
    /// `productGroupId` in order modifiers; `None` for single modifiers, which have no group in iiko.
    pub iiko_id: Option<Uuid>,
    pub items: Vec<Modifier>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modifier {
    pub article: String,
    pub name: String,
    pub price: Decimal,
    /// The modifier's `productId` in orders.
    pub iiko_id: Uuid,
}

impl Catalog {
    pub fn product(&self, article: &str) -> Option<&Product> {
        self.products
            .iter()
            .find(|product| product.article == article)
    }
}

impl Product {
    /// The size a site line names by its article or name, or the default size when it names none.
    pub fn size(&self, article_or_name: Option<&str>) -> Option<&Size> {
        match article_or_name {
            Some(key) => self.sizes.iter().find(|size| {
                size.article.as_deref() == Some(key) || size.name.as_deref() == Some(key)
            }),
            None => self.sizes.iter().find(|size| size.default),
        }
    }

    /// The modifier with `article` and the group it belongs to.
    pub fn modifier(&self, article: &str) -> Option<(&ModifierGroup, &Modifier)> {
        self.modifier_groups.iter().find_map(|group| {
            group
                .items
                .iter()
                .find(|item| item.article == article)
                .map(|item| (group, item))
        })
    }
}
