//! The menu: one internal catalog built from any iiko menu source, its article-integrity report,
//! the diff between two versions and the stop list applied on top.
//!
//! Everything here except [`fetch_catalog`] is pure, so the store, CLI, HTTP API and scheduler
//! can rebuild, diff and re-apply stop lists without talking to iiko. A prices sync fetches and
//! builds like a full sync (iiko sends prices only inside the whole menu), diffs against the
//! stored catalog and re-applies the stop list.
mod build;
mod cache;
mod catalog;
mod diff;
mod fetch;
mod integrity;
mod public;
mod report;
#[cfg(test)]
mod sample;
mod schedule;
mod stop_list;
mod sync;

pub use build::{
    BuildTarget, Built, Fetched, build_from_external_menu, build_from_menu_v3,
    build_from_nomenclature,
};
pub use cache::CatalogCache;
pub use catalog::{Catalog, Group, MenuFormat, Modifier, ModifierGroup, Product, Size};
pub use diff::{
    AvailabilityChange, CatalogDiff, DiffCounts, PriceChange, ProductRef, Renamed, diff,
};
pub use fetch::{fetch_catalog, fetch_stop_list};
pub use public::{
    PublicCatalog, PublicGroup, PublicModifier, PublicModifierGroup, PublicProduct, PublicSize,
};
pub use report::{Finding, IntegrityReport, ItemRef};
pub use schedule::{MenuScheduler, MenuTrigger};
pub use stop_list::{apply_stop_list, stop_list_of};
pub use sync::{
    MenuSyncer, Stage, SyncError, SyncKind, SyncOptions, SyncOutcome, SyncResult, etag_of,
    with_prices_of,
};

use crate::iiko::IikoError;

#[derive(Debug, thiserror::Error)]
pub enum MenuError {
    #[error(transparent)]
    Iiko(#[from] IikoError),
    #[error("malformed iiko menu at {path}: {problem}")]
    Malformed { path: String, problem: String },
    #[error("unknown external menu formatVersion {0} (this bridge reads 2, 3 and 4)")]
    UnknownFormatVersion(i32),
    #[error("branch {0} reads an external menu but has no menu.external_menu_id")]
    NoExternalMenuId(String),
}
