//! Configuration: a TOML file, `IIKO_BRIDGE__SECTION__KEY` environment overrides and `*_file`
//! secrets, parsed once into typed settings. Every problem names the key and where it came from.
use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

use chrono_tz::Tz;
use figment::{
    Figment, Metadata,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use url::Url;
use uuid::Uuid;

use crate::signing::WebhookSecret;

pub const DEFAULT_PATH: &str = "config/bridge.toml";
const ENV_PREFIX: &str = "IIKO_BRIDGE__";

/// Keys that may carry secrets; each may instead be given as `<key>_file` naming a file to read.
const SECRET_KEYS: &[&str] = &[
    "store.password",
    "iiko.api_login",
    "iiko.api_key",
    "iiko.client_secret",
    "site.token",
    "site.signing_secret",
    "site.events_secret",
    "iiko_webhook.auth_token",
    "email.smtp_url",
    "telegram.bot_token",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    pub iiko: IikoConfig,
    #[serde(default)]
    pub site: SiteConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub status: StatusConfig,
    #[serde(default)]
    pub iiko_webhook: IikoWebhookConfig,
    #[serde(default)]
    pub email: EmailConfig,
    #[serde(default)]
    pub telegram: TelegramConfig,
    #[serde(default)]
    pub menu: MenuConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub branches: Vec<BranchConfig>,
    #[serde(default)]
    pub reconcile: ReconcileConfig,
}

impl Config {
    /// The configured branch with this key.
    pub fn branch(&self, key: &str) -> Option<&BranchConfig> {
        self.branches.iter().find(|b| b.key == key)
    }
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event; colours only on a terminal.
    #[default]
    Text,
    /// One JSON object per line, with every field (order, branch, correlation id) as a key,
    /// for log shippers.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// A request (its body included) that takes longer is answered 503 `timeout`.
    pub request_timeout_seconds: u64,
    /// API requests in progress at once; past it a request is answered 503 `overloaded`.
    pub max_concurrent_requests: u32,
    /// Also serve `/healthz`, `/readyz` and `/metrics` here (e.g. an internal address).
    pub ops_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 256 * 1024,
            request_timeout_seconds: 30,
            max_concurrent_requests: 512,
            ops_listen: None,
        }
    }
}

impl ServerConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub url: String,
    /// The PostgreSQL password, when it is not in `url` (or `password_file`).
    pub password: Option<SecretString>,
    /// Connections each process opens at most (PostgreSQL: mind the server's
    /// `max_connections` across all instances).
    pub max_connections: u32,
    /// Finished orders (with their calls, history and fallback messages), dead site events
    /// and iiko webhook calls are deleted after this many days.
    pub retention_days: f64,
    /// A singleton duty's lease (the status poller, the menu schedule ...): its holder renews
    /// it every third of this, and another instance takes it over this long after the holder
    /// dies.
    pub lease_seconds: f64,
    /// How often `serve` checks that the store takes writes (and how long a check may take);
    /// operators hear of three failed checks in a row, and of the recovery.
    pub check_seconds: f64,
}

impl StoreConfig {
    /// The store at `url`, every other setting at its default.
    pub fn at(url: &str) -> StoreConfig {
        StoreConfig {
            url: url.to_owned(),
            ..StoreConfig::default()
        }
    }

    /// `url` with the password of a `postgres://user:password@...` URL hidden, for logs and
    /// messages.
    pub fn display_url(&self) -> String {
        match Url::parse(&self.url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.into()
            }
            _ => self.url.clone(),
        }
    }
}

// By hand: the URL may carry a password.
impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.display_url())
            .field("password", &self.password)
            .field("max_connections", &self.max_connections)
            .field("retention_days", &self.retention_days)
            .field("lease_seconds", &self.lease_seconds)
            .field("check_seconds", &self.check_seconds)
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/bridge.db".into(),
            password: None,
            max_connections: 10,
            retention_days: 90.0,
            lease_seconds: 30.0,
            check_seconds: 5.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IikoConfig {
    #[serde(default = "default_iiko_base_url")]
    pub base_url: Url,
    pub api_login: Option<SecretString>,
    pub api_key: Option<SecretString>,
    #[serde(default, deserialize_with = "optional_uuid")]
    pub app_id: Option<Uuid>,
    pub client_secret: Option<SecretString>,
    #[serde(default = "default_iiko_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_iiko_rps")]
    pub requests_per_second: NonZeroU32,
    /// The share of `requests_per_second` that site requests (loyalty, checks, cancels) may
    /// use; dispatch and the other workers always keep the rest (and use all of it while the
    /// site is quiet).
    #[serde(default = "default_site_share")]
    pub site_share_percent: u32,
}

fn default_iiko_base_url() -> Url {
    Url::parse("https://api-ru.iiko.services").expect("a valid URL")
}
fn default_iiko_timeout() -> u64 {
    15
}
fn default_iiko_rps() -> NonZeroU32 {
    NonZeroU32::new(10).expect("non-zero")
}
fn default_site_share() -> u32 {
    50
}

impl IikoConfig {
    /// The client settings, or the one problem that stops us from building them.
    pub fn settings(&self) -> Result<IikoSettings, SettingsProblem> {
        let credentials = match (
            &self.api_login,
            &self.api_key,
            self.app_id,
            &self.client_secret,
        ) {
            (Some(login), None, None, None) => Credentials::ApiLogin(login.clone()),
            (None, Some(key), Some(app_id), Some(secret)) => Credentials::ApiKey {
                api_key: key.clone(),
                app_id,
                client_secret: secret.clone(),
            },
            (None, None, None, None) => {
                return Err(SettingsProblem::new(
                    "iiko",
                    "give api_login, or api_key + app_id + client_secret",
                ));
            }
            (Some(_), ..) => {
                return Err(SettingsProblem::new(
                    "iiko",
                    "api_login cannot be combined with api_key/app_id/client_secret",
                ));
            }
            (None, ..) => {
                return Err(SettingsProblem::new(
                    "iiko",
                    "api_key, app_id and client_secret go together",
                ));
            }
        };
        if !(1..=120).contains(&self.timeout_seconds) {
            return Err(SettingsProblem::new(
                "iiko.timeout_seconds",
                "must be between 1 and 120",
            ));
        }
        Ok(IikoSettings {
            base_url: self.base_url.clone(),
            credentials,
            timeout: Duration::from_secs(self.timeout_seconds),
            requests_per_second: self.requests_per_second,
        })
    }
}

/// How to reach iikoCloud with one credential.
#[derive(Debug, Clone)]
pub struct IikoSettings {
    pub base_url: Url,
    pub credentials: Credentials,
    /// Sent as the `Timeout` header: how long iiko waits for the terminal before answering 408.
    pub timeout: Duration,
    pub requests_per_second: NonZeroU32,
}

/// The two authentication flows iikoCloud offers.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Legacy `/api/1/access_token` with `apiLogin`.
    ApiLogin(SecretString),
    /// `/api/v2/access_token` with `apiKey` + `appId` + `clientSecret`.
    ApiKey {
        api_key: SecretString,
        app_id: Uuid,
        client_secret: SecretString,
    },
}

/// Why the `[iiko]` section cannot make client settings, and which key to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    pub key: &'static str,
    pub message: &'static str,
}

