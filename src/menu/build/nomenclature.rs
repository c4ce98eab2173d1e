//! `/api/1/nomenclature`: the RMS catalogue with base prices. Prices are in
//! `sizePrices[].price.currentPrice` (for sale only with `isIncludedInMenu`); group modifiers
//! name a group (`isGroupModifier`) and child products whose codes and prices are in `products[]`.
use std::collections::HashMap;

use uuid::Uuid;

use super::{
    BuildTarget, Draft, DraftGroup, DraftModifier, DraftModifierGroup, DraftProduct, DraftSize,
    Fetched, malformed, quantity,
};
use crate::iiko::types::menu::{
    NomenclatureResponse, Product, ProductGroup, SimpleModifier, Size, SizePrice,
};
use crate::menu::MenuError;
use crate::menu::catalog::MenuFormat;
use crate::menu::integrity;

struct Dictionaries<'a> {
    groups: HashMap<Uuid, &'a ProductGroup>,
    products: HashMap<Uuid, &'a Product>,
    sizes: HashMap<Uuid, &'a Size>,
}

/// Builds a branch's catalog from a nomenclature answer to a request with `start_revision`.
/// An answer still at that revision comes with empty arrays and means "unchanged", not "empty".
pub fn build_from_nomenclature(
    response: &NomenclatureResponse,
    start_revision: Option<i64>,
    target: &BuildTarget,
) -> Result<Fetched, MenuError> {
    if start_revision == Some(response.revision) {
        return Ok(Fetched::Unchanged {
            revision: response.revision,
        });
    }
    let dictionaries = Dictionaries {
        groups: response.groups.iter().map(|g| (g.id, g)).collect(),
        products: response.products.iter().map(|p| (p.id, p)).collect(),
        sizes: response.sizes.iter().map(|s| (s.id, s)).collect(),
    };
    let groups = response
        .groups
        .iter()
        .filter(|group| !group.is_deleted && !group.is_group_modifier)
        .map(|group| DraftGroup {
            iiko_id: group.id.to_string(),
            name: group.name.clone(),
            parent_iiko_id: group.parent_group.map(|parent| parent.to_string()),
        })
        .collect();
    let mut draft = Draft {
        groups,
        products: Vec::with_capacity(response.products.len()),
    };
    for (p, product) in response.products.iter().enumerate() {
        let is_modifier = product
            .product_type
            .as_deref()
            .is_some_and(|kind| kind.eq_ignore_ascii_case("modifier"));
        if product.is_deleted || is_modifier {
            continue;
        }
        let at = || format!("products[{p}]");
        draft
            .products
            .push(draft_product(product, &dictionaries, at)?);
    }
    Ok(Fetched::Built(Box::new(integrity::finalize(
        draft,
        target,
        MenuFormat::Nomenclature,
        Some(response.revision),
    ))))
}

fn draft_product(
    product: &Product,
    dictionaries: &Dictionaries<'_>,
    at: impl Fn() -> String,
) -> Result<DraftProduct, MenuError> {
    let sizes = product
        .size_prices
        .iter()
        .map(|entry| {
            let size = entry.size_id.and_then(|id| dictionaries.sizes.get(&id));
            DraftSize {
                iiko_id: entry.size_id,
                // Sizes have no article of their own in the nomenclature.
                article: None,
                name: size.and_then(|size| size.name.clone()),
                default: entry.size_id.is_none()
                    || size.is_some_and(|size| size.is_default == Some(true)),
                hidden: false,
                price: price_for_sale(entry),
            }
        })
        .collect();
    let mut modifier_groups = Vec::new();
    for (g, group) in product.group_modifiers.iter().enumerate() {
        let at = || format!("{}.groupModifiers[{g}]", at());
        let name = dictionaries
            .groups
            .get(&group.id)
            .map(|known| known.name.clone())
            .ok_or_else(|| {
                malformed(
                    || format!("{}.id", at()),
                    format!("{} is not in groups[]", group.id),
                )
            })?;
        let mut items = Vec::new();
        for (c, child) in group.child_modifiers.iter().enumerate() {
            let at = || format!("{}.childModifiers[{c}]", at());
            if let Some(item) = draft_modifier(child, dictionaries, at)? {
                items.push(item);
            }
        }
        let min = quantity(Some(group.min_amount), || format!("{}.minAmount", at()))?;
        modifier_groups.push(DraftModifierGroup {
            iiko_id: Some(group.id),
            name,
            min,
            max: quantity(Some(group.max_amount), || format!("{}.maxAmount", at()))?,
            required: group.required.unwrap_or(min > 0),
            free_quantity: quantity(group.free_of_charge_amount, || {
                format!("{}.freeOfChargeAmount", at())
            })?,
            hidden: false,
            items,
        });
    }
    // A single modifier has no group in iiko; the catalog shows it as a group of one.
    for (m, single) in product.modifiers.iter().enumerate() {
        let at = || format!("{}.modifiers[{m}]", at());
        let Some(item) = draft_modifier(single, dictionaries, at)? else {
            continue;
        };
        let min = quantity(Some(single.min_amount), || format!("{}.minAmount", at()))?;
        modifier_groups.push(DraftModifierGroup {
            iiko_id: None,
            name: item.name.clone(),
            min,
            max: quantity(Some(single.max_amount), || format!("{}.maxAmount", at()))?,
            required: single.required.unwrap_or(min > 0),
            free_quantity: quantity(single.free_of_charge_amount, || {
                format!("{}.freeOfChargeAmount", at())
            })?,
            hidden: false,
            items: vec![item],
        });
    }
    Ok(DraftProduct {
        iiko_id: product.id,
        article: product.code.clone(),
        name: product.name.clone(),
        description: product.description.clone(),
        group_iiko_id: product.parent_group.map(|group| group.to_string()),
        hidden: false,
        sizes,
        modifier_groups,
    })
}

