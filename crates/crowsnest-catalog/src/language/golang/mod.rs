//! Go executables: the toolchain (`stdlib`), the main module and every dependency module,
//! from the build information the Go linker embeds ([`buildinfo`]).
//!
//! Versions keep Go's `v` prefix (`v1.2.3`, the form `go version -m` prints and the Go version
//! scheme orders). The toolchain `go1.19.8` is reported as package `stdlib` at `v1.19.8`: the
//! Go vulnerability database names the standard library `stdlib` and gives its ranges in
//! semantic versions (`fixed: 1.19.9`), which the matcher compares after dropping the `v`.
//! A main module built from a work tree keeps Go's `(devel)` version, so that the SBOM shows
//! it; matchers cannot order it and skip it. A dependency replaced (`=>`) by another module is
//! reported as the replacement, which is the code actually linked in; one replaced by a local
//! directory keeps its own path with version `(devel)`, since no published release of it is
//! in the binary.

pub mod buildinfo;

use crowsnest_model::{Ecosystem, FileMeta, ImagePath, Package};

use crate::language::executable::{read_layout, sniff};
use crate::language::location;
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub use buildinfo::{go_version_to_semver, read_build_info, BuildInfo, ModuleLine};

/// The cataloger's name.
pub const NAME: &str = "language/golang";

/// The version Go gives a module built from a work tree.
pub const DEVEL: &str = "(devel)";

/// Finds Go modules compiled into executables.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoBinaryCataloger;

impl Cataloger for GoBinaryCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: a module replaced by a local directory keeps its own path.
        2
    }

    fn wants(&self, _path: &ImagePath, meta: &FileMeta) -> bool {
        meta.is_executable()
    }

    fn catalog(
        &self,
        file: FileInput<'_>,
        _cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let loc = location(&file);
        let path = file.path;
        let Some(format) = sniff(file.reader).map_err(|e| CatalogError::io(path, e))? else {
            return Ok(Vec::new());
        };
        let layout = read_layout(file.reader, format)
            .map_err(|e| CatalogError::malformed(path, format!("executable headers: {e}")))?;
        let info = read_build_info(file.reader, &layout)
            .map_err(|e| CatalogError::malformed(path, e.to_string()))?;
        Ok(info.map(|i| packages(&i, &loc)).unwrap_or_default())
    }
}

/// Whether a replacement target is a directory rather than a module path: Go requires such
/// paths to start with `./`, `../` or be absolute (`/`, or a Windows drive or `\\`).
fn is_local_dir(path: &str) -> bool {
    path.starts_with("./")
        || path.starts_with("../")
        || path.starts_with(".\\")
        || path.starts_with("..\\")
        || path.starts_with('/')
        || path.starts_with('\\')
        || path.as_bytes().get(1) == Some(&b':')
}

/// The packages that one binary's build information names.
pub fn packages(info: &BuildInfo, loc: &str) -> Vec<Package> {
    let mut out = Vec::new();
    if let Some(v) = go_version_to_semver(&info.go_version) {
        out.push(Package::new(Ecosystem::Golang, "stdlib", v, loc, NAME));
    }
    let linked = |m: &ModuleLine| match m.replace.as_deref() {
        Some(r) if !r.version.is_empty() && !is_local_dir(&r.path) => {
            (r.path.clone(), r.version.clone())
        }
        // Go 1.18+ writes a directory replacement as `=> ../x (devel)`, older ones with no
        // version: either way the directory's path is no module name.
        Some(_) => (m.path.clone(), DEVEL.to_owned()),
        None if m.version.is_empty() => (m.path.clone(), DEVEL.to_owned()),
        None => (m.path.clone(), m.version.clone()),
    };
    for m in info.main.iter().chain(info.deps.iter()) {
        let (name, version) = linked(m);
        out.push(Package::new(Ecosystem::Golang, name, version, loc, NAME));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_directories() {
        for p in ["./x", "../greet", "/src/x", "C:\\src\\x", "..\\x"] {
            assert!(is_local_dir(p), "{p}");
        }
        for p in ["example.com/new", "golang.org/x/net", "gopkg.in/yaml.v3"] {
            assert!(!is_local_dir(p), "{p}");
        }
    }
}