impl SettingsProblem {
    fn new(key: &'static str, message: &'static str) -> Self {
        Self { key, message }
    }
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub token: Option<SecretString>,
    pub signing_secret: Option<SecretString>,
    pub events_url: Option<Url>,
    pub events_secret: Option<SecretString>,
    #[serde(default = "default_source_key")]
    pub source_key: String,
    /// Order API calls per second the site may make before it gets 429.
    #[serde(default = "default_site_rps")]
    pub requests_per_second: NonZeroU32,
    /// The waits before the 1st, 2nd ... retry of an event; the last one repeats.
    #[serde(default = "default_events_retry_delays")]
    pub events_retry_delays_seconds: Vec<f64>,
    /// How long one POST of an event may take.
    #[serde(default = "default_events_timeout")]
    pub events_timeout_seconds: f64,
    /// Delivered and stopped events (and, without `events_url`, every event) are deleted
    /// after this many days.
    #[serde(default = "default_events_retention")]
    pub events_retention_days: f64,
    /// An event the site keeps refusing for this long becomes `dead` (operators are told).
    #[serde(default = "default_events_give_up")]
    pub events_give_up_hours: f64,
    /// How long a site request waits for iiko's loyalty answers before going on without them.
    #[serde(default = "default_loyalty_wait_ms")]
    pub loyalty_wait_ms: u64,
}

impl SiteConfig {
    pub fn loyalty_wait(&self) -> Duration {
        Duration::from_millis(self.loyalty_wait_ms)
    }
}

fn default_loyalty_wait_ms() -> u64 {
    2000
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            token: None,
            signing_secret: None,
            events_url: None,
            events_secret: None,
            source_key: default_source_key(),
            requests_per_second: default_site_rps(),
            events_retry_delays_seconds: default_events_retry_delays(),
            events_timeout_seconds: default_events_timeout(),
            events_retention_days: default_events_retention(),
            events_give_up_hours: default_events_give_up(),
            loyalty_wait_ms: default_loyalty_wait_ms(),
        }
    }
}

fn default_events_retry_delays() -> Vec<f64> {
    vec![5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0]
}

fn default_events_timeout() -> f64 {
    10.0
}

fn default_events_retention() -> f64 {
    7.0
}

fn default_events_give_up() -> f64 {
    72.0
}

fn default_site_rps() -> NonZeroU32 {
    NonZeroU32::new(200).expect("non-zero")
}

fn default_source_key() -> String {
    "iiko-bridge".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    pub retry_interval_seconds: f64,
    pub max_attempts: u32,
    /// How long one attempt follows iiko's asynchronous creation before it counts as a
    /// transient failure; longer than the order's transport-to-front timeout (60 s).
    pub creation_wait_seconds: f64,
    /// Orders being sent to iiko at once, across branches.
    pub concurrency: u32,
    /// After the last attempt ended unclear (iiko may have the order), how long the order is
    /// read back before it goes to the operators anyway, with a warning to check iikoFront.
    pub unclear_grace_seconds: f64,
    /// The hard limit of one attempt (429 waits and token refreshes included); the lease is a
    /// little longer. Unset: four iiko calls at their timeout plus the creation wait.
    pub attempt_timeout_seconds: Option<f64>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_interval_seconds: 15.0,
            max_attempts: 3,
            creation_wait_seconds: 75.0,
            concurrency: 16,
            unclear_grace_seconds: 300.0,
            attempt_timeout_seconds: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// How often iiko is polled (`by_revision`, then `by_id` for orders not seen lately).
    pub poll_interval_seconds: f64,
    /// An order iiko has said nothing about for this long is read back with `by_id`.
    pub recheck_after_seconds: f64,
    /// How long a cancellation from the site follows iiko's command before answering.
    pub cancel_wait_seconds: f64,
    /// How often each branch's terminal group is checked (`terminal_groups/is_alive`).
    pub terminal_check_seconds: f64,
    /// A created order iiko has not closed this many days after it was accepted is no longer
    /// followed (noted in its history).
    pub give_up_days: f64,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            poll_interval_seconds: 60.0,
            recheck_after_seconds: 600.0,
            cancel_wait_seconds: 10.0,
            terminal_check_seconds: 60.0,
            give_up_days: 3.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IikoWebhookConfig {
    #[serde(default = "default_webhook_path")]
    pub path: String,
    pub auth_token: Option<SecretString>,
    /// The public URL iiko calls (this server's `path` as seen from the internet).
    pub url: Option<Url>,
    /// `serve` registers `url` with iiko for every branch's organization at start.
    #[serde(default)]
    pub register_on_start: bool,
}

impl Default for IikoWebhookConfig {
    fn default() -> Self {
        Self {
            path: default_webhook_path(),
            auth_token: None,
            url: None,
            register_on_start: false,
        }
    }
}

fn default_webhook_path() -> String {
    "/iiko/webhook".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// lettre's `from_url` syntax; it can hold credentials, hence secret.
    pub smtp_url: Option<SecretString>,
    pub from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub bot_token: Option<SecretString>,
    #[serde(default = "default_telegram_api")]
    pub api_url: Url,
    #[serde(default)]
    pub operator_chats: Vec<i64>,
    /// Telegram user ids allowed to act through the operator bot and see order details.
    #[serde(default)]
    pub operator_users: Vec<i64>,
    /// Telegram POSTs updates here (the path is served by `serve`); none: long polling.
    #[serde(default)]
    pub webhook_url: Option<Url>,
    /// How long one `getUpdates` waits for an update (Telegram's long poll, at most 50).
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_seconds: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            bot_token: None,
            api_url: default_telegram_api(),
            operator_chats: Vec::new(),
            operator_users: Vec::new(),
            webhook_url: None,
            poll_timeout_seconds: default_poll_timeout(),
        }
    }
}

fn default_poll_timeout() -> u32 {
    25
}

