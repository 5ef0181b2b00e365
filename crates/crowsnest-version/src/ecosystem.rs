//! The OSV ecosystem names each scheme orders.

use crate::Scheme;

impl Scheme {
    /// The scheme of an OSV `affected[].package.ecosystem` value, such as `Debian:12`,
    /// `Alpine:v3.19`, `PyPI` or `crates.io`; `None` for ecosystems this crate cannot order.
    ///
    /// Only the part before the first `:` names the ecosystem (the rest is a release), matched
    /// exactly as the OSV schema spells it.
    pub fn for_osv_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let name = ecosystem.split(':').next().unwrap_or(ecosystem).trim();
        Some(match name {
            "Debian" | "Ubuntu" | "Echo" => Scheme::Deb,
            "Alpine"
            | "Wolfi"
            | "Chainguard"
            | "Alpaquita"
            | "BellSoft Hardened Containers"
            | "Minimos" => Scheme::Apk,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia"
            | "openEuler" | "Azure Linux" | "Photon OS" | "CentOS" | "Oracle Linux" => Scheme::Rpm,
            "PyPI" => Scheme::Pep440,
            "npm" | "crates.io" | "Hex" | "SwiftURL" | "Bitnami" => Scheme::Semver,
            "Go" => Scheme::Go,
            "Maven" => Scheme::Maven,
            "RubyGems" => Scheme::Gem,
            "Packagist" => Scheme::Composer,
            _ => return None,
        })
    }
}
