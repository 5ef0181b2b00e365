//! `Cargo.lock`, all versions (1 to 4).
//!
//! Cargo writes the file itself, always in the same shape: `[[package]]` tables with
//! `key = "value"` lines, arrays only for `dependencies`. A line reader for that shape avoids a
//! TOML dependency. A version 1 file's `[metadata]` checksums are ignored.
//!
//! Only packages with a `source` (a registry or a git repository) are reported. Packages
//! without one are the workspace's own members and path dependencies: the project itself, not
//! something it depends on, and not published anywhere an advisory could refer to.

/// One locked package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockedCrate {
    /// Crate name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// `registry+https://...`, `sparse+https://...` or `git+https://...#commit`; `None` for
    /// workspace members and path dependencies.
    pub source: Option<String>,
}

/// Lists the locked packages that come from a registry or git, in file order.
pub fn parse_cargo_lock(text: &str) -> Vec<LockedCrate> {
    let mut all = Vec::new();
    let mut current: Option<LockedCrate> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            all.extend(current.take());
            if line == "[[package]]" {
                current = Some(LockedCrate::default());
            }
            continue;
        }
        let Some(pkg) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(value) = basic_string(value.trim()) else {
            continue;
        };
        match key.trim() {
            "name" => pkg.name = value,
            "version" => pkg.version = value,
            "source" => pkg.source = Some(value),
            _ => {}
        }
    }
    all.extend(current);
    all.into_iter()
        .filter(|c| !c.name.is_empty() && !c.version.is_empty() && c.source.is_some())
        .collect()
}

/// A TOML basic string (`"..."`) with its escapes; `None` for anything else (arrays).
fn basic_string(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'u' | 'U' => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_packages_are_the_project() {
        let got = parse_cargo_lock(
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"serde\",\n]\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ab\"\n",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "serde");
    }
}
