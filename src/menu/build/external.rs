//! External menus from `/api/2/menu/by_id` in formats V2, V3 and V4. The formats differ in field
//! names (`itemCategories`/`itemGroups`, `itemId`/`id`, `sizeId`/`id`, `itemGroupId`/`id`) and in
//! V4's combos; both shapes are read through the same views so one set of rules applies.
use uuid::Uuid;

use super::{
    BuildTarget, Built, Draft, DraftGroup, DraftModifier, DraftModifierGroup, DraftProduct,
    DraftSize, parse_optional_uuid, parse_uuid, quantity,
};
use crate::iiko::types::menu::{
    ExternalMenu, ExternalMenuV3, MenuGroupEntry, MenuItemV2, MenuItemV3, MenuPrice,
    ModifierRestrictions,
};
use crate::menu::MenuError;
use crate::menu::catalog::MenuFormat;
use crate::menu::integrity;

/// Builds a branch's catalog from an external menu answer, with prices for the target's organization.
pub fn build_from_external_menu(
    menu: &ExternalMenu,
    target: &BuildTarget,
) -> Result<Built, MenuError> {
    match menu {
        ExternalMenu::V2(menu) => {
            // The schema defaults `formatVersion` to 2 in every format.
            check_format_version(menu.format_version, &[2])?;
            let mut draft = Draft::default();
            for (c, category) in menu.item_categories.iter().enumerate() {
                let group = category.iiko_group_id.as_deref().or(category.id.as_deref());
                push_group(&mut draft, group, category.name.as_deref());
                for (i, item) in category.items.iter().enumerate() {
                    let at = Location::new(&V2_NAMES, c, i);
                    let item = ItemView::from_v2(item, category.is_hidden);
                    draft
                        .products
                        .push(draft_product(item, group, target, &at)?);
                }
            }
            let revision = menu.revision;
            Ok(integrity::finalize(
                draft,
                target,
                MenuFormat::ExternalV2,
                revision,
            ))
        }
        ExternalMenu::V3(menu) => {
            check_format_version(menu.format_version, &[2, 3])?;
            build_grouped(menu, MenuFormat::ExternalV3, target)
        }
        ExternalMenu::V4(menu) => build_grouped(menu, MenuFormat::ExternalV4, target),
    }
}

fn check_format_version(version: Option<i32>, expected: &[i32]) -> Result<(), MenuError> {
    match version {
        Some(version) if !expected.contains(&version) => {
            Err(MenuError::UnknownFormatVersion(version))
        }
        _ => Ok(()),
    }
}

/// V3 and V4: `itemGroups`, where V4 may also list combos.
fn build_grouped(
    menu: &ExternalMenuV3,
    format: MenuFormat,
    target: &BuildTarget,
) -> Result<Built, MenuError> {
    let mut draft = Draft::default();
    for (g, group) in menu.item_groups.iter().enumerate() {
        let group_id = group.iiko_group_id.as_deref().or(group.id.as_deref());
        push_group(&mut draft, group_id, group.name.as_deref());
        for (i, entry) in group.items.iter().enumerate() {
            // Combos are not products; the catalog does not carry them.
            let MenuGroupEntry::Item(item) = entry else {
                continue;
            };
            let at = Location::new(&V3_NAMES, g, i);
            let item = ItemView::from_v3(item, group.is_hidden);
            draft
                .products
                .push(draft_product(item, group_id, target, &at)?);
        }
    }
    Ok(integrity::finalize(draft, target, format, menu.revision))
}

fn push_group(draft: &mut Draft, iiko_id: Option<&str>, name: Option<&str>) {
    if let Some(iiko_id) = iiko_id {
        draft.groups.push(DraftGroup {
            iiko_id: iiko_id.to_string(),
            name: name.unwrap_or_default().to_string(),
            parent_iiko_id: None,
        });
    }
}

/// The wire names of one format, for error paths.
struct Names {
    groups: &'static str,
    item_id: &'static str,
    size_id: &'static str,
    group_id: &'static str,
    modifier_id: &'static str,
}

const V2_NAMES: Names = Names {
    groups: "itemCategories",
    item_id: "itemId",
    size_id: "sizeId",
    group_id: "itemGroupId",
    modifier_id: "itemId",
};

const V3_NAMES: Names = Names {
    groups: "itemGroups",
    item_id: "id",
    size_id: "id",
    group_id: "id",
    modifier_id: "id",
};

/// An item's place in the answer; paths are only formatted when something is wrong.
struct Location<'n> {
    names: &'n Names,
    group: usize,
    item: usize,
}

impl<'n> Location<'n> {
    fn new(names: &'n Names, group: usize, item: usize) -> Self {
        Location { names, group, item }
    }

    fn item(&self) -> String {
        format!("{}[{}].items[{}]", self.names.groups, self.group, self.item)
    }
}

struct ItemView<'a> {
    id: Option<&'a str>,
    sku: Option<&'a str>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    hidden: bool,
    sizes: Vec<SizeView<'a>>,
}

struct SizeView<'a> {
    id: Option<&'a str>,
    sku: Option<&'a str>,
    name: Option<&'a str>,
    default: bool,
    hidden: bool,
    prices: &'a [MenuPrice],
    modifier_groups: Vec<ModifierGroupView<'a>>,
}

struct ModifierGroupView<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    hidden: bool,
    restrictions: Option<&'a ModifierRestrictions>,
    items: Vec<ModifierView<'a>>,
}

struct ModifierView<'a> {
    id: Option<&'a str>,
    sku: Option<&'a str>,
    name: Option<&'a str>,
    hidden: bool,
    prices: &'a [MenuPrice],
}

