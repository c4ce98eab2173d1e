//! The one catalogue in iiko's three menu shapes: external menu V2/V3/V4 (`/api/2/menu/by_id`),
//! MenuV3 (`/api/menu/v3/by_id`) and the RMS nomenclature (`/api/1/nomenclature`).
//! Bodies are big (tens of MB at 20,000 products), so they are serialized once per
//! (shape, organizations, price category, menu revision) and cached.
use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::seed::{ModifierGroup, Product, Seed};

/// A JSON object made of its own fields plus one field serialized from `value`, so a big
/// subtree shared by many objects (modifier groups) is written without being cloned.
struct Spliced<S> {
    fields: Map<String, Value>,
    key: &'static str,
    value: S,
}

impl<S: Serialize> Serialize for Spliced<S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len() + 1))?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry(self.key, &self.value)?;
        map.end()
    }
}

fn spliced<S>(fields: Value, key: &'static str, value: S) -> Spliced<S> {
    let fields = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Spliced { fields, key, value }
}

fn to_bytes(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).expect("menu serializes")
}

/// The distinct modifier-group sets of the catalogue, each rendered once by `render`.
fn group_sets(seed: &Seed, render: impl Fn(&ModifierGroup) -> Value) -> HashMap<&[Uuid], Value> {
    let mut sets = HashMap::new();
    for product in &seed.products {
        sets.entry(product.modifier_groups.as_slice())
            .or_insert_with(|| Value::Array(modifier_groups(seed, product).map(&render).collect()));
    }
    sets
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MenuShape {
    /// External menu in `formatVersion` 2, 3 or 4.
    External(u8),
    MenuV3,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MenuKey {
    pub shape: MenuShape,
    pub organizations: Vec<Uuid>,
    pub price_category: Option<String>,
    pub revision: i64,
}

pub struct MenuCache {
    bodies: Mutex<HashMap<MenuKey, Bytes>>,
    nomenclature: Mutex<HashMap<(Uuid, i64), Bytes>>,
}

impl MenuCache {
    pub fn new() -> MenuCache {
        MenuCache {
            bodies: Mutex::new(HashMap::new()),
            nomenclature: Mutex::new(HashMap::new()),
        }
    }

    /// The serialized menu for `key`; the lock is held while building so that concurrent
    /// first requests build it once.
    pub fn menu(&self, seed: &Seed, key: MenuKey) -> Bytes {
        let mut bodies = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        bodies.retain(|k, _| k.revision == key.revision);
        bodies
            .entry(key.clone())
            .or_insert_with(|| {
                let menu = match key.shape {
                    MenuShape::External(version) => external_menu(
                        seed,
                        version,
                        &key.organizations,
                        key.price_category.as_deref(),
                        key.revision,
                    ),
                    MenuShape::MenuV3 => {
                        menu_v3(seed, key.organizations[0], key.price_category.as_deref())
                    }
                };
                Bytes::from(menu)
            })
            .clone()
    }

    /// The full nomenclature body (without `correlationId`) of an organization.
    pub fn nomenclature(&self, seed: &Seed, organization: Uuid, revision: i64) -> Bytes {
        let mut bodies = self.nomenclature.lock().unwrap_or_else(|p| p.into_inner());
        bodies.retain(|(_, r), _| *r == revision);
        bodies
            .entry((organization, revision))
            .or_insert_with(|| Bytes::from(nomenclature(seed, organization, revision)))
            .clone()
    }
}

fn modifier_groups<'a>(
    seed: &'a Seed,
    product: &'a Product,
) -> impl Iterator<Item = &'a ModifierGroup> {
    product
        .modifier_groups
        .iter()
        .filter_map(|id| seed.modifier_groups.iter().find(|g| g.id == *id))
}

