//! The matcher against the real fixture records, with the expectation computed from the same
//! records by an independent oracle (`tests/oracle/osv_oracle.py`: PyPA's `packaging` for PEP 440,
//! the SemVer 2.0.0 precedence rules for npm, crates.io and Go). Every finding the records imply
//! must be reported, with its aliases merged and its fixed versions, and no other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{fixture_db, oracle, python_with_packaging, zip_of, Expected, Probe};
use crowsnest_model::{Ecosystem, Finding, Package};
use crowsnest_vulndb::{match_packages, VulnDb};

/// The OSV base ecosystem of a language package.
fn osv_base(e: Ecosystem) -> &'static str {
    match e {
        Ecosystem::Pypi => "PyPI",
        Ecosystem::Npm => "npm",
        Ecosystem::Maven => "Maven",
        Ecosystem::Golang => "Go",
        Ecosystem::Cargo => "crates.io",
        other => panic!("not a language ecosystem: {other:?}"),
    }
}

fn language_zips() -> Vec<std::path::PathBuf> {
    ["PyPI", "npm", "Maven", "Go", "crates.io"]
        .into_iter()
        .map(zip_of)
        .collect()
}

/// The fixture image's language packages, spelled as the catalogers report them (see
/// fixtures/README.md: urllib3 1.26.4 was replaced by 1.26.18 in the top layer; the Go
/// cataloger reports the toolchain of `/opt/app/bin/hello` as `stdlib v1.19.8` and the main
/// module as `(devel)`).
fn fixture_image_packages() -> Vec<Package> {
    let p = |eco, name: &str, version: &str, location: &str| {
        Package::new(eco, name, version, location, "test")
    };
    let site = "/usr/local/lib/python3.11/site-packages";
    vec![
        p(Ecosystem::Pypi, "Django", "3.2", site),
        p(Ecosystem::Pypi, "Flask", "1.0", site),
        p(Ecosystem::Pypi, "Werkzeug", "0.15.3", site),
        p(Ecosystem::Pypi, "Jinja2", "2.11.2", site),
        p(Ecosystem::Pypi, "PyYAML", "5.3.1", site),
        p(Ecosystem::Pypi, "requests", "2.25.0", site),
        p(Ecosystem::Pypi, "urllib3", "1.26.18", site),
        p(
            Ecosystem::Npm,
            "lodash",
            "4.17.15",
            "/srv/web/node_modules/lodash/package.json",
        ),
        p(
            Ecosystem::Npm,
            "minimist",
            "1.2.0",
            "/srv/web/node_modules/minimist/package.json",
        ),
        p(
            Ecosystem::Npm,
            "express",
            "4.17.1",
            "/srv/web/node_modules/express/package.json",
        ),
        p(
            Ecosystem::Npm,
            "axios",
            "0.21.0",
            "/srv/web/node_modules/axios/package.json",
        ),
        p(
            Ecosystem::Maven,
            "log4j:log4j",
            "1.2.17",
            "/opt/app/lib/log4j-1.2.17.jar",
        ),
        p(
            Ecosystem::Maven,
            "org.yaml:snakeyaml",
            "1.33",
            "/opt/app/lib/snakeyaml-1.33.jar",
        ),
        p(Ecosystem::Golang, "stdlib", "v1.19.8", "/opt/app/bin/hello"),
        p(
            Ecosystem::Golang,
            "example.com/hello",
            "(devel)",
            "/opt/app/bin/hello",
        ),
    ]
}

/// A finding reduced to what the oracle predicts: every id it goes by, and its fixed versions.
fn shape(f: &Finding) -> (BTreeSet<String>, BTreeSet<String>) {
    let ids = std::iter::once(f.id.clone())
        .chain(f.aliases.iter().cloned())
        .collect();
    (ids, f.fixed_versions.iter().cloned().collect())
}

fn expected_shape(e: &Expected) -> BTreeSet<(BTreeSet<String>, BTreeSet<String>)> {
    e.groups
        .iter()
        .map(|g| {
            (
                g.ids.iter().cloned().collect(),
                g.fixed.iter().cloned().collect(),
            )
        })
        .collect()
}

