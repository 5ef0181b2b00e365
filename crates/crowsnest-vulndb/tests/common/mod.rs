//! Shared by the integration tests: the fixture database, built once per test binary, and the
//! Python oracle.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The ecosystems of `fixtures/osv/`, each an osv.dev-style `all.zip`.
pub const ECOSYSTEMS: [&str; 7] = [
    "AlmaLinux",
    "Alpine",
    "Go",
    "Maven",
    "PyPI",
    "crates.io",
    "npm",
];

/// `fixtures/osv/<eco>/all.zip`.
pub fn zip_of(eco: &str) -> PathBuf {
    crowsnest_testkit::fixture(&format!("osv/{eco}/all.zip"))
}

/// One record of a zip, read with plain JSON (not the crate's schema types).
pub struct RawRecord {
    pub id: String,
    pub withdrawn: bool,
    pub value: serde_json::Value,
}

/// Every `*.json` record of a zip.
pub fn raw_records(zip: &Path) -> Vec<RawRecord> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        if entry.is_dir() || !entry.name().ends_with(".json") {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        out.push(RawRecord {
            id: value["id"].as_str().unwrap().to_owned(),
            withdrawn: value.get("withdrawn").is_some_and(|w| !w.is_null()),
            value,
        });
    }
    out
}

/// Non-withdrawn record ids per base ecosystem (the part before `:`) that a zip's records name.
pub fn expected_per_ecosystem(zip: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in raw_records(zip).into_iter().filter(|r| !r.withdrawn) {
        for a in r.value["affected"].as_array().into_iter().flatten() {
            let eco = a["package"]["ecosystem"].as_str().unwrap();
            let base = eco.split(':').next().unwrap().to_owned();
            out.entry(base).or_default().insert(r.id.clone());
        }
    }
    out
}

/// A database holding every fixture zip, imported once per test binary (one `import_path` of
/// the whole `fixtures/osv` directory).
pub fn fixture_db() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vulndb.sqlite");
        let summary = crowsnest_vulndb::import_path(&path, &crowsnest_testkit::fixture("osv"))
            .expect("importing the fixture database");
        assert_eq!(summary.errors, 0, "{:?}", summary.failures);
        (dir, path)
    });
    path
}

/// A Python 3 with PyPA's `packaging` (Debian's `python3-packaging`, listed in
/// `.ci/apt-packages.txt`). `None` (after saying why) when missing outside CI.
pub fn python_with_packaging() -> Option<PathBuf> {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import packaging.version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(PathBuf::from(candidate));
        }
    }
    if crowsnest_testkit::tools_required() {
        panic!("python3 with `packaging` (Debian python3-packaging) is required under CI");
    }
    eprintln!(
        "skipping: python3 with `packaging` is not installed (apt-get install python3-packaging)"
    );
    None
}

/// A probe for the oracle: an OSV base ecosystem, a package name and an installed version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Probe {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// One expected finding: every id it goes by, the records behind it, and its fixed versions.
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedGroup {
    pub ids: Vec<String>,
    pub records: Vec<String>,
    pub fixed: Vec<String>,
}

/// The oracle's answer for one probe.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Expected {
    /// `ok`, `invalid` (the installed version is not a version of the ecosystem) or
    /// `indeterminate` (a relevant record has an event the oracle's comparator cannot read).
    pub status: String,
    pub groups: Vec<ExpectedGroup>,
}

/// Runs `tests/oracle/osv_oracle.py` over `zips` for `probes`.
pub fn oracle(python: &Path, zips: &[PathBuf], probes: &[Probe]) -> Vec<Expected> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/osv_oracle.py");
    let input = serde_json::json!({ "zips": zips, "probes": probes });
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = serde_json::to_vec(&input).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "oracle failed");
    let expected: Vec<Expected> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expected.len(), probes.len());
    expected
}
