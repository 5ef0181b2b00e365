//! OSV ecosystem names, and how an installed [`Package`] maps onto them.
//!
//! An OSV ecosystem string is a base name with an optional release (`Debian:12`,
//! `Alpine:v3.19`, `Ubuntu:22.04:LTS`, `Red Hat:enterprise_linux:9::appstream`). The index stores
//! both parts so a lookup is by (base, normalised name) and the release is checked in memory.
//! Names are normalised the same way at import and at lookup, so `PyYAML` finds `pyyaml`.

use crowsnest_model::{pep503, Distro, Ecosystem, Package};
use crowsnest_version::Scheme;

/// An OSV ecosystem split into its base name and release.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OsvEcosystem {
    /// `Debian`, `PyPI`, `Alpine`, `Red Hat`, ...
    pub base: String,
    /// `12`, `v3.19`, `22.04:LTS`; empty when the ecosystem has no release.
    pub release: String,
}

impl OsvEcosystem {
    /// Splits `Debian:12` into `Debian` and `12`. Everything after the first `:` is the release.
    pub fn parse(s: &str) -> OsvEcosystem {
        match s.split_once(':') {
            Some((base, release)) => OsvEcosystem {
                base: base.trim().to_owned(),
                release: release.trim().to_owned(),
            },
            None => OsvEcosystem {
                base: s.trim().to_owned(),
                release: String::new(),
            },
        }
    }
}

/// The version order of an OSV ecosystem's `ECOSYSTEM` ranges, or `None` when this crate cannot
/// order that ecosystem (its ranges are then skipped and only `versions` lists match).
pub fn scheme_for_base(base: &str) -> Option<Scheme> {
    Some(match base {
        "PyPI" => Scheme::Pep440,
        "npm" | "crates.io" | "Hex" | "Pub" | "SwiftURL" => Scheme::Semver,
        "Go" => Scheme::Go,
        "Maven" => Scheme::Maven,
        "RubyGems" => Scheme::Gem,
        "Packagist" => Scheme::Composer,
        "Debian" | "Ubuntu" => Scheme::Deb,
        "Alpine" | "Wolfi" | "Chainguard" => Scheme::Apk,
        "AlmaLinux" | "Rocky Linux" | "Red Hat" | "SUSE" | "openSUSE" | "Mageia" | "openEuler" => {
            Scheme::Rpm
        }
        _ => return None,
    })
}

/// Normalises a package name for the index: PEP 503 for PyPI, lower-case where the ecosystem is
/// case-insensitive, unchanged elsewhere.
pub fn normalise_name(base: &str, name: &str) -> String {
    match base {
        "PyPI" => pep503(name.trim()),
        "crates.io" | "Packagist" | "npm" | "NuGet" => name.trim().to_ascii_lowercase(),
        _ => name.trim().to_owned(),
    }
}

/// Which release strings of an OS ecosystem apply to an installed distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseFilter {
    /// Language ecosystems have no release.
    Any,
    /// The release must equal one of these strings.
    OneOf(Vec<String>),
    /// `Red Hat` releases embed the major version: `enterprise_linux:9::appstream`,
    /// `rhel_eus:9.2::baseos`; any release whose second field starts with the major matches.
    RedHatMajor(String),
}

impl ReleaseFilter {
    /// True when `release` (the part after the base) applies.
    pub fn accepts(&self, release: &str) -> bool {
        match self {
            ReleaseFilter::Any => true,
            ReleaseFilter::OneOf(list) => list.iter().any(|r| r == release),
            ReleaseFilter::RedHatMajor(major) => release.split(':').skip(1).take(1).any(|v| {
                v == major
                    || v.strip_prefix(major.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }),
        }
    }
}

/// Where to look an installed package up: the OSV base ecosystem, the normalised name, the
/// release filter, the version to compare and the scheme of `ECOSYSTEM` ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// OSV base ecosystem.
    pub base: &'static str,
    /// The name as the index stores it.
    pub name: String,
    /// Which releases apply.
    pub releases: ReleaseFilter,
    /// The version to evaluate ranges against.
    pub version: String,
}

/// The lookups an installed package needs. OS packages need a known distribution; a package the
/// database cannot describe gives none.
pub fn lookups_for(pkg: &Package, distro: Option<&Distro>) -> Vec<Lookup> {
    let lang = |base: &'static str, name: &str, version: &str| {
        vec![Lookup {
            base,
            name: normalise_name(base, name),
            releases: ReleaseFilter::Any,
            version: version.to_owned(),
        }]
    };
    match pkg.ecosystem {
        Ecosystem::Pypi => lang("PyPI", &pkg.name, &pkg.version),
        Ecosystem::Npm => lang("npm", &pkg.name, &pkg.version),
        Ecosystem::Maven => lang("Maven", &pkg.name, &pkg.version),
        Ecosystem::Cargo => lang("crates.io", &pkg.name, &pkg.version),
        Ecosystem::Gem => lang("RubyGems", &pkg.name, &pkg.version),
        Ecosystem::Composer => lang("Packagist", &pkg.name, &pkg.version),
        Ecosystem::Golang => {
            // The Go database writes versions without the `v` (`1.19.8`, `0.7.0`); the
            // toolchain reports `go1.19.8` for the standard library.
            let v = pkg.version.trim();
            let v = v
                .strip_prefix("go")
                .or_else(|| v.strip_prefix('v'))
                .unwrap_or(v);
            lang("Go", &pkg.name, v)
        }
        Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
            distro.map(|d| os_lookups(pkg, d)).unwrap_or_default()
        }
    }
}

