//! End to end on real Alpine images: `crowsnest_scan::Scanner` catalogs
//! `fixtures/images/alpine-310.tar.gz` and `alpine-311.tar.gz`, `match_inventory` matches them
//! against `fixtures/osv/Alpine`, and the expectation is derived here from the raw records:
//! which entries apply (ecosystem `Alpine:v<major>.<minor>` of the detected release, the
//! package's origin as the source name) is computed independently of the crate; only the
//! ordering of two apk versions is `crowsnest-version`'s, itself checked against apk-tools' own
//! vectors.
//!
//! Also: a stored inventory (JSON) is re-matched after a database update without the image,
//! and matching is deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{raw_records, zip_of};
use crowsnest_model::{Ecosystem, Finding, Inventory};
use crowsnest_version::{compare, Scheme};
use crowsnest_vulndb::{import_path, match_inventory, VulnDb};

fn scan(image: &str) -> Inventory {
    let path = crowsnest_testkit::fixture(&format!("images/{image}"));
    crowsnest_scan::Scanner::default()
        .scan_image(path.to_str().unwrap(), &mut |_| {})
        .unwrap()
}

fn apk(a: &str, b: &str) -> Ordering {
    compare(Scheme::Apk, a, b).unwrap()
}

/// Per (origin, installed version): the record ids that affect it and their fixed versions,
/// computed from the raw records by the OSV evaluation rules.
fn expected(inv: &Inventory) -> BTreeMap<(String, String), (BTreeSet<String>, BTreeSet<String>)> {
    let distro = inv.distro.as_ref().unwrap();
    let v = distro.version_id.as_deref().unwrap();
    let mut parts = v.split('.');
    let release = format!(
        "Alpine:v{}.{}",
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let records = raw_records(&zip_of("Alpine"));
    let mut out = BTreeMap::new();
    for pkg in inv
        .packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Apk)
    {
        let origin = pkg.source_name.clone().unwrap_or_else(|| pkg.name.clone());
        let mut ids = BTreeSet::new();
        let mut fixed = BTreeSet::new();
        for r in records.iter().filter(|r| !r.withdrawn) {
            for a in r.value["affected"].as_array().into_iter().flatten() {
                if a["package"]["ecosystem"] != release.as_str()
                    || a["package"]["name"] != origin.as_str()
                {
                    continue;
                }
                for range in a["ranges"].as_array().into_iter().flatten() {
                    assert_eq!(range["type"], "ECOSYSTEM");
                    // Every Alpine record here is `introduced: 0` then `fixed: X`.
                    let events = range["events"].as_array().unwrap();
                    assert_eq!(events.len(), 2, "{}", r.id);
                    assert_eq!(events[0]["introduced"], "0");
                    let fix = events[1]["fixed"].as_str().unwrap();
                    if apk(&pkg.version, fix) == Ordering::Less {
                        ids.insert(r.id.clone());
                        fixed.insert(fix.to_owned());
                    }
                }
            }
        }
        out.insert((pkg.name.clone(), pkg.version.clone()), (ids, fixed));
    }
    out
}

/// The same shape from findings: the Alpine record ids each finding stands for.
fn got(findings: &[Finding]) -> BTreeMap<(String, String), (BTreeSet<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<(String, String), (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for f in findings {
        let e = out
            .entry((f.package_name.clone(), f.installed_version.clone()))
            .or_default();
        let ids: Vec<&String> = std::iter::once(&f.id)
            .chain(&f.aliases)
            .filter(|i| i.starts_with("ALPINE-"))
            .collect();
        // One record per CVE: one ALPINE- id per finding, and the finding is named by the CVE.
        assert_eq!(ids.len(), 1, "{f:?}");
        assert_eq!(f.id, ids[0].trim_start_matches("ALPINE-"));
        e.0.insert(ids[0].clone());
        e.1.extend(f.fixed_versions.iter().cloned());
    }
    out
}

fn alpine_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vulndb.sqlite");
    import_path(&db, &zip_of("Alpine")).unwrap();
    (dir, db)
}

