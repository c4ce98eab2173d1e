//! Building a [`Catalog`] from each iiko menu source. Every source is first read into a
//! [`Draft`] (what iiko sent, articles and prices still optional); [`integrity::finalize`] then
//! applies the article rules to every source alike.
mod external;
mod menu_v3;
mod nomenclature;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

pub use external::build_from_external_menu;
pub use menu_v3::build_from_menu_v3;
pub use nomenclature::build_from_nomenclature;

use super::MenuError;
use super::catalog::Catalog;
use super::report::IntegrityReport;

/// Whose catalog to build: prices are taken for `organization_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildTarget {
    pub branch: String,
    pub organization_id: Uuid,
    pub synced_at: DateTime<Utc>,
}

/// A catalog and what was wrong with the menu it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub catalog: Catalog,
    pub report: IntegrityReport,
}

/// The outcome of reading a source that can answer "nothing changed".
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched {
    /// The source is still at this revision; keep the previous catalog.
    Unchanged {
        revision: i64,
    },
    Built(Box<Built>),
}

/// A menu as iiko sent it, before the article rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Draft {
    pub groups: Vec<DraftGroup>,
    pub products: Vec<DraftProduct>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DraftGroup {
    pub iiko_id: String,
    pub name: String,
    pub parent_iiko_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DraftProduct {
    pub iiko_id: Uuid,
    pub article: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub group_iiko_id: Option<String>,
    pub hidden: bool,
    pub sizes: Vec<DraftSize>,
    pub modifier_groups: Vec<DraftModifierGroup>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DraftSize {
    pub iiko_id: Option<Uuid>,
    pub article: Option<String>,
    pub name: Option<String>,
    pub default: bool,
    pub hidden: bool,
    /// `None`: not for sale in the organization.
    pub price: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DraftModifierGroup {
    pub iiko_id: Option<Uuid>,
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub required: bool,
    pub free_quantity: u32,
    pub hidden: bool,
    pub items: Vec<DraftModifier>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DraftModifier {
    pub iiko_id: Uuid,
    pub article: Option<String>,
    pub name: String,
    pub hidden: bool,
    /// `None`: not for sale in the organization.
    pub price: Option<Decimal>,
}

/// Where in iiko's answer something is, for error messages.
fn malformed(path: impl FnOnce() -> String, problem: impl Into<String>) -> MenuError {
    MenuError::Malformed {
        path: path(),
        problem: problem.into(),
    }
}

/// A UUID that iiko sends in a string field (external menus type ids as strings).
fn parse_uuid(value: Option<&str>, path: impl FnOnce() -> String) -> Result<Uuid, MenuError> {
    match value {
        None => Err(malformed(
            path,
            "missing (null) where the schema requires an id",
        )),
        Some(text) => text
            .parse()
            .map_err(|_| malformed(path, format!("{text:?} is not a UUID"))),
    }
}

/// Like [`parse_uuid`], where null or an empty string means "none" (a size id of the only size).
fn parse_optional_uuid(
    value: Option<&str>,
    path: impl FnOnce() -> String,
) -> Result<Option<Uuid>, MenuError> {
    match value.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_uuid(Some(text), path).map(Some),
    }
}

/// A modifier count from iiko, which types them as signed integers.
fn quantity(value: Option<i32>, path: impl FnOnce() -> String) -> Result<u32, MenuError> {
    let value = value.unwrap_or(0);
    u32::try_from(value).map_err(|_| malformed(path, format!("negative quantity {value}")))
}
