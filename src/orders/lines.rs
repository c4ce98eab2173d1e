//! One site line onto one iiko `Product` item through the branch's catalog.
use rust_decimal::Decimal;
use uuid::Uuid;

use super::domain::{Item, Money};
use super::mapping::MappingProblem;
use crate::iiko::types::deliveries::{Modifier, OrderItem, ProductItem};
use crate::menu::{Catalog, Product};

/// Maps line `index`, taking its position ids from `positions` (the line's, then its modifiers').
pub fn map_line(
    item: &Item,
    index: usize,
    catalog: &Catalog,
    positions: &mut impl Iterator<Item = Uuid>,
    problems: &mut Vec<MappingProblem>,
) -> Option<OrderItem> {
    let field = |suffix: &str| format!("items[{index}]{suffix}");
    let line_position = positions.next();
    let modifier_positions: Vec<Option<Uuid>> =
        item.modifiers.iter().map(|_| positions.next()).collect();
    let article = item.article.as_str();
    let Some(product) = catalog.product(article) else {
        problems.push(MappingProblem::new(
            field(".article"),
            "unknown_article",
            format!("Товара с артикулом «{article}» нет в меню филиала"),
            format!("no product with article {article} in the branch's menu"),
        ));
        return None;
    };
    let label = format!("«{}» ({article})", product.name);
    let en = format!("{article} ({})", product.name);
    if product.hidden {
        problems.push(MappingProblem::new(
            field(".article"),
            "hidden",
            format!("{label} скрыт в меню iiko и не продаётся"),
            format!("{en} is hidden in iiko's menu and not for sale"),
        ));
    }
    // A product with several sizes and no size named would make the kitchen guess.
    let size = match item.size.as_deref() {
        None if product.sizes.len() > 1 => {
            problems.push(MappingProblem::new(
                field(".size"),
                "size_required",
                format!("{label}: не указан размер, а в меню их несколько"),
                format!("{en}: no size given, and the menu has several"),
            ));
            None
        }
        key => {
            let size = product.size(key);
            if size.is_none() {
                problems.push(MappingProblem::new(
                    field(".size"),
                    "unknown_size",
                    format!("{label}: размера «{}» нет в меню", key.unwrap_or_default()),
                    format!("{en}: no size {} in the menu", key.unwrap_or_default()),
                ));
            }
            size
        }
    };
    if !product.available || size.is_some_and(|s| !s.available) {
        problems.push(MappingProblem::new(
            field(".article"),
            "stopped",
            format!("{label} на стоп-листе"),
            format!("{en} is on the stop list"),
        ));
    }
    if let Some(size) = size.filter(|s| s.price != item.price.amount()) {
        problems.push(price_drift(
            field(".price"),
            (&label, &en),
            item.price,
            size.price,
        ));
    }
    let modifiers = map_modifiers(
        item,
        product,
        (&label, &en),
        &field(".modifiers"),
        modifier_positions,
        problems,
    );
    Some(OrderItem::Product(ProductItem {
        product_id: product.iiko_id,
        product_size_id: size?.iiko_id,
        amount: item.quantity.amount(),
        price: item.price.amount(),
        position_id: line_position,
        modifiers: modifiers?,
        comment: item.comment.clone(),
        combo_information: None,
    }))
}

/// `label` names the item for staff (Russian) and for the site (English).
fn price_drift(
    field: String,
    (label, en): (&str, &str),
    site: Money,
    catalog: Decimal,
) -> MappingProblem {
    MappingProblem::new(
        field,
        "price_drift",
        format!("{label}: цена на сайте {site} ₽, в iiko {catalog:.2} ₽"),
        format!("{en}: the site's price is {site}, iiko's {catalog:.2}"),
    )
}

fn map_modifiers(
    item: &Item,
    product: &Product,
    (label, en): (&str, &str),
    field: &str,
    positions: Vec<Option<Uuid>>,
    problems: &mut Vec<MappingProblem>,
) -> Option<Vec<Modifier>> {
    let mut mapped = Vec::with_capacity(item.modifiers.len());
    let mut complete = true;
    for (index, (modifier, position)) in item.modifiers.iter().zip(positions).enumerate() {
        let article = modifier.article.as_str();
        let Some((group, found)) = product.modifier(article) else {
            problems.push(MappingProblem::new(
                format!("{field}[{index}].article"),
                "unknown_modifier",
                format!("{label}: модификатора с артикулом «{article}» нет у этого блюда"),
                format!("{en}: the dish has no modifier with article {article}"),
            ));
            complete = false;
            continue;
        };
        let site = modifier.price();
        // A zero price is right for the free ones of a group ("two sauces free"); iiko counts them itself.
        let free = site.is_zero() && group.free_quantity > 0;
        if site.amount() != found.price && !free {
            let name = format!("{label}, модификатор «{}» ({article})", found.name);
            let name_en = format!("{en}, modifier {article} ({})", found.name);
            problems.push(price_drift(
                format!("{field}[{index}].price"),
                (&name, &name_en),
                site,
                found.price,
            ));
        }
        mapped.push(Modifier {
            product_id: found.iiko_id,
            amount: modifier.quantity.amount(),
            product_group_id: group.iiko_id,
            price: Some(site.amount()),
            position_id: position,
        });
    }
    for group in &product.modifier_groups {
        let chosen: Decimal = item
            .modifiers
            .iter()
            .filter(|m| group.items.iter().any(|i| i.article == m.article.as_str()))
            .map(|m| m.quantity.amount())
            .sum();
        let min = Decimal::from(group.min.max(u32::from(group.required)));
        if chosen < min || chosen > Decimal::from(group.max) {
            problems.push(MappingProblem::new(
                field.to_owned(),
                "modifier_count",
                format!(
                    "{label}: в группе «{}» выбрано {chosen}, нужно от {min} до {}",
                    group.name, group.max
                ),
                format!(
                    "{en}: {chosen} chosen in group «{}», {min} to {} needed",
                    group.name, group.max
                ),
            ));
        }
    }
    complete.then_some(mapped)
}
