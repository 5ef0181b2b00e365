//! `package-lock.json` and `npm-shrinkwrap.json`.
//!
//! Version 1 (npm 5-6) nests a `dependencies` tree; versions 2 and 3 (npm 7+) have a flat
//! `packages` map keyed by install path, where `""` is the project itself and keys without a
//! `node_modules/` segment are workspace members: both are the project's own code, not
//! dependencies, and are skipped, as are `link` entries that point at them. A version 2 file
//! carries both forms; the `packages` map is preferred because it also records licences.
//! An alias (`"x": "npm:y@^1"` in `package.json`) is reported as the real package `y`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::manifest::license_of;
use super::{alias_target, NpmEntry};

/// Deepest `dependencies` nesting followed in a version 1 file; npm never nests this deep, a
/// hostile file might.
const MAX_DEPTH: usize = 256;

/// Lists the locked packages, each name@version once, in file order.
pub fn parse_package_lock(text: &str) -> Result<Vec<NpmEntry>, serde_json::Error> {
    let doc: Value = serde_json::from_str(text)?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |e: NpmEntry| {
        if seen.insert((e.name.clone(), e.version.clone())) {
            out.push(e);
        }
    };
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, entry) in packages {
            let Some(idx) = key.rfind("node_modules/") else {
                continue;
            };
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let from_key = &key[idx + "node_modules/".len()..];
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(from_key);
            if let Some(version) = usable_version(entry) {
                push(NpmEntry {
                    name: name.to_owned(),
                    version,
                    licenses: license_of(entry),
                });
            }
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        walk_v1(deps, 0, &mut push);
    }
    Ok(out)
}

fn walk_v1(deps: &Map<String, Value>, depth: usize, push: &mut impl FnMut(NpmEntry)) {
    if depth > MAX_DEPTH {
        return;
    }
    for (name, entry) in deps {
        if let Some(version) = usable_version(entry) {
            // An alias (`"x": {"version": "npm:y@1.2.3"}`) installs package y at 1.2.3 in the
            // folder x; versions 2 and 3 say so with a `name` field instead.
            let (name, version) = match version.strip_prefix("npm:").and_then(alias_target) {
                Some((real, v)) => (real.to_owned(), v.to_owned()),
                None => (name.clone(), version),
            };
            push(NpmEntry {
                name,
                version,
                licenses: license_of(entry),
            });
        }
        if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
            walk_v1(nested, depth + 1, push);
        }
    }
}

/// The entry's version, unless it is a local `file:`/`link:` reference: those name a folder of
/// the project, not a published release.
fn usable_version(entry: &Value) -> Option<String> {
    let v = entry.get("version")?.as_str()?.trim();
    if v.is_empty() || v.starts_with("file:") || v.starts_with("link:") {
        return None;
    }
    Some(v.to_owned())
}