fn default_telegram_api() -> Url {
    Url::parse("https://api.telegram.org").expect("a valid URL")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MenuConfig {
    pub export_dir: PathBuf,
    /// Full menu sync by `serve`.
    pub sync_interval_minutes: f64,
    /// Prices and availability only (the fast path).
    pub prices_interval_minutes: f64,
    /// Stop lists only; iiko's StopListUpdate webhook refreshes them sooner.
    pub stop_list_interval_seconds: f64,
}

impl Default for MenuConfig {
    fn default() -> Self {
        Self {
            export_dir: PathBuf::from("export"),
            sync_interval_minutes: 30.0,
            prices_interval_minutes: 5.0,
            stop_list_interval_seconds: 60.0,
        }
    }
}

/// Where edited operator templates are read from; the compiled-in defaults fill the gaps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    pub dir: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("templates"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    pub key: String,
    pub name: String,
    #[serde(deserialize_with = "uuid")]
    pub organization_id: Uuid,
    #[serde(deserialize_with = "uuid")]
    pub terminal_group_id: Uuid,
    #[serde(deserialize_with = "timezone")]
    pub timezone: Tz,
    pub menu: BranchMenu,
    #[serde(default)]
    pub order_types: OrderTypes,
    pub payment_types: PaymentTypes,
    #[serde(default)]
    pub bonus: BonusConfig,
    #[serde(default, deserialize_with = "optional_uuid")]
    pub universal_discount_id: Option<Uuid>,
    #[serde(default)]
    pub promo: PromoConfig,
    /// iiko DeliveryStatus -> the site's status name.
    #[serde(default)]
    pub status_map: BTreeMap<String, String>,
    #[serde(default)]
    pub fallback: FallbackConfig,
    #[serde(default, deserialize_with = "optional_uuid")]
    pub cancel_cause_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuSource {
    /// The external menu built in iikoWeb, with per-organization prices by price category.
    #[default]
    ExternalMenu,
    /// The RMS nomenclature with base prices.
    Nomenclature,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchMenu {
    #[serde(default)]
    pub source: MenuSource,
    pub external_menu_id: Option<String>,
    pub price_category_id: Option<String>,
    /// Which endpoint serves the external menu (ignored for the nomenclature).
    #[serde(default)]
    pub api: ExternalMenuApi,
}

/// Which iiko endpoint serves a branch's external menu.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalMenuApi {
    /// `/api/2/menu/by_id` with `version: 2`.
    V2,
    /// `/api/2/menu/by_id` with `version: 3`.
    V3,
    /// `/api/2/menu/by_id` with `version: 4`.
    V4,
    /// `/api/menu/v3/by_id`, the successor iiko recommends (`/api/2/menu/by_id` is deprecated).
    #[default]
    MenuV3,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderTypes {
    #[serde(default, deserialize_with = "optional_uuid")]
    pub delivery: Option<Uuid>,
    #[serde(default, deserialize_with = "optional_uuid")]
    pub pickup: Option<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentTypes {
    #[serde(deserialize_with = "uuid")]
    pub cash: Uuid,
    #[serde(deserialize_with = "uuid")]
    pub card: Uuid,
    #[serde(deserialize_with = "uuid")]
    pub online: Uuid,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, deserialize_with = "optional_uuid")]
    pub payment_type_id: Option<Uuid>,
    #[serde(default = "default_bonus_limit")]
    pub limit_percent: rust_decimal::Decimal,
}

impl Default for BonusConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            payment_type_id: None,
            limit_percent: default_bonus_limit(),
        }
    }
}

fn default_bonus_limit() -> rust_decimal::Decimal {
    rust_decimal::Decimal::ONE_HUNDRED
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoConfig {
    #[serde(default)]
    pub send_codes: bool,
    #[serde(default)]
    pub use_iiko_codes: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub telegram_chats: Vec<i64>,
}

fn uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    let text = String::deserialize(d)?;
    Uuid::parse_str(text.trim())
        .map_err(|_| serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &"a UUID"))
}

fn optional_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    uuid(d).map(Some)
}

/// Reconciliation with iiko (docs/reconciliation.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// When `serve` reconciles the day before, in each branch's local time ("HH:MM"); None
    /// ("off"): never.
    #[serde(default = "default_daily_at", deserialize_with = "clock_time_or_off")]
    pub daily_at: Option<chrono::NaiveTime>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            daily_at: default_daily_at(),
        }
    }
}

fn default_daily_at() -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::from_hms_opt(6, 0, 0)
}

fn clock_time_or_off<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::NaiveTime>, D::Error> {
    let text = String::deserialize(d)?;
    if text == "off" {
        return Ok(None);
    }
    chrono::NaiveTime::parse_from_str(&text, "%H:%M")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&text),
                &"a time as HH:MM, or \"off\"",
            )
        })
}

fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(&text),
            &"an IANA time zone name such as Europe/Moscow",
        )
    })
}

/// Every problem found while loading, one line each.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// The merged configuration sources, before they are parsed into a typed section.
pub struct Sources {
    /// As the file and environment give it, so that a key can be traced to where it was set.
    raw: Figment,
    /// With `*_file` secrets read in.
    resolved: Figment,
    path: PathBuf,
}

