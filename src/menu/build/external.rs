//! External menus from `/api/2/menu/by_id` in formats V2, V3 and V4. The formats differ in field
//! names (`itemCategories`/`itemGroups`, `itemId`/`id`, `sizeId`/`id`, `itemGroupId`/`id`) and in
//! V4's combos; both shapes are read through the same views so one set of rules applies.
use uuid::Uuid;

use super::{
    BuildTarget, Built, Draft, DraftGroup, DraftModifier, DraftModifierGroup, DraftProduct,
    DraftSize, malformed, parse_optional_uuid, parse_uuid, quantity,
};
use crate::iiko::types::menu::{
    ExternalMenu, ExternalMenuV2, ExternalMenuV3, MenuGroupEntry, MenuItemV2, MenuItemV3,
    MenuPrice, ModifierGroupV2, ModifierGroupV3, ModifierRestrictions,
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
            check_format_version(menu.format_version, &[2], "itemCategories (V2)")?;
            build_v2(menu, target)
        }
        ExternalMenu::V3(menu) => {
            check_format_version(menu.format_version, &[2, 3], "itemGroups (V3/V4)")?;
            build_grouped(menu, MenuFormat::ExternalV3, target)
        }
        ExternalMenu::V4(menu) => build_grouped(menu, MenuFormat::ExternalV4, target),
    }
}

/// `formatVersion` must be one this bridge reads and fit the body's shape.
fn check_format_version(
    version: Option<i32>,
    shape_versions: &[i32],
    shape: &str,
) -> Result<(), MenuError> {
    match version {
        Some(version) if !(2..=4).contains(&version) => {
            Err(MenuError::UnknownFormatVersion(version))
        }
        Some(version) if !shape_versions.contains(&version) => Err(malformed(
            || "formatVersion".to_string(),
            format!("{version} on a body with {shape}"),
        )),
        _ => Ok(()),
    }
}

/// V2: `itemCategories`.
fn build_v2(menu: &ExternalMenuV2, target: &BuildTarget) -> Result<Built, MenuError> {
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
    let format = MenuFormat::ExternalV2;
    Ok(integrity::finalize(draft, target, format, menu.revision))
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
    modifier_groups: ModifierGroups<'a>,
}

/// A size's modifier groups, read only for the size the catalog takes them from.
#[derive(Clone, Copy)]
enum ModifierGroups<'a> {
    V2(&'a [ModifierGroupV2]),
    V3(&'a [ModifierGroupV3]),
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
                    modifier_groups: ModifierGroups::V2(&size.item_modifier_groups),
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
                    modifier_groups: ModifierGroups::V3(&size.item_modifier_groups),
                })
                .collect(),
        }
    }
}

