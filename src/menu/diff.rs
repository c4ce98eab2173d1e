//! What changed between two versions of a branch's catalog, by article: for the
//! `catalog.updated` event (counts) and for people (a readable summary).
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, Product, Size};

/// How many lines of each kind a summary shows before "... and N more".
const SUMMARY_LINES_PER_KIND: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogDiff {
    pub added: Vec<ProductRef>,
    pub removed: Vec<ProductRef>,
    pub renamed: Vec<Renamed>,
    pub price_changes: Vec<PriceChange>,
    pub availability_changes: Vec<AvailabilityChange>,
    /// Products in both versions that differ in anything (names, prices, sizes, modifiers,
    /// availability, iiko ids ...).
    pub changed: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductRef {
    pub article: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Renamed {
    pub article: String,
    pub old: String,
    pub new: String,
}

/// A price that changed: a product's size (`size` is the size's article or name; `None` for a
/// single size) or a modifier offered with the product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceChange {
    pub product: String,
    pub size: Option<String>,
    pub modifier: Option<String>,
    pub old: Decimal,
    pub new: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityChange {
    pub product: String,
    /// `None`: the product as a whole.
    pub size: Option<String>,
    pub available: bool,
}

/// The `data` of a `catalog.updated` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffCounts {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub renamed: usize,
    pub price_changes: usize,
    pub availability_changes: usize,
}

/// Compares two versions of one branch's catalog.
pub fn diff(old: &Catalog, new: &Catalog) -> CatalogDiff {
    let old_products: HashMap<&str, &Product> = old
        .products
        .iter()
        .map(|product| (product.article.as_str(), product))
        .collect();
    let new_articles: HashSet<&str> = new
        .products
        .iter()
        .map(|product| product.article.as_str())
        .collect();
    let mut diff = CatalogDiff::default();
    for product in &new.products {
        match old_products.get(product.article.as_str()) {
            None => diff.added.push(product_ref(product)),
            Some(before) => compare_product(before, product, &mut diff),
        }
    }
    diff.removed = old
        .products
        .iter()
        .filter(|product| !new_articles.contains(product.article.as_str()))
        .map(product_ref)
        .collect();
    diff
}

fn product_ref(product: &Product) -> ProductRef {
    ProductRef {
        article: product.article.clone(),
        name: product.name.clone(),
    }
}

/// How a site names a size: its article, else its name; `None` for a single unnamed size.
fn size_key(size: &Size) -> Option<&str> {
    size.article.as_deref().or(size.name.as_deref())
}

fn compare_product(old: &Product, new: &Product, diff: &mut CatalogDiff) {
    if old == new {
        return;
    }
    diff.changed += 1;
    let article = &new.article;
    if old.name != new.name {
        diff.renamed.push(Renamed {
            article: article.clone(),
            old: old.name.clone(),
            new: new.name.clone(),
        });
    }
    if old.available != new.available {
        diff.availability_changes.push(AvailabilityChange {
            product: article.clone(),
            size: None,
            available: new.available,
        });
    }
    for size in &new.sizes {
        let key = size_key(size);
        let Some(before) = old.sizes.iter().find(|before| size_key(before) == key) else {
            continue;
        };
        if before.price != size.price {
            diff.price_changes.push(PriceChange {
                product: article.clone(),
                size: key.map(str::to_string),
                modifier: None,
                old: before.price,
                new: size.price,
            });
        }
        // A size stopped with its whole product is already told by the product's change.
        if before.available != size.available && old.available == new.available {
            diff.availability_changes.push(AvailabilityChange {
                product: article.clone(),
                size: key.map(str::to_string),
                available: size.available,
            });
        }
    }
    let old_modifiers: HashMap<&str, Decimal> = old
        .modifier_groups
        .iter()
        .flat_map(|group| &group.items)
        .map(|item| (item.article.as_str(), item.price))
        .collect();
    for item in new.modifier_groups.iter().flat_map(|group| &group.items) {
        match old_modifiers.get(item.article.as_str()) {
            Some(&price) if price != item.price => diff.price_changes.push(PriceChange {
                product: article.clone(),
                size: None,
                modifier: Some(item.article.clone()),
                old: price,
                new: item.price,
            }),
            _ => {}
        }
    }
}

impl CatalogDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed == 0
    }

    pub fn counts(&self) -> DiffCounts {
        DiffCounts {
            added: self.added.len(),
            removed: self.removed.len(),
            changed: self.changed,
            renamed: self.renamed.len(),
            price_changes: self.price_changes.len(),
            availability_changes: self.availability_changes.len(),
        }
    }

    /// A few lines for people: the counts, then the changes (at most 20 of each kind).
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no changes".to_string();
        }
        let mut text = format!(
            "{} added, {} removed, {} changed ({} renamed, {} price changes, {} availability changes)",
            self.added.len(),
            self.removed.len(),
            self.changed,
            self.renamed.len(),
            self.price_changes.len(),
            self.availability_changes.len(),
        );
        section(&mut text, "added", &self.added, |p| {
            format!("{} {:?}", p.article, p.name)
        });
        section(&mut text, "removed", &self.removed, |p| {
            format!("{} {:?}", p.article, p.name)
        });
        section(&mut text, "renamed", &self.renamed, |r| {
            format!("{}: {:?} -> {:?}", r.article, r.old, r.new)
        });
        section(&mut text, "price", &self.price_changes, |c| {
            let mut item = c.product.clone();
            if let Some(size) = &c.size {
                let _ = write!(item, " ({size})");
            }
            if let Some(modifier) = &c.modifier {
                let _ = write!(item, " + {modifier}");
            }
            format!("{item}: {} -> {}", c.old, c.new)
        });
        section(&mut text, "availability", &self.availability_changes, |c| {
            let size = c
                .size
                .as_deref()
                .map_or(String::new(), |s| format!(" ({s})"));
            let state = if c.available { "available" } else { "stopped" };
            format!("{}{size}: {state}", c.product)
        });
        text
    }
}

