//! JavaScript packages: installed `node_modules/<name>/package.json` (and `@scope/<name>`),
//! `package-lock.json` / `npm-shrinkwrap.json` (lockfile versions 1, 2 and 3), and `yarn.lock`
//! (classic v1 and berry).
//!
//! Lock files inside `node_modules` are skipped: a dependency's own lock file lists what its
//! authors developed against, not what is installed. npm's hidden `node_modules/.package-lock.json`
//! is skipped too, since it duplicates the installed `package.json` files.

mod lockfile;
mod manifest;
mod yarn;

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use crate::language::{location, read_text};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub use lockfile::parse_package_lock;
pub use manifest::{license_of, parse_installed_manifest};
pub use yarn::parse_yarn_lock;

/// Finds npm packages.
#[derive(Clone, Copy, Debug, Default)]
pub struct NpmCataloger;

/// The cataloger's name.
pub const NAME: &str = "language/npm";

/// A name, version and licences found in one of npm's files, before it becomes a [`Package`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmEntry {
    /// Package name, with its `@scope/` if any.
    pub name: String,
    /// Installed or locked version.
    pub version: String,
    /// Declared licences.
    pub licenses: Vec<String>,
}

/// Whether `path` is `.../node_modules/<name>/package.json` or
/// `.../node_modules/@scope/<name>/package.json`: a package root, not a file deeper inside one
/// (test fixtures, `dist/package.json` markers for ESM).
pub fn is_installed_manifest(path: &ImagePath) -> bool {
    let mut rev = path.as_str().rsplit('/');
    if rev.next() != Some("package.json") {
        return false;
    }
    let (Some(name), Some(up)) = (rev.next(), rev.next()) else {
        return false;
    };
    if name.starts_with('@') {
        return false;
    }
    if up == "node_modules" {
        return true;
    }
    up.starts_with('@') && up.len() > 1 && rev.next() == Some("node_modules")
}

/// Splits `name@rest` at the `@` that ends the name (a scope's leading `@` is not it):
/// `@babel/core@^7.0.0` gives `("@babel/core", "^7.0.0")`.
pub(crate) fn split_name_at(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    let (name, rest) = (spec.get(..at)?, spec.get(at + 1..)?);
    (!name.is_empty()).then_some((name, rest))
}

/// The real package behind an alias: npm and yarn install `x@npm:y@1.2.3` under the folder
/// `x`, but the package is `y`, the name advisories use. `target` is what follows `npm:`.
pub(crate) fn alias_target(target: &str) -> Option<(&str, &str)> {
    split_name_at(target).filter(|(_, v)| !v.is_empty())
}

fn inside_node_modules(path: &ImagePath) -> bool {
    path.components().any(|c| c == "node_modules")
}

impl Cataloger for NpmCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: aliases are reported as the package they install.
        2
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        if meta.kind != FileKind::Regular {
            return false;
        }
        match path.file_name() {
            "package.json" => is_installed_manifest(path),
            "package-lock.json" | "npm-shrinkwrap.json" | "yarn.lock" => !inside_node_modules(path),
            _ => false,
        }
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let text = read_text(&mut file, cx)?;
        let malformed = |reason: String| CatalogError::malformed(file.path, reason);
        let entries = match file.path.file_name() {
            "package.json" => parse_installed_manifest(&text)
                .map_err(|e| malformed(e.to_string()))?
                .into_iter()
                .collect(),
            "yarn.lock" => parse_yarn_lock(&text),
            _ => parse_package_lock(&text).map_err(|e| malformed(e.to_string()))?,
        };
        let loc = location(&file);
        Ok(entries
            .into_iter()
            .map(|e| {
                let mut pkg = Package::new(Ecosystem::Npm, e.name, e.version, loc.clone(), NAME);
                pkg.licenses = e.licenses;
                pkg
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_roots_only() {
        let yes = |s: &str| is_installed_manifest(&ImagePath::parse(s).unwrap());
        assert!(yes("srv/web/node_modules/lodash/package.json"));
        assert!(yes("node_modules/@babel/core/package.json"));
        assert!(yes("a/node_modules/x/node_modules/y/package.json"));
        assert!(!yes("a/node_modules/x/test/fixtures/package.json"));
        assert!(!yes("a/node_modules/@babel/package.json"));
        assert!(!yes("a/node_modules/x/dist/package.json"));
        assert!(!yes("srv/web/package.json"));
    }

    #[test]
    fn alias_targets() {
        assert_eq!(
            alias_target("string-width@4.2.3"),
            Some(("string-width", "4.2.3"))
        );
        assert_eq!(
            alias_target("@babel/core@^7.1.0"),
            Some(("@babel/core", "^7.1.0"))
        );
        assert_eq!(alias_target("^4.17.15"), None);
        assert_eq!(alias_target("@scope/x"), None);
        assert_eq!(alias_target("x@"), None);
    }
}
