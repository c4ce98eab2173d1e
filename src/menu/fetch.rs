//! Reading a branch's menu from iiko: the endpoint its `menu.source` names, then the build.
use chrono::Utc;
use serde::Deserialize;

use super::MenuError;
use super::build::{
    BuildTarget, Fetched, build_from_external_menu, build_from_menu_v3, build_from_nomenclature,
};
use super::stop_list::stop_list_of;
use crate::config::{BranchConfig, MenuSource};
use crate::iiko::IikoClient;
use crate::iiko::types::menu::{ExternalMenuRequest, MenuV3Request, NomenclatureRequest};
use crate::iiko::types::stop_lists::{StopListItem, StopListsRequest};

/// Which iiko endpoint serves a branch's external menu.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalMenuApi {
    /// `/api/2/menu/by_id` with `version: 2`.
    V2,
    /// `/api/2/menu/by_id` with `version: 3`.
    V3,
    /// `/api/2/menu/by_id` with `version: 4`.
    V4,
    /// `/api/menu/v3/by_id`, the successor iiko recommends (`/api/2/menu/by_id` is deprecated).
    #[default]
    MenuV3,
}

/// Fetches and builds a branch's catalog. `previous_revision` is the nomenclature revision of
/// the stored catalog: an unchanged nomenclature answers [`Fetched::Unchanged`]. External menus
/// are always read whole.
pub async fn fetch_catalog(
    client: &IikoClient,
    branch: &BranchConfig,
    previous_revision: Option<i64>,
    api: ExternalMenuApi,
) -> Result<Fetched, MenuError> {
    let target = BuildTarget {
        branch: branch.key.clone(),
        organization_id: branch.organization_id,
        synced_at: Utc::now(),
    };
    if branch.menu.source == MenuSource::Nomenclature {
        let request = NomenclatureRequest {
            organization_id: branch.organization_id,
            start_revision: previous_revision,
        };
        let response = client.nomenclature(&request).await?;
        return build_from_nomenclature(&response, previous_revision, &target);
    }
    let external_menu_id = branch
        .menu
        .external_menu_id
        .clone()
        .ok_or_else(|| MenuError::NoExternalMenuId(branch.key.clone()))?;
    let price_category_id = branch.menu.price_category_id.clone();
    let version = match api {
        ExternalMenuApi::V2 => 2,
        ExternalMenuApi::V3 => 3,
        ExternalMenuApi::V4 => 4,
        ExternalMenuApi::MenuV3 => {
            let request = MenuV3Request {
                external_menu_id,
                organization_id: branch.organization_id,
                price_category_id,
            };
            let menu = client.menu_v3_by_id(&request).await?;
            return Ok(Fetched::Built(Box::new(build_from_menu_v3(
                &menu, &target,
            )?)));
        }
    };
    let request = ExternalMenuRequest {
        external_menu_id,
        organization_ids: vec![branch.organization_id],
        price_category_id,
        version: Some(version),
        language: None,
        start_revision: None,
        async_mode: false,
    };
    let menu = client.external_menu_by_id(&request).await?;
    Ok(Fetched::Built(Box::new(build_from_external_menu(
        &menu, &target,
    )?)))
}

/// The stop list of the branch's terminal group, for [`apply_stop_list`](super::apply_stop_list).
pub async fn fetch_stop_list(
    client: &IikoClient,
    branch: &BranchConfig,
) -> Result<Vec<StopListItem>, MenuError> {
    let request = StopListsRequest {
        organization_ids: vec![branch.organization_id],
        return_size: true,
        terminal_groups_ids: Some(vec![branch.terminal_group_id]),
    };
    let response = client.stop_lists(&request).await?;
    Ok(stop_list_of(&response, branch.terminal_group_id))
}