/// `(size id, sku, size name, size code, is default, base price)` for each size; one entry
/// without a size id when the product has no size scale.
fn size_rows<'a>(
    seed: &'a Seed,
    product: &'a Product,
) -> Vec<(Option<&'a super::seed::Size>, &'a str, Decimal)> {
    if product.sizes.is_empty() {
        return vec![(None, product.sku.as_str(), product.price)];
    }
    product
        .sizes
        .iter()
        .map(|s| {
            (
                seed.sizes.iter().find(|z| z.id == s.size_id),
                s.sku.as_str(),
                s.price,
            )
        })
        .collect()
}

/// External-menu `prices`: one entry for the organizations that sell it, one with
/// `price: null` for those that do not.
fn prices(product_not_sold: &[Uuid], organizations: &[Uuid], price: Decimal) -> Value {
    let (sold, unsold): (Vec<Uuid>, Vec<Uuid>) = organizations
        .iter()
        .partition(|o| !product_not_sold.contains(o));
    let mut entries = Vec::new();
    if !sold.is_empty() {
        entries.push(json!({"organizations": sold, "price": price, "taxCategoryId": Value::Null}));
    }
    if !unsold.is_empty() {
        entries.push(
            json!({"organizations": unsold, "price": Value::Null, "taxCategoryId": Value::Null}),
        );
    }
    Value::Array(entries)
}