impl<'a> ItemView<'a> {
    fn from_v2(item: &'a MenuItemV2, group_hidden: bool) -> Self {
        ItemView {
            id: item.item_id.as_deref(),
            sku: item.sku.as_deref(),
            name: item.name.as_deref(),
            description: item.description.as_deref(),
            hidden: item.is_hidden || group_hidden,
            sizes: item
                .item_sizes
                .iter()
                .map(|size| SizeView {
                    id: size.size_id.as_deref(),
                    sku: size.sku.as_deref(),
                    name: size.size_name.as_deref(),
                    default: size.is_default,
                    hidden: size.is_hidden,
                    prices: &size.prices,
                    modifier_groups: size
                        .item_modifier_groups
                        .iter()
                        .map(|group| ModifierGroupView {
                            id: group.item_group_id.as_deref(),
                            name: group.name.as_deref(),
                            hidden: group.is_hidden,
                            restrictions: group.restrictions.as_ref(),
                            items: group
                                .items
                                .iter()
                                .map(|item| ModifierView {
                                    id: item.item_id.as_deref(),
                                    sku: item.sku.as_deref(),
                                    name: item.name.as_deref(),
                                    hidden: item.is_hidden,
                                    prices: &item.prices,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn from_v3(item: &'a MenuItemV3, group_hidden: bool) -> Self {
        ItemView {
            id: item.id.as_deref(),
            sku: item.sku.as_deref(),
            name: item.name.as_deref(),
            description: item.description.as_deref(),
            hidden: item.is_hidden || group_hidden,
            sizes: item
                .item_sizes
                .iter()
                .map(|size| SizeView {
                    id: size.id.as_deref(),
                    sku: size.sku.as_deref(),
                    name: size.size_name.as_deref(),
                    default: size.is_default,
                    hidden: size.is_hidden,
                    prices: &size.prices,
                    modifier_groups: size
                        .item_modifier_groups
                        .iter()
                        .map(|group| ModifierGroupView {
                            id: group.id.as_deref(),
                            name: group.name.as_deref(),
                            hidden: group.is_hidden,
                            restrictions: group.restrictions.as_ref(),
                            items: group
                                .items
                                .iter()
                                .map(|item| ModifierView {
                                    id: item.id.as_deref(),
                                    sku: item.sku.as_deref(),
                                    name: item.name.as_deref(),
                                    hidden: item.is_hidden,
                                    prices: &item.prices,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn draft_product(
    item: ItemView<'_>,
    group_iiko_id: Option<&str>,
    target: &BuildTarget,
    at: &Location<'_>,
) -> Result<DraftProduct, MenuError> {
    let names = at.names;
    let iiko_id = parse_uuid(item.id, || format!("{}.{}", at.item(), names.item_id))?;
    let sizes = item
        .sizes
        .iter()
        .enumerate()
        .map(|(s, size)| {
            Ok(DraftSize {
                iiko_id: parse_optional_uuid(size.id, || {
                    format!("{}.itemSizes[{s}].{}", at.item(), names.size_id)
                })?,
                article: size.sku.map(str::to_string),
                name: size.name.map(str::to_string),
                default: size.default,
                hidden: size.hidden,
                price: MenuPrice::for_organization(size.prices, target.organization_id),
            })
        })
        .collect::<Result<Vec<_>, MenuError>>()?;
    // The catalog keeps one set of modifier groups per product, as the site shows them: the
    // default size's (iiko repeats the same groups in every size).
    let default_size = item
        .sizes
        .iter()
        .position(|size| size.default)
        .or((!item.sizes.is_empty()).then_some(0));
    let modifier_groups = match default_size {
        None => Vec::new(),
        Some(s) => item.sizes[s]
            .modifier_groups
            .iter()
            .enumerate()
            .map(|(m, group)| {
                let at = || format!("{}.itemSizes[{s}].itemModifierGroups[{m}]", at.item());
                draft_modifier_group(group, target.organization_id, names, at)
            })
            .collect::<Result<Vec<_>, MenuError>>()?,
    };
    Ok(DraftProduct {
        iiko_id,
        article: item.sku.map(str::to_string),
        name: item.name.unwrap_or_default().to_string(),
        description: item.description.map(str::to_string),
        group_iiko_id: group_iiko_id.map(str::to_string),
        hidden: item.hidden,
        sizes,
        modifier_groups,
    })
}

fn draft_modifier_group(
    group: &ModifierGroupView<'_>,
    organization: Uuid,
    names: &Names,
    at: impl Fn() -> String,
) -> Result<DraftModifierGroup, MenuError> {
    let restrictions = group.restrictions.cloned().unwrap_or_default();
    let min = quantity(restrictions.min_quantity, || {
        format!("{}.restrictions.minQuantity", at())
    })?;
    let items = group
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(DraftModifier {
                iiko_id: parse_uuid(item.id, || {
                    format!("{}.items[{i}].{}", at(), names.modifier_id)
                })?,
                article: item.sku.map(str::to_string),
                name: item.name.unwrap_or_default().to_string(),
                hidden: item.hidden,
                price: MenuPrice::for_organization(item.prices, organization),
            })
        })
        .collect::<Result<Vec<_>, MenuError>>()?;
    Ok(DraftModifierGroup {
        iiko_id: parse_optional_uuid(group.id, || format!("{}.{}", at(), names.group_id))?,
        name: group.name.unwrap_or_default().to_string(),
        min,
        max: quantity(restrictions.max_quantity, || {
            format!("{}.restrictions.maxQuantity", at())
        })?,
        required: min > 0,
        free_quantity: quantity(restrictions.free_quantity, || {
            format!("{}.restrictions.freeQuantity", at())
        })?,
        hidden: group.hidden,
        items,
    })
}
