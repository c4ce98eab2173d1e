//! Faults switchable at run time through `/sim/faults`.
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The body of `POST /sim/faults` (and the answer of `GET`).
///
/// ```json
/// {"rules": [{"path": "/api/1/deliveries/create", "status": 500, "rate": 1.0, "times": 2, "after": 0,
///             "retry_after": 1, "latency_ms": 0, "handled": false}],
///  "expire_tokens": true, "offline_terminal_groups": ["<uuid>"],
///  "reject_orders": {"code": "ProductNotFound", "message": "..."}}
/// ```
/// POST replaces the rules and the offline terminal groups; `expire_tokens: true` makes every
/// token issued so far answer 401 (new tokens work). DELETE clears everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultSettings {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    #[serde(default)]
    pub expire_tokens: bool,
    /// Orders sent here end in `creationStatus: Error` ("Creation timeout expired ...") and
    /// `is_alive` answers false.
    #[serde(default)]
    pub offline_terminal_groups: Vec<Uuid>,
    /// Orders whose creation finishes while this is set end in `creationStatus: Error` with
    /// this error, the way iiko refuses an order for a business reason.
    #[serde(default)]
    pub reject_orders: Option<Rejection>,
}

/// The `errorInfo` of a refused creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

/// One fault rule. `path` is an exact request path, or a prefix ending in `*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    pub path: String,
    /// 500, 408, 429 ...; none adds only latency.
    #[serde(default)]
    pub status: Option<u16>,
    /// Probability that a matching request is hit (seeded RNG).
    #[serde(default = "always")]
    pub rate: f64,
    /// How many more hits before the rule expires; none = forever.
    #[serde(default)]
    pub times: Option<u32>,
    /// How many matching requests pass untouched before the rule starts to hit: iiko failing
    /// midway through a series of calls.
    #[serde(default)]
    pub after: Option<u32>,
    /// Seconds for the `Retry-After` header of a 429.
    #[serde(default)]
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub latency_ms: u64,
    /// The request is handled as usual first (a `deliveries/create` stores the order) and only
    /// its answer is replaced by the fault: iiko got it, but the caller sees a 5xx or a timeout.
    #[serde(default)]
    pub handled: bool,
}

fn always() -> f64 {
    1.0
}

/// What to do to one request.
#[derive(Debug, Default, PartialEq)]
pub struct Injection {
    pub latency_ms: u64,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    /// Run the handler before answering with the fault (see [`FaultRule::handled`]).
    pub handled: bool,
}

impl FaultRule {
    fn matches(&self, path: &str) -> bool {
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        }
    }
}

/// Picks the first matching rule that fires for `path`, counting down its `times`.
pub fn inject(rules: &mut Vec<FaultRule>, path: &str, rng: &mut StdRng) -> Option<Injection> {
    if let Some(waiting) = rules
        .iter_mut()
        .find(|rule| rule.matches(path) && rule.after.is_some_and(|n| n > 0))
    {
        waiting.after = waiting.after.map(|n| n - 1);
        return None;
    }
    let index = rules
        .iter()
        .position(|rule| rule.matches(path) && rng.random_bool(rule.rate.clamp(0.0, 1.0)))?;
    let rule = &mut rules[index];
    let injection = Injection {
        latency_ms: rule.latency_ms,
        status: rule.status,
        retry_after: rule.retry_after,
        handled: rule.handled,
    };
    if let Some(times) = rule.times.as_mut() {
        *times = times.saturating_sub(1);
        if *times == 0 {
            rules.remove(index);
        }
    }
    Some(injection)
}
