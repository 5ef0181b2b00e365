//! `yarn.lock`, both formats with one line reader.
//!
//! Classic (v1) entries look like `"a@^1.0.0", a@^1.1.0:` followed by an indented
//! `version "1.2.3"`; berry (v2+) writes YAML: `"a@npm:^1.0.0, a@npm:^1.1.0":` and
//! `version: 1.2.3`. Both keep one entry per resolved package, with a top-level key line
//! naming every range that resolved to it. Berry's `__metadata` block and the project's own
//! `workspace:`/`link:`/`portal:`/`file:` entries are skipped.

use std::collections::HashSet;

use super::{alias_target, split_name_at, NpmEntry};

/// Lists the locked packages, each name@version once, in file order. Lines it does not
/// understand are ignored, so garbage gives an empty list.
pub fn parse_yarn_lock(text: &str) -> Vec<NpmEntry> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            current = line
                .strip_suffix(':')
                .and_then(name_of_key)
                .filter(|_| !line.starts_with("__metadata"));
            continue;
        }
        let Some(name) = current.as_ref() else {
            continue;
        };
        // Only the entry's own fields (two spaces), not nested `dependencies:` maps.
        let Some(field) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) else {
            continue;
        };
        let Some(raw) = field
            .strip_prefix("version:")
            .or_else(|| field.strip_prefix("version "))
        else {
            continue;
        };
        let version = raw.trim().trim_matches('"').trim_matches('\'').to_owned();
        if version.is_empty() || version == "0.0.0-use.local" {
            continue;
        }
        if seen.insert((name.clone(), version.clone())) {
            out.push(NpmEntry {
                name: name.clone(),
                version,
                licenses: Vec::new(),
            });
        }
        current = None;
    }
    out
}

/// The package name of a key line such as `"@babel/core@^7.0.0", "@babel/core@^7.1.0"` or
/// `"lodash@npm:^4.17.15"`; `None` for the project's own (workspace) entries. An alias key
/// (`"x@npm:y@^1.0.0"`, in both formats) names the real package `y`.
fn name_of_key(key: &str) -> Option<String> {
    let first = key.split(',').next()?.trim().trim_matches('"').trim();
    let (name, range) = split_name_at(first)?;
    let protocol = range.split(':').next().unwrap_or("");
    if range.contains(':') && matches!(protocol, "workspace" | "link" | "portal" | "file" | "patch")
    {
        return None;
    }
    if let Some((real, _)) = range.strip_prefix("npm:").and_then(alias_target) {
        return Some(real.to_owned());
    }
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert_eq!(
            name_of_key("\"@babel/core@^7.0.0\", \"@babel/core@^7.1.0\"").as_deref(),
            Some("@babel/core")
        );
        assert_eq!(name_of_key("lodash@^4.17.15").as_deref(), Some("lodash"));
        assert_eq!(
            name_of_key("\"lodash@npm:^4.17.15\"").as_deref(),
            Some("lodash")
        );
        assert_eq!(name_of_key("\"app@workspace:.\""), None);
        assert_eq!(
            name_of_key("\"string-width-cjs@npm:string-width@^4.2.0\"").as_deref(),
            Some("string-width")
        );
        assert_eq!(name_of_key("@"), None);
    }
}