impl Sources {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError(vec![format!(
                "{}: no such configuration file (set --config or IIKO_BRIDGE_CONFIG)",
                path.display()
            )]));
        }
        let file = Figment::from(Toml::file_exact(path));
        let env = Figment::from(Env::prefixed(ENV_PREFIX).split("__"));
        let raw = file.clone().merge(env.clone());
        let sources = Sources {
            resolved: raw.clone(),
            raw,
            path: path.to_owned(),
        };
        let describe = |e| sources.describe_figment_error(e);
        let tree = overlay(
            file.extract().map_err(describe)?,
            env.extract().map_err(describe)?,
        );
        let mut resolved = Figment::from(Serialized::defaults(tree.clone()));
        let mut problems = Vec::new();
        for key in SECRET_KEYS {
            let file_key = format!("{key}_file");
            let Some(Value::String(_, file)) = lookup(&tree, &file_key) else {
                continue;
            };
            if lookup(&tree, key).is_some() {
                problems.push(sources.problem(&file_key, "set both the key and its _file form"));
                continue;
            }
            match std::fs::read_to_string(&file) {
                Ok(secret) => {
                    // Secret files usually end with a newline that is not part of the secret.
                    let secret = secret.trim_end_matches(['\n', '\r']).to_owned();
                    resolved = resolved.merge(Serialized::default(key, secret));
                }
                Err(e) => {
                    problems.push(sources.problem(&file_key, &format!("cannot read {file}: {e}")))
                }
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        // `_file` keys are consumed here, so the typed sections can still reject unknown keys.
        let stripped = strip_file_keys(
            resolved
                .extract()
                .map_err(|e| sources.describe_figment_error(e))?,
        );
        Ok(Sources {
            resolved: Figment::from(Serialized::defaults(stripped)),
            ..sources
        })
    }

    /// Parses one top-level section on its own (`discover` needs only `[iiko]`).
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        self.resolved
            .focus(name)
            .extract()
            .map_err(|e| self.describe_figment_error(prefixed(e, name)))
    }

    pub fn config(&self) -> Result<Config, ConfigError> {
        let config: Config = match self.resolved.extract() {
            Ok(config) => config,
            Err(error) => return Err(self.every_type_error(error)),
        };
        let problems = self.validate(&config);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Cross-field rules that types alone cannot express.
    fn validate(&self, config: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = config.iiko.settings() {
            problems.push(self.problem(e.key, e.message));
        }
        for limit in limits(config) {
            let problem = self.problem(limit.key, &limit.range.to_string());
            // Several retry delays out of range make one line.
            if !limit.range.contains(limit.value) && !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        if config.server.request_timeout_seconds as f64 <= config.status.cancel_wait_seconds {
            // A cancel would always be cut off while it waits for iiko.
            problems.push(self.problem(
                "server.request_timeout_seconds",
                "must be longer than status.cancel_wait_seconds",
            ));
        }
        if config.server.ops_listen == Some(config.server.listen)
            && config.server.listen.port() != 0
        {
            problems.push(self.problem(
                "server.ops_listen",
                "must differ from server.listen (leave it out to serve everything there)",
            ));
        }
        problems.extend(
            weak_secrets(config)
                .into_iter()
                .map(|(key, message)| self.problem(key, &message)),
        );
        if config.iiko_webhook.register_on_start {
            if config.iiko_webhook.url.is_none() {
                problems.push(self.problem("iiko_webhook.url", "required with register_on_start"));
            }
            if config.iiko_webhook.auth_token.is_none() {
                problems.push(
                    self.problem("iiko_webhook.auth_token", "required with register_on_start"),
                );
            }
        }
        if !config.iiko_webhook.path.starts_with('/') {
            problems.push(self.problem("iiko_webhook.path", "must start with /"));
        }
        if config.telegram.poll_timeout_seconds > 50 {
            problems.push(self.problem("telegram.poll_timeout_seconds", "at most 50"));
        }
        if let Some(url) = &config.telegram.webhook_url {
            // Telegram calls webhooks over https only.
            if url.scheme() != "https" {
                problems.push(self.problem("telegram.webhook_url", "must be an https URL"));
            }
            if url.path() == config.iiko_webhook.path {
                problems.push(self.problem(
                    "telegram.webhook_url",
                    "its path must differ from iiko_webhook.path",
                ));
            }
            // `serve` answers the path beside its own routes, which it must not shadow.
            let path = url.path();
            let taken = ["/", "/openapi.json", "/healthz", "/readyz", "/metrics"];
            if taken.contains(&path) || path.starts_with("/api/") {
                problems.push(self.problem(
                    "telegram.webhook_url",
                    "its path is one of the API's own (use e.g. /telegram/updates)",
                ));
            }
        }
        for (key, secret) in [
            ("site.signing_secret", &config.site.signing_secret),
            ("site.events_secret", &config.site.events_secret),
        ] {
            let malformed = secret
                .as_ref()
                .is_some_and(|s| WebhookSecret::parse(s.expose_secret()).is_err());
            if malformed {
                problems.push(self.problem(key, "not a whsec_<base64> secret"));
            }
        }
        if config.site.events_url.is_some() && config.site.events_secret.is_none() {
            problems.push(self.problem(
                "site.events_secret",
                "required when site.events_url is set (events are signed)",
            ));
        }
        if !(1..=MAX_RETRY_DELAYS).contains(&config.site.events_retry_delays_seconds.len()) {
            problems.push(self.problem(
                "site.events_retry_delays_seconds",
                &format!("needs 1 to {MAX_RETRY_DELAYS} delays"),
            ));
        }
        if config.email.smtp_url.is_some() != config.email.from.is_some() {
            problems.push(self.problem("email", "smtp_url and from go together"));
        }
        if config.branches.is_empty() {
            problems.push(self.problem("branches", "at least one [[branches]] entry is needed"));
        }
        let mut keys = std::collections::HashSet::new();
        for (i, branch) in config.branches.iter().enumerate() {
            let at = |field: &str| format!("branches.{i}.{field}");
            if branch.key.is_empty()
                || !branch
                    .key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(self.problem(&at("key"), "use letters, digits, - and _ only"));
            }
            if !keys.insert(branch.key.as_str()) {
                problems.push(self.problem(
                    &at("key"),
                    &format!("{:?} is used by another branch", branch.key),
                ));
            }
            match (branch.menu.source, &branch.menu.external_menu_id) {
                (MenuSource::ExternalMenu, None) => problems.push(self.problem(
                    &at("menu.external_menu_id"),
                    "required unless menu.source = \"nomenclature\"",
                )),
                (MenuSource::Nomenclature, Some(_)) => problems.push(self.problem(
                    &at("menu.external_menu_id"),
                    "not used with menu.source = \"nomenclature\"",
                )),
                _ => {}
            }
            if branch.bonus.enabled && branch.bonus.payment_type_id.is_none() {
                problems.push(
                    self.problem(&at("bonus.payment_type_id"), "required when bonus.enabled"),
                );
            }
            if branch.bonus.limit_percent < rust_decimal::Decimal::ZERO
                || branch.bonus.limit_percent > rust_decimal::Decimal::ONE_HUNDRED
            {
                problems
                    .push(self.problem(&at("bonus.limit_percent"), "must be between 0 and 100"));
            }
            for status in branch.status_map.keys() {
                if !DELIVERY_STATUSES.contains(&status.as_str()) {
                    problems.push(self.problem(
                        &at(&format!("status_map.{status}")),
                        &format!(
                            "not an iiko delivery status (one of {})",
                            DELIVERY_STATUSES.join(", ")
                        ),
                    ));
                }
            }
            for (j, email) in branch.fallback.emails.iter().enumerate() {
                if !looks_like_email(email) {
                    problems.push(self.problem(
                        &at(&format!("fallback.emails.{j}")),
                        "not an e-mail address",
                    ));
                }
            }
        }
        problems
    }

    /// serde stops at the first value it cannot parse. To report every one at once, each bad
    /// value is taken out (a branch missing a required key as a whole) and the rest parsed
    /// again, until it parses or nothing more can be taken out.
    fn every_type_error(&self, first: figment::Error) -> ConfigError {
        let Ok(mut tree) = self.resolved.extract::<Dict>() else {
            return self.describe_figment_error(first);
        };
        let branches = match tree.get("branches") {
            Some(Value::Array(_, items)) => items.len(),
            _ => 0,
        };
        // Where each remaining branch was in the file, as branches are taken out.
        let mut branch_index: Vec<usize> = (0..branches).collect();
        let mut taken_out = std::collections::HashSet::new();
        let mut problems: Vec<String> = Vec::new();
        let mut error = first;
        for _ in 0..MAX_TYPE_ERRORS {
            let mut progressed = true;
            for single in error {
                let original = renumbered(&single.path, &branch_index);
                let missing = match &single.kind {
                    figment::error::Kind::MissingField(field) => Some(field.to_string()),
                    _ => None,
                };
                let full_key = match &missing {
                    Some(field) => [original.clone(), vec![field.clone()]].concat().join("."),
                    None => original.join("."),
                };
                // A key taken out for a bad value then shows up as missing: said already.
                if !taken_out.contains(&full_key) {
                    let mut described = single.clone();
                    described.path = original;
                    for problem in self.describe_figment_error(described).0 {
                        if !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
                taken_out.insert(full_key);
                progressed &= take_out(&mut tree, &single.path, missing, &mut branch_index);
            }
            if !progressed {
                break;
            }
            match Figment::from(Serialized::defaults(tree.clone())).extract::<Config>() {
                Ok(_) => break,
                Err(next) => error = next,
            }
        }
        ConfigError(problems)
    }

    /// `<origin>: <key>: <message>`, with the key written as in the docs (`branches[1].key`).
    fn problem(&self, key: &str, message: &str) -> String {
        format!("{}: {}: {message}", self.origin(key), display_key(key))
    }

    /// Where a key's value came from: the environment variable that set it, or the file.
    fn origin(&self, key: &str) -> String {
        self.raw
            .find_metadata(key)
            .and_then(|m| env_variable(m, key))
            .unwrap_or_else(|| self.path.display().to_string())
    }

    fn describe_figment_error(&self, error: figment::Error) -> ConfigError {
        ConfigError(
            error
                .into_iter()
                .map(|e| {
                    let key = e.path.join(".");
                    let message = match &e.kind {
                        figment::error::Kind::InvalidValue(actual, expected)
                        | figment::error::Kind::InvalidType(actual, expected) => {
                            format!("not {expected} (found {actual})")
                        }
                        figment::error::Kind::MissingField(field) => {
                            return self.problem(
                                &[key.as_str(), field]
                                    .iter()
                                    .filter(|s| !s.is_empty())
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join("."),
                                "missing",
                            );
                        }
                        // figment's path already ends with the unknown key itself.
                        figment::error::Kind::UnknownField(..) => "unknown key".to_owned(),
                        other => other.to_string(),
                    };
                    if key.is_empty() {
                        format!("{}: {message}", self.path.display())
                    } else {
                        self.problem(&key, &message)
                    }
                })
                .collect(),
        )
    }
}

/// The iiko DeliveryStatus values a `status_map` may name.
pub const DELIVERY_STATUSES: &[&str] = &[
    "Unconfirmed",
    "WaitCooking",
    "ReadyForCooking",
    "CookingStarted",
    "CookingCompleted",
    "Waiting",
    "OnWay",
    "Delivered",
    "Closed",
    "Cancelled",
];

fn env_variable(metadata: &Metadata, key: &str) -> Option<String> {
    metadata
        .source
        .is_none()
        .then(|| format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase()))
}

fn prefixed(mut error: figment::Error, section: &str) -> figment::Error {
    error.path.insert(0, section.to_owned());
    error
}

/// A day: the longest wait any setting may ask for. Workers turn seconds into `Duration`s and
/// `chrono` times, which panic on huge, negative or non-finite values; nothing needs more.
const DAY_SECONDS: f64 = 86_400.0;
/// A count no deployment needs to exceed (calls per second, attempts).
const MAX_COUNT: f64 = 1_000_000.0;
const MAX_RETRY_DELAYS: usize = 100;

/// The values a number in the configuration may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// More than 0, at most this (a duration: 0 would spin a worker).
    Positive(f64),
    /// Inclusive bounds (a count).
    Between(f64, f64),
}

