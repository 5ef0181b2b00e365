//! Version ordering, each ecosystem by its own rules.
//!
//! The entry points are [`compare`] for one comparison and [`parse`] (or [`Version::parse`])
//! to parse once and compare many times: the vulnerability matcher parses each installed
//! version once and compares it with every event of every OSV range. [`Scheme::for_osv_ecosystem`]
//! maps an OSV `ecosystem` string to its scheme. Every scheme is tested against its upstream tool
//! or the ecosystem's own test vectors (see `tests/`).
//!
//! Inputs are untrusted (package databases, advisories): parsing never panics, refuses strings
//! longer than [`MAX_VERSION_LEN`] bytes, and each scheme documents what it accepts.

mod apk;
mod composer;
mod deb;
mod ecosystem;
mod gem;
mod maven;
mod number;
mod pep440;
mod rpm;
mod semver;

use std::cmp::Ordering;
use std::fmt;

/// The longest version string accepted, in bytes; real versions are far shorter.
pub const MAX_VERSION_LEN: usize = 1024;

/// A version ordering scheme: one per OSV ecosystem family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg --compare-versions`).
    Deb,
    /// RPM (`rpmvercmp` with epoch and release).
    Rpm,
    /// Alpine apk-tools.
    Apk,
    /// Python, PEP 440.
    Pep440,
    /// Semantic Versioning 2.0 (npm, crates.io, and OSV `SEMVER` ranges).
    Semver,
    /// Go module versions: SemVer with a `v` prefix, pseudo-versions and `+incompatible`.
    Go,
    /// Maven `ComparableVersion`.
    Maven,
    /// RubyGems `Gem::Version`.
    Gem,
    /// Packagist (composer) versions.
    Composer,
}

impl Scheme {
    /// Every scheme, for tables and exhaustive tests.
    pub const ALL: [Scheme; 9] = [
        Scheme::Deb,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::Semver,
        Scheme::Go,
        Scheme::Maven,
        Scheme::Gem,
        Scheme::Composer,
    ];

    /// A stable lower-case name (`deb`, `rpm`, `pep440`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Deb => "deb",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "pep440",
            Scheme::Semver => "semver",
            Scheme::Go => "go",
            Scheme::Maven => "maven",
            Scheme::Gem => "gem",
            Scheme::Composer => "composer",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a version string cannot be ordered under a scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scheme:?} version {input:?} is invalid: {reason}")]
pub struct VersionError {
    /// The scheme.
    pub scheme: Scheme,
    /// The rejected input (truncated to 200 characters).
    pub input: String,
    /// Why.
    pub reason: String,
}

impl VersionError {
    fn new(scheme: Scheme, input: &str, reason: &str) -> Self {
        VersionError {
            scheme,
            input: input.chars().take(200).collect(),
            reason: reason.to_owned(),
        }
    }
}

/// A version parsed under one scheme.
///
/// Versions of the same scheme are totally ordered by that scheme's rules; equality is that
/// order's (`1.0` and `1.0.0` are equal under PEP 440), not textual. Versions of different
/// schemes are never meaningfully comparable: they order by scheme first so that `Ord` stays
/// total, and callers should not rely on that.
#[derive(Clone, Debug)]
pub struct Version {
    text: Box<str>,
    parsed: Parsed,
}

#[derive(Clone, Debug)]
enum Parsed {
    Deb(deb::DebVersion),
    Rpm(rpm::RpmVersion),
    Apk(apk::ApkVersion),
    Pep440(pep440::PythonVersion),
    Semver(semver::SemverVersion),
    Go(semver::SemverVersion),
    Maven(maven::MavenVersion),
    Gem(gem::GemVersion),
    Composer(composer::ComposerVersion),
}

impl Version {
    /// Parses `input` under `scheme`.
    pub fn parse(scheme: Scheme, input: &str) -> Result<Version, VersionError> {
        if input.len() > MAX_VERSION_LEN {
            return Err(VersionError::new(scheme, input, "longer than 1024 bytes"));
        }
        let err = |reason: &str| VersionError::new(scheme, input, reason);
        let parsed = match scheme {
            Scheme::Deb => Parsed::Deb(deb::parse(input).map_err(err)?),
            Scheme::Rpm => Parsed::Rpm(rpm::parse(input).map_err(err)?),
            Scheme::Apk => Parsed::Apk(apk::parse(input).map_err(err)?),
            Scheme::Pep440 => Parsed::Pep440(pep440::parse_python(input).map_err(err)?),
            Scheme::Semver => Parsed::Semver(semver::parse(input).map_err(err)?),
            Scheme::Go => Parsed::Go(semver::parse_go(input).map_err(err)?),
            Scheme::Maven => Parsed::Maven(maven::parse(input).map_err(err)?),
            Scheme::Gem => Parsed::Gem(gem::parse(input).map_err(err)?),
            Scheme::Composer => Parsed::Composer(composer::parse(input).map_err(err)?),
        };
        Ok(Version {
            text: input.into(),
            parsed,
        })
    }

    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> Scheme {
        match self.parsed {
            Parsed::Deb(_) => Scheme::Deb,
            Parsed::Rpm(_) => Scheme::Rpm,
            Parsed::Apk(_) => Scheme::Apk,
            Parsed::Pep440(_) => Scheme::Pep440,
            Parsed::Semver(_) => Scheme::Semver,
            Parsed::Go(_) => Scheme::Go,
            Parsed::Maven(_) => Scheme::Maven,
            Parsed::Gem(_) => Scheme::Gem,
            Parsed::Composer(_) => Scheme::Composer,
        }
    }

    /// True when the scheme's own tool would refuse this version but it was ordered anyway
    /// (an apk version `apk_version_validate` rejects, a legacy non-PEP 440 Python version, a
    /// RubyGems version outside `Gem::Version`'s pattern such as `1beta`), so
    /// a caller can report that the order rests on a fallback.
    pub fn is_malformed(&self) -> bool {
        match &self.parsed {
            Parsed::Apk(v) => !v.is_valid(),
            Parsed::Pep440(v) => matches!(v, pep440::PythonVersion::Legacy(_)),
            Parsed::Gem(v) => !v.is_valid(),
            _ => false,
        }
    }

    /// The string this version was parsed from, unchanged.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn scheme_rank(&self) -> usize {
        Scheme::ALL
            .iter()
            .position(|s| *s == self.scheme())
            .unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.parsed, &other.parsed) {
            (Parsed::Deb(a), Parsed::Deb(b)) => a.cmp(b),
            (Parsed::Rpm(a), Parsed::Rpm(b)) => a.cmp(b),
            (Parsed::Apk(a), Parsed::Apk(b)) => a.cmp(b),
            (Parsed::Pep440(a), Parsed::Pep440(b)) => a.cmp(b),
            (Parsed::Semver(a), Parsed::Semver(b)) => a.cmp(b),
            (Parsed::Go(a), Parsed::Go(b)) => a.cmp(b),
            (Parsed::Maven(a), Parsed::Maven(b)) => a.cmp(b),
            (Parsed::Gem(a), Parsed::Gem(b)) => a.cmp(b),
            (Parsed::Composer(a), Parsed::Composer(b)) => a.cmp(b),
            _ => self.scheme_rank().cmp(&other.scheme_rank()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Parses `input` under `scheme`; the same as [`Version::parse`].
pub fn parse(scheme: Scheme, input: &str) -> Result<Version, VersionError> {
    Version::parse(scheme, input)
}

/// Orders `a` against `b` under `scheme`.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(Version::parse(scheme, a)?.cmp(&Version::parse(scheme, b)?))
}
