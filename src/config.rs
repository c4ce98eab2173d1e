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

use crate::{
    http::signature::WebhookSecret,
    iiko::{Credentials, IikoSettings},
    menu::ExternalMenuApi,
};

pub const DEFAULT_PATH: &str = "config/bridge.toml";
const ENV_PREFIX: &str = "IIKO_BRIDGE__";

/// Keys that may carry secrets; each may instead be given as `<key>_file` naming a file to read.
const SECRET_KEYS: &[&str] = &[
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
    pub branches: Vec<BranchConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/bridge.db".into(),
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
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            poll_interval_seconds: 60.0,
            recheck_after_seconds: 600.0,
            cancel_wait_seconds: 10.0,
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
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            bot_token: None,
            api_url: default_telegram_api(),
            operator_chats: Vec::new(),
        }
    }
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
        let raw = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed(ENV_PREFIX).split("__"));
        let sources = Sources {
            resolved: raw.clone(),
            raw,
            path: path.to_owned(),
        };
        let tree: Dict = sources
            .raw
            .extract()
            .map_err(|e| sources.describe_figment_error(e))?;
        let mut resolved = sources.raw.clone();
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
        let config: Config = self
            .resolved
            .extract()
            .map_err(|e| self.describe_figment_error(e))?;
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
        if config.delivery.max_attempts == 0 {
            problems.push(self.problem("delivery.max_attempts", "must be at least 1"));
        }
        if !(1..=1024).contains(&config.delivery.concurrency) {
            problems.push(self.problem("delivery.concurrency", "must be 1 to 1024"));
        }
        if !positive(config.delivery.retry_interval_seconds) {
            problems.push(self.problem("delivery.retry_interval_seconds", "must be positive"));
        }
        if !positive(config.delivery.creation_wait_seconds) {
            problems.push(self.problem("delivery.creation_wait_seconds", "must be positive"));
        }
        if !(0.0..=86_400.0).contains(&config.delivery.unclear_grace_seconds) {
            problems.push(self.problem("delivery.unclear_grace_seconds", "must be 0 to 86400"));
        }
        if let Some(limit) = config.delivery.attempt_timeout_seconds {
            if !(positive(limit) && limit <= 3_600.0) {
                problems.push(self.problem(
                    "delivery.attempt_timeout_seconds",
                    "must be positive and at most 3600",
                ));
            }
        }
        for (key, value) in [
            (
                "status.poll_interval_seconds",
                config.status.poll_interval_seconds,
            ),
            (
                "status.recheck_after_seconds",
                config.status.recheck_after_seconds,
            ),
            (
                "status.cancel_wait_seconds",
                config.status.cancel_wait_seconds,
            ),
        ] {
            if !positive(value) {
                problems.push(self.problem(key, "must be positive"));
            }
        }
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
        for (key, value) in [
            (
                "menu.sync_interval_minutes",
                config.menu.sync_interval_minutes,
            ),
            (
                "menu.prices_interval_minutes",
                config.menu.prices_interval_minutes,
            ),
            (
                "menu.stop_list_interval_seconds",
                config.menu.stop_list_interval_seconds,
            ),
        ] {
            if !positive(value) {
                problems.push(self.problem(key, "must be positive"));
            }
        }
        if !config.iiko_webhook.path.starts_with('/') {
            problems.push(self.problem("iiko_webhook.path", "must start with /"));
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
        let delays = &config.site.events_retry_delays_seconds;
        if delays.is_empty() || !delays.iter().all(|&d| positive(d)) {
            problems.push(self.problem(
                "site.events_retry_delays_seconds",
                "needs at least one delay, each positive",
            ));
        }
        if !(positive(config.site.events_timeout_seconds)
            && config.site.events_timeout_seconds <= 120.0)
        {
            problems.push(self.problem("site.events_timeout_seconds", "must be between 0 and 120"));
        }
        if !positive(config.site.events_retention_days) {
            problems.push(self.problem("site.events_retention_days", "must be positive"));
        }
        if config.email.smtp_url.is_some() != config.email.from.is_some() {
            problems.push(self.problem("email", "smtp_url and from go together"));
        }
        if !(100..=30_000).contains(&config.site.loyalty_wait_ms) {
            problems.push(self.problem("site.loyalty_wait_ms", "must be between 100 and 30000"));
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

fn positive(seconds: f64) -> bool {
    seconds.is_finite() && seconds > 0.0
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

    #[test]
    fn the_shipped_example_config_loads() {
        let config = load(EXAMPLE).unwrap();
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
        let config = load(EXAMPLE).unwrap();
        assert_eq!(
            config.site.events_retry_delays_seconds,
            [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0]
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
    fn a_missing_file_says_how_to_point_at_one() {
        let error = Sources::load(Path::new("/nonexistent/bridge.toml"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("IIKO_BRIDGE_CONFIG"));
    }
}