impl Range {
    pub fn contains(self, value: f64) -> bool {
        match self {
            Range::Positive(max) => value.is_finite() && value > 0.0 && value <= max,
            Range::Between(min, max) => value.is_finite() && (min..=max).contains(&value),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Range::Positive(max) => write!(f, "must be more than 0 and at most {max}"),
            Range::Between(min, max) => write!(f, "must be between {min} and {max}"),
        }
    }
}

/// One number of the configuration with the range it must lie in.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub key: &'static str,
    pub value: f64,
    pub range: Range,
}

/// Every duration and count in the configuration, bounded so that no setting can stall or
/// panic a worker. A new numeric setting belongs here.
pub fn limits(config: &Config) -> Vec<Limit> {
    let limit = |key, value, range| Limit { key, value, range };
    let mut limits = vec![
        limit(
            "server.max_body_bytes",
            config.server.max_body_bytes as f64,
            Range::Between(1.0, 16.0 * 1024.0 * 1024.0),
        ),
        limit(
            "iiko.requests_per_second",
            f64::from(config.iiko.requests_per_second.get()),
            Range::Between(1.0, MAX_COUNT),
        ),
        limit(
            "site.requests_per_second",
            f64::from(config.site.requests_per_second.get()),
            Range::Between(1.0, MAX_COUNT),
        ),
        limit(
            "site.events_timeout_seconds",
            config.site.events_timeout_seconds,
            Range::Positive(120.0),
        ),
        limit(
            "site.events_retention_days",
            config.site.events_retention_days,
            Range::Positive(3650.0),
        ),
        limit(
            "site.loyalty_wait_ms",
            config.site.loyalty_wait_ms as f64,
            Range::Between(100.0, 30_000.0),
        ),
        limit(
            "delivery.retry_interval_seconds",
            config.delivery.retry_interval_seconds,
            Range::Positive(DAY_SECONDS),
        ),
        limit(
            "delivery.max_attempts",
            f64::from(config.delivery.max_attempts),
            Range::Between(1.0, 100.0),
        ),
        limit(
            "delivery.creation_wait_seconds",
            config.delivery.creation_wait_seconds,
            Range::Positive(DAY_SECONDS),
        ),
        limit(
            "delivery.concurrency",
            f64::from(config.delivery.concurrency),
            Range::Between(1.0, 1024.0),
        ),
        limit(
            "delivery.unclear_grace_seconds",
            config.delivery.unclear_grace_seconds,
            Range::Between(0.0, DAY_SECONDS),
        ),
        limit(
            "status.poll_interval_seconds",
            config.status.poll_interval_seconds,
            Range::Positive(DAY_SECONDS),
        ),
        limit(
            "status.recheck_after_seconds",
            config.status.recheck_after_seconds,
            Range::Positive(DAY_SECONDS),
        ),
        limit(
            "status.cancel_wait_seconds",
            config.status.cancel_wait_seconds,
            Range::Positive(120.0),
        ),
        limit(
            "status.terminal_check_seconds",
            config.status.terminal_check_seconds,
            Range::Positive(DAY_SECONDS),
        ),
        limit(
            "status.give_up_days",
            config.status.give_up_days,
            Range::Positive(3650.0),
        ),
        limit(
            "store.retention_days",
            config.store.retention_days,
            Range::Positive(36_500.0),
        ),
        limit(
            "store.max_connections",
            config.store.max_connections as f64,
            Range::Between(1.0, 1000.0),
        ),
        limit(
            "store.lease_seconds",
            config.store.lease_seconds,
            Range::Between(1.0, 600.0),
        ),
        limit(
            "store.check_seconds",
            config.store.check_seconds,
            Range::Between(0.05, 300.0),
        ),
        limit(
            "site.events_give_up_hours",
            config.site.events_give_up_hours,
            Range::Positive(87_600.0),
        ),
        limit(
            "iiko.site_share_percent",
            f64::from(config.iiko.site_share_percent),
            Range::Between(1.0, 90.0),
        ),
        limit(
            "server.request_timeout_seconds",
            config.server.request_timeout_seconds as f64,
            Range::Between(1.0, 600.0),
        ),
        limit(
            "server.max_concurrent_requests",
            config.server.max_concurrent_requests as f64,
            Range::Between(1.0, 100_000.0),
        ),
        limit(
            "menu.sync_interval_minutes",
            config.menu.sync_interval_minutes,
            Range::Positive(DAY_SECONDS / 60.0),
        ),
        limit(
            "menu.prices_interval_minutes",
            config.menu.prices_interval_minutes,
            Range::Positive(DAY_SECONDS / 60.0),
        ),
        limit(
            "menu.stop_list_interval_seconds",
            config.menu.stop_list_interval_seconds,
            Range::Positive(DAY_SECONDS),
        ),
    ];
    limits.extend(
        config
            .site
            .events_retry_delays_seconds
            .iter()
            .map(|&delay| {
                limit(
                    "site.events_retry_delays_seconds",
                    delay,
                    Range::Positive(DAY_SECONDS),
                )
            }),
    );
    if let Some(timeout) = config.delivery.attempt_timeout_seconds {
        limits.push(limit(
            "delivery.attempt_timeout_seconds",
            timeout,
            Range::Positive(3_600.0),
        ));
    }
    limits
}

/// The example's placeholder for `site.token`.
const PLACEHOLDER_TOKEN: &str = "change-me";
const MIN_TOKEN_CHARS: usize = 16;
/// HMAC-SHA256 keys shorter than this are guessable offline from one signed request.
const MIN_WEBHOOK_KEY_BYTES: usize = 24;

/// Secrets that are set but too weak to protect anything, with the key and why.
fn weak_secrets(config: &Config) -> Vec<(&'static str, String)> {
    let mut weak = Vec::new();
    if let Some(token) = &config.site.token {
        let token = token.expose_secret();
        if token == PLACEHOLDER_TOKEN {
            weak.push((
                "site.token",
                format!("still the example's {PLACEHOLDER_TOKEN:?}: set a random token of at least {MIN_TOKEN_CHARS} characters"),
            ));
        } else if token.chars().count() < MIN_TOKEN_CHARS {
            weak.push((
                "site.token",
                format!("too short: use at least {MIN_TOKEN_CHARS} random characters"),
            ));
        }
    }
    if config
        .iiko_webhook
        .auth_token
        .as_ref()
        .is_some_and(|t| t.expose_secret().trim().is_empty())
    {
        weak.push((
            "iiko_webhook.auth_token",
            "empty: set a random token, or remove the key (iiko's webhook calls are then refused)"
                .to_owned(),
        ));
    }
    for (key, secret) in [
        ("site.signing_secret", &config.site.signing_secret),
        ("site.events_secret", &config.site.events_secret),
    ] {
        let short = secret
            .as_ref()
            .and_then(|s| webhook_key_len(s.expose_secret()))
            .is_some_and(|len| len < MIN_WEBHOOK_KEY_BYTES);
        if short {
            weak.push((
                key,
                format!("too short: the key after whsec_ must decode to at least {MIN_WEBHOOK_KEY_BYTES} bytes"),
            ));
        }
    }
    weak
}

