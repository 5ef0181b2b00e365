//! The rpm cataloger against what `rpm -qa` printed for the same databases (the `.rpm-qa.tsv`
//! files beside them), for every backend; and corrupted copies of each database, which must give
//! an error or a result, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod os_support;

use std::collections::BTreeSet;

use crowsnest_catalog::os::rpm::RpmCataloger;
use crowsnest_catalog::Cataloger;
use crowsnest_model::{Ecosystem, Package};
use crowsnest_testkit::fixture;
use os_support::catalog_bytes;

/// (name, version as the cataloger must spell it, arch, source name), the comparable part.
type Row = (String, String, String, Option<String>);

/// Reads an `rpm -qa` listing: name, epoch (`(none)` when absent), version, release, arch,
/// source rpm. The expected `version` is `epoch:version-release` when rpm printed an epoch.
fn oracle(tsv: &str) -> BTreeSet<Row> {
    let path = if tsv.starts_with('/') {
        std::path::PathBuf::from(tsv)
    } else {
        fixture(&format!("pkgdb/rpm/{tsv}"))
    };
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "{tsv}: {line}");
            let vr = format!("{}-{}", cols[2], cols[3]);
            let version = match cols[1] {
                "(none)" => vr,
                epoch => format!("{epoch}:{vr}"),
            };
            // The SRPM is name-version-release.src.rpm; its name is what precedes the last two
            // dashes.
            let stem = cols[5].strip_suffix(".src.rpm").unwrap();
            let mut parts = stem.rsplitn(3, '-');
            let source = parts.nth(2).map(str::to_owned);
            (cols[0].to_owned(), version, cols[4].to_owned(), source)
        })
        .collect()
}

fn rows(packages: &[Package]) -> BTreeSet<Row> {
    packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap_or_default(),
                p.source_name.clone(),
            )
        })
        .collect()
}

fn catalog_fixture(db: &str, image_path: &str) -> Vec<Package> {
    let bytes = std::fs::read(fixture(&format!("pkgdb/rpm/{db}"))).unwrap();
    catalog_bytes(&RpmCataloger, image_path, &bytes).unwrap()
}

fn assert_matches_oracle(db: &str, image_path: &str, tsv: &str) -> Vec<Package> {
    let packages = catalog_fixture(db, image_path);
    let expected = oracle(tsv);
    assert_eq!(
        packages.len(),
        expected.len(),
        "{db}: no duplicates, none missing"
    );
    assert_eq!(rows(&packages), expected, "{db}");
    for p in &packages {
        assert_eq!(p.ecosystem, Ecosystem::Rpm);
        assert_eq!(p.location, format!("/{image_path}"));
        assert_eq!(p.found_by, "os/rpm");
        assert!(p.purl.is_empty() && p.layer.is_none());
    }
    packages
}

#[test]
fn sqlite_matches_rpm_qa() {
    let packages = assert_matches_oracle(
        "cbl-mariner-2.0_rpmdb.sqlite",
        "var/lib/rpm/rpmdb.sqlite",
        "cbl-mariner-2.0.rpm-qa.tsv",
    );
    assert_eq!(packages.len(), 129);
    // tdnf's plugin is built from the tdnf source package: source_name comes from the SRPM.
    let plugin = packages
        .iter()
        .find(|p| p.name == "tdnf-plugin-repogpgcheck")
        .unwrap();
    assert_eq!(plugin.source_name.as_deref(), Some("tdnf"));
    assert!(packages.iter().all(|p| !p.licenses.is_empty()));
}

#[test]
fn sqlite_at_the_sysimage_path() {
    let packages = catalog_fixture(
        "cbl-mariner-2.0_rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    );
    assert_eq!(rows(&packages), oracle("cbl-mariner-2.0.rpm-qa.tsv"));
}

#[test]
fn berkeley_db_matches_rpm_qa() {
    for (db, tsv) in [
        ("libuuid_Packages", "libuuid.rpm-qa.tsv"),
        ("syft_redhat_Packages", "syft_redhat.rpm-qa.tsv"),
        ("osv-scalibr_Packages_epoch", "osv-scalibr_epoch.rpm-qa.tsv"),
    ] {
        assert_matches_oracle(db, "var/lib/rpm/Packages", tsv);
    }
}

#[test]
fn epoch_is_part_of_the_version() {
    let packages = catalog_fixture("osv-scalibr_Packages_epoch", "var/lib/rpm/Packages");
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].version, "1:0.0.1-rls");
    // The SRPM's version-release equals the binary's, so there is no separate source version.
    assert_eq!(packages[0].source_version, None);
}