impl<'a> ModifierGroups<'a> {
    fn views(self) -> Vec<ModifierGroupView<'a>> {
        match self {
            ModifierGroups::V2(groups) => groups
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
            ModifierGroups::V3(groups) => groups
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
            .views()
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;
    use serde_json::{Value, json};

    use super::*;
    use crate::menu::Finding;

    const ORG: &str = "7bc05553-4b68-44e8-b7bc-37be63c6d9e9";
    const OTHER_ORG: &str = "7bc05553-4b68-44e8-b7bc-37be63c6d9ea";
    const PIZZA: &str = "00000000-0000-0000-0000-000000000101";
    const SMALL: &str = "00000000-0000-0000-0000-000000000201";
    const LARGE: &str = "00000000-0000-0000-0000-000000000202";
    const DOUGH: &str = "00000000-0000-0000-0000-000000000301";
    const THIN: &str = "00000000-0000-0000-0000-000000000401";
    const COLA: &str = "00000000-0000-0000-0000-000000000102";

    fn target(organization: &str) -> BuildTarget {
        BuildTarget {
            branch: "lenina".into(),
            organization_id: organization.parse().unwrap(),
            synced_at: Utc::now(),
        }
    }

    fn prices(here: Value, there: Value) -> Value {
        json!([{"organizations": [ORG], "price": here, "taxCategoryId": null},
               {"organizations": [OTHER_ORG], "price": there, "taxCategoryId": null}])
    }

    /// A V2 menu shaped like the schema: a pizza in two sizes with their own articles and a
    /// dough group, and a drink with one default size sold only in `ORG`.
    fn v2_menu() -> Value {
        let dough = json!([{"itemGroupId": DOUGH, "sku": "MG-DOUGH", "name": "Тесто", "isHidden": false,
            "restrictions": {"minQuantity": 1, "maxQuantity": 1, "freeQuantity": 1, "byDefault": 0},
            "items": [{"itemId": THIN, "sku": "MG-DOUGH-01", "name": "Тонкое", "isHidden": false,
                "restrictions": [{"minQuantity": 0, "maxQuantity": 1}], "prices": prices(json!(0), json!(0))}]}]);
        json!({"id": 4821, "name": "Сайт", "formatVersion": 2, "revision": 17, "comboCategories": [],
            "itemCategories": [{"id": "c1", "iikoGroupId": "00000000-0000-0000-0000-000000000501", "name": "Пицца",
              "isHidden": false, "items": [
                {"itemId": PIZZA, "sku": "PZ-1", "name": "Маргарита", "description": "Томаты, моцарелла",
                 "orderItemType": "Product", "modifierSchemaId": null, "taxCategory": [], "isHidden": false,
                 "itemSizes": [
                    {"sizeId": SMALL, "sku": "PZ-1-25", "sizeName": "25 см", "isDefault": false,
                     "nutritionPerHundredGrams": [], "prices": prices(json!(450), json!(470)),
                     "itemModifierGroups": dough},
                    {"sizeId": LARGE, "sku": "PZ-1-30", "sizeName": "30 см", "isDefault": false,
                     "nutritionPerHundredGrams": [], "prices": prices(json!(600.5), json!(620)),
                     "itemModifierGroups": dough}]},
                {"itemId": COLA, "sku": "DR-1", "name": "Кола", "orderItemType": "Product",
                 "modifierSchemaId": null, "taxCategory": [],
                 "itemSizes": [{"sizeId": null, "sku": "DR-1", "sizeName": null, "isDefault": true,
                     "nutritionPerHundredGrams": [], "prices": prices(json!(120), Value::Null),
                     "itemModifierGroups": []}]}]}]})
    }

    fn build(menu: Value, organization: &str) -> Result<Built, MenuError> {
        let menu: ExternalMenu = serde_json::from_value(menu).unwrap();
        build_from_external_menu(&menu, &target(organization))
    }

    #[test]
    fn sizes_keep_their_own_articles_and_a_single_size_goes_by_the_product_article() {
        let built = build(v2_menu(), ORG).unwrap();
        assert_eq!(built.catalog.format, MenuFormat::ExternalV2);
        assert_eq!(built.catalog.iiko_revision, Some(17));
        let pizza = built.catalog.product("PZ-1").unwrap();
        let articles: Vec<_> = pizza.sizes.iter().map(|s| s.article.as_deref()).collect();
        assert_eq!(articles, [Some("PZ-1-25"), Some("PZ-1-30")]);
        assert_eq!(pizza.sizes[1].iiko_id, Some(LARGE.parse().unwrap()));
        assert_eq!(pizza.sizes[1].price, dec!(600.5));
        assert!(
            pizza.sizes[0].default,
            "the first size stands in when iiko marks none"
        );
        assert_eq!(
            pizza.size(Some("30 см")).unwrap().article.as_deref(),
            Some("PZ-1-30")
        );
        let (group, dough) = pizza.modifier("MG-DOUGH-01").unwrap();
        assert_eq!(
            (group.min, group.max, group.required, group.free_quantity),
            (1, 1, true, 1)
        );
        assert_eq!(group.iiko_id, Some(DOUGH.parse().unwrap()));
        assert_eq!(dough.iiko_id, THIN.parse::<Uuid>().unwrap());

        let cola = built.catalog.product("DR-1").unwrap();
        assert_eq!(cola.sizes.len(), 1);
        assert_eq!(
            (cola.sizes[0].article.as_deref(), cola.sizes[0].iiko_id),
            (None, None)
        );
        assert!(cola.sizes[0].default);
        assert_eq!(cola.group, pizza.group);
        assert_eq!(built.catalog.groups[0].name, "Пицца");
        assert!(!built.report.has_problems(), "{}", built.report.summary());
    }

    #[test]
    fn prices_are_those_of_the_branch_organization_and_null_means_not_for_sale() {
        let here = build(v2_menu(), ORG).unwrap();
        assert_eq!(
            here.catalog.product("PZ-1").unwrap().sizes[0].price,
            dec!(450)
        );
        let there = build(v2_menu(), OTHER_ORG).unwrap();
        assert_eq!(
            there.catalog.product("PZ-1").unwrap().sizes[0].price,
            dec!(470)
        );
        assert!(there.catalog.product("DR-1").is_none());
        assert!(matches!(&there.report.findings[..],
            [Finding::NotForSale { article: Some(article), .. }] if article == "DR-1"));
    }

    #[test]
    fn hidden_products_stay_flagged_and_hidden_sizes_are_left_out() {
        let mut menu = v2_menu();
        menu["itemCategories"][0]["items"][1]["isHidden"] = json!(true);
        menu["itemCategories"][0]["items"][0]["itemSizes"][1]["isHidden"] = json!(true);
        let built = build(menu, ORG).unwrap();
        assert!(built.catalog.product("DR-1").unwrap().hidden);
        assert_eq!(built.catalog.product("PZ-1").unwrap().sizes.len(), 1);
        assert_eq!(built.report.findings.len(), 2);
        assert!(!built.report.has_problems());
    }

    #[test]
    fn the_same_menu_in_v3_and_v4_shapes_gives_the_same_catalog() {
        let v2 = build(v2_menu(), ORG).unwrap().catalog;
        // The V3 shape: `itemGroups`, and `id` where V2 says `itemId`, `sizeId`, `itemGroupId`.
        let text = serde_json::to_string(&v2_menu()).unwrap();
        let v3_text = text
            .replace("itemCategories", "itemGroups")
            .replace("\"itemId\"", "\"id\"")
            .replace("\"sizeId\"", "\"id\"")
            .replace("\"itemGroupId\"", "\"id\"");
        let mut v3: Value = serde_json::from_str(&v3_text).unwrap();
        v3["formatVersion"] = json!(3);
        let from_v3 = build(v3.clone(), ORG).unwrap().catalog;
        assert_eq!(from_v3.format, MenuFormat::ExternalV3);
        assert_eq!(from_v3.products, v2.products);

        v3["formatVersion"] = json!(4);
        v3["itemGroups"][0]["items"]
            .as_array_mut()
            .unwrap()
            .push(json!(
            {"id": "00000000-0000-0000-0000-000000000901", "sku": "CB-1", "name": "Обед",
             "type": "COMBO", "priceStrategy": "FIXED", "sizes": [], "groups": []}));
        let from_v4 = build(v3, ORG).unwrap().catalog;
        assert_eq!(from_v4.format, MenuFormat::ExternalV4);
        assert_eq!(from_v4.products, v2.products, "combos are not products");
    }

    #[test]
    fn an_unknown_or_contradictory_format_version_is_an_error() {
        let mut menu = v2_menu();
        menu["formatVersion"] = json!(3);
        let error = build(menu, ORG).unwrap_err().to_string();
        assert!(
            error.ends_with("formatVersion: 3 on a body with itemCategories (V2)"),
            "{error}"
        );
        let text = serde_json::to_string(&v2_menu())
            .unwrap()
            .replace("itemCategories", "itemGroups");
        let mut menu: Value = serde_json::from_str(&text).unwrap();
        menu["formatVersion"] = json!(7);
        let error = build(menu, ORG).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown external menu formatVersion 7 (this bridge reads 2, 3 and 4)"
        );
    }

    #[test]
    fn a_null_or_broken_id_is_an_error_that_names_its_place() {
        let mut menu = v2_menu();
        menu["itemCategories"][0]["items"][1]["itemId"] = Value::Null;
        let error = build(menu, ORG).unwrap_err().to_string();
        assert!(
            error.contains("itemCategories[0].items[1].itemId"),
            "{error}"
        );

        let mut menu = v2_menu();
        menu["itemCategories"][0]["items"][0]["itemSizes"][0]["sizeId"] = json!("25cm");
        let error = build(menu, ORG).unwrap_err().to_string();
        assert!(
            error.contains("itemCategories[0].items[0].itemSizes[0].sizeId"),
            "{error}"
        );
        assert!(error.contains("\"25cm\" is not a UUID"), "{error}");

        let mut menu = v2_menu();
        menu["itemCategories"][0]["items"][0]["itemSizes"][0]["itemModifierGroups"][0]["restrictions"]
            ["minQuantity"] = json!(-1);
        let error = build(menu, ORG).unwrap_err().to_string();
        assert!(
            error.contains("itemModifierGroups[0].restrictions.minQuantity: negative quantity -1"),
            "{error}"
        );
    }
}
