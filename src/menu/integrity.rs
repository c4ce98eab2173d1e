//! The article rule: an article names exactly one iiko item. A site line names a product by
//! article, its size by article (or name) and its modifiers by article, so an article shared by
//! two different iiko items (products, sizes, modifiers alike) could send the wrong item to the
//! kitchen. Such items, and items without an article, are left out of the catalog and reported
//! with their names and iiko ids so an operator can fix them in iiko.
//!
//! One modifier offered in many products is one iiko item (one id), so it may appear many times.
//! Within a product, a size's article or name (the site may send either) must pick one size.
use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::build::{
    BuildTarget, Built, Draft, DraftModifier, DraftModifierGroup, DraftProduct, DraftSize,
};
use super::catalog::{Catalog, Group, MenuFormat, Modifier, ModifierGroup, Product, Size};
use super::report::{Finding, IntegrityReport, ItemRef};

/// Applies the article rules to a draft: the catalog of what can be ordered, and the report.
pub(crate) fn finalize(
    draft: Draft,
    target: &BuildTarget,
    format: MenuFormat,
    iiko_revision: Option<i64>,
) -> Built {
    let mut findings = Findings::default();
    let screened: Vec<Product> = draft
        .products
        .into_iter()
        .filter_map(|product| screen_product(product, &mut findings))
        .collect();
    let products = drop_duplicates(screened, &mut findings);
    let products = drop_ambiguous_sizes(products, &mut findings);
    check_prices_and_groups(&products, &mut findings);

    let group_ids: HashMap<&str, String> = draft
        .groups
        .iter()
        .map(|group| (group.iiko_id.as_str(), public_group_id(&group.iiko_id)))
        .collect();
    // Two external menu categories may show the same iiko group; the site sees it once.
    let mut listed = HashSet::new();
    let groups = draft
        .groups
        .iter()
        .filter(|group| listed.insert(group.iiko_id.as_str()))
        .map(|group| Group {
            id: group_ids[group.iiko_id.as_str()].clone(),
            name: group.name.clone(),
            parent: group
                .parent_iiko_id
                .as_deref()
                .and_then(|parent| group_ids.get(parent).cloned()),
            iiko_id: group.iiko_id.clone(),
        })
        .collect();
    let products = products
        .into_iter()
        .map(|mut product| {
            // Screening kept the iiko group id here; the catalog shows the public one.
            product.group = product
                .group
                .as_deref()
                .and_then(|iiko_id| group_ids.get(iiko_id).cloned());
            product
        })
        .collect();

    Built {
        catalog: Catalog {
            branch: target.branch.clone(),
            format,
            iiko_revision,
            synced_at: target.synced_at,
            groups,
            products,
        },
        report: IntegrityReport {
            branch: target.branch.clone(),
            findings: findings.list,
        },
    }
}

/// Collects findings, each once: a modifier or group shared by many products is reported once.
#[derive(Default)]
struct Findings {
    list: Vec<Finding>,
    seen: HashSet<(&'static str, ItemRef)>,
}

impl Findings {
    fn push(&mut self, finding: Finding) {
        self.list.push(finding);
    }

