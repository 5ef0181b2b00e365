//! `package.json` of an installed package, and the licence field shared with lock files.

use serde_json::Value;

use super::NpmEntry;

/// Reads the name, version and licences of an installed package's `package.json`. A manifest
/// without a name or version (a workspace marker) is no package: `Ok(None)`.
pub fn parse_installed_manifest(text: &str) -> Result<Option<NpmEntry>, serde_json::Error> {
    let doc: Value = serde_json::from_str(text)?;
    let field = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let (Some(name), Some(version)) = (field("name"), field("version")) else {
        return Ok(None);
    };
    Ok(Some(NpmEntry {
        name: name.to_owned(),
        version: version.to_owned(),
        licenses: license_of(&doc),
    }))
}

/// The licences of a manifest or lock entry: `license` as an SPDX string or the deprecated
/// `{ "type": ... }` object, else the legacy `licenses` array of either form.
pub fn license_of(doc: &Value) -> Vec<String> {
    fn one(v: &Value) -> Option<String> {
        let s = match v {
            Value::String(s) => s.as_str(),
            Value::Object(o) => o.get("type").and_then(Value::as_str)?,
            _ => return None,
        };
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    }
    if let Some(l) = doc.get("license").and_then(one) {
        return vec![l];
    }
    match doc.get("licenses") {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(other) => one(other).into_iter().collect(),
        None => Vec::new(),
    }
}
