//! [`Package`]: one installed thing, as a cataloger reports it.

use serde::{Deserialize, Serialize};

use crate::Digest;

/// The packaging world a package belongs to. The serialised names are the package-URL types
/// (`deb`, `apk`, `rpm`, `pypi`, `npm`, `maven`, `golang`, `cargo`, `gem`, `composer`), which is
/// also how the JSON output spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian and derivatives (dpkg).
    Deb,
    /// Alpine, Wolfi, Chainguard (apk).
    Apk,
    /// Red Hat family, SUSE, Mariner (rpm).
    Rpm,
    /// Python distributions.
    Pypi,
    /// JavaScript packages.
    Npm,
    /// Java archives.
    Maven,
    /// Go modules, including the `stdlib` pseudo-module.
    Golang,
    /// Rust crates.
    Cargo,
    /// Ruby gems.
    Gem,
    /// PHP packages.
    Composer,
}

impl Ecosystem {
    /// The package-URL type, e.g. `pypi`.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Maven => "maven",
            Ecosystem::Golang => "golang",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Gem => "gem",
            Ecosystem::Composer => "composer",
        }
    }

    /// True for operating-system package managers, whose advisories are per distribution release.
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
    }
}

/// One installed package.
///
/// `version` is the full version in the ecosystem's own syntax, ready for that ecosystem's
/// comparison: Debian `[epoch:]upstream[-revision]`, RPM `[epoch:]version-release`, Alpine
/// `1.2.3-r0`, PEP 440 for Python, and so on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Name as the ecosystem spells it (Maven: `group:artifact`; Go: module path).
    pub name: String,
    /// Installed version, in the ecosystem's syntax.
    pub version: String,
    /// Which ecosystem's rules apply.
    pub ecosystem: Ecosystem,
    /// The source package it was built from, where the ecosystem has one (dpkg `Source:`, rpm
    /// SRPM name, apk origin). OS advisories are keyed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The source package's version when it differs from `version` (dpkg `Source: x (1.2)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// CPU architecture for OS packages (`amd64`, `x86_64`, `noarch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Licences as declared (SPDX expressions where the metadata gives them, else the raw text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The package URL (filled by the scan engine through [`crate::purl_for`]).
    #[serde(default)]
    pub purl: String,
    /// The file the package was found in, e.g. `/var/lib/dpkg/status`.
    pub location: String,
    /// The layer (diff id) that introduced this package at this version; `None` for a rootfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// The cataloger that found it (`os/dpkg`, `language/python`, ...).
    pub found_by: String,
}

impl Package {
    /// A package with the required fields set and everything else empty.
    pub fn new(
        ecosystem: Ecosystem,
        name: impl Into<String>,
        version: impl Into<String>,
        location: impl Into<String>,
        found_by: &str,
    ) -> Self {
        Package {
            name: name.into(),
            version: version.into(),
            ecosystem,
            source_name: None,
            source_version: None,
            arch: None,
            licenses: Vec::new(),
            purl: String::new(),
            location: location.into(),
            layer: None,
            found_by: found_by.to_owned(),
        }
    }
}