fn external_menu(
    seed: &Seed,
    version: u8,
    organizations: &[Uuid],
    category: Option<&str>,
    revision: i64,
) -> Vec<u8> {
    let v2 = version == 2;
    let id_key = |v2_name: &'static str| if v2 { v2_name } else { "id" };
    // The default amount is `byDefault` in V2 but `defaultQuantity` (required) in V3 and V4.
    let restrictions = |min: u32, max: u32, free: u32| {
        let mut restrictions = json!({"minQuantity": min, "maxQuantity": max, "freeQuantity": free, "hideIfDefaultQuantity": false});
        restrictions[if v2 { "byDefault" } else { "defaultQuantity" }] = json!(0);
        restrictions
    };
    let modifier_group = |g: &ModifierGroup| {
        let items: Vec<Value> = g
            .items
            .iter()
            .enumerate()
            .map(|(position, item)| {
                let mut entry = json!({
                    "sku": item.sku, "name": item.name, "description": "",
                    "restrictions": restrictions(0, g.max, 0),
                    "isHidden": false,
                    "prices": prices(&[], organizations, seed.price_in_category(item.price, category)),
                    "position": position, "independentQuantity": false, "productCategoryId": Value::Null,
                    "customerTagGroups": [], "paymentSubject": Value::Null, "outerEanCode": Value::Null,
                    "isMarked": false, "measureUnitType": "GRAM", "paymentSubjectCode": Value::Null,
                    "barcodes": Value::Null, "buttonImageUrl": Value::Null,
                });
                if v2 {
                    entry["itemId"] = json!(item.id);
                    entry["allergenGroups"] = json!([]);
                    entry["nutritionPerHundredGrams"] = Value::Null;
                    entry["portionWeightGrams"] = json!(0);
                    entry["tags"] = json!([]);
                    entry["labels"] = json!([]);
                } else {
                    entry["id"] = json!(item.id);
                    entry["weight"] = json!(0);
                    entry["taxCategoryId"] = Value::Null;
                    entry["nutritions"] = json!([]);
                    entry["allergenGroupIds"] = json!([]);
                    entry["tags"] = json!([]);
                    entry["labels"] = json!([]);
                }
                entry
            })
            .collect();
        let mut group = json!({
            "name": g.name, "description": "", "restrictions": restrictions(g.min, g.max, g.free_quantity), "items": items,
            "isHidden": false, "childModifiersHaveMinMaxRestrictions": false, "sku": g.sku,
        });
        if v2 {
            group["itemGroupId"] = json!(g.id);
            group["canBeDivided"] = json!(false);
        } else {
            group["id"] = json!(g.id);
            group["splittable"] = json!(false);
        }
        group
    };
    let group_sets = group_sets(seed, modifier_group);
    let item = |product: &Product| {
        let groups = &group_sets[product.modifier_groups.as_slice()];
        let sizes: Vec<Spliced<&Value>> = size_rows(seed, product)
            .into_iter()
            .map(|(size, sku, price)| {
                let mut entry = json!({
                    "sku": sku,
                    "sizeCode": size.map(|s| &s.code),
                    "sizeName": size.map(|s| &s.name),
                    "isDefault": size.is_none_or(|s| s.is_default),
                    "prices": prices(&product.not_sold_in, organizations, seed.price_in_category(price, category)),
                    "nutritions": [],
                    "isHidden": false,
                    "measureUnitType": "GRAM",
                    "buttonImageUrl": Value::Null,
                });
                if v2 {
                    entry["sizeId"] = json!(size.map(|s| s.id));
                    entry["portionWeightGrams"] = json!(product.weight_grams);
                    entry["nutritionPerHundredGrams"] = Value::Null;
                } else {
                    entry["id"] = json!(size.map(|s| s.id));
                    entry["weight"] = json!(product.weight_grams);
                }
                spliced(entry, "itemModifierGroups", groups)
            })
            .collect();
        let mut entry = json!({
            "sku": product.sku, "name": product.name, "description": product.description,
            "modifierSchemaId": Value::Null, "modifierSchemaName": Value::Null,
            "type": "DISH", "canSetOpenPrice": false, "useBalanceForSell": false, "measureUnit": "порц",
            "productCategoryId": Value::Null, "customerTagGroups": [], "paymentSubject": Value::Null,
            "paymentSubjectCode": Value::Null, "outerEanCode": Value::Null, "isMarked": false,
            "isHidden": product.hidden, "barcodes": Value::Null, "orderItemType": "Product",
            "tags": [], "labels": [],
        });
        entry[id_key("itemId")] = json!(product.id);
        if v2 {
            entry["allergens"] = json!([]);
            entry["taxCategory"] = Value::Null;
            entry["canBeDivided"] = json!(false);
        } else {
            entry["taxCategoryId"] = Value::Null;
            entry["allergenGroupIds"] = json!([]);
            entry["splittable"] = json!(false);
        }
        spliced(entry, "itemSizes", sizes)
    };
    let categories: Vec<_> = seed
        .groups
        .iter()
        .map(|group| {
            let items: Vec<_> = seed.products.iter().filter(|p| p.group_id == group.id).map(item).collect();
            let fields = json!({
                "id": group.id, "name": group.name, "description": group.description,
                "buttonImageUrl": Value::Null, "headerImageUrl": Value::Null, "iikoGroupId": group.id,
                "scheduleId": Value::Null, "scheduleName": Value::Null, "schedules": [],
                "isHidden": false, "tags": [], "labels": [],
            });
            spliced(fields, "items", items)
        })
        .collect();
    let mut menu = json!({
        "id": seed.external_menu.numeric_id,
        "name": seed.external_menu.name,
        "description": "Меню сайта",
        "buttonImageUrl": Value::Null,
        "revision": revision,
        "formatVersion": version,
        "intervals": [],
        "productCategories": [],
        "customerTagGroups": [],
        "comboCategories": [],
    });
    if !v2 {
        menu["taxCategories"] = json!([]);
        menu["allergenGroups"] = json!([]);
        menu["overrideTaxCategories"] = json!([]);
    }
    let key = if v2 { "itemCategories" } else { "itemGroups" };
    to_bytes(&spliced(menu, key, categories))
}

