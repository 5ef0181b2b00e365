//! `import_path` on the real fixture archives: counts come from the archives themselves,
//! withdrawn records are dropped, re-imports are idempotent, and a corrupt archive is a typed
//! error that leaves the live database exactly as it was, for readers that had it open too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use common::{expected_per_ecosystem, raw_records, zip_of, ECOSYSTEMS};
use crowsnest_model::{Ecosystem, Package};
use crowsnest_vulndb::{import_path, match_packages, status, VulnDb, VulnDbError};

fn new_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    (dir, path)
}

/// Files in `dir` other than the database itself (a staged copy left behind would show here).
fn leftovers(dir: &Path, db: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != db)
        .collect()
}

#[test]
fn every_ecosystem_zip_imports_its_non_withdrawn_records() {
    for eco in ECOSYSTEMS {
        let zip = zip_of(eco);
        let (dir, db) = new_db();
        let summary = import_path(&db, &zip).unwrap();
        let raw = raw_records(&zip);
        let expected = expected_per_ecosystem(&zip);
        let withdrawn: BTreeSet<&str> = raw
            .iter()
            .filter(|r| r.withdrawn)
            .map(|r| r.id.as_str())
            .collect();
        let kept: BTreeSet<&str> = raw
            .iter()
            .filter(|r| !r.withdrawn)
            .map(|r| r.id.as_str())
            .collect();
        let want: BTreeMap<String, u64> = expected
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect();
        eprintln!(
            "{eco}: {} kept, {} withdrawn, per ecosystem {want:?}",
            kept.len(),
            withdrawn.len()
        );

        assert_eq!(summary.errors, 0, "{eco}: {:?}", summary.failures);
        assert_eq!(summary.records, kept.len() as u64, "{eco}");
        assert_eq!(summary.withdrawn, withdrawn.len() as u64, "{eco}");
        assert_eq!(summary.ecosystems, want, "{eco}");

        let st = status(&db).unwrap();
        assert_eq!(st.records, kept.len() as u64, "{eco}");
        assert_eq!(st.ecosystems, want, "{eco}");
        assert_eq!(st.sources.len(), 1);
        assert_eq!(st.sources[0].records, kept.len() as u64);
        assert_eq!(st.sources[0].withdrawn, withdrawn.len() as u64);
        assert!(st.file_size > 0 && !st.updated_at.is_empty());

        let handle = VulnDb::open(&db).unwrap();
        for id in &kept {
            assert!(handle.record(id).unwrap().is_some(), "{eco}: {id} missing");
        }
        for id in &withdrawn {
            assert!(
                handle.record(id).unwrap().is_none(),
                "{eco}: withdrawn {id} kept"
            );
        }
        assert!(
            leftovers(dir.path(), &db).is_empty(),
            "{eco}: {:?}",
            leftovers(dir.path(), &db)
        );
    }
}

