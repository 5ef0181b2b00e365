//! The published JSON Schema and the Rust types must describe the same fields. Outputs of
//! reports that fill every optional field are walked, and so is the schema; a field produced
//! but not described, or described but never produced, fails the test. (The Python oracle in
//! `oracles.rs` also validates values; this test needs no Python and names the drifting path.)

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sample;

use std::collections::BTreeSet;
use std::path::Path;

use crowsnest_report::{render, Format};
use serde_json::Value;

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/scan-report.schema.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("only local $defs refs");
            resolve(root, &root["$defs"][name])
        }
        None => node,
    }
}

fn schema_paths(root: &Value, node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let node = resolve(root, node);
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        assert_eq!(
            node.get("additionalProperties"),
            Some(&Value::Bool(false)),
            "{prefix}: every object must forbid undescribed fields"
        );
        for (k, v) in props {
            let path = format!("{prefix}/{k}");
            out.insert(path.clone());
            schema_paths(root, v, &path, out);
        }
    }
    if let Some(items) = node.get("items") {
        schema_paths(root, items, &format!("{prefix}[]"), out);
    }
}

fn value_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = format!("{prefix}/{k}");
                out.insert(path.clone());
                value_paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                value_paths(child, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn schema_describes_exactly_the_fields_produced() {
    let schema = schema();
    let mut described = BTreeSet::new();
    schema_paths(&schema, &schema, "", &mut described);

    let mut produced = BTreeSet::new();
    for report in [sample::acme_shop(), sample::ubuntu_rootfs()] {
        let mut buf = Vec::new();
        render(&report, Format::Json, &sample::fixed_options(), &mut buf).unwrap();
        let value: Value = serde_json::from_slice(&buf).unwrap();
        value_paths(&value, "", &mut produced);
    }

    let undescribed: Vec<_> = produced.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "fields written but missing from schema/scan-report.schema.json: {undescribed:?}"
    );
    let never_produced: Vec<_> = described.difference(&produced).collect();
    assert!(
        never_produced.is_empty(),
        "fields the schema describes but no sample report produces (removed from the types, or \
         the samples need filling): {never_produced:?}"
    );
}

#[test]
fn schema_version_matches_the_crate_constant() {
    assert_eq!(
        schema()["properties"]["schemaVersion"]["const"],
        crowsnest_report::SCHEMA_VERSION
    );
}