fn section<T>(text: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    for item in items.iter().take(SUMMARY_LINES_PER_KIND) {
        let _ = write!(text, "\n{title}: {}", line(item));
    }
    if items.len() > SUMMARY_LINES_PER_KIND {
        let _ = write!(
            text,
            "\n{title}: ... and {} more",
            items.len() - SUMMARY_LINES_PER_KIND
        );
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::menu::sample;

    #[test]
    fn identical_catalogs_have_no_changes() {
        let diff = diff(&sample::catalog(), &sample::catalog());
        assert!(diff.is_empty());
        assert_eq!(diff.summary(), "no changes");
    }

    #[test]
    fn added_removed_and_renamed_products_are_told_apart() {
        let old = sample::catalog();
        let mut new = sample::catalog();
        let mut tea = new.products.remove(1);
        tea.article = "DR-2".into();
        tea.name = "Чай".into();
        new.products.push(tea);
        new.products[0].name = "Маргарита классическая".into();
        let diff = diff(&old, &new);
        assert_eq!(
            diff.added,
            [ProductRef {
                article: "DR-2".into(),
                name: "Чай".into()
            }]
        );
        assert_eq!(
            diff.removed,
            [ProductRef {
                article: "DR-1".into(),
                name: "Кола".into()
            }]
        );
        assert_eq!(
            diff.renamed,
            [Renamed {
                article: "PZ-1".into(),
                old: "Маргарита".into(),
                new: "Маргарита классическая".into()
            }]
        );
        assert_eq!(
            diff.counts(),
            DiffCounts {
                added: 1,
                removed: 1,
                changed: 1,
                renamed: 1,
                price_changes: 0,
                availability_changes: 0,
            }
        );
    }

    #[test]
    fn price_changes_name_the_product_size_or_modifier_with_old_and_new_prices() {
        let old = sample::catalog();
        let mut new = sample::catalog();
        new.products[0].sizes[1].price = dec!(650);
        new.products[0].modifier_groups[0].items[0].price = dec!(89);
        new.products[1].sizes[0].price = dec!(110);
        let diff = diff(&old, &new);
        let changes: Vec<_> = diff
            .price_changes
            .iter()
            .map(|c| {
                (
                    c.product.as_str(),
                    c.size.as_deref(),
                    c.modifier.as_deref(),
                    c.old,
                    c.new,
                )
            })
            .collect();
        assert_eq!(
            changes,
            [
                ("PZ-1", Some("PZ-1-30"), None, dec!(600), dec!(650)),
                ("PZ-1", None, Some("M-1"), dec!(79), dec!(89)),
                ("DR-1", None, None, dec!(120), dec!(110)),
            ]
        );
        assert_eq!(diff.counts().changed, 2);
        assert_eq!(diff.counts().price_changes, 3);
        let summary = diff.summary();
        assert!(
            summary.contains("price: PZ-1 (PZ-1-30): 600 -> 650"),
            "{summary}"
        );
        assert!(summary.contains("price: PZ-1 + M-1: 79 -> 89"), "{summary}");
    }

    #[test]
    fn availability_changes_are_told_once_per_product_or_size() {
        let old = sample::catalog();
        let mut new = sample::catalog();
        new.products[0].sizes[0].available = false;
        new.products[1].available = false;
        new.products[1].sizes[0].available = false;
        let diff = diff(&old, &new);
        assert_eq!(
            diff.availability_changes,
            [
                AvailabilityChange {
                    product: "PZ-1".into(),
                    size: Some("PZ-1-25".into()),
                    available: false
                },
                AvailabilityChange {
                    product: "DR-1".into(),
                    size: None,
                    available: false
                },
            ]
        );
        assert!(diff.summary().contains("availability: DR-1: stopped"));
    }

    #[test]
    fn a_long_summary_is_cut_after_twenty_lines_of_a_kind() {
        let old = sample::catalog();
        let mut new = sample::catalog();
        for n in 0..25 {
            let mut product = new.products[1].clone();
            product.article = format!("NEW-{n}");
            new.products.push(product);
        }
        let summary = diff(&old, &new).summary();
        assert!(
            summary.starts_with("25 added, 0 removed, 0 changed"),
            "{summary}"
        );
        assert_eq!(summary.matches("\nadded: NEW-").count(), 20);
        assert!(summary.ends_with("added: ... and 5 more"), "{summary}");
    }
}
