//! apk: Alpine, Wolfi, Chainguard and postmarketOS.
//!
//! Reads `lib/apk/db/installed`, where every installed package is a record of `K:value` lines
//! (one letter per key) and records are separated by blank lines. Only `P` (name), `V`
//! (version), `A` (arch), `o` (origin, the source package) and `L` (licence) matter here;
//! every other key, known or not, is skipped.
//!
//! A line that is not `K:value` cannot be trusted to belong to any record, so it is skipped,
//! and a record missing its name or version is dropped. A file with such lines and no usable
//! record at all is reported as malformed; one with some usable records yields them.

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use super::read_whole;
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// Finds Alpine packages.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApkCataloger;

const INSTALLED: &str = "lib/apk/db/installed";

impl Cataloger for ApkCataloger {
    fn name(&self) -> &'static str {
        "os/apk"
    }

    fn version(&self) -> u32 {
        1
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        matches!(meta.kind, FileKind::Regular | FileKind::Symlink) && path.as_str() == INSTALLED
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let bytes = read_whole(&mut file, cx)?;
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse(&text);
        if parsed.records.is_empty() && parsed.stray_lines > 0 {
            return Err(CatalogError::malformed(
                file.path,
                format!(
                    "{} line(s) are not `K:value` and no package record is complete",
                    parsed.stray_lines
                ),
            ));
        }
        let location = file.path.to_string();
        Ok(parsed
            .records
            .into_iter()
            .map(|r| {
                let mut pkg = Package::new(
                    Ecosystem::Apk,
                    r.name,
                    r.version,
                    location.clone(),
                    self.name(),
                );
                pkg.arch = r.arch.map(str::to_owned);
                pkg.source_name = r.origin.map(str::to_owned);
                pkg.licenses = r.license.map(str::to_owned).into_iter().collect();
                pkg
            })
            .collect())
    }
}

/// The fields of one record that the cataloger reports.
#[derive(Debug, Default)]
struct Record<'a> {
    name: &'a str,
    version: &'a str,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
    license: Option<&'a str>,
}

/// Complete records, and how many lines fitted no record.
#[derive(Debug, Default)]
struct Parsed<'a> {
    records: Vec<Record<'a>>,
    stray_lines: usize,
}

/// Keeps a record that names a package and a version.
fn finish<'a>(r: Record<'a>, out: &mut Vec<Record<'a>>) {
    if !r.name.is_empty() && !r.version.is_empty() {
        out.push(r);
    }
}

fn parse(text: &str) -> Parsed<'_> {
    let mut out = Parsed::default();
    let mut current = Record::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            finish(std::mem::take(&mut current), &mut out.records);
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || !bytes[0].is_ascii_alphanumeric() || bytes[1] != b':' {
            out.stray_lines += 1;
            continue;
        }
        let value = line[2..].trim();
        let value = (!value.is_empty()).then_some(value);
        match bytes[0] {
            b'P' => current.name = value.unwrap_or(""),
            b'V' => current.version = value.unwrap_or(""),
            b'A' => current.arch = value,
            b'o' => current.origin = value,
            b'L' => current.license = value,
            _ => {}
        }
    }
    finish(current, &mut out.records);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_complete_records_only() {
        let p = parse("P:a\nV:1-r0\nA:x86_64\no:src\nL:MIT\nZ:ignored\n\nP:no-version\n\nV:2\n");
        assert_eq!(p.records.len(), 1);
        let r = &p.records[0];
        assert_eq!((r.name, r.version), ("a", "1-r0"));
        assert_eq!(
            (r.arch, r.origin, r.license),
            (Some("x86_64"), Some("src"), Some("MIT"))
        );
        assert_eq!(p.stray_lines, 0);
    }

    #[test]
    fn counts_stray_lines() {
        let p = parse("this is a corrupt db\n\nP:x\nV:1\n");
        assert_eq!(p.stray_lines, 1);
        assert_eq!(p.records.len(), 1);
    }
}
