//! What a build reports about a branch's menu: problems an operator must fix in iiko (the CLI
//! exits 4 on them, operators get an alert) and notes.
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a build found wrong or noteworthy in one branch's menu.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrityReport {
    pub branch: String,
    pub findings: Vec<Finding>,
}

/// An iiko item named in a finding, with the ids an operator needs to find it in iiko.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemRef {
    Product {
        name: String,
        product_id: Uuid,
    },
    Size {
        product: String,
        name: Option<String>,
        product_id: Uuid,
        size_id: Option<Uuid>,
    },
    Modifier {
        name: String,
        modifier_id: Uuid,
    },
    ModifierGroup {
        name: String,
        group_id: Option<Uuid>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Left out: different iiko items share `article`.
    DuplicateArticle {
        article: String,
        items: Vec<ItemRef>,
    },
    /// A site line names a size by its article or name: sizes of `product` share `key`. Those
    /// without an article of their own are left out (nothing tells them apart).
    AmbiguousSize {
        product: String,
        key: String,
        items: Vec<ItemRef>,
    },
    /// Left out: a product or modifier without an article cannot be ordered by the site.
    MissingArticle { item: ItemRef },
    /// Kept: a product or size priced at zero is almost always a price-list mistake
    /// (free modifiers are normal and not reported).
    ZeroPrice { article: String, item: ItemRef },
    /// Kept: no order can satisfy this modifier group, so its products cannot be ordered.
    UnmeetableModifierGroup {
        group: String,
        group_id: Option<Uuid>,
        reason: String,
        /// One product that has the group, and how many do.
        example_product: String,
        products: usize,
    },
    /// A note: hidden products stay (flagged); hidden sizes, modifier groups and modifiers are left out.
    Hidden {
        article: Option<String>,
        item: ItemRef,
    },
    /// A note: left out, iiko has no price for the branch's organization.
    NotForSale {
        article: Option<String>,
        item: ItemRef,
    },
}

impl Finding {
    /// Problems need an operator (the CLI exits 4, operators get an alert); notes do not.
    pub fn is_problem(&self) -> bool {
        match self {
            Finding::DuplicateArticle { .. }
            | Finding::AmbiguousSize { .. }
            | Finding::MissingArticle { .. }
            | Finding::ZeroPrice { .. }
            | Finding::UnmeetableModifierGroup { .. } => true,
            Finding::Hidden { .. } | Finding::NotForSale { .. } => false,
        }
    }
}

impl IntegrityReport {
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(Finding::is_problem)
    }

    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|finding| finding.is_problem())
    }

    /// One line per problem, for the CLI and operator alerts.
    pub fn summary(&self) -> String {
        let problems: Vec<String> = self.problems().map(ToString::to_string).collect();
        let notes = self.findings.len() - problems.len();
        let mut text = format!(
            "branch {}: {} problem(s), {} note(s)",
            self.branch,
            problems.len(),
            notes
        );
        for problem in problems {
            text.push_str("\n- ");
            text.push_str(&problem);
        }
        text
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemRef::Product { name, product_id } => {
                write!(f, "product {name:?} (id {product_id})")
            }
            ItemRef::Size {
                product,
                name,
                product_id,
                size_id,
            } => {
                let size = name.as_deref().unwrap_or("default size");
                let size_id = size_id.map_or("none".to_string(), |id| id.to_string());
                write!(
                    f,
                    "size {size:?} of {product:?} (product id {product_id}, size id {size_id})"
                )
            }
            ItemRef::Modifier { name, modifier_id } => {
                write!(f, "modifier {name:?} (id {modifier_id})")
            }
            ItemRef::ModifierGroup { name, group_id } => match group_id {
                Some(id) => write!(f, "modifier group {name:?} (id {id})"),
                None => write!(f, "modifier group {name:?}"),
            },
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let article_of = |article: &Option<String>| {
            article
                .as_deref()
                .map_or(String::new(), |a| format!(" {a:?}"))
        };
        match self {
            Finding::DuplicateArticle { article, items } => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "article {article:?} is shared by {}", items.join(", "))
            }
            Finding::AmbiguousSize {
                product,
                key,
                items,
            } => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "sizes of {product:?} share {key:?}: {}",
                    items.join(", ")
                )
            }
            Finding::MissingArticle { item } => write!(f, "no article: {item}"),
            Finding::ZeroPrice { article, item } => {
                write!(f, "zero price: article {article:?}, {item}")
            }
            Finding::UnmeetableModifierGroup {
                group,
                reason,
                example_product,
                products,
                ..
            } => write!(
                f,
                "modifier group {group:?} cannot be satisfied ({reason}) in {products} product(s), e.g. {example_product:?}"
            ),
            Finding::Hidden { article, item } => write!(f, "hidden{}: {item}", article_of(article)),
            Finding::NotForSale { article, item } => {
                write!(f, "not for sale{}: {item}", article_of(article))
            }
        }
    }
}
