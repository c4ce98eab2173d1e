//! Walks a JSON tree and collects one [`FieldProblem`] per problem, with JSON-path-like field
//! names, instead of stopping at the first one as serde would.
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::domain::{FieldProblem, Refusal, bounded};

pub type Object = Map<String, Value>;

#[derive(Default)]
pub struct Reader {
    pub problems: Vec<FieldProblem>,
}

/// `prefix.key`, or `key` at the top level.
pub fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A key's value, with `null` read as absent: sites send both for "not given".
pub fn get<'v>(object: &'v Object, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|value| !value.is_null())
}

impl Reader {
    pub fn refuse(&mut self, field: impl Into<String>, refusal: Refusal) {
        self.problems
            .push(FieldProblem::new(field, refusal.code, refusal.message));
    }

    pub fn problem(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.problems.push(FieldProblem::new(field, code, message));
    }

    pub fn missing(&mut self, field: impl Into<String>) {
        self.problem(field, "required", "is required");
    }

    pub fn wrong_type(&mut self, field: impl Into<String>, expected: &str, value: &Value) {
        self.problem(
            field,
            "wrong_type",
            format!("must be {expected}, got {}", type_name(value)),
        );
    }

    /// An object whose keys are all in `allowed`. Unknown keys are refused, so a misspelt
    /// optional field (`delivery_at`, `change`) cannot silently change the order that reaches the kitchen.
    pub fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Object> {
        let Value::Object(object) = value else {
            let field = if path.is_empty() { "body" } else { path };
            self.wrong_type(field, "an object", value);
            return None;
        };
        for key in object.keys().filter(|key| !allowed.contains(&key.as_str())) {
            self.problem(
                join(path, key),
                "unknown_field",
                "is not a field of this object",
            );
        }
        Some(object)
    }

    /// A required value; reports it missing when absent or null.
    pub fn required<'v>(&mut self, object: &'v Object, path: &str, key: &str) -> Option<&'v Value> {
        let value = get(object, key);
        if value.is_none() {
            self.missing(join(path, key));
        }
        value
    }

    /// A trimmed string of `min..=max` characters.
    pub fn string(&mut self, value: &Value, field: &str, min: usize, max: usize) -> Option<String> {
        let Value::String(text) = value else {
            self.wrong_type(field, "a string", value);
            return None;
        };
        bounded(text.trim(), min, max)
            .map_err(|refusal| self.refuse(field, refusal))
            .ok()
    }

    pub fn required_string(
        &mut self,
        object: &Object,
        path: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        let value = self.required(object, path, key)?;
        self.string(value, &join(path, key), 1, max)
    }

    /// An optional string; an empty one counts as absent, as sites send `""` for blank inputs.
    /// The outer `None` means it was invalid (and reported).
    pub fn optional_string(
        &mut self,
        object: &Object,
        path: &str,
        key: &str,
        max: usize,
    ) -> Option<Option<String>> {
        match get(object, key) {
            None => Some(None),
            Some(Value::String(text)) if text.trim().is_empty() => Some(None),
            Some(value) => self.string(value, &join(path, key), 1, max).map(Some),
        }
    }

    /// A JSON number as an exact decimal: `33.33` stays 33.33, never a nearby binary double.
    pub fn decimal(&mut self, value: &Value, field: &str) -> Option<Decimal> {
        let Value::Number(number) = value else {
            self.wrong_type(field, "a number", value);
            return None;
        };
        let text = number.to_string();
        let parsed = if text.contains(['e', 'E']) {
            Decimal::from_scientific(&text)
        } else {
            Decimal::from_str(&text)
        };
        parsed
            .map_err(|_| self.problem(field, "out_of_range", format!("{text} is out of range")))
            .ok()
    }

    pub fn parsed<T>(
        &mut self,
        value: &Value,
        field: &str,
        parse: impl FnOnce(Decimal) -> Result<T, Refusal>,
    ) -> Option<T> {
        let decimal = self.decimal(value, field)?;
        parse(decimal)
            .map_err(|refusal| self.refuse(field, refusal))
            .ok()
    }

    pub fn boolean(&mut self, value: &Value, field: &str) -> Option<bool> {
        match value {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.wrong_type(field, "true or false", other);
                None
            }
        }
    }
}
