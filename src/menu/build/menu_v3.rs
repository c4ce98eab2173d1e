//! `/api/menu/v3/by_id`: one organization per answer, so prices are already this branch's.
//! Items refer to the `products` and `modifiers` dictionaries by id; articles live there and
//! modifier prices in `modifiers[].sizePrices`.
use std::collections::HashMap;

use uuid::Uuid;

use super::{
    BuildTarget, Built, Draft, DraftGroup, DraftModifier, DraftModifierGroup, DraftProduct,
    DraftSize, malformed, quantity,
};
use crate::iiko::types::menu::{
    MenuV3, MenuV3Item, MenuV3ItemType, MenuV3Modifier, MenuV3ModifierGroup, MenuV3Product,
};
use crate::menu::MenuError;
use crate::menu::catalog::MenuFormat;
use crate::menu::integrity;

struct Dictionaries<'a> {
    products: HashMap<Uuid, &'a MenuV3Product>,
    modifiers: HashMap<Uuid, &'a MenuV3Modifier>,
}

/// Builds a branch's catalog from a MenuV3 answer fetched for the target's organization.
pub fn build_from_menu_v3(menu: &MenuV3, target: &BuildTarget) -> Result<Built, MenuError> {
    let dictionaries = Dictionaries {
        products: menu.products.iter().map(|p| (p.id, p)).collect(),
        modifiers: menu.modifiers.iter().map(|m| (m.id, m)).collect(),
    };
    let mut draft = Draft::default();
    for (g, group) in menu.items_groups.iter().enumerate() {
        if let Some(id) = &group.id {
            draft.groups.push(DraftGroup {
                iiko_id: id.clone(),
                name: group.name.clone().unwrap_or_default(),
                parent_iiko_id: None,
            });
        }
        for (i, item) in group.items.iter().enumerate() {
            // Combos are not products; the catalog does not carry them.
            if item.item_type == Some(MenuV3ItemType::Combo) {
                continue;
            }
            let at = || format!("itemsGroups[{g}].items[{i}]");
            let mut product = draft_product(item, &dictionaries, at)?;
            product.group_iiko_id = group.id.clone();
            // A hidden group hides everything in it.
            product.hidden |= group.is_hidden.unwrap_or(false);
            draft.products.push(product);
        }
    }
    Ok(integrity::finalize(draft, target, MenuFormat::MenuV3, None))
}

fn draft_product(
    item: &MenuV3Item,
    dictionaries: &Dictionaries<'_>,
    at: impl Fn() -> String,
) -> Result<DraftProduct, MenuError> {
    let product_id = item.product_id.ok_or_else(|| {
        malformed(
            || format!("{}.productId", at()),
            "missing (null) on a product item",
        )
    })?;
    let product = dictionaries.products.get(&product_id).ok_or_else(|| {
        malformed(
            || format!("{}.productId", at()),
            format!("{product_id} is not in products[]"),
        )
    })?;
    let sizes: Vec<DraftSize> = item
        .size_prices
        .iter()
        .map(|size| DraftSize {
            iiko_id: size.size_id,
            article: size.sku.clone(),
            name: size.size_name.clone(),
            default: size.is_default.unwrap_or(false),
            hidden: size.is_hidden.unwrap_or(false),
            price: size.price,
        })
        .collect();
    let default_size = sizes
        .iter()
        .find(|size| size.default)
        .or(sizes.first())
        .and_then(|size| size.iiko_id);
    let modifier_groups = item
        .modifier_groups
        .iter()
        .enumerate()
        .map(|(m, group)| {
            let at = || format!("{}.modifierGroups[{m}]", at());
            draft_modifier_group(group, default_size, dictionaries, at)
        })
        .collect::<Result<Vec<_>, MenuError>>()?;
    Ok(DraftProduct {
        iiko_id: product_id,
        article: product.sku.clone(),
        name: item
            .name
            .clone()
            .or_else(|| product.name.clone())
            .unwrap_or_default(),
        description: item.description.clone().filter(|d| !d.trim().is_empty()),
        group_iiko_id: None,
        hidden: item.is_hidden.unwrap_or(false),
        sizes,
        modifier_groups,
    })
}

