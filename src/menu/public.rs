//! What the site sees of a catalog (`GET /api/v1/catalog`, CONTRACT §1 "Catalog"): articles,
//! names and prices, never iiko ids.
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::catalog::{Catalog, Group, Modifier, ModifierGroup, Product, Size};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicCatalog<'a> {
    pub branch: &'a str,
    /// The stored catalog version (the store numbers them).
    pub revision: i64,
    pub synced_at: DateTime<Utc>,
    pub groups: Vec<PublicGroup<'a>>,
    pub products: Vec<PublicProduct<'a>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicGroup<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicProduct<'a> {
    pub article: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub hidden: bool,
    pub available: bool,
    pub sizes: Vec<PublicSize<'a>>,
    pub modifier_groups: Vec<PublicModifierGroup<'a>>,
}

/// `available` is an addition to the contract: a stop list can stop one size of a product.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicSize<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub price: Decimal,
    pub default: bool,
    pub available: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicModifierGroup<'a> {
    pub name: &'a str,
    pub min: u32,
    pub max: u32,
    pub required: bool,
    pub items: Vec<PublicModifier<'a>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicModifier<'a> {
    pub article: &'a str,
    pub name: &'a str,
    pub price: Decimal,
}

impl Catalog {
    /// The site's view of this catalog, stored as version `revision`.
    pub fn public_view(&self, revision: i64) -> PublicCatalog<'_> {
        PublicCatalog {
            branch: &self.branch,
            revision,
            synced_at: self.synced_at,
            groups: self.groups.iter().map(public_group).collect(),
            products: self.products.iter().map(public_product).collect(),
        }
    }
}

fn public_group(group: &Group) -> PublicGroup<'_> {
    PublicGroup {
        id: &group.id,
        name: &group.name,
        parent: group.parent.as_deref(),
    }
}

fn public_product(product: &Product) -> PublicProduct<'_> {
    PublicProduct {
        article: &product.article,
        name: &product.name,
        group: product.group.as_deref(),
        description: product.description.as_deref(),
        hidden: product.hidden,
        available: product.available,
        sizes: product.sizes.iter().map(public_size).collect(),
        modifier_groups: product
            .modifier_groups
            .iter()
            .map(public_modifier_group)
            .collect(),
    }
}

fn public_size(size: &Size) -> PublicSize<'_> {
    PublicSize {
        article: size.article.as_deref(),
        name: size.name.as_deref(),
        price: size.price,
        default: size.default,
        available: size.available,
    }
}

fn public_modifier_group(group: &ModifierGroup) -> PublicModifierGroup<'_> {
    PublicModifierGroup {
        name: &group.name,
        min: group.min,
        max: group.max,
        required: group.required,
        items: group.items.iter().map(public_modifier).collect(),
    }
}

fn public_modifier(modifier: &Modifier) -> PublicModifier<'_> {
    PublicModifier {
        article: &modifier.article,
        name: &modifier.name,
        price: modifier.price,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::menu::sample;

    #[test]
    fn the_public_view_follows_the_contract_and_holds_no_iiko_ids() {
        let catalog = sample::catalog();
        let view = serde_json::to_value(catalog.public_view(5)).unwrap();
        assert_eq!(
            view,
            json!({
                "branch": "lenina", "revision": 5, "synced_at": "2026-11-22T07:00:00Z",
                "groups": [{"id": "g1", "name": "Пицца"}],
                "products": [
                    {"article": "PZ-1", "name": "Маргарита", "group": "g1", "description": "Томаты, моцарелла",
                     "hidden": false, "available": true,
                     "sizes": [
                        {"article": "PZ-1-25", "name": "25 см", "price": 450.0, "default": true, "available": true},
                        {"article": "PZ-1-30", "name": "30 см", "price": 600.0, "default": false, "available": true}],
                     "modifier_groups": [{"name": "Добавки", "min": 0, "max": 3, "required": false,
                        "items": [{"article": "M-1", "name": "Сыр", "price": 79.0}]}]},
                    {"article": "DR-1", "name": "Кола", "hidden": false, "available": true,
                     "sizes": [{"price": 120.0, "default": true, "available": true}], "modifier_groups": []}]
            })
        );
        let text = view.to_string();
        for product in &catalog.products {
            assert!(!text.contains(&product.iiko_id.to_string()));
        }
        assert!(!text.contains(&catalog.groups[0].iiko_id));
    }

    #[test]
    fn the_stored_catalog_round_trips_through_json() {
        let mut catalog = sample::catalog();
        catalog.products[0].sizes[0].price = rust_decimal_macros::dec!(79.99);
        catalog.products[0].sizes[1].price = rust_decimal_macros::dec!(123456.01);
        let text = serde_json::to_string(&catalog).unwrap();
        assert_eq!(
            serde_json::from_str::<crate::menu::Catalog>(&text).unwrap(),
            catalog
        );
    }
}
