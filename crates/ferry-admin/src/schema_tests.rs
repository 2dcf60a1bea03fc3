//! `docs/admin-api.schema.json` against what `/pool.json` really sends. A small validator for
//! the keywords the schema uses (`type`, `required`, `properties`, `additionalProperties`,
//! `items`, `$ref` to `#/$defs/...`, `enum`, `minimum`, `pattern`), which fails on any other
//! keyword so that the schema cannot outgrow it unnoticed.

use serde_json::Value;

use crate::pool::tests::sample;

const SCHEMA: &str = include_str!("../../../docs/admin-api.schema.json");

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

fn errors(value: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let mut errors = Vec::new();
    validate(&schema, &schema, value, "$", &mut errors);
    errors
}

#[test]
fn pool_json_matches_the_documented_schema() {
    for pool in [sample(), sample().without_secrets(), sample().only_uid(7)] {
        let value = serde_json::to_value(&pool).expect("serialize");
        assert_eq!(errors(&value), Vec::<String>::new());
    }
}

#[test]
fn the_validator_catches_departures() {
    let mut value = serde_json::to_value(sample()).expect("serialize");
    value["groups"][0]["processes"][0]["life_state"] = "zombie".into();
    value["groups"][0]["queue_length"] = (-1).into();
    value["groups"][1]["extra"] = true.into();
    value["groups"][1]["processes"][0]
        .as_object_mut()
        .expect("object")
        .remove("pid");
    value["groups"][1]["processes"][0]["url"] = "ftp://x".into();
    assert_eq!(errors(&value).len(), 5, "{:?}", errors(&value));
}
