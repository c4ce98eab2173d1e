//! The iikoCloud access token and when it stops being usable.
use std::{
    fmt,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// iiko documents a one-hour token; used when the token carries no readable `exp`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Refresh this long before expiry so a token never expires between our check and iiko's.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A bearer token with its expiry. `Debug` never shows the token itself.
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct JwtClaims {
    exp: Option<i64>,
}

impl AccessToken {
    /// Reads the expiry from the JWT `exp` claim without checking the signature: we only need to know
    /// when to refresh, and iiko itself validates the token.
    pub(crate) fn new(value: String) -> Self {
        let lifetime = jwt_expiry(&value)
            .map(|exp| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs() as i64;
                Duration::from_secs(exp.saturating_sub(now).max(0) as u64)
            })
            .unwrap_or(DEFAULT_LIFETIME);
        Self {
            value: SecretString::from(value),
            expires_at: Instant::now() + lifetime,
        }
    }

    pub fn expose_secret(&self) -> &str {
        self.value.expose_secret()
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Usable for a request that starts now.
    pub(crate) fn is_fresh(&self) -> bool {
        Instant::now() + REFRESH_MARGIN < self.expires_at
    }

    pub(crate) fn same_as(&self, other: &AccessToken) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field(
                "expires_in",
                &self.expires_at.saturating_duration_since(Instant::now()),
            )
            .finish()
    }
}

fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<JwtClaims>(&bytes).ok()?.exp
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An unsigned JWT whose `exp` is `seconds_from_now` away.
    pub(crate) fn jwt_expiring_in(seconds_from_now: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, now + seconds_from_now));
        format!("{header}.{claims}.c2lnbmF0dXJl")
    }

    #[test]
    fn lifetime_follows_the_jwt_exp_claim() {
        let token = AccessToken::new(jwt_expiring_in(600));
        let remaining = token.expires_at() - Instant::now();
        assert!(remaining > Duration::from_secs(590) && remaining <= Duration::from_secs(600));
        assert!(token.is_fresh());
    }

    #[test]
    fn token_within_the_refresh_margin_is_not_fresh() {
        assert!(!AccessToken::new(jwt_expiring_in(30)).is_fresh());
        assert!(!AccessToken::new(jwt_expiring_in(-30)).is_fresh());
    }

    #[test]
    fn opaque_token_is_assumed_to_live_one_hour() {
        let token = AccessToken::new("not-a-jwt".into());
        let remaining = token.expires_at() - Instant::now();
        assert!(remaining > Duration::from_secs(3590));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let raw = jwt_expiring_in(600);
        let printed = format!("{:?}", AccessToken::new(raw.clone()));
        assert!(!printed.contains(&raw));
        assert!(!printed.contains(raw.split('.').nth(1).unwrap()));
    }
}