/// Compares the matcher's findings for `packages` with the oracle's, package by package, and
/// returns (probes compared, findings compared, probes left out as indeterminate).
fn compare_with_oracle(
    db: &VulnDb,
    packages: &[Package],
    expected: &[Expected],
) -> (usize, usize, usize) {
    let findings = match_packages(db, packages, None).unwrap();
    let mut by_package: BTreeMap<(Ecosystem, &str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in &findings {
        by_package
            .entry((
                f.ecosystem,
                f.package_name.as_str(),
                f.installed_version.as_str(),
            ))
            .or_default()
            .push(f);
    }
    let mut mismatches = Vec::new();
    let (mut compared, mut total, mut indeterminate) = (0, 0, 0);
    for (pkg, want) in packages.iter().zip(expected) {
        if want.status == "indeterminate" {
            indeterminate += 1;
            continue;
        }
        compared += 1;
        let got_list = by_package
            .get(&(pkg.ecosystem, pkg.name.as_str(), pkg.version.as_str()))
            .cloned()
            .unwrap_or_default();
        let got: BTreeSet<_> = got_list.iter().map(|f| shape(f)).collect();
        let want_set = expected_shape(want);
        // One finding per group: a duplicate finding would collapse in the set.
        if got != want_set || got_list.len() != want.groups.len() {
            let missing: Vec<_> = want_set.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want_set).collect();
            mismatches.push(format!(
                "{:?} {} {}: missing {missing:?}, unexpected {extra:?} ({} findings for {} groups)",
                pkg.ecosystem,
                pkg.name,
                pkg.version,
                got_list.len(),
                want.groups.len()
            ));
        }
        total += want.groups.len();
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} packages disagree with the oracle:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    (compared, total, indeterminate)
}

#[test]
fn fixture_image_packages_get_exactly_the_findings_the_records_imply() {
    let Some(python) = python_with_packaging() else {
        return;
    };
    let db = VulnDb::open(fixture_db()).unwrap();
    let packages = fixture_image_packages();
    let probes: Vec<Probe> = packages
        .iter()
        .map(|p| Probe {
            ecosystem: osv_base(p.ecosystem).to_owned(),
            name: p.name.clone(),
            version: p.version.clone(),
        })
        .collect();
    let expected = oracle(&python, &language_zips(), &probes);
    for (p, e) in packages.iter().zip(&expected) {
        eprintln!(
            "{} {}: {} expected findings ({})",
            p.name,
            p.version,
            e.groups.len(),
            e.status
        );
    }
    // Every one of these is decidable by the oracle: none may be left out.
    assert!(expected.iter().all(|e| e.status != "indeterminate"));
    let (compared, findings, _) = compare_with_oracle(&db, &packages, &expected);
    assert_eq!(compared, packages.len());
    // The records do imply findings for this image (Django 3.2, log4j 1.2.17, stdlib 1.19.8 are
    // all old), so an empty database or a matcher that finds nothing cannot pass.
    assert!(findings > 50, "only {findings} findings expected");
    let by_name = |name: &str| {
        let i = packages.iter().position(|p| p.name == name).unwrap();
        expected[i].groups.len()
    };
    assert!(by_name("Django") > 0 && by_name("log4j:log4j") > 0 && by_name("stdlib") > 0);
    // urllib3 1.26.18 is the fixed release of every urllib3 record in the fixture data, and a
    // `(devel)` main module has no version to compare: neither may have findings.
    assert_eq!(by_name("urllib3"), 0);
    assert_eq!(by_name("example.com/hello"), 0);
    assert_eq!(expected[packages.len() - 1].status, "invalid");
}

#[test]
fn log4j_findings_carry_the_records_details() {
    // Spot check of what a finding shows, read off GHSA-2qrg-x229-3v8q and GHSA-fp5r-v3w9-4333
    // in fixtures/osv/Maven: both name CVE ids as aliases, so the CVE becomes the finding's id;
    // neither has a fixed version (`last_affected` and an open range).
    let db = VulnDb::open(fixture_db()).unwrap();
    let pkg = Package::new(
        Ecosystem::Maven,
        "log4j:log4j",
        "1.2.17",
        "/opt/app/lib/log4j-1.2.17.jar",
        "test",
    );
    let findings = match_packages(&db, &[pkg], None).unwrap();
    let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.contains(&"CVE-2019-17571") && ids.contains(&"CVE-2021-4104"),
        "{ids:?}"
    );
    let f = findings.iter().find(|f| f.id == "CVE-2019-17571").unwrap();
    assert_eq!(f.aliases, vec!["GHSA-2qrg-x229-3v8q".to_owned()]);
    assert!(f.fixed_versions.is_empty());
    // CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H is 9.8.
    assert_eq!(f.severity, crowsnest_model::Severity::Critical);
    assert_eq!(f.cvss.first().map(|c| c.base_score), Some(9.8));
    assert_eq!(
        f.summary.as_deref(),
        Some("Deserialization of Untrusted Data in Log4j")
    );
    assert_eq!(f.purl, "pkg:maven/log4j/log4j@1.2.17");
    // 1.2.18 is past `last_affected: 1.2.17` but still inside the open-ended 1.2.0 range.
    let later = Package::new(Ecosystem::Maven, "log4j:log4j", "1.2.18", "x", "test");
    let ids: Vec<String> = match_packages(&db, &[later], None)
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, vec!["CVE-2021-4104".to_owned()]);
}