fn draft_modifier_group(
    group: &MenuV3ModifierGroup,
    product_size: Option<Uuid>,
    dictionaries: &Dictionaries<'_>,
    at: impl Fn() -> String,
) -> Result<DraftModifierGroup, MenuError> {
    let restrictions = group.restrictions.clone().unwrap_or_default();
    let min = quantity(restrictions.min_quantity, || {
        format!("{}.restrictions.minQuantity", at())
    })?;
    let items = group
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let modifier = dictionaries.modifiers.get(&item.id).ok_or_else(|| {
                malformed(
                    || format!("{}.items[{i}].id", at()),
                    format!("{} is not in modifiers[]", item.id),
                )
            })?;
            // A modifier may be priced per size of the product it is added to.
            let price = modifier
                .size_prices
                .iter()
                .find(|price| price.size_id.is_some() && price.size_id == product_size)
                .or_else(|| modifier.size_prices.iter().find(|p| p.size_id.is_none()))
                .or(modifier.size_prices.first())
                .and_then(|price| price.price);
            Ok(DraftModifier {
                iiko_id: item.id,
                article: modifier.sku.clone(),
                name: item
                    .name
                    .clone()
                    .or_else(|| modifier.name.clone())
                    .unwrap_or_default(),
                hidden: false,
                price,
            })
        })
        .collect::<Result<Vec<_>, MenuError>>()?;
    Ok(DraftModifierGroup {
        iiko_id: group.id,
        name: group.name.clone().unwrap_or_default(),
        min,
        max: quantity(restrictions.max_quantity, || {
            format!("{}.restrictions.maxQuantity", at())
        })?,
        required: min > 0,
        free_quantity: quantity(restrictions.free_quantity, || {
            format!("{}.restrictions.freeQuantity", at())
        })?,
        hidden: false,
        items,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;
    use serde_json::{Value, json};

    use super::*;

    const PIZZA: &str = "00000000-0000-0000-0000-000000000101";
    const SMALL: &str = "00000000-0000-0000-0000-000000000201";
    const LARGE: &str = "00000000-0000-0000-0000-000000000202";
    const EXTRAS: &str = "00000000-0000-0000-0000-000000000301";
    const CHEESE: &str = "00000000-0000-0000-0000-000000000401";

    fn target() -> BuildTarget {
        BuildTarget {
            branch: "lenina".into(),
            organization_id: Uuid::nil(),
            synced_at: Utc::now(),
        }
    }

    /// A pizza in two sizes whose cheese costs more on the large one, and a combo.
    fn menu() -> Value {
        json!({"id": "4821", "name": "Сайт",
            "products": [{"id": PIZZA, "sku": "PZ-1", "name": "Маргарита", "type": "DISH", "orderItemType": "Product"}],
            "modifiers": [{"id": CHEESE, "sku": "M-1", "name": "Сыр",
                "sizePrices": [{"sizeId": SMALL, "price": 79}, {"sizeId": LARGE, "price": 99}]}],
            "combos": [],
            "itemsGroups": [{"id": "g1", "name": "Пицца", "isHidden": false, "items": [
                {"productId": PIZZA, "name": "Маргарита", "itemType": "PRODUCT",
                 "sizePrices": [
                    {"sizeId": SMALL, "sizeName": "25 см", "sku": "PZ-1-25", "price": 450, "isDefault": false},
                    {"sizeId": LARGE, "sizeName": "30 см", "sku": "PZ-1-30", "price": 600, "isDefault": true}],
                 "modifierGroups": [{"id": EXTRAS, "name": "Добавки",
                    "restrictions": {"minQuantity": 0, "maxQuantity": 3, "freeQuantity": 0},
                    "items": [{"id": CHEESE}]}]},
                {"name": "Обед", "itemType": "COMBO", "comboId": "00000000-0000-0000-0000-000000000901"}]}]})
    }

    fn build(menu: Value) -> Result<Built, MenuError> {
        let menu: MenuV3 = serde_json::from_value(menu).unwrap();
        build_from_menu_v3(&menu, &target())
    }

    #[test]
    fn articles_come_from_the_dictionaries_and_modifier_prices_follow_the_default_size() {
        let built = build(menu()).unwrap();
        assert_eq!(built.catalog.format, MenuFormat::MenuV3);
        assert_eq!(built.catalog.products.len(), 1, "combos are not products");
        let pizza = &built.catalog.products[0];
        assert_eq!(pizza.article, "PZ-1");
        let sizes: Vec<_> = pizza
            .sizes
            .iter()
            .map(|s| (s.article.as_deref(), s.price, s.default))
            .collect();
        assert_eq!(
            sizes,
            [
                (Some("PZ-1-25"), dec!(450), false),
                (Some("PZ-1-30"), dec!(600), true)
            ]
        );
        let (group, cheese) = pizza.modifier("M-1").unwrap();
        assert_eq!(
            (group.iiko_id, group.max),
            (Some(EXTRAS.parse().unwrap()), 3)
        );
        assert_eq!((cheese.name.as_str(), cheese.price), ("Сыр", dec!(99)));
    }

    #[test]
    fn a_null_price_is_not_for_sale_and_a_hidden_group_hides_its_products() {
        let mut menu = menu();
        menu["itemsGroups"][0]["items"][0]["sizePrices"][0]["price"] = Value::Null;
        menu["itemsGroups"][0]["isHidden"] = json!(true);
        let built = build(menu).unwrap();
        let pizza = &built.catalog.products[0];
        assert!(pizza.hidden);
        assert_eq!(pizza.sizes.len(), 1);
        assert!(!built.report.has_problems());
    }

    #[test]
    fn references_to_missing_dictionary_entries_are_errors() {
        let mut missing_product = menu();
        missing_product["products"] = json!([]);
        let error = build(missing_product).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "malformed iiko menu at itemsGroups[0].items[0].productId: {PIZZA} is not in products[]"
            )
        );

        let mut no_product_id = menu();
        no_product_id["itemsGroups"][0]["items"][0]["productId"] = Value::Null;
        let error = build(no_product_id).unwrap_err().to_string();
        assert!(
            error.contains("itemsGroups[0].items[0].productId: missing"),
            "{error}"
        );

        let mut missing_modifier = menu();
        missing_modifier["modifiers"] = json!([]);
        let error = build(missing_modifier).unwrap_err().to_string();
        assert!(
            error.contains("itemsGroups[0].items[0].modifierGroups[0].items[0].id"),
            "{error}"
        );
    }
}
