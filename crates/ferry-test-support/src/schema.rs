//! `docs/admin-api.schema.json` and a small validator for the keywords it uses (`type`,
//! `required`, `properties`, `additionalProperties`, `items`, `$ref` to `#/$defs/...`, `enum`,
//! `minimum`, `pattern`). Any other keyword panics, so that the schema cannot outgrow the
//! validator unnoticed.
//!
//! Test support: ferry-admin's unit tests check what `/pool.json` serializes against it, and the
//! integration tests (`crates/ferry/tests/admin.rs`) what a running Ferry answers. Ferry itself
//! never validates its own JSON, so this lives here, out of the production crates. (The
//! `jsonschema` crate would do it too, with many dependencies; and it would not refuse a keyword
//! this validator does not check, which is what keeps the schema honest.)

use serde_json::Value;

/// The pool state's JSON schema, as documented.
pub const SCHEMA: &str = include_str!("../../../docs/admin-api.schema.json");

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
    "enum",
    "minimum",
    "pattern",
];

fn validate(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = schema.as_object().expect("schema is an object");
    for key in schema.keys() {
        assert!(KNOWN.contains(&key.as_str()), "unsupported keyword {key}");
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/$defs/").expect("local $ref");
        return validate(root, &root["$defs"][name], value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "number" => value.is_number(),
            "integer" => value.is_u64() || value.is_i64(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!("{at}: {value} not in {options:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(pattern), Some(s)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        if !regex::Regex::new(pattern).expect("pattern").is_match(s) {
            errors.push(format!("{at}: {s:?} does not match {pattern}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().expect("required names");
            if !object.contains_key(key) {
                errors.push(format!("{at}: missing {key}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => validate(root, sub, item, &format!("{at}.{key}"), errors),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unexpected {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(root, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Every way `value` departs from [`SCHEMA`], each as `$.path: what`; empty when it conforms.
///
/// # Panics
///
/// When the schema uses a keyword this validator does not know, or is not valid JSON.
pub fn errors(value: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let mut errors = Vec::new();
    validate(&schema, &schema, value, "$", &mut errors);
    errors
}