    fn push_once(&mut self, key: &'static str, item: ItemRef, finding: impl FnOnce() -> Finding) {
        if self.seen.insert((key, item)) {
            self.list.push(finding());
        }
    }
}

/// A group's public id: stable for one iiko group, and not an iiko id (FNV-1a of it).
fn public_group_id(iiko_id: &str) -> String {
    let hash = iiko_id
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("g{hash:016x}")
}

fn clean_article(article: Option<String>) -> Option<String> {
    article
        .map(|article| article.trim().to_string())
        .filter(|article| !article.is_empty())
}

/// Drops what cannot be ordered here (no article, hidden parts, no price) and normalises the rest.
fn screen_product(product: DraftProduct, findings: &mut Findings) -> Option<Product> {
    let product_ref = ItemRef::Product {
        name: product.name.clone(),
        product_id: product.iiko_id,
    };
    let Some(article) = clean_article(product.article) else {
        findings.push(Finding::MissingArticle { item: product_ref });
        return None;
    };
    if !product.sizes.iter().any(|size| size.price.is_some()) {
        findings.push(Finding::NotForSale {
            article: Some(article),
            item: product_ref,
        });
        return None;
    }
    if product.hidden {
        findings.push(Finding::Hidden {
            article: Some(article.clone()),
            item: product_ref,
        });
    }
    let mut sizes: Vec<Size> = product
        .sizes
        .into_iter()
        .filter_map(|size| screen_size(size, &article, &product.name, product.iiko_id, findings))
        .collect();
    if sizes.is_empty() {
        // Every priced size was hidden: nothing left to sell.
        return None;
    }
    mark_one_default(&mut sizes);
    let modifier_groups = product
        .modifier_groups
        .into_iter()
        .filter_map(|group| screen_modifier_group(group, findings))
        .collect();
    Some(Product {
        article,
        name: product.name,
        description: product.description.filter(|text| !text.trim().is_empty()),
        group: product.group_iiko_id,
        hidden: product.hidden,
        available: true,
        iiko_id: product.iiko_id,
        sizes,
        modifier_groups,
    })
}

fn screen_size(
    size: DraftSize,
    product_article: &str,
    product_name: &str,
    product_id: Uuid,
    findings: &mut Findings,
) -> Option<Size> {
    // A single size's sku repeats the product's: it is not an article of its own.
    let article = clean_article(size.article).filter(|article| article != product_article);
    let item = || ItemRef::Size {
        product: product_name.to_string(),
        name: size.name.clone(),
        product_id,
        size_id: size.iiko_id,
    };
    if size.hidden {
        findings.push(Finding::Hidden {
            article: article.clone(),
            item: item(),
        });
        return None;
    }
    let Some(price) = size.price else {
        findings.push(Finding::NotForSale {
            article: article.clone(),
            item: item(),
        });
        return None;
    };
    Some(Size {
        article,
        name: size.name,
        price: price.round_dp(2),
        default: size.default,
        available: true,
        iiko_id: size.iiko_id,
    })
}

/// Exactly one default size: iiko's flag when it set one, otherwise the first size.
fn mark_one_default(sizes: &mut [Size]) {
    let default = sizes.iter().position(|size| size.default).unwrap_or(0);
    for (index, size) in sizes.iter_mut().enumerate() {
        size.default = index == default;
    }
}

fn screen_modifier_group(
    group: DraftModifierGroup,
    findings: &mut Findings,
) -> Option<ModifierGroup> {
    if group.hidden {
        let item = ItemRef::ModifierGroup {
            name: group.name,
            group_id: group.iiko_id,
        };
        findings.push_once("hidden", item.clone(), || Finding::Hidden {
            article: None,
            item,
        });
        return None;
    }
    let items = group
        .items
        .into_iter()
        .filter_map(|item| screen_modifier(item, findings))
        .collect();
    Some(ModifierGroup {
        name: group.name,
        min: group.min,
        max: group.max,
        required: group.required,
        free_quantity: group.free_quantity,
        iiko_id: group.iiko_id,
        items,
    })
}

fn screen_modifier(modifier: DraftModifier, findings: &mut Findings) -> Option<Modifier> {
    let item = ItemRef::Modifier {
        name: modifier.name.clone(),
        modifier_id: modifier.iiko_id,
    };
    let Some(article) = clean_article(modifier.article) else {
        findings.push_once("missing", item.clone(), || Finding::MissingArticle { item });
        return None;
    };
    if modifier.hidden {
        findings.push_once("hidden", item.clone(), || Finding::Hidden {
            article: Some(article),
            item,
        });
        return None;
    }
    let Some(price) = modifier.price else {
        findings.push_once("not for sale", item.clone(), || Finding::NotForSale {
            article: Some(article),
            item,
        });
        return None;
    };
    Some(Modifier {
        article,
        name: modifier.name,
        price: price.round_dp(2),
        iiko_id: modifier.iiko_id,
    })
}

/// The iiko item an article stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Product(Uuid),
    Size(Uuid, Option<Uuid>),
    Modifier(Uuid),
}

/// Records that `owner` goes by `article`; `item` describes it for the report.
fn claim<'a>(
    owners: &mut HashMap<&'a str, Vec<(Owner, ItemRef)>>,
    article: &'a str,
    owner: Owner,
    item: impl FnOnce() -> ItemRef,
) {
    let claims = owners.entry(article).or_default();
    if !claims.iter().any(|(known, _)| *known == owner) {
        claims.push((owner, item()));
    }
}