/// The modifier product a group or single modifier refers to; `None` when it was deleted.
fn draft_modifier(
    modifier: &SimpleModifier,
    dictionaries: &Dictionaries<'_>,
    at: impl Fn() -> String,
) -> Result<Option<DraftModifier>, MenuError> {
    let product = dictionaries.products.get(&modifier.id).ok_or_else(|| {
        malformed(
            || format!("{}.id", at()),
            format!("{} is not in products[]", modifier.id),
        )
    })?;
    if product.is_deleted {
        return Ok(None);
    }
    let price = product
        .size_prices
        .iter()
        .find(|entry| entry.size_id.is_none())
        .or(product.size_prices.first())
        .and_then(price_for_sale);
    Ok(Some(DraftModifier {
        iiko_id: product.id,
        article: product.code.clone(),
        name: product.name.clone(),
        hidden: false,
        price,
    }))
}

fn price_for_sale(entry: &SizePrice) -> Option<rust_decimal::Decimal> {
    entry
        .price
        .is_included_in_menu
        .then_some(entry.price.current_price)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;
    use serde_json::{Value, json};

    use super::*;
    use crate::menu::{Built, Finding};

    const PIZZAS: &str = "00000000-0000-0000-0000-000000000501";
    const EXTRAS: &str = "00000000-0000-0000-0000-000000000301";
    const PIZZA: &str = "00000000-0000-0000-0000-000000000101";
    const SMALL: &str = "00000000-0000-0000-0000-000000000201";
    const LARGE: &str = "00000000-0000-0000-0000-000000000202";
    const CHEESE: &str = "00000000-0000-0000-0000-000000000401";
    const BACON: &str = "00000000-0000-0000-0000-000000000402";
    const SAUCE: &str = "00000000-0000-0000-0000-000000000403";

    fn target() -> BuildTarget {
        BuildTarget {
            branch: "lenina".into(),
            organization_id: Uuid::nil(),
            synced_at: Utc::now(),
        }
    }

    fn price(size: Option<&str>, price: Value, included: bool) -> Value {
        json!({"sizeId": size, "price": {"currentPrice": price, "isIncludedInMenu": included,
            "nextPrice": null, "nextIncludedInMenu": false, "nextDatePrice": null}})
    }

    fn product(id: &str, code: &str, name: &str, kind: &str, prices: Value) -> Value {
        json!({"id": id, "code": code, "name": name, "type": kind, "orderItemType": "Product",
            "parentGroup": null, "isDeleted": false, "splittable": false, "useBalanceForSell": false,
            "canSetOpenPrice": false, "imageLinks": [], "sizePrices": prices,
            "modifiers": [], "groupModifiers": []})
    }

    /// A pizza in two sizes with a group of extras (cheese on sale, bacon not) and a single
    /// sauce modifier; a deleted product reusing the pizza's code.
    fn nomenclature() -> Value {
        let mut pizza = product(
            PIZZA,
            "PZ-1",
            "Маргарита",
            "Dish",
            json!([
                price(Some(SMALL), json!(450), true),
                price(Some(LARGE), json!(600), true)
            ]),
        );
        pizza["parentGroup"] = json!(PIZZAS);
        pizza["description"] = json!("Томаты, моцарелла");
        pizza["groupModifiers"] = json!([{"id": EXTRAS, "minAmount": 0, "maxAmount": 2, "required": false,
            "freeOfChargeAmount": 1, "childModifiers": [
                {"id": CHEESE, "minAmount": 0, "maxAmount": 1}, {"id": BACON, "minAmount": 0, "maxAmount": 1}]}]);
        pizza["modifiers"] = json!([{"id": SAUCE, "minAmount": 0, "maxAmount": 2}]);
        let mut deleted = product(
            "00000000-0000-0000-0000-000000000109",
            "PZ-1",
            "Старая",
            "Dish",
            json!([price(None, json!(1), true)]),
        );
        deleted["isDeleted"] = json!(true);
        json!({"correlationId": "8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0", "revision": 42,
            "groups": [
                {"id": PIZZAS, "code": "PZ", "name": "Пицца", "parentGroup": null, "isIncludedInMenu": true,
                 "isGroupModifier": false, "isDeleted": false, "imageLinks": []},
                {"id": EXTRAS, "name": "Добавки", "parentGroup": null, "isIncludedInMenu": false,
                 "isGroupModifier": true, "isDeleted": false, "imageLinks": []}],
            "productCategories": [],
            "products": [pizza, deleted,
                product(CHEESE, "M-1", "Сыр", "Modifier", json!([price(None, json!(79), true)])),
                product(BACON, "M-2", "Бекон", "modifier", json!([price(None, json!(89), false)])),
                product(SAUCE, "S-1", "Соус", "Modifier", json!([price(None, json!(0), true)])),
                product("00000000-0000-0000-0000-000000000102", "DR-1", "Кола", "Good",
                    json!([price(None, json!(120), false)]))],
            "sizes": [{"id": SMALL, "name": "25 см", "isDefault": false},
                      {"id": LARGE, "name": "30 см", "isDefault": true}]})
    }

    fn build(response: Value, start_revision: Option<i64>) -> Result<Fetched, MenuError> {
        let response: NomenclatureResponse = serde_json::from_value(response).unwrap();
        build_from_nomenclature(&response, start_revision, &target())
    }

    fn built(response: Value) -> Built {
        match build(response, None).unwrap() {
            Fetched::Built(built) => *built,
            Fetched::Unchanged { .. } => panic!("expected a catalog"),
        }
    }

    #[test]
    fn prices_sizes_and_group_modifiers_come_from_the_nomenclature_products() {
        let built = built(nomenclature());
        assert_eq!(built.catalog.format, MenuFormat::Nomenclature);
        assert_eq!(built.catalog.iiko_revision, Some(42));
        let articles: Vec<&str> = built
            .catalog
            .products
            .iter()
            .map(|p| p.article.as_str())
            .collect();
        assert_eq!(
            articles,
            ["PZ-1"],
            "modifiers, deleted and unsold products are not products"
        );
        let pizza = &built.catalog.products[0];
        assert_eq!(pizza.iiko_id, PIZZA.parse::<Uuid>().unwrap());
        assert_eq!(pizza.description.as_deref(), Some("Томаты, моцарелла"));
        assert_eq!(pizza.group.as_ref(), Some(&built.catalog.groups[0].id));
        assert_eq!(
            built.catalog.groups.len(),
            1,
            "modifier groups are not menu folders"
        );
        let sizes: Vec<_> = pizza
            .sizes
            .iter()
            .map(|s| (s.name.as_deref(), s.article.as_deref(), s.price, s.default))
            .collect();
        assert_eq!(
            sizes,
            [
                (Some("25 см"), None, dec!(450), false),
                (Some("30 см"), None, dec!(600), true)
            ]
        );
        assert_eq!(
            pizza.size(None).unwrap().iiko_id,
            Some(LARGE.parse().unwrap())
        );

        let extras = &pizza.modifier_groups[0];
        assert_eq!(
            (
                extras.name.as_str(),
                extras.min,
                extras.max,
                extras.required,
                extras.free_quantity
            ),
            ("Добавки", 0, 2, false, 1)
        );
        assert_eq!(extras.iiko_id, Some(EXTRAS.parse().unwrap()));
        let items: Vec<_> = extras
            .items
            .iter()
            .map(|i| (i.article.as_str(), i.price))
            .collect();
        assert_eq!(items, [("M-1", dec!(79))], "bacon is not in the menu");
        let sauce = &pizza.modifier_groups[1];
        assert_eq!(
            (sauce.name.as_str(), sauce.iiko_id, sauce.max),
            ("Соус", None, 2)
        );
        assert_eq!(sauce.items[0].price, dec!(0));
    }

    #[test]
    fn items_not_included_in_the_menu_are_noted_as_not_for_sale() {
        let built = built(nomenclature());
        let not_for_sale: Vec<&str> = built
            .report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::NotForSale {
                    article: Some(article),
                    ..
                } => Some(article.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(not_for_sale, ["M-2", "DR-1"]);
        assert!(!built.report.has_problems(), "{}", built.report.summary());
    }

    #[test]
    fn an_answer_at_the_start_revision_is_unchanged_not_an_empty_menu() {
        let empty = json!({"correlationId": "8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0", "revision": 42,
            "groups": [], "productCategories": [], "products": [], "sizes": []});
        assert_eq!(
            build(empty, Some(42)).unwrap(),
            Fetched::Unchanged { revision: 42 }
        );
        assert!(matches!(
            build(nomenclature(), Some(41)).unwrap(),
            Fetched::Built(_)
        ));
    }

    #[test]
    fn a_modifier_missing_from_products_is_an_error_that_names_its_place() {
        let mut response = nomenclature();
        response["products"].as_array_mut().unwrap().remove(2);
        let error = build(response, None).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "malformed iiko menu at products[0].groupModifiers[0].childModifiers[0].id: {CHEESE} is not in products[]"
            )
        );
    }

    #[test]
    fn a_group_modifier_of_an_unknown_group_is_an_error() {
        let mut response = nomenclature();
        response["groups"].as_array_mut().unwrap().remove(1);
        let error = build(response, None).unwrap_err().to_string();
        assert!(
            error.contains("products[0].groupModifiers[0].id"),
            "{error}"
        );
    }
}
