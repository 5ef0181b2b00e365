//! Ruby gems installed by RubyGems: `specifications/<name>-<version>.gemspec`, and the default
//! gems that ship with Ruby in `specifications/default/`.
//!
//! RubyGems writes these specs itself from the gem's metadata, one attribute a line
//! (`s.name = "rake".freeze`, `s.version = "13.0.6"`, `s.licenses = ["MIT".freeze]`), so the
//! lines are read as data; the Ruby is never evaluated.

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use crate::language::{location, read_text};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// The cataloger's name.
pub const NAME: &str = "language/ruby";

/// Finds installed gems.
#[derive(Clone, Copy, Debug, Default)]
pub struct GemspecCataloger;

impl Cataloger for GemspecCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: default gems (`specifications/default/`) are reported.
        2
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        if meta.kind != FileKind::Regular || !path.file_name().ends_with(".gemspec") {
            return false;
        }
        let mut up = path.as_str().rsplit('/').skip(1);
        match up.next() {
            Some("specifications") => true,
            // Ruby's default gems (json, psych, openssl, uri ...): installed with Ruby itself
            // and updated by advisories like any other gem.
            Some("default") => up.next() == Some("specifications"),
            _ => false,
        }
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let text = read_text(&mut file, cx)?;
        let spec = parse_gemspec(&text);
        let (Some(name), Some(version)) = (spec.name, spec.version) else {
            return Err(CatalogError::malformed(
                file.path,
                "gemspec without name and version",
            ));
        };
        let mut pkg = Package::new(Ecosystem::Gem, name, version, location(&file), NAME);
        pkg.licenses = spec.licenses;
        Ok(vec![pkg])
    }
}

/// What a gemspec declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gemspec {
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `license` / `licenses`.
    pub licenses: Vec<String>,
}

/// Reads the `name`, `version` and `license(s)` attribute lines of a generated gemspec.
pub fn parse_gemspec(text: &str) -> Gemspec {
    let mut spec = Gemspec::default();
    for line in text.lines() {
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let Some(attr) = lhs.trim().rsplit_once('.').map(|(_, a)| a.trim()) else {
            continue;
        };
        match attr {
            "name" if spec.name.is_none() => spec.name = quoted(rhs).into_iter().next(),
            "version" if spec.version.is_none() => spec.version = quoted(rhs).into_iter().next(),
            "license" | "licenses" if spec.licenses.is_empty() => spec.licenses = quoted(rhs),
            _ => {}
        }
    }
    spec
}

/// The string literals of a right-hand side: `"x"`, `'x'`, `%q{x}`; `Gem::Version.new("1")`
/// and `.freeze` around them are ignored.
fn quoted(rhs: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rhs;
    while let Some(start) = rest.find(['"', '\'', '%']) {
        let after = rest.get(start..).unwrap_or("");
        let mut chars = after.chars();
        let first = chars.next().unwrap_or('"');
        let (close, body) = if first == '%' {
            let body = after.get(1..).unwrap_or("");
            let body = body
                .strip_prefix('q')
                .or_else(|| body.strip_prefix('Q'))
                .unwrap_or(body);
            match body.chars().next() {
                Some('{') => ('}', body.get(1..).unwrap_or("")),
                Some('<') => ('>', body.get(1..).unwrap_or("")),
                Some('(') => (')', body.get(1..).unwrap_or("")),
                Some('[') => (']', body.get(1..).unwrap_or("")),
                _ => break,
            }
        } else {
            (first, after.get(1..).unwrap_or(""))
        };
        let Some(end) = body.find(close) else {
            break;
        };
        let value = body.get(..end).unwrap_or("").trim();
        if !value.is_empty() {
            out.push(value.to_owned());
        }
        rest = body.get(end + close.len_utf8()..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rubygems_generated_lines() {
        let spec = parse_gemspec(
            "# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze, \"Ruby\".freeze]\n  s.required_rubygems_version = Gem::Requirement.new(\">= 1.3.2\")\nend\n",
        );
        assert_eq!(spec.name.as_deref(), Some("rake"));
        assert_eq!(spec.version.as_deref(), Some("13.0.6"));
        assert_eq!(spec.licenses, vec!["MIT".to_owned(), "Ruby".to_owned()]);
        assert_eq!(quoted(" %q{json}"), vec!["json".to_owned()]);
    }
}
