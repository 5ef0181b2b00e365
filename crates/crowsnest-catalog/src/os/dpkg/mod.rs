//! dpkg: Debian, Ubuntu and derivatives, including distroless images.
//!
//! Reads `var/lib/dpkg/status` and every entry of `var/lib/dpkg/status.d/` (distroless images
//! ship one stanza file per package there, with companion `*.md5sums` files that are skipped).
//!
//! A package counts as installed when its `Status` field's state (third word) is `installed`,
//! whatever the wanted action: `hold ok installed` and `deinstall ok installed` packages are
//! still on disk. A stanza without `Status` counts only in `status.d`, whose entries never
//! carry one; in `status` dpkg itself treats such a stanza as not installed.
//!
//! `source_name` is always set: the `Source:` name, or the package's own name when there is
//! none (as `dpkg-query`'s `${source:Package}` does), because Debian advisories are keyed by
//! source package. `source_version` is set only when `Source: name (version)` names a version
//! that differs from the binary's.
//!
//! Licences come from `usr/share/doc/<package>/copyright` when it is in the machine-readable
//! format. The cataloger asks the engine to capture those files; cataloging one of them alone
//! yields nothing, and the status file's cataloging reads them through the context.

mod control;
mod copyright;

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use super::{read_capped, read_whole};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// Largest `copyright` file read for licences; real ones are a few hundred KiB at most.
const MAX_COPYRIGHT: u64 = 4 << 20;

/// Finds Debian packages.
#[derive(Debug, Default, Clone, Copy)]
pub struct DpkgCataloger;

/// Which of the wanted files a path is.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// `var/lib/dpkg/status`.
    Status,
    /// An entry of `var/lib/dpkg/status.d/`.
    StatusD,
    /// `usr/share/doc/<package>/copyright`.
    Copyright,
}

fn classify(path: &ImagePath) -> Option<Wanted> {
    let p = path.as_str();
    if p == "var/lib/dpkg/status" {
        return Some(Wanted::Status);
    }
    if let Some(name) = p.strip_prefix("var/lib/dpkg/status.d/") {
        if !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums") {
            return Some(Wanted::StatusD);
        }
        return None;
    }
    let doc = p.strip_prefix("usr/share/doc/")?;
    let (pkg, file) = doc.split_once('/')?;
    (!pkg.is_empty() && file == "copyright").then_some(Wanted::Copyright)
}

impl Cataloger for DpkgCataloger {
    fn name(&self) -> &'static str {
        "os/dpkg"
    }

    fn version(&self) -> u32 {
        1
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        matches!(meta.kind, FileKind::Regular | FileKind::Symlink) && classify(path).is_some()
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let in_status_d = match classify(file.path) {
            Some(Wanted::Status) => false,
            Some(Wanted::StatusD) => true,
            // Read on behalf of the status file, never on its own.
            Some(Wanted::Copyright) | None => return Ok(Vec::new()),
        };
        let bytes = read_whole(&mut file, cx)?;
        let text = String::from_utf8_lossy(&bytes);
        let parsed = control::parse(&text);
        let mut packages = Vec::new();
        for stanza in &parsed.stanzas {
            if let Some(mut pkg) = package(stanza, in_status_d, self.name(), file.path) {
                pkg.licenses = licenses_of(&pkg.name, cx);
                packages.push(pkg);
            }
        }
        if packages.is_empty() && parsed.broken > 0 {
            return Err(CatalogError::malformed(
                file.path,
                format!(
                    "{} stanza(s) are not in control-file syntax and none is usable",
                    parsed.broken
                ),
            ));
        }
        Ok(packages)
    }
}

/// The installed package a stanza describes, if it describes one.
fn package(
    stanza: &control::Stanza<'_>,
    in_status_d: bool,
    found_by: &str,
    path: &ImagePath,
) -> Option<Package> {
    let installed = match stanza.get("Status") {
        Some(status) => status.split_whitespace().nth(2) == Some("installed"),
        None => in_status_d,
    };
    if !installed {
        return None;
    }
    let name = stanza.get("Package").filter(|n| is_token(n))?;
    let version = stanza.get("Version").filter(|v| is_token(v))?;
    let mut pkg = Package::new(Ecosystem::Deb, name, version, path.to_string(), found_by);
    let (source_name, source_version) = match stanza.get("Source") {
        Some(source) => parse_source(source),
        None => (None, None),
    };
    pkg.source_name = Some(source_name.unwrap_or(name).to_owned());
    pkg.source_version = source_version.filter(|v| *v != version).map(str::to_owned);
    pkg.arch = stanza
        .get("Architecture")
        .filter(|a| is_token(a))
        .map(str::to_owned);
    Some(pkg)
}

/// A non-empty value without whitespace, as package names, versions and architectures are.
fn is_token(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

/// `name` or `name (version)`.
fn parse_source(source: &str) -> (Option<&str>, Option<&str>) {
    let source = source.trim();
    let (name, rest) = match source.split_once(char::is_whitespace) {
        Some((name, rest)) => (name, rest.trim()),
        None => (source, ""),
    };
    let version = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(str::trim)
        .filter(|v| is_token(v));
    (Some(name).filter(|n| is_token(n)), version)
}

/// Licences from the package's DEP-5 copyright file, if the engine captured one.
fn licenses_of(name: &str, cx: &CatalogContext<'_>) -> Vec<String> {
    let Ok(path) = ImagePath::parse(&format!("usr/share/doc/{name}/copyright")) else {
        return Vec::new();
    };
    let Ok(mut reader) = cx.fs.open(&path) else {
        return Vec::new();
    };
    let limit = cx.max_in_memory.min(MAX_COPYRIGHT);
    let declared = cx.fs.metadata(&path).map_or(0, |m| m.size);
    // A missing or oversized copyright file only costs the licence, never the package.
    match read_capped(&path, &mut reader, declared, limit) {
        Ok(bytes) => copyright::licenses(&String::from_utf8_lossy(&bytes)),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_wanted_paths() {
        let p = |s| ImagePath::parse(s).unwrap();
        assert_eq!(classify(&p("/var/lib/dpkg/status")), Some(Wanted::Status));
        assert_eq!(
            classify(&p("var/lib/dpkg/status.d/base")),
            Some(Wanted::StatusD)
        );
        assert_eq!(classify(&p("var/lib/dpkg/status.d/base.md5sums")), None);
        assert_eq!(classify(&p("var/lib/dpkg/status-old")), None);
        assert_eq!(
            classify(&p("usr/share/doc/bash/copyright")),
            Some(Wanted::Copyright)
        );
        assert_eq!(classify(&p("usr/share/doc/bash/x/copyright")), None);
    }

    #[test]
    fn source_with_and_without_version() {
        assert_eq!(parse_source("glibc"), (Some("glibc"), None));
        assert_eq!(
            parse_source("libselinux (3.4-1)"),
            (Some("libselinux"), Some("3.4-1"))
        );
        assert_eq!(parse_source("x (broken"), (Some("x"), None));
    }
}