#[test]
fn withdrawn_records_never_match() {
    // Every withdrawn PyPI record names a package and a range; the package at the range's first
    // introduced version must not get a finding with that id.
    let zip = zip_of("PyPI");
    let (_dir, db) = new_db();
    import_path(&db, &zip).unwrap();
    let handle = VulnDb::open(&db).unwrap();
    let mut checked = 0;
    for r in raw_records(&zip).into_iter().filter(|r| r.withdrawn) {
        for a in r.value["affected"].as_array().into_iter().flatten() {
            let name = a["package"]["name"].as_str().unwrap();
            let versions: Vec<String> = a["ranges"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|rg| rg["events"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| {
                    e.get("introduced")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
                .chain(
                    a["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned)),
                )
                .map(|v| if v == "0" { "0.0.1".to_owned() } else { v })
                .collect();
            for v in versions {
                let pkg = Package::new(Ecosystem::Pypi, name, v, "x", "test");
                let findings = match_packages(&handle, &[pkg], None).unwrap();
                assert!(
                    findings
                        .iter()
                        .all(|f| f.id != r.id && !f.aliases.contains(&r.id)),
                    "withdrawn {} reported",
                    r.id
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} withdrawn versions checked");
}

#[test]
fn reimport_is_idempotent() {
    let (_dir, db) = new_db();
    let first = import_path(&db, &zip_of("Go")).unwrap();
    let st1 = status(&db).unwrap();
    let probe = vec![Package::new(
        Ecosystem::Golang,
        "stdlib",
        "v1.19.8",
        "x",
        "t",
    )];
    let findings1 = match_packages(&VulnDb::open(&db).unwrap(), &probe, None).unwrap();
    let second = import_path(&db, &zip_of("Go")).unwrap();
    let st2 = status(&db).unwrap();
    let findings2 = match_packages(&VulnDb::open(&db).unwrap(), &probe, None).unwrap();
    assert_eq!(first.records, second.records);
    assert_eq!(st1.records, st2.records);
    assert_eq!(st1.ecosystems, st2.ecosystems);
    assert_eq!(st1.releases, st2.releases);
    assert_eq!(st2.sources.len(), 1);
    assert!(!findings1.is_empty());
    assert_eq!(findings1, findings2);

    // The same records from a second path (a copy of the archive) replace, never duplicate.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("all.zip");
    std::fs::copy(zip_of("Go"), &copy).unwrap();
    import_path(&db, &copy).unwrap();
    let st3 = status(&db).unwrap();
    assert_eq!(st3.records, st1.records);
    assert_eq!(st3.ecosystems, st1.ecosystems);
    let findings3 = match_packages(&VulnDb::open(&db).unwrap(), &probe, None).unwrap();
    assert_eq!(findings1, findings3);
}

fn sha256_of(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// A copy of `zip` cut to half its length.
fn truncated(zip: &Path, into: &Path) -> PathBuf {
    let bytes = std::fs::read(zip).unwrap();
    let out = into.join("truncated.zip");
    std::fs::write(&out, &bytes[..bytes.len() / 2]).unwrap();
    out
}

/// A copy of `zip` with bytes flipped in the middle of its entries' compressed data (the
/// central directory at the end stays intact, so only CRC or inflate checks can catch it).
fn bit_flipped(zip: &Path, into: &Path) -> PathBuf {
    let mut bytes = std::fs::read(zip).unwrap();
    let mid = bytes.len() / 3;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x55;
    }
    let out = into.join("flipped.zip");
    std::fs::write(&out, &bytes).unwrap();
    out
}

#[test]
fn corrupt_archives_are_typed_errors_and_leave_the_database_as_it_was() {
    let (dir, db) = new_db();
    import_path(&db, &zip_of("npm")).unwrap();
    let before = sha256_of(&db);
    let scratch = tempfile::tempdir().unwrap();
    for bad in [
        truncated(&zip_of("PyPI"), scratch.path()),
        bit_flipped(&zip_of("PyPI"), scratch.path()),
    ] {
        let err = import_path(&db, &bad).unwrap_err();
        assert!(
            matches!(err, VulnDbError::CorruptArchive { .. }),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.code().as_str(), "catalog_failed");
        assert!(err.to_string().contains("corrupt archive"), "{err}");
        assert_eq!(sha256_of(&db), before, "{bad:?} changed the database");
        assert!(
            leftovers(dir.path(), &db).is_empty(),
            "{:?}",
            leftovers(dir.path(), &db)
        );
    }
    // A directory holding a good and a bad archive is refused whole: the good one is not
    // imported either.
    let mixed = tempfile::tempdir().unwrap();
    std::fs::copy(zip_of("Maven"), mixed.path().join("good.zip")).unwrap();
    truncated(&zip_of("Go"), mixed.path());
    let err = import_path(&db, mixed.path()).unwrap_err();
    assert_eq!(err.code().as_str(), "catalog_failed");
    assert_eq!(sha256_of(&db), before);
    assert_eq!(
        status(&db).unwrap().ecosystems.keys().collect::<Vec<_>>(),
        vec!["npm"]
    );
}

/// Writes a zip of `(name, content)` entries.
fn write_zip(path: &Path, entries: &[(&str, &str)]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, content) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.finish().unwrap();
}

const GOOD: &str = r#"{"id":"TEST-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2099-0001"],
 "affected":[{"package":{"ecosystem":"PyPI","name":"Some_Pkg"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}"#;
/// An event with two keys is ambiguous; the OSV schema forbids it.
const AMBIGUOUS: &str = r#"{"id":"TEST-2","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"PyPI","name":"other"},
 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1.0"}]}]}]}"#;

#[test]
fn an_invalid_record_is_reported_and_the_rest_imported() {
    let (_dir, db) = new_db();
    let scratch = tempfile::tempdir().unwrap();
    let zip = scratch.path().join("all.zip");
    write_zip(
        &zip,
        &[
            ("TEST-1.json", GOOD),
            ("TEST-2.json", AMBIGUOUS),
            ("notes.txt", "x"),
        ],
    );
    let summary = import_path(&db, &zip).unwrap();
    assert_eq!((summary.records, summary.errors), (1, 1));
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(summary.failures[0].entry, "TEST-2.json");
    assert!(
        summary.failures[0].message.contains("exactly one key"),
        "{:?}",
        summary.failures
    );
    let handle = VulnDb::open(&db).unwrap();
    // PEP 503: `some-pkg` finds `Some_Pkg`.
    let found = match_packages(
        &handle,
        &[Package::new(Ecosystem::Pypi, "some.pkg", "1.5", "x", "t")],
        None,
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "CVE-2099-0001");
    assert_eq!(found[0].fixed_versions, vec!["2.0".to_owned()]);

    // One record file on its own that does not parse is an error, and nothing is written.
    let (_dir2, db2) = new_db();
    let file = scratch.path().join("TEST-2.json");
    std::fs::write(&file, AMBIGUOUS).unwrap();
    let err = import_path(&db2, &file).unwrap_err();
    assert!(matches!(err, VulnDbError::InvalidRecord { .. }), "{err:?}");
    assert_eq!(err.code().as_str(), "catalog_failed");
    assert!(!db2.exists());

    // Something that is no source at all, and a database that is not there.
    let err = import_path(&db2, &scratch.path().join("missing.zip")).unwrap_err();
    assert_eq!(err.code().as_str(), "not_found");
    let err = VulnDb::open(&db2).unwrap_err();
    assert_eq!(err.code().as_str(), "not_found");
}

#[test]
fn yaml_records_in_a_directory_import_like_json() {
    let (_dir, db) = new_db();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("sub/TEST-1.json"), GOOD).unwrap();
    std::fs::write(
        src.path().join("TEST-3.yaml"),
        "id: TEST-3\nmodified: '2024-01-01T00:00:00Z'\nwithdrawn: '2024-02-01T00:00:00Z'\naffected: []\n",
    )
    .unwrap();
    std::fs::write(
        src.path().join("TEST-4.yml"),
        "id: TEST-4\nmodified: '2024-01-01T00:00:00Z'\naffected:\n- package: {ecosystem: npm, name: LeftPad}\n  versions: ['1.0.0']\n",
    )
    .unwrap();
    let summary = import_path(&db, src.path()).unwrap();
    assert_eq!(
        (summary.records, summary.withdrawn, summary.errors),
        (2, 1, 0)
    );
    let handle = VulnDb::open(&db).unwrap();
    let f = match_packages(
        &handle,
        &[Package::new(Ecosystem::Npm, "leftpad", "1.0.0", "x", "t")],
        None,
    )
    .unwrap();
    assert_eq!(
        f.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec!["TEST-4"]
    );
}

#[test]
fn readers_see_the_old_or_the_new_database_never_a_mix() {
    let (_dir, db) = new_db();
    import_path(&db, &zip_of("npm")).unwrap();
    let old = status(&db).unwrap();
    // A handle opened before an update keeps reading the database it opened.
    let early = VulnDb::open(&db).unwrap();

    let stop = AtomicBool::new(false);
    let observed = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let st = status(&db).unwrap();
                seen.push((st.records, st.ecosystems.clone()));
            }
            seen
        });
        // A failed import (truncated archive), then a successful big one, while the reader
        // reads in a loop.
        let scratch = tempfile::tempdir().unwrap();
        assert!(import_path(&db, &truncated(&zip_of("PyPI"), scratch.path())).is_err());
        import_path(&db, &zip_of("PyPI")).unwrap();
        // Let the reader see the new state at least once.
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    let new = status(&db).unwrap();
    assert!(new.records > old.records);
    let states = [
        (old.records, old.ecosystems.clone()),
        (new.records, new.ecosystems.clone()),
    ];
    assert!(!observed.is_empty());
    for o in &observed {
        assert!(states.contains(o), "a reader saw {o:?}");
    }
    assert_eq!(observed.last(), Some(&states[1]));
    // The early handle still answers from the old file.
    assert_eq!(early.status().unwrap().records, old.records);
    let django = Package::new(Ecosystem::Pypi, "Django", "3.2", "x", "t");
    assert!(match_packages(&early, std::slice::from_ref(&django), None)
        .unwrap()
        .is_empty());
    assert!(
        !match_packages(&VulnDb::open(&db).unwrap(), &[django], None)
            .unwrap()
            .is_empty()
    );
}