/// Finds articles shared by different iiko items and leaves all of those items out.
fn drop_duplicates(products: Vec<Product>, findings: &mut Findings) -> Vec<Product> {
    let mut owners: HashMap<&str, Vec<(Owner, ItemRef)>> = HashMap::new();
    for product in &products {
        claim(
            &mut owners,
            &product.article,
            Owner::Product(product.iiko_id),
            || ItemRef::Product {
                name: product.name.clone(),
                product_id: product.iiko_id,
            },
        );
        for size in &product.sizes {
            if let Some(article) = &size.article {
                claim(
                    &mut owners,
                    article,
                    Owner::Size(product.iiko_id, size.iiko_id),
                    || ItemRef::Size {
                        product: product.name.clone(),
                        name: size.name.clone(),
                        product_id: product.iiko_id,
                        size_id: size.iiko_id,
                    },
                );
            }
        }
        for modifier in product.modifier_groups.iter().flat_map(|g| &g.items) {
            claim(
                &mut owners,
                &modifier.article,
                Owner::Modifier(modifier.iiko_id),
                || ItemRef::Modifier {
                    name: modifier.name.clone(),
                    modifier_id: modifier.iiko_id,
                },
            );
        }
    }
    let mut duplicates: Vec<(&str, Vec<(Owner, ItemRef)>)> = owners
        .into_iter()
        .filter(|(_, claims)| claims.len() > 1)
        .collect();
    if duplicates.is_empty() {
        return products;
    }
    duplicates.sort_by(|a, b| a.0.cmp(b.0));
    let duplicated: HashSet<String> = duplicates.iter().map(|(a, _)| a.to_string()).collect();
    for (article, claims) in duplicates {
        findings.push(Finding::DuplicateArticle {
            article: article.to_string(),
            items: claims.into_iter().map(|(_, item)| item).collect(),
        });
    }
    products
        .into_iter()
        .filter(|product| !duplicated.contains(&product.article))
        .filter_map(|mut product| {
            product.sizes.retain(|size| {
                size.article
                    .as_ref()
                    .is_none_or(|article| !duplicated.contains(article))
            });
            if product.sizes.is_empty() {
                return None;
            }
            mark_one_default(&mut product.sizes);
            for group in &mut product.modifier_groups {
                group
                    .items
                    .retain(|item| !duplicated.contains(&item.article));
            }
            Some(product)
        })
        .collect()
}

/// Within a product, a size's article or name must pick one size.
fn drop_ambiguous_sizes(products: Vec<Product>, findings: &mut Findings) -> Vec<Product> {
    products
        .into_iter()
        .filter_map(|mut product| {
            if product.sizes.len() < 2 {
                return Some(product);
            }
            let mut sizes_by_key: HashMap<&str, Vec<usize>> = HashMap::new();
            for (index, size) in product.sizes.iter().enumerate() {
                let mut keys: Vec<&str> = size
                    .article
                    .iter()
                    .chain(&size.name)
                    .map(String::as_str)
                    .collect();
                keys.dedup();
                for key in keys {
                    sizes_by_key.entry(key).or_default().push(index);
                }
            }
            let mut ambiguous: Vec<(&str, Vec<usize>)> = sizes_by_key
                .into_iter()
                .filter(|(_, sizes)| sizes.len() > 1)
                .collect();
            if ambiguous.is_empty() {
                return Some(product);
            }
            ambiguous.sort();
            let mut left_out: HashSet<usize> = HashSet::new();
            for (key, sizes) in &ambiguous {
                let items = sizes
                    .iter()
                    .map(|&index| ItemRef::Size {
                        product: product.name.clone(),
                        name: product.sizes[index].name.clone(),
                        product_id: product.iiko_id,
                        size_id: product.sizes[index].iiko_id,
                    })
                    .collect();
                findings.push(Finding::AmbiguousSize {
                    product: product.article.clone(),
                    key: key.to_string(),
                    items,
                });
                let without_article = sizes
                    .iter()
                    .copied()
                    .filter(|&index| product.sizes[index].article.is_none());
                left_out.extend(without_article);
            }
            product.sizes = std::mem::take(&mut product.sizes)
                .into_iter()
                .enumerate()
                .filter(|(index, _)| !left_out.contains(index))
                .map(|(_, size)| size)
                .collect();
            if product.sizes.is_empty() {
                return None;
            }
            mark_one_default(&mut product.sizes);
            Some(product)
        })
        .collect()
}