fn menu_v3(seed: &Seed, organization: Uuid, category: Option<&str>) -> Vec<u8> {
    let restrictions = |g: &ModifierGroup| json!({"minQuantity": g.min, "maxQuantity": g.max, "freeQuantity": g.free_quantity, "defaultQuantity": 0, "hideIfDefaultQuantity": false});
    let products: Vec<Value> = seed
        .products
        .iter()
        .map(|p| {
            json!({
                "sku": p.sku, "id": p.id, "name": p.name, "description": p.description, "type": "DISH",
                "orderItemType": "Product", "modifierSchemaId": Value::Null, "measureUnit": "порц",
                "productCategoryId": Value::Null, "taxCategoryId": Value::Null, "splittable": false,
                "canSetOpenPrice": false, "useBalanceForSell": false, "barcodes": [],
            })
        })
        .collect();
    let modifiers: Vec<Value> = seed
        .modifier_groups
        .iter()
        .flat_map(|g| {
            g.items.iter().map(move |item| {
                json!({
                    "sku": item.sku, "id": item.id, "name": item.name,
                    "restrictions": {"minQuantity": 0, "maxQuantity": g.max, "freeQuantity": 0, "defaultQuantity": 0, "hideIfDefaultQuantity": false},
                    "sizePrices": [{"sizeId": Value::Null, "price": seed.price_in_category(item.price, category), "taxCategoryId": Value::Null}],
                })
            })
        })
        .collect();
    let group_sets = group_sets(seed, |g| {
        json!({
            "id": g.id, "name": g.name, "sku": g.sku, "restrictions": restrictions(g),
            "items": g.items.iter().map(|i| json!({"id": i.id, "name": i.name})).collect::<Vec<_>>(),
            "splittable": false,
        })
    });
    let groups: Vec<_> = seed
        .groups
        .iter()
        .map(|group| {
            let items: Vec<_> = seed
                .products
                .iter()
                .filter(|p| p.group_id == group.id)
                .enumerate()
                .map(|(order, p)| {
                    let sold = !p.not_sold_in.contains(&organization);
                    let size_prices: Vec<Value> = size_rows(seed, p)
                        .into_iter()
                        .map(|(size, sku, price)| {
                            json!({
                                "sizeId": size.map(|s| s.id), "sizeName": size.map(|s| &s.name),
                                "sizeCode": size.map(|s| &s.code), "isDefault": size.is_none_or(|s| s.is_default),
                                "price": sold.then(|| seed.price_in_category(price, category)),
                                "sku": sku, "menuItemSizeId": Value::Null, "taxCategoryId": Value::Null,
                                "isHidden": false, "weight": p.weight_grams,
                            })
                        })
                        .collect();
                    let fields = json!({
                        "productId": p.id, "name": p.name, "description": p.description,
                        "sizePrices": size_prices, "itemType": "PRODUCT",
                        "comboId": Value::Null, "menuItemId": Value::Null, "sortOrder": order, "isHidden": p.hidden,
                    });
                    spliced(fields, "modifierGroups", &group_sets[p.modifier_groups.as_slice()])
                })
                .collect();
            let fields = json!({"id": group.id, "name": group.name, "isHidden": false, "scheduleId": Value::Null});
            spliced(fields, "items", items)
        })
        .collect();
    let menu = json!({
        "id": seed.external_menu.id,
        "name": seed.external_menu.name,
        "description": "Меню сайта",
        "image": Value::Null,
        "products": products,
        "modifiers": modifiers,
        "combos": [],
        "taxCategories": [],
        "productCategories": [],
        "allergenGroups": [],
        "customerTagGroups": [],
        "schedules": [],
        "overrideTaxCategories": [],
    });
    to_bytes(&spliced(menu, "itemsGroups", groups))
}

fn nomenclature_price(price: Decimal, included: bool) -> Value {
    json!({"currentPrice": price, "isIncludedInMenu": included, "nextPrice": Value::Null, "nextIncludedInMenu": false, "nextDatePrice": Value::Null})
}