/// The NDB file has no `rpm -qa` listing: the oracle's rpm (Debian's, like the one here) is
/// built without ndb. So the test makes one: it finds every blob head in the file by a naive
/// scan (block-aligned `BlbS` magic, not the slot table the cataloger follows), stores those
/// blobs in an SQLite rpmdb, lets rpm rebuild and list it, and compares.
///
/// The file holds 35 packages: the README's "37" counts two slots' worth that are not there
/// (35 used slots, 35 blob heads).
#[test]
fn ndb_matches_rpm_qa_on_its_blobs() {
    let packages = catalog_fixture("sle15-bci_Packages.db", "var/lib/rpm/Packages.db");
    if !crowsnest_testkit::require_tool("rpm") {
        return;
    }
    let bytes = std::fs::read(fixture("pkgdb/rpm/sle15-bci_Packages.db")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("rpmdb.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
    )
    .unwrap();
    let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut blobs = 0;
    for at in (0..bytes.len().saturating_sub(16)).step_by(16) {
        if &bytes[at..at + 4] == b"BlbS" {
            let (pkgidx, len) = (le(at + 4), le(at + 12) as usize);
            let blob = &bytes[at + 16..at + 16 + len];
            conn.execute(
                "INSERT INTO Packages (hnum, blob) VALUES (?1, ?2)",
                rusqlite::params![pkgidx, blob],
            )
            .unwrap();
            blobs += 1;
        }
    }
    drop(conn);
    assert_eq!(blobs, 35);
    let rpm = |args: &[&str]| {
        let out = std::process::Command::new("rpm")
            .arg("--dbpath")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    rpm(&["--rebuilddb"]);
    let listing = rpm(&[
        "-qa",
        "--qf",
        "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
    ]);
    let tsv = dir.path().join("ndb.tsv");
    std::fs::write(&tsv, listing).unwrap();
    let expected = oracle(tsv.to_str().unwrap());
    assert_eq!(expected.len(), 35);
    assert_eq!(packages.len(), 35);
    assert_eq!(rows(&packages), expected);
}

/// Truncations and byte flips across each database: never a panic; truncated Berkeley DB and
/// ndb files are errors, because their metadata names pages and blocks that are gone.
#[test]
fn corrupt_databases_never_panic() {
    for (db, path) in [
        ("cbl-mariner-2.0_rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"),
        ("libuuid_Packages", "var/lib/rpm/Packages"),
        ("syft_redhat_Packages", "var/lib/rpm/Packages"),
        ("osv-scalibr_Packages_epoch", "var/lib/rpm/Packages"),
        ("sle15-bci_Packages.db", "var/lib/rpm/Packages.db"),
    ] {
        let bytes = std::fs::read(fixture(&format!("pkgdb/rpm/{db}"))).unwrap();
        let len = bytes.len();
        let is_sqlite = db.ends_with(".sqlite");
        for cut in [
            0,
            1,
            8,
            16,
            100,
            4095,
            4096,
            4097,
            len / 3,
            len / 2,
            len - 1,
        ] {
            let result = catalog_bytes(&RpmCataloger, path, &bytes[..cut]);
            if !is_sqlite {
                assert!(result.is_err(), "{db} cut at {cut} must be an error");
            }
        }
        // Flip bytes at a spread of offsets, several at a time, deterministically.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rounds = if is_sqlite { 30 } else { 300 };
        for _ in 0..rounds {
            let mut copy = bytes.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() % len as u64) as usize;
                copy[at] ^= (next() % 255 + 1) as u8;
            }
            let _ = catalog_bytes(&RpmCataloger, path, &copy);
        }
        // Metadata-like positions (headers, first slots, index entries) get every bit flipped;
        // SQLite guards its own pages, so only its 100-byte header gets that treatment.
        let (head, page) = if is_sqlite { (100, 0) } else { (256, 64) };
        for at in (0..head.min(len)).chain(4096..(4096 + page).min(len)) {
            for bit in 0..8 {
                let mut copy = bytes.clone();
                copy[at] ^= 1 << bit;
                let _ = catalog_bytes(&RpmCataloger, path, &copy);
            }
        }
    }
}

#[test]
fn wants_only_database_files() {
    let meta = os_support::meta(1);
    let wants = |p: &str| RpmCataloger.wants(&crowsnest_model::ImagePath::parse(p).unwrap(), &meta);
    assert!(wants("var/lib/rpm/Packages"));
    assert!(wants("var/lib/rpm/Packages.db"));
    assert!(wants("var/lib/rpm/rpmdb.sqlite"));
    assert!(wants("usr/lib/sysimage/rpm/rpmdb.sqlite"));
    assert!(!wants("var/lib/rpm/Name"));
    assert!(!wants("var/lib/rpm/rpmdb.sqlite-wal"));
    assert!(!wants("srv/var/lib/rpm/Packages"));
}