/// Zero prices and modifier groups that no order could satisfy; both stay in the catalog.
fn check_prices_and_groups(products: &[Product], findings: &mut Findings) {
    let mut unmeetable: Vec<(Finding, Option<Uuid>, String)> = Vec::new();
    for product in products {
        for size in &product.sizes {
            if size.price == Decimal::ZERO {
                let item = if size.iiko_id.is_none() {
                    ItemRef::Product {
                        name: product.name.clone(),
                        product_id: product.iiko_id,
                    }
                } else {
                    ItemRef::Size {
                        product: product.name.clone(),
                        name: size.name.clone(),
                        product_id: product.iiko_id,
                        size_id: size.iiko_id,
                    }
                };
                findings.push(Finding::ZeroPrice {
                    article: size.article.clone().unwrap_or(product.article.clone()),
                    item,
                });
            }
        }
        for group in &product.modifier_groups {
            let Some(reason) = unmeetable_reason(group) else {
                continue;
            };
            let known = unmeetable
                .iter_mut()
                .find(|(_, id, known_reason)| *id == group.iiko_id && *known_reason == reason);
            match known {
                Some((Finding::UnmeetableModifierGroup { products, .. }, _, _)) => *products += 1,
                _ => unmeetable.push((
                    Finding::UnmeetableModifierGroup {
                        group: group.name.clone(),
                        group_id: group.iiko_id,
                        reason: reason.clone(),
                        example_product: product.article.clone(),
                        products: 1,
                    },
                    group.iiko_id,
                    reason,
                )),
            }
        }
    }
    for (finding, _, _) in unmeetable {
        findings.push(finding);
    }
}

