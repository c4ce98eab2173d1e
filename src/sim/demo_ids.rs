//! Well-known identifiers of the simulator's default data.
//!
//! They are fixed constants (never drawn from the RNG), so an example config file, the `demo`
//! command and tests can reference them on every run, whatever `--products` or `rng_seed` is.
//!
//! | What | Value |
//! |---|---|
//! | `apiLogin` (`/api/1/access_token`) | `sim-api-login` |
//! | `apiKey` / `appId` / `clientSecret` (`/api/v2/access_token`) | `sim-api-key` / `7c1a0009-0000-4000-8000-000000000001` / `sim-client-secret` |
//! | organization "Пиццерия на Ленина" (loyalty on) | `7c1a0001-0000-4000-8000-000000000001` |
//! | organization "Пиццерия на Мира" (no loyalty) | `7c1a0001-0000-4000-8000-000000000002` |
//! | terminal group Ленина, alive, Europe/Moscow | `7c1a0002-0000-4000-8000-000000000001` |
//! | terminal group Ленина, in sleep (never alive) | `7c1a0002-0000-4000-8000-000000000002` |
//! | terminal group Мира, alive, Asia/Yekaterinburg | `7c1a0002-0000-4000-8000-000000000003` |
//! | payment types cash / card / online (External) / iikoCard bonus | `7c1a0003-0000-4000-8000-00000000000{1,2,3,4}` |
//! | order types courier delivery / pickup | `7c1a0004-0000-4000-8000-00000000000{1,2}` |
//! | discount "Универсальная скидка" (manual FlexibleSum) | `7c1a0005-0000-4000-8000-000000000001` |
//! | discount "Скидка 10%" (manual Percent) / automatic "Счастливые часы" | `…0005-…-000000000002` / `…-000000000003` |
//! | cancel causes "Отказ гостя" / "Нет в наличии" | `7c1a0006-0000-4000-8000-00000000000{1,2}` |
//! | external menu | `"4821"` ("Сайт") |
//! | price categories "Базовая" / "Агрегаторы" (+15 %) | `"7c1a0007-0000-4000-8000-000000000001"` / `"…-000000000002"` |
//! | loyalty program / bonus campaign / bonus wallet / coupon campaign | `7c1a0008-0000-4000-8000-00000000000{1,2,3,4}` |
//! | customers (organization Ленина) | `+79990001122` (1500 bonuses), `+79990002233` (300), `+79990003344` (0) |
//! | coupons | `SIM-100` (100 ₽ off), `SIM-250` (250 ₽ off) |
use uuid::Uuid;

pub const API_LOGIN: &str = "sim-api-login";
pub const API_KEY: &str = "sim-api-key";
pub const APP_ID: Uuid = Uuid::from_u128(0x7c1a0009_0000_4000_8000_000000000001);
pub const CLIENT_SECRET: &str = "sim-client-secret";

pub const ORG_LENINA: Uuid = Uuid::from_u128(0x7c1a0001_0000_4000_8000_000000000001);
pub const ORG_MIRA: Uuid = Uuid::from_u128(0x7c1a0001_0000_4000_8000_000000000002);

pub const TG_LENINA: Uuid = Uuid::from_u128(0x7c1a0002_0000_4000_8000_000000000001);
pub const TG_LENINA_SLEEPING: Uuid = Uuid::from_u128(0x7c1a0002_0000_4000_8000_000000000002);
pub const TG_MIRA: Uuid = Uuid::from_u128(0x7c1a0002_0000_4000_8000_000000000003);

pub const PAYMENT_CASH: Uuid = Uuid::from_u128(0x7c1a0003_0000_4000_8000_000000000001);
pub const PAYMENT_CARD: Uuid = Uuid::from_u128(0x7c1a0003_0000_4000_8000_000000000002);
pub const PAYMENT_ONLINE: Uuid = Uuid::from_u128(0x7c1a0003_0000_4000_8000_000000000003);
pub const PAYMENT_BONUS: Uuid = Uuid::from_u128(0x7c1a0003_0000_4000_8000_000000000004);

pub const ORDER_TYPE_COURIER: Uuid = Uuid::from_u128(0x7c1a0004_0000_4000_8000_000000000001);
pub const ORDER_TYPE_PICKUP: Uuid = Uuid::from_u128(0x7c1a0004_0000_4000_8000_000000000002);

pub const DISCOUNT_UNIVERSAL: Uuid = Uuid::from_u128(0x7c1a0005_0000_4000_8000_000000000001);
pub const DISCOUNT_PERCENT: Uuid = Uuid::from_u128(0x7c1a0005_0000_4000_8000_000000000002);
pub const DISCOUNT_AUTOMATIC: Uuid = Uuid::from_u128(0x7c1a0005_0000_4000_8000_000000000003);

pub const CANCEL_CAUSE_GUEST: Uuid = Uuid::from_u128(0x7c1a0006_0000_4000_8000_000000000001);
pub const CANCEL_CAUSE_OUT_OF_STOCK: Uuid = Uuid::from_u128(0x7c1a0006_0000_4000_8000_000000000002);

pub const EXTERNAL_MENU_ID: &str = "4821";
pub const PRICE_CATEGORY_BASE: &str = "7c1a0007-0000-4000-8000-000000000001";
pub const PRICE_CATEGORY_AGGREGATORS: &str = "7c1a0007-0000-4000-8000-000000000002";

pub const LOYALTY_PROGRAM: Uuid = Uuid::from_u128(0x7c1a0008_0000_4000_8000_000000000001);
pub const BONUS_CAMPAIGN: Uuid = Uuid::from_u128(0x7c1a0008_0000_4000_8000_000000000002);
pub const BONUS_WALLET: Uuid = Uuid::from_u128(0x7c1a0008_0000_4000_8000_000000000003);
pub const COUPON_CAMPAIGN: Uuid = Uuid::from_u128(0x7c1a0008_0000_4000_8000_000000000004);

/// The customer with the largest bonus balance (1500).
pub const CUSTOMER_PHONE: &str = "+79990001122";
pub const COUPON_100: &str = "SIM-100";
pub const COUPON_250: &str = "SIM-250";
