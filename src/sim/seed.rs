//! The simulator's reference data: organizations, dictionaries, the catalogue and loyalty
//! customers. Either generated deterministically from an RNG seed or loaded from a JSON file.
use std::path::Path;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::demo_ids as ids;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seed {
    pub organizations: Vec<Organization>,
    pub payment_types: Vec<PaymentType>,
    pub order_types: Vec<OrderType>,
    pub discounts: Vec<Discount>,
    pub cancel_causes: Vec<NamedId>,
    pub external_menu: ExternalMenu,
    pub price_categories: Vec<PriceCategory>,
    pub groups: Vec<MenuGroup>,
    pub sizes: Vec<Size>,
    pub modifier_groups: Vec<ModifierGroup>,
    pub products: Vec<Product>,
    pub loyalty: LoyaltyProgram,
    pub customers: Vec<Customer>,
    pub coupons: Vec<Coupon>,
    pub stop_list: Vec<StopListEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedId {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub loyalty_enabled: bool,
    pub terminal_groups: Vec<TerminalGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminalGroup {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    /// IANA name used to render terminal-local times.
    pub timezone: String,
    /// The Windows name iiko puts in `timeZone`.
    pub timezone_name: String,
    /// Groups in sleep mode are listed in `terminalGroupsInSleep` and never take orders.
    pub in_sleep: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentType {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// Dictionary kind: `Cash`, `Card`, `External`, `IikoCard`.
    pub kind: String,
    /// `External`, `Internal` or `Both`.
    pub processing_type: String,
    pub marketing_campaigns: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderType {
    pub id: Uuid,
    pub name: String,
    /// Dictionary service type: `DeliveryByCourier` or `DeliveryPickUp`.
    pub service_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discount {
    pub id: Uuid,
    pub name: String,
    /// `Percent`, `FlexibleSum` or `FixedSum`.
    pub mode: String,
    pub percent: Decimal,
    pub sum: Decimal,
    pub is_manual: bool,
    pub is_automatic: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExternalMenu {
    pub id: String,
    pub name: String,
    /// The numeric id in the menu body (`ExternalMenuV2.id` is an integer).
    pub numeric_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceCategory {
    pub id: String,
    pub name: String,
    /// Prices in this category are the base price plus this many percent, rounded to rubles.
    pub markup_percent: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MenuGroup {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Size {
    pub id: Uuid,
    pub name: String,
    /// Appended to the product sku to form the size sku (`PZ-00012-30`).
    pub code: String,
    pub priority: i32,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModifierGroup {
    pub id: Uuid,
    pub name: String,
    pub sku: String,
    pub min: u32,
    pub max: u32,
    pub required: bool,
    pub free_quantity: u32,
    pub items: Vec<ModifierItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModifierItem {
    pub id: Uuid,
    pub name: String,
    pub sku: String,
    pub price: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub group_id: Uuid,
    pub weight_grams: u32,
    pub hidden: bool,
    /// Organizations where the product has no price (`price: null`, not for sale).
    pub not_sold_in: Vec<Uuid>,
    /// Empty when the product has no size scale; otherwise one entry per size.
    pub sizes: Vec<ProductSize>,
    /// The base price when there are no sizes.
    pub price: Decimal,
    pub modifier_groups: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductSize {
    pub size_id: Uuid,
    pub sku: String,
    pub price: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoyaltyProgram {
    pub program_id: Uuid,
    pub name: String,
    pub campaign_id: Uuid,
    pub campaign_name: String,
    pub wallet_id: Uuid,
    pub wallet_name: String,
    /// Bonuses may cover at most this share of the order sum.
    pub max_payment_percent: Decimal,
    pub coupon_campaign_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub phone: String,
    pub bonus_balance: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coupon {
    pub number: String,
    pub discount: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopListEntry {
    pub terminal_group_id: Uuid,
    pub product_id: Uuid,
    pub size_id: Option<Uuid>,
    pub balance: Decimal,
}

impl Seed {
    pub fn load(path: &Path) -> anyhow::Result<Seed> {
        let text =
            std::fs::read(path).with_context(|| format!("reading seed {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing seed {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing seed {}", path.display()))
    }

    pub fn product(&self, id: Uuid) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn organization(&self, id: Uuid) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }

    pub fn terminal_group(&self, id: Uuid) -> Option<(&Organization, &TerminalGroup)> {
        self.organizations.iter().find_map(|o| {
            o.terminal_groups
                .iter()
                .find(|t| t.id == id)
                .map(|t| (o, t))
        })
    }

    /// The price of a product (or one of its sizes) in a price category, or the base price.
    /// A marked-up price is rounded to rubles; a base price stays as seeded, kopecks and all.
    pub fn price_in_category(&self, base: Decimal, category: Option<&str>) -> Decimal {
        let markup = category
            .and_then(|c| self.price_categories.iter().find(|p| p.id == c))
            .map_or(Decimal::ZERO, |p| p.markup_percent);
        if markup.is_zero() {
            return base;
        }
        (base * (Decimal::ONE_HUNDRED + markup) / Decimal::ONE_HUNDRED).round()
    }

    /// Generates the default data set with `products` dishes; the same `rng_seed` gives the same data.
    pub fn generate(products: usize, rng_seed: u64) -> Seed {
        let mut rng = StdRng::seed_from_u64(rng_seed);
        let sizes = generate_sizes(&mut rng);
        let modifier_groups = generate_modifier_groups(&mut rng);
        let groups: Vec<MenuGroup> = CATEGORIES
            .iter()
            .map(|c| MenuGroup {
                id: random_uuid(&mut rng),
                name: c.name.to_string(),
                code: c.prefix.to_string(),
                description: format!("{} нашей пиццерии", c.name),
            })
            .collect();
        let catalogue = generate_products(&mut rng, products, &groups, &sizes, &modifier_groups);
        let stop_list = catalogue
            .iter()
            .filter(|p| !p.hidden)
            .take(3)
            .map(|p| StopListEntry {
                terminal_group_id: ids::TG_LENINA,
                product_id: p.id,
                size_id: p.sizes.first().map(|s| s.size_id),
                balance: Decimal::ZERO,
            })
            .collect();
        Seed {
            organizations: default_organizations(),
            payment_types: default_payment_types(),
            order_types: vec![
                OrderType {
                    id: ids::ORDER_TYPE_COURIER,
                    name: "Доставка курьером".into(),
                    service_type: "DeliveryByCourier".into(),
                },
                OrderType {
                    id: ids::ORDER_TYPE_PICKUP,
                    name: "Самовывоз".into(),
                    service_type: "DeliveryPickUp".into(),
                },
            ],
            discounts: default_discounts(),
            cancel_causes: vec![
                NamedId {
                    id: ids::CANCEL_CAUSE_GUEST,
                    name: "Отказ гостя".into(),
                },
                NamedId {
                    id: ids::CANCEL_CAUSE_OUT_OF_STOCK,
                    name: "Нет в наличии".into(),
                },
            ],
            external_menu: ExternalMenu {
                id: ids::EXTERNAL_MENU_ID.into(),
                name: "Сайт".into(),
                numeric_id: ids::EXTERNAL_MENU_ID.parse().expect("numeric menu id"),
            },
            price_categories: vec![
                PriceCategory {
                    id: ids::PRICE_CATEGORY_BASE.into(),
                    name: "Базовая".into(),
                    markup_percent: Decimal::ZERO,
                },
                PriceCategory {
                    id: ids::PRICE_CATEGORY_AGGREGATORS.into(),
                    name: "Агрегаторы".into(),
                    markup_percent: Decimal::from(15),
                },
            ],
            groups,
            sizes,
            modifier_groups,
            products: catalogue,
            loyalty: LoyaltyProgram {
                program_id: ids::LOYALTY_PROGRAM,
                name: "Бонусная программа".into(),
                campaign_id: ids::BONUS_CAMPAIGN,
                campaign_name: "Оплата бонусами".into(),
                wallet_id: ids::BONUS_WALLET,
                wallet_name: "Бонусы".into(),
                max_payment_percent: Decimal::from(50),
                coupon_campaign_id: ids::COUPON_CAMPAIGN,
            },
            customers: default_customers(),
            coupons: vec![
                Coupon {
                    number: ids::COUPON_100.into(),
                    discount: Decimal::from(100),
                },
                Coupon {
                    number: ids::COUPON_250.into(),
                    discount: Decimal::from(250),
                },
            ],
            stop_list,
        }
    }
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn default_organizations() -> Vec<Organization> {
    vec![
        Organization {
            id: ids::ORG_LENINA,
            name: "Пиццерия на Ленина".into(),
            address: "Москва, ул. Ленина, 10".into(),
            loyalty_enabled: true,
            terminal_groups: vec![
                TerminalGroup {
                    id: ids::TG_LENINA,
                    name: "Ленина: кухня".into(),
                    address: "Москва, ул. Ленина, 10".into(),
                    timezone: "Europe/Moscow".into(),
                    timezone_name: "Russian Standard Time".into(),
                    in_sleep: false,
                },
                TerminalGroup {
                    id: ids::TG_LENINA_SLEEPING,
                    name: "Ленина: летняя веранда".into(),
                    address: "Москва, ул. Ленина, 10".into(),
                    timezone: "Europe/Moscow".into(),
                    timezone_name: "Russian Standard Time".into(),
                    in_sleep: true,
                },
            ],
        },
        Organization {
            id: ids::ORG_MIRA,
            name: "Пиццерия на Мира".into(),
            address: "Екатеринбург, пр. Мира, 5".into(),
            loyalty_enabled: false,
            terminal_groups: vec![TerminalGroup {
                id: ids::TG_MIRA,
                name: "Мира: кухня".into(),
                address: "Екатеринбург, пр. Мира, 5".into(),
                timezone: "Asia/Yekaterinburg".into(),
                timezone_name: "Ekaterinburg Standard Time".into(),
                in_sleep: false,
            }],
        },
    ]
}

fn default_payment_types() -> Vec<PaymentType> {
    let payment = |id, code: &str, name: &str, kind: &str, processing: &str| PaymentType {
        id,
        code: code.into(),
        name: name.into(),
        kind: kind.into(),
        processing_type: processing.into(),
        marketing_campaigns: Vec::new(),
    };
    let mut bonus = payment(
        ids::PAYMENT_BONUS,
        "IIKOCARD",
        "Бонусы iikoCard",
        "IikoCard",
        "Internal",
    );
    bonus.marketing_campaigns.push(ids::BONUS_CAMPAIGN);
    vec![
        payment(ids::PAYMENT_CASH, "CASH", "Наличные", "Cash", "Internal"),
        payment(
            ids::PAYMENT_CARD,
            "CARD",
            "Банковская карта",
            "Card",
            "Both",
        ),
        payment(
            ids::PAYMENT_ONLINE,
            "SITE",
            "Оплата на сайте",
            "External",
            "External",
        ),
        bonus,
    ]
}

fn default_discounts() -> Vec<Discount> {
    vec![
        Discount {
            id: ids::DISCOUNT_UNIVERSAL,
            name: "Универсальная скидка".into(),
            mode: "FlexibleSum".into(),
            percent: Decimal::ZERO,
            sum: Decimal::ZERO,
            is_manual: true,
            is_automatic: false,
        },
        Discount {
            id: ids::DISCOUNT_PERCENT,
            name: "Скидка 10%".into(),
            mode: "Percent".into(),
            percent: Decimal::from(10),
            sum: Decimal::ZERO,
            is_manual: true,
            is_automatic: false,
        },
        Discount {
            id: ids::DISCOUNT_AUTOMATIC,
            name: "Счастливые часы".into(),
            mode: "Percent".into(),
            percent: Decimal::from(5),
            sum: Decimal::ZERO,
            is_manual: false,
            is_automatic: true,
        },
    ]
}

fn default_customers() -> Vec<Customer> {
    [
        (
            0x7c1a000a_0000_4000_8000_000000000001u128,
            "Иван",
            ids::CUSTOMER_PHONE,
            1500,
        ),
        (
            0x7c1a000a_0000_4000_8000_000000000002,
            "Мария",
            "+79990002233",
            300,
        ),
        (
            0x7c1a000a_0000_4000_8000_000000000003,
            "Пётр",
            "+79990003344",
            0,
        ),
    ]
    .into_iter()
    .map(|(id, name, phone, balance)| Customer {
        id: Uuid::from_u128(id),
        organization_id: ids::ORG_LENINA,
        name: name.into(),
        phone: phone.into(),
        bonus_balance: Decimal::from(balance),
    })
    .collect()
}

fn generate_sizes(rng: &mut StdRng) -> Vec<Size> {
    [
        ("25 см", "25", 0, false),
        ("30 см", "30", 1, true),
        ("35 см", "35", 2, false),
        ("0,3 л", "03", 0, true),
        ("0,5 л", "05", 1, false),
    ]
    .into_iter()
    .map(|(name, code, priority, is_default)| Size {
        id: random_uuid(rng),
        name: name.into(),
        code: code.into(),
        priority,
        is_default,
    })
    .collect()
}

/// Modifier groups in this order: dough, pizza toppings, sauces, drink extras.
fn generate_modifier_groups(rng: &mut StdRng) -> Vec<ModifierGroup> {
    let mut group = |name: &str, sku: &str, min, max, free, items: &[(&str, i64)]| ModifierGroup {
        id: random_uuid(rng),
        name: name.into(),
        sku: sku.into(),
        min,
        max,
        required: min > 0,
        free_quantity: free,
        items: items
            .iter()
            .enumerate()
            .map(|(i, (item, price))| ModifierItem {
                id: random_uuid(rng),
                name: (*item).into(),
                sku: format!("{sku}-{:02}", i + 1),
                price: Decimal::from(*price),
            })
            .collect(),
    };
    vec![
        group(
            "Тесто",
            "MG-DOUGH",
            1,
            1,
            1,
            &[("Традиционное", 0), ("Тонкое", 0)],
        ),
        group(
            "Добавки",
            "MG-TOPPING",
            0,
            5,
            0,
            &[
                ("Моцарелла", 79),
                ("Бекон", 89),
                ("Шампиньоны", 59),
                ("Халапеньо", 49),
            ],
        ),
        group(
            "Соусы",
            "MG-SAUCE",
            0,
            3,
            1,
            &[
                ("Сырный", 49),
                ("Барбекю", 49),
                ("Чесночный", 49),
                ("Кисло-сладкий", 49),
            ],
        ),
        group(
            "Лёд и лимон",
            "MG-DRINK",
            0,
            2,
            2,
            &[("Лёд", 0), ("Лимон", 19)],
        ),
    ]
}

struct Category {
    name: &'static str,
    prefix: &'static str,
    /// Index into the size list: `Some(0)` pizza sizes, `Some(3)` drink sizes.
    sizes: Option<(usize, usize)>,
    modifier_groups: &'static [usize],
    base_price: (i64, i64),
    weight: (u32, u32),
    dishes: &'static [&'static str],
    ingredients: &'static [&'static str],
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "Пицца",
        prefix: "PZ",
        sizes: Some((0, 3)),
        modifier_groups: &[0, 1],
        base_price: (390, 790),
        weight: (450, 900),
        dishes: &[
            "Маргарита",
            "Пепперони",
            "Четыре сыра",
            "Гавайская",
            "Мясная",
            "Карбонара",
            "Дьябло",
            "Вегетарианская",
            "Цезарь",
            "Барбекю",
            "Морская",
            "Грибная",
        ],
        ingredients: &[
            "моцарелла",
            "томатный соус",
            "пепперони",
            "ветчина",
            "шампиньоны",
            "базилик",
            "орегано",
        ],
    },
    Category {
        name: "Роллы",
        prefix: "RL",
        sizes: None,
        modifier_groups: &[2],
        base_price: (290, 690),
        weight: (180, 320),
        dishes: &[
            "Филадельфия",
            "Калифорния",
            "Дракон",
            "Канада",
            "Унаги маки",
            "Спайси тунец",
            "Чука ролл",
            "Эби темпура",
        ],
        ingredients: &[
            "лосось",
            "сливочный сыр",
            "огурец",
            "авокадо",
            "икра тобико",
            "угорь",
            "рис",
        ],
    },
    Category {
        name: "Супы",
        prefix: "SP",
        sizes: None,
        modifier_groups: &[],
        base_price: (250, 450),
        weight: (300, 400),
        dishes: &[
            "Борщ",
            "Том ям",
            "Солянка",
            "Куриный суп с лапшой",
            "Грибной крем-суп",
            "Уха",
            "Мисо",
        ],
        ingredients: &[
            "говядина",
            "свёкла",
            "сметана",
            "креветки",
            "кокосовое молоко",
            "грибы",
            "зелень",
        ],
    },
    Category {
        name: "Салаты",
        prefix: "SL",
        sizes: None,
        modifier_groups: &[2],
        base_price: (220, 520),
        weight: (180, 280),
        dishes: &[
            "Цезарь с курицей",
            "Греческий",
            "Оливье",
            "Капрезе",
            "Нисуаз",
            "Салат с тунцом",
        ],
        ingredients: &[
            "романо",
            "пармезан",
            "томаты",
            "фета",
            "оливки",
            "куриное филе",
            "тунец",
        ],
    },
    Category {
        name: "Горячее",
        prefix: "HT",
        sizes: None,
        modifier_groups: &[2],
        base_price: (390, 990),
        weight: (250, 450),
        dishes: &[
            "Стейк рибай",
            "Куриные крылья",
            "Паста карбонара",
            "Бефстроганов",
            "Лосось на гриле",
            "Плов",
        ],
        ingredients: &[
            "говядина",
            "курица",
            "сливочный соус",
            "картофель",
            "овощи гриль",
            "рис",
        ],
    },
    Category {
        name: "Закуски",
        prefix: "ZK",
        sizes: None,
        modifier_groups: &[2],
        base_price: (150, 390),
        weight: (120, 250),
        dishes: &[
            "Картофель фри",
            "Наггетсы",
            "Сырные палочки",
            "Луковые кольца",
            "Гренки",
            "Креветки темпура",
        ],
        ingredients: &[
            "картофель",
            "курица",
            "моцарелла",
            "лук",
            "панировка",
            "чеснок",
        ],
    },
    Category {
        name: "Напитки",
        prefix: "DR",
        sizes: Some((3, 5)),
        modifier_groups: &[3],
        base_price: (90, 250),
        weight: (300, 500),
        dishes: &[
            "Кола",
            "Морс клюквенный",
            "Лимонад",
            "Апельсиновый сок",
            "Чай холодный",
            "Минеральная вода",
            "Квас",
        ],
        ingredients: &["клюква", "лимон", "апельсин", "мята", "сахар"],
    },
    Category {
        name: "Десерты",
        prefix: "DS",
        sizes: None,
        modifier_groups: &[],
        base_price: (150, 390),
        weight: (100, 200),
        dishes: &[
            "Чизкейк",
            "Тирамису",
            "Медовик",
            "Брауни",
            "Панна-котта",
            "Эклер",
        ],
        ingredients: &["маскарпоне", "шоколад", "мёд", "ваниль", "ягоды", "сливки"],
    },
];

const VARIANTS: &[&str] = &[
    "",
    "острая",
    "фирменная",
    "по-домашнему",
    "с сыром",
    "с зеленью",
    "новинка",
    "от шефа",
    "мини",
    "XL",
];

fn generate_products(
    rng: &mut StdRng,
    count: usize,
    groups: &[MenuGroup],
    sizes: &[Size],
    modifier_groups: &[ModifierGroup],
) -> Vec<Product> {
    (0..count)
        .map(|n| {
            let category_index = n % CATEGORIES.len();
            let category = &CATEGORIES[category_index];
            let round = n / CATEGORIES.len();
            let dish = category.dishes[round % category.dishes.len()];
            let variant = VARIANTS[(round / category.dishes.len()) % VARIANTS.len()];
            let generation = round / (category.dishes.len() * VARIANTS.len());
            let mut name = if variant.is_empty() {
                dish.to_string()
            } else {
                format!("{dish} {variant}")
            };
            if generation > 0 {
                name.push_str(&format!(" №{}", generation + 1));
            }
            let sku = format!("{}-{:05}", category.prefix, n + 1);
            let base = Decimal::from(
                rng.random_range(category.base_price.0..=category.base_price.1) / 10 * 10,
            );
            let product_sizes = match category.sizes {
                Some((from, to)) => sizes[from..to]
                    .iter()
                    .enumerate()
                    .map(|(step, size)| ProductSize {
                        size_id: size.id,
                        sku: format!("{sku}-{}", size.code),
                        price: base + Decimal::from(step as i64 * 150),
                    })
                    .collect(),
                None => Vec::new(),
            };
            let ingredients: Vec<&str> = category
                .ingredients
                .choose_multiple(rng, 3)
                .copied()
                .collect();
            Product {
                id: random_uuid(rng),
                description: format!("{}: {}", name, ingredients.join(", ")),
                name,
                sku,
                group_id: groups[category_index].id,
                weight_grams: rng.random_range(category.weight.0..=category.weight.1),
                hidden: n % 37 == 36,
                not_sold_in: if n % 23 == 22 {
                    vec![ids::ORG_MIRA]
                } else {
                    Vec::new()
                },
                sizes: product_sizes,
                price: base,
                modifier_groups: category
                    .modifier_groups
                    .iter()
                    .map(|&i| modifier_groups[i].id)
                    .collect(),
            }
        })
        .collect()
}