/// The decoded key length of a well-formed `whsec_<base64>` secret (malformed ones are reported
/// on their own).
fn webhook_key_len(secret: &str) -> Option<usize> {
    use base64::Engine;
    let encoded = secret.strip_prefix("whsec_")?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .map(|key| key.len())
}

/// More bad values than anyone fixes in one go.
const MAX_TYPE_ERRORS: usize = 64;

/// An error path with the branch index as it was in the file.
fn renumbered(path: &[String], branch_index: &[usize]) -> Vec<String> {
    let mut path = path.to_vec();
    if path.first().map(String::as_str) == Some("branches")
        && let Some(original) = path
            .get(1)
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| branch_index.get(i))
    {
        path[1] = original.to_string();
    }
    path
}

/// Takes out of `tree` what an error names so that parsing can go on: the bad key itself (its
/// default applies), a whole branch that lacks a required key, or, for a missing section,
/// puts an empty one in. `false` when nothing could be changed.
fn take_out(
    tree: &mut Dict,
    path: &[String],
    missing: Option<String>,
    branch_index: &mut Vec<usize>,
) -> bool {
    if let ["branches", index, ..] = path.iter().map(String::as_str).collect::<Vec<_>>()[..]
        && let (Some(Value::Array(_, items)), Ok(index), Some(_)) =
            (tree.get_mut("branches"), index.parse::<usize>(), &missing)
    {
        if index < items.len() {
            items.remove(index);
            branch_index.remove(index);
            return true;
        }
        return false;
    }
    match missing {
        Some(field) => {
            let Some(parent) = dict_at(tree, path) else {
                return false;
            };
            parent.insert(field, Value::from(Dict::new())).is_none()
        }
        None => {
            let Some((last, parent_path)) = path.split_last() else {
                return false;
            };
            match value_at(tree, parent_path) {
                Some(Value::Dict(_, dict)) => dict.remove(last).is_some(),
                Some(Value::Array(_, items)) => match last.parse::<usize>() {
                    Ok(i) if i < items.len() => {
                        items.remove(i);
                        true
                    }
                    _ => false,
                },
                None if parent_path.is_empty() => tree.remove(last).is_some(),
                _ => false,
            }
        }
    }
}

fn value_at<'a>(tree: &'a mut Dict, path: &[String]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let mut value = tree.get_mut(first)?;
    for part in rest {
        value = match value {
            Value::Dict(_, dict) => dict.get_mut(part)?,
            Value::Array(_, items) => items.get_mut(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn dict_at<'a>(tree: &'a mut Dict, path: &[String]) -> Option<&'a mut Dict> {
    if path.is_empty() {
        return Some(tree);
    }
    match value_at(tree, path)? {
        Value::Dict(_, dict) => Some(dict),
        _ => None,
    }
}

/// The environment's keys laid over the file's. `IIKO_BRIDGE__BRANCHES__0__TIMEZONE` arrives
/// as `branches: {"0": {timezone}}`: numeric keys address the file's list elements (merged
/// as figment merges, the map would replace the whole list).
fn overlay(mut base: Dict, patch: Dict) -> Dict {
    for (key, value) in patch {
        let merged = match base.remove(&key) {
            Some(old) => overlay_value(old, value),
            None if is_index_map(&value) => {
                overlay_value(Value::Array(Default::default(), Vec::new()), value)
            }
            None => value,
        };
        base.insert(key, merged);
    }
    base
}

fn is_index_map(value: &Value) -> bool {
    matches!(value, Value::Dict(_, dict) if !dict.is_empty() && dict.keys().all(|k| k.parse::<usize>().is_ok()))
}

fn overlay_value(base: Value, patch: Value) -> Value {
    match (base, patch) {
        (Value::Dict(tag, base), Value::Dict(_, patch)) => Value::Dict(tag, overlay(base, patch)),
        (Value::Array(tag, mut items), patch) if is_index_map(&patch) => {
            let Value::Dict(patch_tag, patch) = patch else {
                unreachable!("an index map is a dict")
            };
            let mut entries: Vec<(usize, Value)> = patch
                .into_iter()
                .map(|(k, v)| (k.parse().expect("checked by is_index_map"), v))
                .collect();
            entries.sort_by_key(|(index, _)| *index);
            for (index, value) in entries {
                if index < items.len() {
                    let old = std::mem::replace(&mut items[index], Value::from(false));
                    items[index] = overlay_value(old, value);
                } else if index == items.len() {
                    items.push(value);
                } else {
                    // A gap: left as a map, so that parsing names the key.
                    let mut gap = Dict::new();
                    gap.insert(index.to_string(), value);
                    return Value::Dict(patch_tag, gap);
                }
            }
            Value::Array(tag, items)
        }
        (_, patch) => patch,
    }
}

fn looks_like_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
    })
}

fn lookup(tree: &Dict, key: &str) -> Option<Value> {
    let (first, rest) = key.split_once('.').unwrap_or((key, ""));
    let value = tree.get(first)?;
    if rest.is_empty() {
        Some(value.clone())
    } else {
        lookup(value.as_dict()?, rest)
    }
}

fn strip_file_keys(mut tree: Dict) -> Dict {
    for key in SECRET_KEYS {
        let (section, name) = key.split_once('.').expect("secret keys are section.key");
        if let Some(Value::Dict(_, dict)) = tree.get_mut(section) {
            dict.remove(&format!("{name}_file"));
        }
    }
    tree
}

