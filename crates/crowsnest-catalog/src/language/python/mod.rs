//! Python distributions installed by pip and setuptools: `*.dist-info/METADATA` (wheels, PEP
//! 376), `*.egg-info/PKG-INFO` (setuptools' egg-info directories) and `*.egg-info` files (the
//! single-file form that old distutils/setuptools installs wrote).
//!
//! All three hold core metadata in email-header form (PEP 241/314/345/566/643). Names are
//! reported as declared (`PyYAML`), because the purl and the matcher normalise them (PEP 503).

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use crate::language::{location, read_text};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// Finds installed Python distributions.
#[derive(Clone, Copy, Debug, Default)]
pub struct PythonCataloger;

/// The cataloger's name.
pub const NAME: &str = "language/python";

impl Cataloger for PythonCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        if meta.kind != FileKind::Regular {
            return false;
        }
        let name = path.file_name();
        if name.ends_with(".egg-info") {
            return true;
        }
        let parent_suffix = |suffix: &str| {
            let s = path.as_str();
            s.len() > name.len() && s[..s.len() - name.len() - 1].ends_with(suffix)
        };
        (name == "METADATA" && parent_suffix(".dist-info"))
            || (name == "PKG-INFO" && parent_suffix(".egg-info"))
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let text = read_text(&mut file, cx)?;
        let metadata = CoreMetadata::parse(&text);
        let (Some(name), Some(version)) = (metadata.name, metadata.version) else {
            return Err(CatalogError::malformed(
                file.path,
                "core metadata without Name and Version",
            ));
        };
        let mut pkg = Package::new(Ecosystem::Pypi, name, version, location(&file), NAME);
        pkg.licenses = metadata.licenses;
        Ok(vec![pkg])
    }
}

/// The fields of Python core metadata that identify a distribution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Name`.
    pub name: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// Licences, best source first: `License-Expression` (PEP 639, SPDX) alone when present;
    /// else the `License` field when it is a short name rather than the licence text; else the
    /// last part of each `Classifier: License :: ...`.
    pub licenses: Vec<String>,
}

/// Longest `License` value taken as a licence name: setuptools copies whole licence texts into
/// this field, which say nothing useful as a name.
const MAX_LICENSE_NAME: usize = 100;

impl CoreMetadata {
    /// Parses the header part of a METADATA/PKG-INFO file (the body after the first blank line
    /// is the description and is ignored).
    pub fn parse(text: &str) -> Self {
        let mut out = CoreMetadata::default();
        let mut expression = None;
        let mut license: Option<String> = None;
        let mut classifiers = Vec::new();
        // Which field a continuation line belongs to: only `License` is multi-line in practice.
        let mut continuing_license = false;
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if continuing_license {
                    if let Some(l) = license.as_mut() {
                        l.push('\n');
                        l.push_str(line.trim());
                    }
                }
                continue;
            }
            continuing_license = false;
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "name" if out.name.is_none() && !value.is_empty() => {
                    out.name = Some(value.to_owned())
                }
                "version" if out.version.is_none() && !value.is_empty() => {
                    out.version = Some(value.to_owned())
                }
                "license-expression" if !value.is_empty() => expression = Some(value.to_owned()),
                "license" => {
                    license = Some(value.to_owned());
                    continuing_license = true;
                }
                "classifier" => {
                    if let Some(rest) = value.strip_prefix("License ::") {
                        if let Some(last) = rest.rsplit("::").next().map(str::trim) {
                            if !last.is_empty() && !classifiers.iter().any(|c| c == last) {
                                classifiers.push(last.to_owned());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let license = license.map(|l| l.trim().to_owned()).filter(|l| {
            !l.is_empty()
                && !l.eq_ignore_ascii_case("UNKNOWN")
                && !l.contains('\n')
                && l.len() <= MAX_LICENSE_NAME
        });
        out.licenses = match (expression, license) {
            (Some(e), _) => vec![e],
            (None, Some(l)) => vec![l],
            (None, None) => classifiers,
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_of_a_licence_text_are_not_a_name() {
        let m = CoreMetadata::parse(
            "Metadata-Version: 2.1\nName: x\nVersion: 1\nLicense: Copyright (c) 2020\n        Permission is hereby granted\nClassifier: License :: OSI Approved :: MIT License\n\nbody\nName: y\n",
        );
        assert_eq!(m.name.as_deref(), Some("x"));
        assert_eq!(m.licenses, vec!["MIT License".to_owned()]);
    }

    #[test]
    fn license_expression_wins() {
        let m = CoreMetadata::parse(
            "Name: x\nVersion: 2.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\n",
        );
        assert_eq!(m.licenses, vec!["MIT OR Apache-2.0".to_owned()]);
    }
}