fn nomenclature(seed: &Seed, organization: Uuid, revision: i64) -> Vec<u8> {
    let group = |id: Uuid,
                 code: &str,
                 name: &str,
                 description: &str,
                 order: usize,
                 modifier: bool| {
        json!({
            "id": id, "code": code, "name": name, "description": description, "parentGroup": Value::Null,
            "order": order, "isIncludedInMenu": !modifier, "isGroupModifier": modifier, "isDeleted": false,
            "imageLinks": [], "additionalInfo": Value::Null, "tags": Value::Null,
            "seoDescription": Value::Null, "seoText": Value::Null, "seoKeywords": Value::Null, "seoTitle": Value::Null,
        })
    };
    let groups: Vec<Value> = seed
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| group(g.id, &g.code, &g.name, &g.description, i, false))
        .chain(
            seed.modifier_groups
                .iter()
                .enumerate()
                .map(|(i, g)| group(g.id, &g.sku, &g.name, "", i, true)),
        )
        .collect();
    let product = |id: Uuid,
                   code: &str,
                   name: &str,
                   description: &str,
                   kind: &str,
                   parent: Uuid,
                   order: usize| {
        json!({
            "id": id, "code": code, "name": name, "description": description, "type": kind,
            "orderItemType": "Product", "groupId": parent, "parentGroup": parent, "productCategoryId": Value::Null,
            "modifierSchemaId": Value::Null, "modifierSchemaName": Value::Null, "measureUnit": "порц",
            "splittable": false, "useBalanceForSell": false, "canSetOpenPrice": false, "doNotPrintInCheque": false,
            "paymentSubject": Value::Null, "isDeleted": false, "order": order, "imageLinks": [],
            "fatAmount": 0, "proteinsAmount": 0, "carbohydratesAmount": 0, "energyAmount": 0,
            "fatFullAmount": 0, "proteinsFullAmount": 0, "carbohydratesFullAmount": 0, "energyFullAmount": 0,
            "additionalInfo": Value::Null, "tags": Value::Null, "fullNameEnglish": "",
            "seoDescription": Value::Null, "seoText": Value::Null, "seoKeywords": Value::Null, "seoTitle": Value::Null,
            "modifiers": [],
        })
    };
    let no_groups = json!([]);
    let group_sets = group_sets(seed, |g| {
        let children: Vec<Value> = g
            .items
            .iter()
            .map(|i| {
                json!({"id": i.id, "defaultAmount": 0, "minAmount": 0, "maxAmount": g.max, "required": false,
                    "hideIfDefaultAmount": false, "splittable": false, "freeOfChargeAmount": 0})
            })
            .collect();
        json!({
            "id": g.id, "minAmount": g.min, "maxAmount": g.max, "required": g.required,
            "childModifiersHaveMinMaxRestrictions": false, "childModifiers": children,
            "hideIfDefaultAmount": false, "defaultAmount": 0, "splittable": false,
            "freeOfChargeAmount": g.free_quantity,
        })
    });
    let mut products: Vec<Spliced<&Value>> = Vec::with_capacity(seed.products.len() + 16);
    for (order, p) in seed.products.iter().enumerate() {
        let mut entry = product(
            p.id,
            &p.sku,
            &p.name,
            &p.description,
            "Dish",
            p.group_id,
            order,
        );
        let included = !p.hidden && !p.not_sold_in.contains(&organization);
        let size_prices: Vec<Value> = if p.sizes.is_empty() {
            vec![json!({"sizeId": Value::Null, "price": nomenclature_price(p.price, included)})]
        } else {
            p.sizes
                .iter()
                .map(|s| json!({"sizeId": s.size_id, "price": nomenclature_price(s.price, included)}))
                .collect()
        };
        entry["sizePrices"] = Value::Array(size_prices);
        entry["weight"] = json!(Decimal::from(p.weight_grams) / Decimal::from(1000));
        products.push(spliced(
            entry,
            "groupModifiers",
            &group_sets[p.modifier_groups.as_slice()],
        ));
    }
    for g in &seed.modifier_groups {
        for (order, item) in g.items.iter().enumerate() {
            let mut entry = product(item.id, &item.sku, &item.name, "", "Modifier", g.id, order);
            entry["sizePrices"] =
                json!([{"sizeId": Value::Null, "price": nomenclature_price(item.price, true)}]);
            entry["weight"] = json!(0);
            products.push(spliced(entry, "groupModifiers", &no_groups));
        }
    }
    let sizes: Vec<Value> = seed
        .sizes
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "priority": s.priority, "isDefault": s.is_default}))
        .collect();
    let body = json!({
        "revision": revision,
        "groups": groups,
        "productCategories": [],
        "sizes": sizes,
    });
    to_bytes(&spliced(body, "products", products))
}