/// `branches.1.menu.source` -> `branches[1].menu.source`.
fn display_key(key: &str) -> String {
    let mut out = String::new();
    for part in key.split('.') {
        if part.chars().all(|c| c.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config/bridge.example.toml");

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(&path, text).unwrap();
        Sources::load(&path)?.config()
    }

    fn problems(text: &str) -> Vec<String> {
        load(text).expect_err("the config should be rejected").0
    }

    /// The example with a real site token in place of its placeholder.
    fn with_token(text: &str) -> String {
        text.replace(
            "token = \"change-me\"",
            "token = \"a-token-of-the-unit-tests\"",
        )
    }

    #[test]
    fn the_shipped_example_config_loads_once_its_token_is_set() {
        let config = load(&with_token(EXAMPLE)).unwrap();
        assert_eq!(config.branches[0].key, "lenina");
        assert_eq!(config.branches[0].timezone, chrono_tz::Europe::Moscow);
        assert_eq!(config.delivery.retry_interval_seconds, 15.0);
        assert!(config.iiko.settings().is_ok());
    }

    #[test]
    fn registering_webhooks_at_start_needs_the_url_and_the_token() {
        let text = EXAMPLE.replace("register_on_start = false", "register_on_start = true");
        let problems = problems(&text);
        assert!(
            problems
                .iter()
                .any(|p| p.ends_with("iiko_webhook.url: required with register_on_start")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.ends_with("iiko_webhook.auth_token: required with register_on_start"))
        );
    }

    #[test]
    fn the_bots_webhook_is_https_off_the_iiko_path_and_its_long_poll_at_most_50_seconds() {
        let text = with_token(EXAMPLE)
            .replace("poll_timeout_seconds = 25", "poll_timeout_seconds = 51")
            .replace(
                "# webhook_url = \"https://bridge.example.ru/telegram/updates\"",
                "webhook_url = \"http://bridge.example.ru/iiko/webhook\"",
            );
        let problems = problems(&text);
        for expected in [
            "telegram.poll_timeout_seconds: at most 50",
            "telegram.webhook_url: must be an https URL",
            "telegram.webhook_url: its path must differ from iiko_webhook.path",
        ] {
            assert!(
                problems.iter().any(|p| p.ends_with(expected)),
                "{expected}: {problems:?}"
            );
        }
        let config =
            load(&with_token(EXAMPLE).replace("operator_users = []", "operator_users = [42]"))
                .unwrap();
        assert_eq!(config.telegram.operator_users, [42]);
        assert_eq!(config.telegram.webhook_url, None);
    }

    #[test]
    fn a_bad_uuid_names_the_key_with_its_index_and_the_file() {
        let text = format!(
            "{EXAMPLE}\n[[branches]]\nkey = \"mira\"\nname = \"Мира\"\norganization_id = \"7c1a0001-0000-4000-8000-000000000002\"\nterminal_group_id = \"not-a-uuid\"\ntimezone = \"Europe/Moscow\"\nmenu = {{ source = \"nomenclature\" }}\npayment_types = {{ cash = \"7c1a0003-0000-4000-8000-000000000001\", card = \"7c1a0003-0000-4000-8000-000000000002\", online = \"7c1a0003-0000-4000-8000-000000000003\" }}\n"
        );
        let problems = problems(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].ends_with("bridge.toml: branches[1].terminal_group_id: not a UUID (found string \"not-a-uuid\")"), "{}", problems[0]);
    }

    #[test]
    fn an_unknown_key_is_rejected_rather_than_ignored() {
        let text = EXAMPLE.replace(
            "max_attempts = 3",
            "max_attempts = 3\nretry_interval_secs = 5",
        );
        let problems = problems(&text);
        assert!(
            problems[0].ends_with("delivery.retry_interval_secs: unknown key"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_missing_required_key_is_named() {
        let text = EXAMPLE.replace("timezone = \"Europe/Moscow\"\n", "");
        let problems = problems(&text);
        assert!(
            problems[0].ends_with("branches[0].timezone: missing"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_bad_time_zone_is_explained() {
        let text = EXAMPLE.replace("Europe/Moscow", "Moscow");
        let problems = problems(&text);
        assert!(
            problems[0].contains("branches[0].timezone: not an IANA time zone name"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_daily_reconciliation_is_a_local_time_or_off_and_a_bad_value_names_the_key() {
        let example = with_token(EXAMPLE);
        let at = |value: &str| {
            load(&example.replace("daily_at = \"06:00\"", &format!("daily_at = \"{value}\"")))
        };
        let six = chrono::NaiveTime::from_hms_opt(6, 0, 0);
        assert_eq!(load(&example).unwrap().reconcile.daily_at, six);
        assert_eq!(at("06:00").unwrap().reconcile.daily_at, six);
        assert_eq!(
            at("23:30").unwrap().reconcile.daily_at,
            chrono::NaiveTime::from_hms_opt(23, 30, 0)
        );
        assert_eq!(at("off").unwrap().reconcile.daily_at, None);
        for bad in ["6am", "25:00", "Off", ""] {
            let problems = at(bad).expect_err(bad).0;
            assert!(
                problems[0].contains("reconcile.daily_at:") && problems[0].contains("\"off\""),
                "{bad}: {problems:?}"
            );
        }
    }

    #[test]
    fn cross_field_problems_are_all_reported_at_once() {
        let text = EXAMPLE
            .replace("max_attempts = 3", "max_attempts = 0")
            .replace("CookingStarted = \"cooking\"", "Cooking = \"cooking\"")
            .replace("limit_percent = 50", "limit_percent = 150")
            .replace(
                "# signing_secret = \"whsec_...\"",
                "signing_secret = \"whsec_???\"",
            )
            .replace("# api_key = \"...\"", "api_key = \"k\"");
        let problems = problems(&text);
        let keys = [
            "site.signing_secret",
            "delivery.max_attempts",
            "status_map.Cooking",
            "bonus.limit_percent",
            "iiko:",
        ];
        for key in keys {
            assert!(
                problems.iter().any(|p| p.contains(key)),
                "{key} not in {problems:?}"
            );
        }
    }

    #[test]
    fn retention_and_give_up_periods_must_be_positive_and_bounded() {
        let config = load(&with_token(EXAMPLE)).unwrap();
        assert_eq!(
            (
                config.store.retention_days,
                config.site.events_give_up_hours,
                config.status.give_up_days
            ),
            (90.0, 72.0, 3.0)
        );
        let text = EXAMPLE
            .replace("retention_days = 90", "retention_days = 0")
            .replace("events_give_up_hours = 72", "events_give_up_hours = -1")
            .replace("give_up_days = 3", "give_up_days = 1e9");
        let problems = problems(&text);
        for key in [
            "store.retention_days",
            "site.events_give_up_hours",
            "status.give_up_days",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(key)),
                "{key} not in {problems:?}"
            );
        }
    }

    #[test]
    fn the_edge_limits_are_checked_and_named() {
        let config = load(&with_token(EXAMPLE)).unwrap();
        assert_eq!(config.server.request_timeout(), Duration::from_secs(30));
        assert_eq!(config.server.max_concurrent_requests, 512);
        assert_eq!(config.server.ops_listen, None);
        assert_eq!(config.iiko.site_share_percent, 50);
        let text = EXAMPLE
            .replace(
                "request_timeout_seconds = 30",
                "request_timeout_seconds = 0",
            )
            .replace(
                "max_concurrent_requests = 512",
                "max_concurrent_requests = 0",
            )
            .replace(
                "# ops_listen = \"127.0.0.1:9091\"",
                "ops_listen = \"0.0.0.0:8080\"",
            )
            .replace("site_share_percent = 50", "site_share_percent = 100");
        let found = problems(&text);
        for key in [
            "server.request_timeout_seconds",
            "server.max_concurrent_requests",
            "server.ops_listen",
            "iiko.site_share_percent",
        ] {
            assert!(
                found.iter().any(|p| p.contains(key)),
                "{key} not in {found:?}"
            );
        }
        let cut_off = EXAMPLE.replace(
            "request_timeout_seconds = 30",
            "request_timeout_seconds = 10",
        );
        assert!(problems(&cut_off)[0].ends_with(
            "server.request_timeout_seconds: must be longer than status.cancel_wait_seconds"
        ));
    }

    #[test]
    fn site_events_need_a_secret_and_sane_delays() {
        let text = EXAMPLE
            .replace(
                "# events_url = \"https://example.ru/iiko-bridge/events\"",
                "events_url = \"https://example.ru/iiko-bridge/events\"",
            )
            .replace("[5, 30, 120, 600, 1800, 3600]", "[5, 0]")
            .replace(
                "events_timeout_seconds = 10",
                "events_timeout_seconds = 600",
            );
        let problems = problems(&text);
        for key in [
            "site.events_secret: required when site.events_url is set",
            "site.events_retry_delays_seconds",
            "site.events_timeout_seconds",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(key)),
                "{key} not in {problems:?}"
            );
        }
        let config = load(&with_token(EXAMPLE)).unwrap();
        assert_eq!(
            config.site.events_retry_delays_seconds,
            [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0]
        );
    }

    #[test]
    fn the_store_password_comes_from_its_file_and_no_password_shows_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("pg");
        std::fs::write(&secret_path, "pg-file-secret\n").unwrap();
        let text = EXAMPLE
            .replace(
                "url = \"sqlite://data/bridge.db\"",
                &format!(
                    "url = \"postgres://bridge:pg-url-secret@db/bridge\"\npassword_file = {:?}",
                    secret_path.display().to_string()
                ),
            )
            .replace("token = \"change-me\"", "token = \"site-token-secret\"");
        let config = load(&text).unwrap();
        let password = config.store.password.as_ref().unwrap();
        assert_eq!(password.expose_secret(), "pg-file-secret");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("pg-file-secret") && !debug.contains("pg-url-secret"),
            "{debug}"
        );
        assert_eq!(
            config.store.display_url(),
            "postgres://bridge:***@db/bridge"
        );
    }

    #[test]
    fn secrets_can_come_from_files_and_never_show_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("login");
        std::fs::write(&secret_path, "very-secret-login\n").unwrap();
        let text = EXAMPLE
            .replace(
                "api_login = \"sim-api-login\"",
                &format!("api_login_file = {:?}", secret_path.display().to_string()),
            )
            .replace("token = \"change-me\"", "token = \"site-token-secret\"");
        let config = load(&text).unwrap();
        let Credentials::ApiLogin(login) = config.iiko.settings().unwrap().credentials else {
            panic!("expected an API login");
        };
        assert_eq!(login.expose_secret(), "very-secret-login");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("very-secret-login") && !debug.contains("site-token-secret"),
            "{debug}"
        );
    }

    #[test]
    fn an_unreadable_secret_file_is_named() {
        let text = EXAMPLE.replace(
            "api_login = \"sim-api-login\"",
            "api_login_file = \"/nonexistent/secret\"",
        );
        let problems = problems(&text);
        assert!(
            problems[0].contains("iiko.api_login_file: cannot read /nonexistent/secret"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_duration_and_count_is_bounded_and_a_huge_value_is_refused_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(&path, with_token(EXAMPLE)).unwrap();
        let example = Sources::load(&path).unwrap();
        let limits = limits(&example.config().unwrap());
        assert!(limits.len() >= 17, "{limits:?}");
        for limit in limits {
            assert!(
                limit.range.contains(limit.value),
                "the example's {} is out of range",
                limit.key
            );
            // Fits every integer type used (u32 included) and is far beyond any bound.
            let huge = 4_000_000_000u64;
            let resolved = if limit.key == "site.events_retry_delays_seconds" {
                example
                    .resolved
                    .clone()
                    .merge(Serialized::default(limit.key, vec![huge]))
            } else {
                example
                    .resolved
                    .clone()
                    .merge(Serialized::default(limit.key, huge))
            };
            let sources = Sources {
                resolved,
                raw: example.raw.clone(),
                path: path.clone(),
            };
            let problems = sources.config().expect_err(limit.key).0;
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains(&format!("{}: must be", limit.key))),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn a_huge_creation_wait_is_refused_with_its_key() {
        let text = with_token(EXAMPLE).replace(
            "creation_wait_seconds = 75",
            "creation_wait_seconds = 1e300",
        );
        let problems = problems(&text);
        assert!(
            problems.iter().any(|p| p.ends_with(
                "delivery.creation_wait_seconds: must be more than 0 and at most 86400"
            )),
            "{problems:?}"
        );
    }

    #[test]
    fn a_range_refuses_zero_negative_huge_and_non_finite_values() {
        let seconds = Range::Positive(DAY_SECONDS);
        assert!(seconds.contains(0.2) && seconds.contains(DAY_SECONDS));
        for value in [0.0, -1.0, DAY_SECONDS + 1.0, f64::NAN, f64::INFINITY] {
            assert!(!seconds.contains(value), "{value}");
        }
        let count = Range::Between(1.0, 100.0);
        assert!(count.contains(1.0) && count.contains(100.0));
        assert!(!count.contains(0.0) && !count.contains(101.0));
    }

    #[test]
    fn weak_secrets_are_refused_with_their_keys() {
        let text = EXAMPLE
            .replace("# auth_token = \"...\"", "auth_token = \" \"")
            .replace(
                "# signing_secret = \"whsec_...\"",
                // "short-key": 9 bytes.
                "signing_secret = \"whsec_c2hvcnQta2V5\"",
            );
        let found = problems(&text);
        for expected in [
            "site.token: still the example's \"change-me\"",
            "iiko_webhook.auth_token: empty",
            "site.signing_secret: too short",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{expected} not in {found:?}"
            );
        }
        let found = problems(&EXAMPLE.replace("change-me", "fifteen-chars!!"));
        assert!(
            found.iter().any(|p| p.contains("site.token: too short")),
            "{found:?}"
        );
        assert!(load(&EXAMPLE.replace("change-me", "sixteen-chars!!!")).is_ok());
    }

    #[test]
    fn every_type_error_is_reported_at_once() {
        let text = with_token(EXAMPLE)
            .replace("max_attempts = 3", "max_attempts = \"many\"")
            .replace(
                "requests_per_second = 200",
                "requests_per_second = \"fast\"",
            )
            .replace("limit_percent = 50", "limit_percent = \"half\"")
            .replace(
                "terminal_group_id = \"7c1a0002-0000-4000-8000-000000000001\"",
                "terminal_group_id = \"not-a-uuid\"",
            );
        let problems = problems(&text);
        for key in [
            "delivery.max_attempts: not",
            "site.requests_per_second: not",
            "branches[0].bonus.limit_percent: not",
            "branches[0].terminal_group_id: not a UUID",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(key)),
                "{key} not in {problems:?}"
            );
        }
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn environment_keys_with_an_index_reach_the_files_list_elements() {
        let file: Dict = Figment::from(Toml::string(
            "[[branches]]\nkey = \"a\"\ntimezone = \"UTC\"\n[[branches]]\nkey = \"b\"\n",
        ))
        .extract()
        .unwrap();
        let env: Dict = Figment::from(Toml::string(
            "[branches.1]\ntimezone = \"Europe/Samara\"\n[branches.2]\nkey = \"c\"\n",
        ))
        .extract()
        .unwrap();
        let merged = overlay(file, env);
        let Some(Value::Array(_, branches)) = merged.get("branches") else {
            panic!("branches stay a list: {merged:?}");
        };
        let field = |i: usize, key: &str| {
            branches[i]
                .as_dict()
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        assert_eq!(field(0, "timezone").as_deref(), Some("UTC"));
        assert_eq!(field(1, "key").as_deref(), Some("b"));
        assert_eq!(field(1, "timezone").as_deref(), Some("Europe/Samara"));
        assert_eq!(field(2, "key").as_deref(), Some("c"));
    }

    #[test]
    fn a_missing_file_says_how_to_point_at_one() {
        let error = Sources::load(Path::new("/nonexistent/bridge.toml"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("IIKO_BRIDGE_CONFIG"));
    }
}
