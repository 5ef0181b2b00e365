//! Java archives: `.jar`, `.war`, `.ear`, and Jenkins plugins (`.jpi`, `.hpi`).
//!
//! Each archive is read through its zip central directory with seeks. Identity comes from, in
//! order of trust:
//! 1. every `META-INF/maven/<group>/<artifact>/pom.properties` (Maven writes one per module; a
//!    shaded jar carries one per module it absorbed, and each is reported);
//! 2. else `META-INF/MANIFEST.MF` together with the file name (see [`from_manifest`]);
//! 3. else the file name alone, when it carries a version.
//!
//! Archives nested inside (`WEB-INF/lib/*.jar`, Spring Boot's `BOOT-INF/lib/*.jar`, the
//! modules of an `.ear`) are read into memory when small enough and cataloged the same way,
//! with location `outer.war!/WEB-INF/lib/inner.jar` (the separator of Java's own `jar:` URLs,
//! which no file name in an image is likely to contain; an `.ear`'s war's jars read
//! `a.ear!/b.war!/WEB-INF/lib/c.jar`). Every archive's reads count against one budget of
//! uncompressed bytes, so a zip bomb costs at most that much.

mod manifest;

use std::io::{Cursor, Read, Seek};

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};
use zip::ZipArchive;

use crate::language::location;
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub use manifest::{is_maven_id, parse_properties, split_file_name, Manifest};

/// The cataloger's name.
pub const NAME: &str = "language/java";

/// Archive extensions that are Java archives.
const EXTENSIONS: [&str; 5] = [".jar", ".war", ".ear", ".jpi", ".hpi"];

/// Largest `pom.properties` or `MANIFEST.MF` read.
const MAX_TEXT_ENTRY: u64 = 1 << 20;

/// Finds Java archives and the Maven artifacts inside them.
#[derive(Clone, Copy, Debug)]
pub struct JavaCataloger {
    /// Largest nested archive read into memory, in bytes.
    pub max_nested_size: u64,
    /// How deep archives inside archives are followed (an `.ear` holding a `.war` holding
    /// jars is depth 2).
    pub max_depth: usize,
    /// Uncompressed bytes read from one top-level archive and everything inside it.
    pub max_total_read: u64,
}

impl Default for JavaCataloger {
    fn default() -> Self {
        JavaCataloger {
            max_nested_size: 64 << 20,
            max_depth: 3,
            max_total_read: 512 << 20,
        }
    }
}

/// Whether a file name has a Java archive extension (case-insensitive).
pub fn is_java_archive(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) && lower.len() > 4
}

impl Cataloger for JavaCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: nested locations use `!/`; a bundle's symbolic name names an unversioned file.
        2
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        meta.kind == FileKind::Regular && is_java_archive(path.file_name())
    }

    fn catalog(
        &self,
        file: FileInput<'_>,
        _cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let loc = location(&file);
        let archive = ZipArchive::new(&mut *file.reader)
            .map_err(|e| CatalogError::malformed(file.path, format!("not a zip archive: {e}")))?;
        let mut walk = Walk {
            limits: *self,
            budget: self.max_total_read,
            out: Vec::new(),
        };
        walk.archive(archive, &loc, file.path.file_name(), 0)
            .map_err(|e| CatalogError::malformed(file.path, e.to_string()))?;
        Ok(walk.out)
    }
}

/// State of one top-level archive's traversal.
struct Walk {
    limits: JavaCataloger,
    /// Uncompressed bytes that may still be read.
    budget: u64,
    out: Vec<Package>,
}

