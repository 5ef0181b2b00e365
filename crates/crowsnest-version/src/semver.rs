//! Semantic Versioning 2.0 precedence (npm, crates.io, OSV `SEMVER` ranges) and Go module
//! versions, which are SemVer with a `v`.
//!
//! Implemented here rather than with the `semver` crate because OSV data needs leniency that
//! crate refuses: a leading `v`/`V` or `=`, a missing minor or patch (`1.2` means `1.2.0`, as
//! OSV's `SEMVER` type and Go's `semver` package both read it) and leading zeros in numbers
//! (compared by value). Build metadata (`+...`, including Go's `+incompatible`) is ignored, as
//! precedence requires. A fourth numeric component and anything after it (`1.1.3.4.5`) is
//! taken as part of the build metadata rather than refused, as osv-scanner does.
//!
//! Go's toolchain versions (`go1.19.8`, `go1.21rc2`, `1.9beta1`) are read as the Go
//! vulnerability database writes them, `1.19.8`, `1.21.0-rc.2`, `1.9.0-beta.1`.

use crate::number::Number;
use std::cmp::Ordering;

/// A parsed SemVer version (build metadata dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SemverVersion {
    major: Number,
    minor: Number,
    patch: Number,
    pre: Vec<Identifier>,
}

/// A pre-release identifier: numeric ones sort before alphanumeric ones.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Identifier {
    Numeric(Number),
    Text(Box<str>),
}

/// Parses a SemVer version, leniently as described in the module documentation.
pub(crate) fn parse(input: &str) -> Result<SemverVersion, &'static str> {
    let s = input.trim();
    let s = s.strip_prefix('=').unwrap_or(s).trim_start();
    let s = s
        .strip_prefix('v')
        .or_else(|| s.strip_prefix('V'))
        .unwrap_or(s);
    let without_build = match s.split_once('+') {
        Some((head, build)) => {
            check_identifiers(build, "invalid build metadata")?;
            head
        }
        None => s,
    };
    let (core, pre) = match without_build.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (without_build, None),
    };
    let mut parts = core.split('.');
    let mut number = |required: bool| -> Result<Number, &'static str> {
        match parts.next() {
            Some(p) => Number::parse(p).ok_or("version core is not numeric"),
            None if required => Err("empty version"),
            None => Ok(Number::ZERO),
        }
    };
    let major = number(true)?;
    let minor = number(false)?;
    let patch = number(false)?;
    // Further dot-separated components are build-like noise; they must still be well-formed.
    for extra in parts {
        if extra.is_empty() || !extra.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("invalid version core");
        }
    }
    let pre = match pre {
        None => Vec::new(),
        Some(pre) => {
            check_identifiers(pre, "invalid pre-release")?;
            pre.split('.')
                .map(|id| match Number::parse(id) {
                    Some(n) => Identifier::Numeric(n),
                    None => Identifier::Text(id.into()),
                })
                .collect()
        }
    };
    Ok(SemverVersion {
        major,
        minor,
        patch,
        pre,
    })
}

fn check_identifiers(s: &str, reason: &'static str) -> Result<(), &'static str> {
    let ok = s
        .split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(reason)
    }
}

/// Parses a Go module or toolchain version.
pub(crate) fn parse_go(input: &str) -> Result<SemverVersion, &'static str> {
    let s = input.trim();
    let s = s.strip_prefix("go").unwrap_or(s);
    if s.starts_with(|c: char| c.is_ascii_digit()) && !s.contains(['-', '+']) {
        if let Some(split) = s.find(|c: char| c.is_ascii_alphabetic()) {
            // Toolchain pre-release: 1.21rc2 is 1.21.0-rc.2.
            let (core, tag) = s.split_at(split);
            let digits_at = tag.find(|c: char| c.is_ascii_digit()).unwrap_or(tag.len());
            let (label, n) = tag.split_at(digits_at);
            let mut v = parse(core)?;
            v.pre.push(Identifier::Text(label.into()));
            if let Some(n) = Number::parse(n) {
                v.pre.push(Identifier::Numeric(n));
            } else if !n.is_empty() {
                return Err("invalid Go toolchain version");
            }
            return Ok(v);
        }
    }
    parse(s)
}

impl Ord for SemverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                // A release sorts after its pre-releases.
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for SemverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn go_forms() {
        let go = |s: &str| parse_go(s).unwrap();
        assert_eq!(go("go1.19.8"), go("v1.19.8"));
        assert_eq!(go("go1.21rc2"), go("1.21.0-rc.2"));
        assert!(go("go1.21rc2") < go("1.21.0"));
        assert!(go("v0.0.0-20191109021931-daa7c04131f5") < go("v0.0.1"));
        assert_eq!(go("v2.0.0+incompatible"), go("v2.0.0"));
        assert_eq!(cmp("1.2", "1.2.0"), Ordering::Equal);
    }
}