#[test]
fn records_sharing_an_alias_become_one_finding() {
    // PYSEC-2021-368 and PYSEC-2021-875 both describe GHSA-qcx9-j53g-ccgf for `zope`
    // (fixtures/osv/PyPI): one finding must carry both ids.
    let db = VulnDb::open(fixture_db()).unwrap();
    let pkg = Package::new(Ecosystem::Pypi, "Zope", "4.0", "x", "test");
    let findings = match_packages(&db, &[pkg], None).unwrap();
    let with_ghsa: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.id == "GHSA-qcx9-j53g-ccgf" || f.aliases.iter().any(|a| a == "GHSA-qcx9-j53g-ccgf")
        })
        .collect();
    assert_eq!(with_ghsa.len(), 1, "{findings:#?}");
    let ids: BTreeSet<&str> = std::iter::once(with_ghsa[0].id.as_str())
        .chain(with_ghsa[0].aliases.iter().map(String::as_str))
        .collect();
    assert!(
        ids.contains("PYSEC-2021-368") && ids.contains("PYSEC-2021-875"),
        "{ids:?}"
    );
}

/// Every event version and every listed version of every language package in the fixture
/// records, as an installed version: each lies on a range boundary, where an off-by-one in
/// `introduced`/`fixed`/`last_affected` handling shows.
fn boundary_probes() -> Vec<Probe> {
    let mut probes = BTreeSet::new();
    for eco in ["PyPI", "npm", "Maven", "Go", "crates.io"] {
        for r in common::raw_records(&zip_of(eco)) {
            if r.withdrawn {
                continue;
            }
            for a in r.value["affected"].as_array().into_iter().flatten() {
                let name = a["package"]["name"].as_str().unwrap().to_owned();
                let mut versions: Vec<String> = a["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                for range in a["ranges"].as_array().into_iter().flatten() {
                    if range["type"] == "GIT" {
                        continue;
                    }
                    for ev in range["events"].as_array().into_iter().flatten() {
                        for (_, v) in ev.as_object().unwrap() {
                            versions.push(v.as_str().unwrap().to_owned());
                        }
                    }
                }
                for v in versions.into_iter().filter(|v| v != "0") {
                    probes.insert((eco.to_owned(), name.clone(), v));
                }
            }
        }
    }
    probes
        .into_iter()
        .map(|(ecosystem, name, version)| Probe {
            ecosystem,
            name,
            version,
        })
        .collect()
}

#[test]
fn every_range_boundary_of_the_fixture_records_agrees_with_the_oracle() {
    let Some(python) = python_with_packaging() else {
        return;
    };
    let db = VulnDb::open(fixture_db()).unwrap();
    let probes = boundary_probes();
    let expected = oracle(&python, &language_zips(), &probes);
    let packages: Vec<Package> = probes
        .iter()
        .zip(&expected)
        // Versions the oracle cannot read (non-PEP 440 strings in `versions` lists) are left to
        // the unit tests: both sides would be guessing.
        .filter(|(_, e)| e.status != "invalid")
        .map(|(p, _)| {
            let eco = match p.ecosystem.as_str() {
                "PyPI" => Ecosystem::Pypi,
                "npm" => Ecosystem::Npm,
                "Maven" => Ecosystem::Maven,
                "Go" => Ecosystem::Golang,
                _ => Ecosystem::Cargo,
            };
            Package::new(eco, p.name.clone(), p.version.clone(), "probe", "test")
        })
        .collect();
    let expected: Vec<Expected> = expected
        .into_iter()
        .filter(|e| e.status != "invalid")
        .collect();
    let (compared, findings, indeterminate) = compare_with_oracle(&db, &packages, &expected);
    eprintln!("{compared} boundary versions agree ({findings} findings); {indeterminate} left out as indeterminate");
    assert!(compared > 10_000, "only {compared} probes");
    // Only the two PyPI records with non-PEP 440 `fixed` events (steam, binderhub) may be
    // undecidable for the oracle.
    assert!(indeterminate < 20, "{indeterminate} indeterminate probes");
}