/// Why no order can satisfy `group`. In a group modifier each modifier counts once, as iiko's
/// default child maximum is one; a single modifier's minimum is a quantity of that one item.
fn unmeetable_reason(group: &ModifierGroup) -> Option<String> {
    let items = group.items.len();
    if group.min > group.max {
        Some(format!("min {} > max {}", group.min, group.max))
    } else if group.required && items == 0 {
        Some("required but has no orderable modifiers".to_string())
    } else if group.iiko_id.is_some() && group.min as usize > items {
        Some(format!("min {} > {items} orderable modifier(s)", group.min))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::menu::build::DraftGroup;

    fn target() -> BuildTarget {
        BuildTarget {
            branch: "lenina".into(),
            organization_id: Uuid::nil(),
            synced_at: Utc::now(),
        }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn modifier(n: u128, article: &str, price: Decimal) -> DraftModifier {
        DraftModifier {
            iiko_id: id(n),
            article: Some(article.into()),
            name: format!("modifier {n}"),
            hidden: false,
            price: Some(price),
        }
    }

    fn group(n: u128, min: u32, max: u32, items: Vec<DraftModifier>) -> DraftModifierGroup {
        DraftModifierGroup {
            iiko_id: Some(id(n)),
            name: format!("group {n}"),
            min,
            max,
            required: min > 0,
            free_quantity: 0,
            hidden: false,
            items,
        }
    }

    fn size(n: u128, article: Option<&str>, price: Option<Decimal>) -> DraftSize {
        DraftSize {
            iiko_id: Some(id(n)),
            article: article.map(Into::into),
            name: Some(format!("size {n}")),
            default: false,
            hidden: false,
            price,
        }
    }

    /// A product without a size scale.
    fn product(n: u128, article: Option<&str>, price: Option<Decimal>) -> DraftProduct {
        DraftProduct {
            iiko_id: id(n),
            article: article.map(Into::into),
            name: format!("product {n}"),
            description: None,
            group_iiko_id: None,
            hidden: false,
            sizes: vec![DraftSize {
                iiko_id: None,
                article: article.map(Into::into),
                name: None,
                default: true,
                hidden: false,
                price,
            }],
            modifier_groups: Vec::new(),
        }
    }

    fn finalize_products(products: Vec<DraftProduct>) -> Built {
        let draft = Draft {
            groups: Vec::new(),
            products,
        };
        finalize(draft, &target(), MenuFormat::Nomenclature, None)
    }

    fn articles(built: &Built) -> Vec<&str> {
        built
            .catalog
            .products
            .iter()
            .map(|p| p.article.as_str())
            .collect()
    }

    #[test]
    fn products_sharing_an_article_are_all_left_out_and_reported_with_their_ids() {
        let built = finalize_products(vec![
            product(1, Some("A-1"), Some(dec!(100))),
            product(2, Some("A-1"), Some(dec!(110))),
            product(3, Some("A-2"), Some(dec!(120))),
        ]);
        assert_eq!(articles(&built), ["A-2"]);
        assert_eq!(
            built.report.findings,
            [Finding::DuplicateArticle {
                article: "A-1".into(),
                items: vec![
                    ItemRef::Product {
                        name: "product 1".into(),
                        product_id: id(1)
                    },
                    ItemRef::Product {
                        name: "product 2".into(),
                        product_id: id(2)
                    },
                ],
            }]
        );
        assert!(built.report.has_problems());
        let summary = built.report.summary();
        assert!(
            summary.contains(&format!("\"product 2\" (id {})", id(2))),
            "{summary}"
        );
    }

    #[test]
    fn articles_are_trimmed_before_they_are_compared() {
        let built = finalize_products(vec![
            product(1, Some("A-1"), Some(dec!(100))),
            product(2, Some(" A-1 "), Some(dec!(110))),
        ]);
        assert!(built.catalog.products.is_empty());
    }

    #[test]
    fn a_size_article_used_by_another_product_leaves_out_the_size_and_the_product() {
        let mut pizza = product(1, Some("PZ-1"), None);
        pizza.sizes = vec![
            size(11, Some("PZ-1-25"), Some(dec!(450))),
            size(12, Some("DR-1"), Some(dec!(600))),
        ];
        let built = finalize_products(vec![pizza, product(2, Some("DR-1"), Some(dec!(120)))]);
        assert_eq!(articles(&built), ["PZ-1"]);
        let sizes: Vec<_> = built.catalog.products[0]
            .sizes
            .iter()
            .map(|s| (s.article.as_deref(), s.default))
            .collect();
        assert_eq!(sizes, [(Some("PZ-1-25"), true)]);
        assert!(matches!(&built.report.findings[..],
            [Finding::DuplicateArticle { article, items }] if article == "DR-1" && items.len() == 2));
    }

    #[test]
    fn sizes_a_site_cannot_tell_apart_are_reported_and_those_without_articles_left_out() {
        let mut named = product(1, Some("A-1"), None);
        named.sizes = vec![
            size(11, Some("A-1-S"), Some(dec!(1))),
            size(12, None, Some(dec!(2))),
            size(13, None, Some(dec!(3))),
        ];
        named.sizes[1].name = Some("Большая".into());
        named.sizes[2].name = Some("Большая".into());
        let built = finalize_products(vec![named]);
        let left: Vec<_> = built.catalog.products[0]
            .sizes
            .iter()
            .map(|s| s.iiko_id)
            .collect();
        assert_eq!(left, [Some(id(11))]);
        assert!(matches!(&built.report.findings[..],
            [Finding::AmbiguousSize { product, key, items }] if product == "A-1" && key == "Большая" && items.len() == 2));
        assert!(built.report.has_problems());

        let mut with_articles = product(2, Some("A-2"), None);
        with_articles.sizes = vec![
            size(21, Some("A-2-S"), Some(dec!(1))),
            size(22, Some("A-2-L"), Some(dec!(2))),
        ];
        with_articles.sizes[0].name = Some("A-2-L".into());
        let built = finalize_products(vec![with_articles]);
        assert_eq!(
            built.catalog.products[0].sizes.len(),
            2,
            "both still go by their articles"
        );
        assert_eq!(built.report.findings.len(), 1);
    }

    #[test]
    fn one_modifier_offered_in_many_products_is_not_a_duplicate() {
        let cheese = || group(50, 0, 2, vec![modifier(40, "M-1", dec!(79))]);
        let mut first = product(1, Some("A-1"), Some(dec!(100)));
        first.modifier_groups.push(cheese());
        let mut second = product(2, Some("A-2"), Some(dec!(100)));
        second.modifier_groups.push(cheese());
        let built = finalize_products(vec![first, second]);
        assert_eq!(built.report.findings, []);
        assert_eq!(
            built.catalog.products[1].modifier_groups[0].items[0].article,
            "M-1"
        );
    }

    #[test]
    fn different_modifiers_sharing_an_article_are_left_out_of_their_groups() {
        let mut first = product(1, Some("A-1"), Some(dec!(100)));
        first
            .modifier_groups
            .push(group(50, 1, 1, vec![modifier(40, "M-1", dec!(79))]));
        let mut second = product(2, Some("A-2"), Some(dec!(100)));
        second.modifier_groups.push(group(
            51,
            0,
            2,
            vec![modifier(41, "M-1", dec!(89)), modifier(42, "M-2", dec!(99))],
        ));
        let built = finalize_products(vec![first, second]);
        assert_eq!(articles(&built), ["A-1", "A-2"], "the products stay");
        assert!(
            built.catalog.products[0].modifier_groups[0]
                .items
                .is_empty()
        );
        let left: Vec<_> = built.catalog.products[1].modifier_groups[0]
            .items
            .iter()
            .map(|i| i.article.as_str())
            .collect();
        assert_eq!(left, ["M-2"]);
        let kinds: Vec<_> = built
            .report
            .findings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(
            kinds[0].starts_with("article \"M-1\" is shared by modifier \"modifier 40\""),
            "{kinds:?}"
        );
        assert!(
            kinds[1].contains("cannot be satisfied (required but has no orderable modifiers)"),
            "{kinds:?}"
        );
    }

    #[test]
    fn a_product_and_a_modifier_sharing_an_article_are_both_left_out() {
        let mut pizza = product(1, Some("A-1"), Some(dec!(100)));
        pizza
            .modifier_groups
            .push(group(50, 0, 2, vec![modifier(40, "A-2", dec!(79))]));
        let built = finalize_products(vec![pizza, product(2, Some("A-2"), Some(dec!(50)))]);
        assert_eq!(articles(&built), ["A-1"]);
        assert!(
            built.catalog.products[0].modifier_groups[0]
                .items
                .is_empty()
        );
    }

    #[test]
    fn items_without_an_article_are_left_out_and_a_shared_one_is_reported_once() {
        let unnamed = || {
            let mut item = modifier(40, "", dec!(10));
            item.article = None;
            group(50, 0, 1, vec![item])
        };
        let mut first = product(1, Some("A-1"), Some(dec!(100)));
        first.modifier_groups.push(unnamed());
        let mut second = product(2, Some("A-2"), Some(dec!(100)));
        second.modifier_groups.push(unnamed());
        let built = finalize_products(vec![first, second, product(3, Some("  "), Some(dec!(1)))]);
        assert_eq!(articles(&built), ["A-1", "A-2"]);
        assert_eq!(
            built.report.findings,
            [
                Finding::MissingArticle {
                    item: ItemRef::Modifier {
                        name: "modifier 40".into(),
                        modifier_id: id(40)
                    }
                },
                Finding::MissingArticle {
                    item: ItemRef::Product {
                        name: "product 3".into(),
                        product_id: id(3)
                    }
                },
            ]
        );
    }

    #[test]
    fn zero_prices_of_products_are_problems_but_free_modifiers_are_not() {
        let mut pizza = product(1, Some("A-1"), Some(dec!(0)));
        pizza
            .modifier_groups
            .push(group(50, 0, 1, vec![modifier(40, "M-1", dec!(0))]));
        let built = finalize_products(vec![pizza]);
        assert_eq!(
            articles(&built),
            ["A-1"],
            "kept, so the site still shows it"
        );
        assert_eq!(
            built.report.findings,
            [Finding::ZeroPrice {
                article: "A-1".into(),
                item: ItemRef::Product {
                    name: "product 1".into(),
                    product_id: id(1)
                }
            }]
        );
        assert!(built.report.has_problems());
    }

    #[test]
    fn modifier_groups_that_no_order_can_satisfy_are_reported_once_with_a_product_count() {
        let impossible = || {
            vec![
                group(
                    50,
                    2,
                    1,
                    vec![modifier(40, "M-1", dec!(1)), modifier(41, "M-2", dec!(1))],
                ),
                group(51, 3, 5, vec![modifier(42, "M-3", dec!(1))]),
                group(52, 1, 1, vec![]),
            ]
        };
        let mut first = product(1, Some("A-1"), Some(dec!(100)));
        first.modifier_groups = impossible();
        let mut second = product(2, Some("A-2"), Some(dec!(100)));
        second.modifier_groups = impossible();
        let built = finalize_products(vec![first, second]);
        let reasons: Vec<_> = built
            .report
            .findings
            .iter()
            .map(|f| match f {
                Finding::UnmeetableModifierGroup {
                    group_id,
                    reason,
                    products,
                    example_product,
                    ..
                } => (
                    group_id.unwrap(),
                    reason.as_str(),
                    *products,
                    example_product.as_str(),
                ),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (id(50), "min 2 > max 1", 2, "A-1"),
                (id(51), "min 3 > 1 orderable modifier(s)", 2, "A-1"),
                (id(52), "required but has no orderable modifiers", 2, "A-1"),
            ]
        );
    }

    #[test]
    fn a_single_modifier_may_require_more_than_one_of_itself() {
        let mut pizza = product(1, Some("A-1"), Some(dec!(100)));
        let mut single = group(50, 2, 3, vec![modifier(40, "M-1", dec!(1))]);
        single.iiko_id = None;
        pizza.modifier_groups.push(single);
        assert_eq!(finalize_products(vec![pizza]).report.findings, []);
    }

    #[test]
    fn hidden_and_unsold_items_are_notes_not_problems() {
        let mut hidden = product(1, Some("A-1"), Some(dec!(100)));
        hidden.hidden = true;
        let mut sized = product(3, Some("A-3"), None);
        sized.sizes = vec![
            size(11, Some("A-3-S"), None),
            size(12, Some("A-3-L"), Some(dec!(5))),
        ];
        let built = finalize_products(vec![hidden, product(2, Some("A-2"), None), sized]);
        assert_eq!(articles(&built), ["A-1", "A-3"]);
        assert!(built.catalog.products[0].hidden);
        assert_eq!(
            built.report.findings.len(),
            3,
            "{:?}",
            built.report.findings
        );
        assert!(!built.report.has_problems());
        assert!(
            built
                .report
                .summary()
                .starts_with("branch lenina: 0 problem(s), 3 note(s)")
        );
    }

    #[test]
    fn exactly_one_size_is_default() {
        let mut pizza = product(1, Some("A-1"), None);
        pizza.sizes = vec![
            size(11, Some("S"), Some(dec!(1))),
            size(12, Some("M"), Some(dec!(2))),
            size(13, Some("L"), Some(dec!(3))),
        ];
        pizza.sizes[1].default = true;
        pizza.sizes[2].default = true;
        let built = finalize_products(vec![pizza]);
        let defaults: Vec<bool> = built.catalog.products[0]
            .sizes
            .iter()
            .map(|s| s.default)
            .collect();
        assert_eq!(defaults, [false, true, false]);
    }

    #[test]
    fn groups_get_stable_public_ids_and_products_point_at_them() {
        let mut pizza = product(1, Some("A-1"), Some(dec!(1)));
        pizza.group_iiko_id = Some("00000000-0000-0000-0000-000000000502".into());
        let draft = Draft {
            groups: vec![
                DraftGroup {
                    iiko_id: "00000000-0000-0000-0000-000000000501".into(),
                    name: "Меню".into(),
                    parent_iiko_id: None,
                },
                DraftGroup {
                    iiko_id: "00000000-0000-0000-0000-000000000502".into(),
                    name: "Пицца".into(),
                    parent_iiko_id: Some("00000000-0000-0000-0000-000000000501".into()),
                },
            ],
            products: vec![pizza],
        };
        let mut draft = draft;
        draft.groups.push(draft.groups[1].clone());
        let built = finalize(draft.clone(), &target(), MenuFormat::Nomenclature, None);
        assert_eq!(
            built.catalog.groups.len(),
            2,
            "a group listed twice shows once"
        );
        let groups = &built.catalog.groups;
        assert_eq!(groups[1].parent.as_ref(), Some(&groups[0].id));
        assert_eq!(
            built.catalog.products[0].group.as_ref(),
            Some(&groups[1].id)
        );
        // Pinned: the site keeps these ids across bridge versions and restarts.
        assert_eq!(groups[0].id, "g970e3e62286361e5");
        assert_ne!(groups[0].id, groups[1].id);
        let again = finalize(draft, &target(), MenuFormat::Nomenclature, None);
        assert_eq!(again.catalog.groups, built.catalog.groups);
    }
}