fn major(version_id: &str) -> &str {
    version_id.split('.').next().unwrap_or(version_id)
}

fn os_lookups(pkg: &Package, distro: &Distro) -> Vec<Lookup> {
    let Some(version_id) = distro.version_id.as_deref().map(str::trim) else {
        return Vec::new();
    };
    let id = distro.id.trim().to_ascii_lowercase();
    // Debian and Alpine advisories are keyed by the source package; Red Hat family records
    // (AlmaLinux, Rocky, RHEL) list binary package names.
    let source = pkg.source_name.as_deref().unwrap_or(&pkg.name).to_owned();
    let (base, releases, name, version) = match (pkg.ecosystem, id.as_str()) {
        (Ecosystem::Deb, "debian") => (
            "Debian",
            ReleaseFilter::OneOf(vec![major(version_id).to_owned()]),
            source,
            pkg.source_version
                .clone()
                .unwrap_or_else(|| pkg.version.clone()),
        ),
        (Ecosystem::Deb, "ubuntu") => (
            "Ubuntu",
            ReleaseFilter::OneOf(vec![version_id.to_owned(), format!("{version_id}:LTS")]),
            source,
            pkg.source_version
                .clone()
                .unwrap_or_else(|| pkg.version.clone()),
        ),
        (Ecosystem::Apk, "alpine") => {
            let mut parts = version_id.split('.');
            let release = match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => format!("v{a}.{b}"),
                (Some(a), None) => format!("v{a}"),
                _ => return Vec::new(),
            };
            (
                "Alpine",
                ReleaseFilter::OneOf(vec![release]),
                source,
                pkg.version.clone(),
            )
        }
        (Ecosystem::Rpm, "almalinux") => (
            "AlmaLinux",
            ReleaseFilter::OneOf(vec![major(version_id).to_owned()]),
            pkg.name.clone(),
            pkg.version.clone(),
        ),
        (Ecosystem::Rpm, "rocky") => (
            "Rocky Linux",
            ReleaseFilter::OneOf(vec![major(version_id).to_owned()]),
            pkg.name.clone(),
            pkg.version.clone(),
        ),
        (Ecosystem::Rpm, "rhel") => (
            "Red Hat",
            ReleaseFilter::RedHatMajor(major(version_id).to_owned()),
            pkg.name.clone(),
            pkg.version.clone(),
        ),
        _ => return Vec::new(),
    };
    vec![Lookup {
        base,
        name: normalise_name(base, &name),
        releases,
        version,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distro(id: &str, v: &str) -> Distro {
        Distro {
            id: id.into(),
            version_id: Some(v.into()),
            version_codename: None,
            name: None,
            pretty_name: None,
            id_like: vec![],
        }
    }

    #[test]
    fn parse_ecosystems() {
        assert_eq!(OsvEcosystem::parse("Debian:12").release, "12");
        let u = OsvEcosystem::parse("Ubuntu:22.04:LTS");
        assert_eq!(
            (u.base.as_str(), u.release.as_str()),
            ("Ubuntu", "22.04:LTS")
        );
        assert_eq!(OsvEcosystem::parse("PyPI").release, "");
        assert_eq!(OsvEcosystem::parse("Rocky Linux:9").base, "Rocky Linux");
    }

    #[test]
    fn os_lookups_use_source_and_release() {
        let mut p = Package::new(Ecosystem::Deb, "libssl3", "3.0.11-1~deb12u2", "x", "t");
        p.source_name = Some("openssl".into());
        let l = lookups_for(&p, Some(&distro("debian", "12")));
        assert_eq!(l[0].base, "Debian");
        assert_eq!(l[0].name, "openssl");
        assert!(l[0].releases.accepts("12"));
        assert!(!l[0].releases.accepts("11"));

        let p = Package::new(Ecosystem::Apk, "musl", "1.1.22-r3", "x", "t");
        let l = lookups_for(&p, Some(&distro("alpine", "3.10.4")));
        assert!(l[0].releases.accepts("v3.10"));

        let l = lookups_for(
            &Package::new(Ecosystem::Deb, "bash", "5.1-6ubuntu1", "x", "t"),
            Some(&distro("ubuntu", "22.04")),
        );
        assert!(l[0].releases.accepts("22.04:LTS"));

        let l = lookups_for(
            &Package::new(Ecosystem::Rpm, "bash", "5.1.8-6.el9", "x", "t"),
            Some(&distro("rhel", "9.3")),
        );
        assert!(l[0].releases.accepts("enterprise_linux:9::baseos"));
        assert!(l[0].releases.accepts("rhel_eus:9.2::baseos"));
        assert!(!l[0].releases.accepts("enterprise_linux:8::baseos"));
    }

    #[test]
    fn go_versions_lose_their_prefix() {
        for v in ["go1.19.8", "v1.19.8", "1.19.8"] {
            let p = Package::new(Ecosystem::Golang, "stdlib", v, "x", "t");
            assert_eq!(lookups_for(&p, None)[0].version, "1.19.8");
        }
    }

    #[test]
    fn pypi_names_are_pep503() {
        let p = Package::new(Ecosystem::Pypi, "Jinja2", "2.11.2", "x", "t");
        assert_eq!(lookups_for(&p, None)[0].name, "jinja2");
        assert_eq!(normalise_name("PyPI", "zope.interface"), "zope-interface");
    }
}
