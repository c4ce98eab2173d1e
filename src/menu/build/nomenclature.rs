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
