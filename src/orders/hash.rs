//! The idempotency fingerprint of an order body: equal for the same content however it is
//! formatted, so a site's retry is recognised (200) and a changed order is not (409).
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::IntakeError;

/// SHA-256 (hex) of the body's canonical form: keys sorted, `null` members dropped (the
/// parser reads them as absent), numbers by value (`10`, `10.0` and `1e1` are one amount).
/// Whitespace and key order do not count; string contents do.
pub fn content_hash(raw: &[u8]) -> Result<String, IntakeError> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| IntakeError::Malformed(e.to_string()))?;
    let mut hasher = Sha256::new();
    feed(&mut hasher, &value);
    Ok(hex(&hasher.finalize()))
}

/// Writes a self-delimiting encoding: a type tag, then a length before every variable part,
/// so no two different trees can feed the same bytes.
fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(flag) => hasher.update(if *flag { b"t" } else { b"f" }),
        Value::Number(number) => {
            let text = number.to_string();
            let parsed = if text.contains(['e', 'E']) {
                Decimal::from_scientific(&text)
            } else {
                Decimal::from_str(&text)
            };
            // Out-of-range numbers (never a valid order) fall back to their text.
            let canonical = parsed.map_or(text, |d| d.normalize().to_string());
            hasher.update(b"d");
            bytes(hasher, canonical.as_bytes());
        }
        Value::String(text) => {
            hasher.update(b"s");
            bytes(hasher, text.as_bytes());
        }
        Value::Array(values) => {
            hasher.update(b"a");
            hasher.update((values.len() as u64).to_be_bytes());
            values.iter().for_each(|value| feed(hasher, value));
        }
        Value::Object(members) => {
            let mut members: Vec<_> = members.iter().filter(|(_, v)| !v.is_null()).collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"o");
            hasher.update((members.len() as u64).to_be_bytes());
            for (key, value) in members {
                bytes(hasher, key.as_bytes());
                feed(hasher, value);
            }
        }
    }
}

fn bytes(hasher: &mut Sha256, data: &[u8]) {
    hasher.update((data.len() as u64).to_be_bytes());
    hasher.update(data);
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(raw: &str) -> String {
        content_hash(raw.as_bytes()).unwrap()
    }

    #[test]
    fn formatting_key_order_nulls_and_number_spelling_do_not_change_the_hash() {
        let base = hash(r#"{"id":"A1","total":10,"items":[{"price":10.5}]}"#);
        assert_eq!(
            base,
            hash(
                "{ \"items\" : [ {\"price\": 10.50} ],\n \"total\": 1e1, \"id\": \"A1\", \"comment\": null }"
            )
        );
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn any_change_of_content_changes_the_hash() {
        let base = hash(r#"{"id":"A1","total":10,"items":[{"price":10.5}]}"#);
        for changed in [
            r#"{"id":"A1","total":11,"items":[{"price":10.5}]}"#,
            r#"{"id":"A2","total":10,"items":[{"price":10.5}]}"#,
            r#"{"id":"A1","total":10,"items":[{"price":10.5},{"price":10.5}]}"#,
            r#"{"id":"A1","total":"10","items":[{"price":10.5}]}"#,
            r#"{"id":"A1","total":10,"items":[{"price":10.5}],"comment":""}"#,
        ] {
            assert_ne!(base, hash(changed), "{changed}");
        }
    }

    #[test]
    fn malformed_json_has_no_hash() {
        assert!(matches!(
            content_hash(b"{\"id\":"),
            Err(IntakeError::Malformed(_))
        ));
    }
}
