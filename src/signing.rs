//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): verifying the site's
//! order submissions (the order API) and signing the bridge's own events (`notify::site_events`).
//!
//! The timestamp window only bounds replays to five minutes; refusing a replay inside it needs
//! storage, so [`verify`] returns the `webhook-id` for the caller to deduplicate.
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signed timestamp may be from our clock, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signing secret must be whsec_ followed by base64")]
    MalformedSecret,
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not unix seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes old")]
    Expired,
    #[error("webhook-timestamp is more than 5 minutes in the future")]
    FromTheFuture,
    #[error("no v1 signature in webhook-signature matches the body")]
    NoMatch,
}

/// A decoded `whsec_<base64>` secret.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn parse(secret: &str) -> Result<Self, SignatureError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SignatureError::MalformedSecret)?;
        match STANDARD.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(Self(key)),
            _ => Err(SignatureError::MalformedSecret),
        }
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The three Standard Webhooks headers of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> SignedHeaders<'a> {
    pub fn from_map(headers: &'a HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
        }
    }
}

/// The `webhook-signature` value for a message: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Checks the headers against the body; on success returns the `webhook-id`, which the caller
/// should remember for the tolerance window to refuse replays.
pub fn verify<'a>(
    secret: &WebhookSecret,
    headers: SignedHeaders<'a>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<&'a str, SignatureError> {
    let id = headers
        .id
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signatures = headers
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    // The window stops a captured request from being replayed later, and a far-future stamp
    // from extending that window.
    let age = now.timestamp().saturating_sub(seconds);
    if age > TOLERANCE_SECONDS {
        return Err(SignatureError::Expired);
    }
    if age < -TOLERANCE_SECONDS {
        return Err(SignatureError::FromTheFuture);
    }
    let expected = secret.mac(id, timestamp, body).finalize().into_bytes();
    // Several signatures allow the site to rotate its secret without downtime.
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        // Constant time, so timing does not reveal how much of a forged tag was right.
        .any(|candidate| bool::from(candidate.as_slice().ct_eq(expected.as_slice())));
    if matches {
        Ok(id)
    } else {
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    // The example of the Standard Webhooks specification (and the svix libraries' tests);
    // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    //   base64.b64decode('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
    //   b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}', hashlib.sha256).digest()))"
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn headers(signature: &str) -> SignedHeaders<'_> {
        SignedHeaders {
            id: Some(ID),
            timestamp: Some("1614265330"),
            signature: Some(signature),
        }
    }

    #[test]
    fn signing_reproduces_the_specifications_example() {
        assert_eq!(sign(&secret(), ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn a_valid_signature_verifies_and_yields_the_webhook_id() {
        assert_eq!(
            verify(&secret(), headers(SIGNATURE), BODY, at(TIMESTAMP)),
            Ok(ID)
        );
    }

    #[test]
    fn a_changed_body_or_a_wrong_signature_is_refused() {
        let refused = Err(SignatureError::NoMatch);
        assert_eq!(
            verify(&secret(), headers(SIGNATURE), b"{}", at(TIMESTAMP)),
            refused
        );
        let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(
            verify(&secret(), headers(wrong), BODY, at(TIMESTAMP)),
            refused
        );
        let other_version = SIGNATURE.replace("v1,", "v2,");
        assert_eq!(
            verify(&secret(), headers(&other_version), BODY, at(TIMESTAMP)),
            refused
        );
        assert_eq!(
            verify(&secret(), headers("garbage"), BODY, at(TIMESTAMP)),
            refused
        );
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let several = format!("v1,bm90IGl0 v1a,whatever {SIGNATURE}");
        assert_eq!(
            verify(&secret(), headers(&several), BODY, at(TIMESTAMP)),
            Ok(ID)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_either_way_are_refused() {
        let check = |now| verify(&secret(), headers(SIGNATURE), BODY, at(now));
        assert_eq!(check(TIMESTAMP + 300), Ok(ID));
        assert_eq!(check(TIMESTAMP - 300), Ok(ID));
        assert_eq!(check(TIMESTAMP + 301), Err(SignatureError::Expired));
        assert_eq!(check(TIMESTAMP - 301), Err(SignatureError::FromTheFuture));
    }

    #[test]
    fn missing_headers_and_a_bad_timestamp_say_what_is_wrong() {
        let mut h = headers(SIGNATURE);
        h.timestamp = Some("yesterday");
        assert_eq!(
            verify(&secret(), h, BODY, at(TIMESTAMP)),
            Err(SignatureError::BadTimestamp)
        );
        h.id = None;
        assert_eq!(
            verify(&secret(), h, BODY, at(TIMESTAMP)),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            verify(&secret(), SignedHeaders::default(), BODY, at(TIMESTAMP))
                .unwrap_err()
                .to_string(),
            "missing header webhook-id"
        );
    }

    #[test]
    fn headers_are_read_from_a_header_map() {
        let mut map = HeaderMap::new();
        map.insert("webhook-id", ID.parse().unwrap());
        map.insert("webhook-timestamp", "1614265330".parse().unwrap());
        map.insert("webhook-signature", SIGNATURE.parse().unwrap());
        assert_eq!(
            verify(
                &secret(),
                SignedHeaders::from_map(&map),
                BODY,
                at(TIMESTAMP)
            ),
            Ok(ID)
        );
    }

    #[test]
    fn a_malformed_secret_is_refused() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad).unwrap_err(),
                SignatureError::MalformedSecret,
                "{bad}"
            );
        }
    }
}