/// Matches `inv` and checks the findings against [`expected`]; returns how many there were.
fn check(handle: &VulnDb, inv: &Inventory, label: &str) -> usize {
    let findings = match_inventory(handle, inv).unwrap();
    let want: BTreeMap<_, _> = expected(inv)
        .into_iter()
        .filter(|(_, (ids, _))| !ids.is_empty())
        .collect();
    let total: usize = want.values().map(|(ids, _)| ids.len()).sum();
    eprintln!(
        "{label}: {total} findings expected on {} packages",
        want.len()
    );
    assert_eq!(got(&findings), want, "{label}");
    assert_eq!(findings.len(), total, "{label}");
    for f in &findings {
        assert!(f.purl.starts_with("pkg:apk/alpine/"), "{}", f.purl);
        assert!(f.layer.is_some(), "a finding names the layer");
    }
    total
}

/// `inv` as if its distribution were Alpine `version_id`.
fn relabelled(mut inv: Inventory, version_id: &str) -> Inventory {
    inv.distro.as_mut().unwrap().version_id = Some(version_id.to_owned());
    inv
}

#[test]
fn alpine_images_get_the_findings_their_release_records_imply() {
    let (_dir, db) = alpine_db();
    let handle = VulnDb::open(&db).unwrap();
    let mut inventories = Vec::new();
    for (image, version) in [("alpine-310.tar.gz", "3.10"), ("alpine-311.tar.gz", "3.11")] {
        let inv = scan(image);
        let distro = inv.distro.as_ref().unwrap();
        assert_eq!(distro.id, "alpine");
        assert!(distro.version_id.as_deref().unwrap().starts_with(version));
        assert_eq!(
            inv.packages
                .iter()
                .filter(|p| p.ecosystem == Ecosystem::Apk)
                .count(),
            14
        );
        // Both images were current when the 2020 secdb snapshot was taken: every advisory of
        // their release names a fixed version at or below what they have, so the records
        // imply no finding. The check still runs every package through the matcher.
        assert_eq!(check(&handle, &inv, image), 0);
        inventories.push(inv);
    }
    // The 3.10 image's packages judged by 3.11's advisories are behind several fixes there
    // (musl 1.1.22-r3 < 1.1.23-r2, openssl 1.1.1d-r2 < 1.1.1d-r3): the release selects the
    // records, and these must be found.
    let old_on_new = relabelled(inventories[0].clone(), "3.11.5");
    assert!(check(&handle, &old_on_new, "alpine-310 as v3.11") >= 2);
    // And the other way round the 3.11 packages are newer than every 3.10 fix.
    let new_on_old = relabelled(inventories[1].clone(), "3.10.4");
    check(&handle, &new_on_old, "alpine-311 as v3.10");
}

#[test]
fn a_stored_inventory_is_rematched_after_a_database_update() {
    // Scan once, keep the inventory as JSON, and from then on only the JSON is used.
    let stored = serde_json::to_string(&relabelled(scan("alpine-310.tar.gz"), "3.11.5")).unwrap();
    let inventory = |s: &str| serde_json::from_str::<Inventory>(s).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vulndb.sqlite");
    import_path(&db, &zip_of("npm")).unwrap();
    let before = match_inventory(&VulnDb::open(&db).unwrap(), &inventory(&stored)).unwrap();
    assert!(before.is_empty(), "no Alpine records yet: {before:?}");

    import_path(&db, &zip_of("Alpine")).unwrap();
    let handle = VulnDb::open(&db).unwrap();
    let after = match_inventory(&handle, &inventory(&stored)).unwrap();
    assert!(!after.is_empty());

    // Deterministic: again, with the packages reversed, and on a second database built from the
    // same records in the other order.
    assert_eq!(
        match_inventory(&handle, &inventory(&stored)).unwrap(),
        after
    );
    let mut reversed = inventory(&stored);
    reversed.packages.reverse();
    assert_eq!(match_inventory(&handle, &reversed).unwrap(), after);
    let other = dir.path().join("other.sqlite");
    import_path(&other, &zip_of("Alpine")).unwrap();
    import_path(&other, &zip_of("npm")).unwrap();
    assert_eq!(
        match_inventory(&VulnDb::open(&other).unwrap(), &inventory(&stored)).unwrap(),
        after
    );
}