impl Walk {
    fn archive<R: Read + Seek>(
        &mut self,
        mut archive: ZipArchive<R>,
        loc: &str,
        file_name: &str,
        depth: usize,
    ) -> zip::result::ZipResult<()> {
        let mut poms = Vec::new();
        let mut manifest = None;
        let mut nested = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i)?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name();
            let parts: Vec<&str> = name.split('/').collect();
            if let ["META-INF", "maven", _, _, "pom.properties"] = parts.as_slice() {
                poms.push(i);
            } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                manifest = Some(i);
            } else if is_java_archive(name) {
                nested.push((i, name.to_owned(), entry.size()));
            }
        }

        let before = self.out.len();
        for i in poms {
            let Some(text) = self.read_text(&mut archive, i) else {
                continue;
            };
            let props = parse_properties(&text);
            let field = |k: &str| props.get(k).map(String::as_str).filter(|v| !v.is_empty());
            if let (Some(g), Some(a), Some(v)) =
                (field("groupId"), field("artifactId"), field("version"))
            {
                self.out.push(Package::new(
                    Ecosystem::Maven,
                    format!("{g}:{a}"),
                    v,
                    loc,
                    NAME,
                ));
            }
        }
        if self.out.len() == before {
            let manifest = manifest
                .and_then(|i| self.read_text(&mut archive, i))
                .map(|t| Manifest::parse(&t))
                .unwrap_or_default();
            if let Some(pkg) = from_manifest(&manifest, file_name, loc) {
                self.out.push(pkg);
            }
        }

        if depth >= self.limits.max_depth {
            return Ok(());
        }
        for (i, name, declared) in nested {
            if declared > self.limits.max_nested_size || self.budget == 0 {
                continue;
            }
            let Some(bytes) = self.read_entry(&mut archive, i, self.limits.max_nested_size) else {
                continue;
            };
            let inner_loc = format!("{loc}!/{name}");
            let inner_file = name.rsplit('/').next().unwrap_or(&name).to_owned();
            // A corrupt inner archive costs only its own packages.
            if let Ok(inner) = ZipArchive::new(Cursor::new(bytes)) {
                let _ = self.archive(inner, &inner_loc, &inner_file, depth + 1);
            }
        }
        Ok(())
    }

    /// Reads one entry, at most `limit` bytes and within the budget; `None` when it is
    /// larger, unreadable or the budget is spent.
    fn read_entry<R: Read + Seek>(
        &mut self,
        archive: &mut ZipArchive<R>,
        index: usize,
        limit: u64,
    ) -> Option<Vec<u8>> {
        let cap = limit.min(self.budget);
        let entry = archive.by_index(index).ok()?;
        let mut buf = Vec::new();
        let read = entry
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .ok()? as u64;
        self.budget = self.budget.saturating_sub(read);
        (read <= cap).then_some(buf)
    }

    fn read_text<R: Read + Seek>(
        &mut self,
        archive: &mut ZipArchive<R>,
        index: usize,
    ) -> Option<String> {
        let bytes = self.read_entry(archive, index, MAX_TEXT_ENTRY)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Identity of an archive without `pom.properties`, from its manifest and file name.
///
/// - artifactId: the file name before its version (`log4j-1.2.17.jar` gives `log4j`); when
///   the name has no version (a renamed copy such as `widgets.jar`, whose stem says nothing),
///   `Implementation-Title` if it is id-like, else the OSGi `Bundle-SymbolicName` without its
///   directives (OSGi-first projects such as Eclipse publish under it as artifactId), else
///   the file stem.
/// - version: `Implementation-Version`, else `Bundle-Version`, else `Specification-Version`,
///   else the file name's version. No version at all: not reported.
/// - groupId: `Implementation-Vendor-Id` when it is id-like (Maven's archiver writes the
///   groupId there). Otherwise the artifactId again: the jars that lack `pom.properties` are
///   mostly those built before Maven, which Maven Central publishes under the legacy
///   `artifact:artifact` coordinates (`log4j:log4j`, `junit:junit`, `commons-io:commons-io`)
///   that advisories use. `Bundle-SymbolicName` is deliberately not used for the groupId: it
///   is a Java package name (`org.apache.log4j`) that often differs from it.
pub fn from_manifest(manifest: &Manifest, file_name: &str, loc: &str) -> Option<Package> {
    let (file_artifact, file_version) = split_file_name(file_name);
    let artifact = if file_version.is_some() {
        file_artifact
    } else {
        manifest
            .get("Implementation-Title")
            .filter(|t| is_maven_id(t))
            .or_else(|| {
                manifest
                    .get("Bundle-SymbolicName")
                    .and_then(|n| n.split(';').next())
                    .map(str::trim)
                    .filter(|n| is_maven_id(n))
            })
            .map_or(file_artifact, str::to_owned)
    };
    if !is_maven_id(&artifact) {
        return None;
    }
    let version = manifest
        .get("Implementation-Version")
        .or_else(|| manifest.get("Bundle-Version"))
        .or_else(|| manifest.get("Specification-Version"))
        .map(str::to_owned)
        .or(file_version)?;
    let group = manifest
        .get("Implementation-Vendor-Id")
        .filter(|g| is_maven_id(g))
        .map_or_else(|| artifact.clone(), str::to_owned);
    let mut pkg = Package::new(
        Ecosystem::Maven,
        format!("{group}:{artifact}"),
        version,
        loc,
        NAME,
    );
    if let Some(license) = manifest.get("Bundle-License") {
        pkg.licenses = vec![license.to_owned()];
    }
    Some(pkg)
}
