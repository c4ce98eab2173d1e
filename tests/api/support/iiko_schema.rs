//! Checks JSON bodies against the official iikoCloud schema.
//!
//! The schemas come from `tests/fixtures/iiko-schema-subset.json`, which
//! `scripts/iiko-schema-subset.py` generates from the official `openapi.json`: one
//! JSON Schema (draft 2020-12) document per iikoCloud path for the request body (strict:
//! unknown properties are rejected) and one for the 200 response (open).
//!
//! ```ignore
//! use crate::support::iiko_schema;
//!
//! iiko_schema::assert_valid_request("/api/1/deliveries/create", &body);
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;

const FIXTURE: &str = include_str!("../../fixtures/iiko-schema-subset.json");

struct Schemas {
    requests: BTreeMap<String, Validator>,
    responses: BTreeMap<String, Validator>,
    absent: BTreeMap<String, String>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let fixture: Value =
            serde_json::from_str(FIXTURE).expect("tests/fixtures/iiko-schema-subset.json is JSON");
        let compile_all = |key: &str| -> BTreeMap<String, Validator> {
            fixture[key]
                .as_object()
                .unwrap_or_else(|| panic!("fixture has no `{key}` object"))
                .iter()
                .map(|(path, schema)| {
                    let validator = jsonschema::options()
                        .with_draft(Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(schema)
                        .unwrap_or_else(|err| {
                            panic!("{key} schema for {path} does not compile: {err}")
                        });
                    (path.clone(), validator)
                })
                .collect()
        };
        let absent = fixture["absent"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(path, why)| (path.clone(), why.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Schemas {
            requests: compile_all("requests"),
            responses: compile_all("responses"),
            absent,
        }
    })
}

fn validator<'a>(map: &'a BTreeMap<String, Validator>, kind: &str, path: &str) -> &'a Validator {
    if let Some(validator) = map.get(path) {
        return validator;
    }
    if let Some(why) = schemas().absent.get(path) {
        panic!("no official {kind} schema for {path}: {why}");
    }
    panic!(
        "no {kind} schema for unknown iikoCloud path {path:?}; known paths: {:?} \
         (add it to PATHS in scripts/iiko-schema-subset.py and regenerate)",
        map.keys().collect::<Vec<_>>()
    );
}

/// Every iikoCloud path that has schemas in the fixture.
pub fn known_paths() -> Vec<&'static str> {
    schemas().requests.keys().map(String::as_str).collect()
}

/// Paths the bridge calls that the official schema snapshot lacks, with the reason.
pub fn absent_paths() -> Vec<(&'static str, &'static str)> {
    schemas()
        .absent
        .iter()
        .map(|(path, why)| (path.as_str(), why.as_str()))
        .collect()
}

/// Errors of a request body sent to `path` (empty = valid). Each message starts with the JSON
/// pointer of the offending value (`/` for the whole body). Panics for an unknown path.
pub fn request_errors(path: &str, body: &Value) -> Vec<String> {
    errors(validator(&schemas().requests, "request", path), body)
}

/// Errors of a 200 response body of `path` (empty = valid). Panics for an unknown path.
pub fn response_errors(path: &str, body: &Value) -> Vec<String> {
    errors(validator(&schemas().responses, "response", path), body)
}

/// Panics, listing every error, unless `body` is a valid request body for `path`.
#[track_caller]
pub fn assert_valid_request(path: &str, body: &Value) {
    let errors = request_errors(path, body);
    assert!(
        errors.is_empty(),
        "request body for {path} does not match the official iikoCloud schema:\n  {}\nbody: {body:#}",
        errors.join("\n  ")
    );
}

/// Panics, listing every error, unless `body` is a valid 200 response body for `path`.
#[track_caller]
pub fn assert_valid_response(path: &str, body: &Value) {
    let errors = response_errors(path, body);
    assert!(
        errors.is_empty(),
        "response body for {path} does not match the official iikoCloud schema:\n  {}\nbody: {body:#}",
        errors.join("\n  ")
    );
}

fn errors(validator: &Validator, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for error in validator.iter_errors(body) {
        describe(&error, 0, &mut out);
    }
    out
}

fn pointer(error: &ValidationError<'_>) -> String {
    let path = error.instance_path().to_string();
    if path.is_empty() {
        "/".to_owned()
    } else {
        path
    }
}

/// One line per error; for `anyOf`/`oneOf` (which is how nullable objects are written) the
/// alternatives' own errors follow, indented, leaving out the uninformative "is not null".
fn describe(error: &ValidationError<'_>, depth: usize, out: &mut Vec<String>) {
    let indent = "    ".repeat(depth);
    let at = pointer(error);
    match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            out.push(format!(
                "{indent}{at}: matches none of the allowed alternatives:"
            ));
            for branch in context {
                for sub in branch {
                    if matches!(sub.kind(), ValidationErrorKind::Type { .. })
                        && sub.to_string().ends_with("is not of type \"null\"")
                    {
                        continue;
                    }
                    describe(sub, depth + 1, out);
                }
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            out.push(format!(
                "{indent}{at}: matches more than one 'oneOf' alternative"
            ));
        }
        _ => {
            let mut message = error.to_string();
            if message.len() > 300 {
                let mut end = 300;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
                message.push_str("...");
            }
            out.push(format!("{indent}{at}: {message}"));
        }
    }
}
