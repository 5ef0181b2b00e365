//! `rematch` over stored inventories: each is matched exactly as `match_inventory` matches it
//! (on two threads), recorded against the database build, skipped while that build stays, and
//! matched again once an import makes a new build. The inventories are the real Alpine images'
//! (scanned once); the store is a vector, standing in for `crowsnest-store`, whose own tests
//! and the binary's end-to-end test cover the SQL side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::zip_of;
use crowsnest_model::{Finding, Inventory};
use crowsnest_vulndb::{
    import_path, match_inventory, rematch, StoreFailure, StoredInventories, VulnDb,
};

fn scan(image: &str) -> Inventory {
    let path = crowsnest_testkit::fixture(&format!("images/{image}"));
    crowsnest_scan::Scanner::default()
        .scan_image(path.to_str().unwrap(), &mut |_| {})
        .unwrap()
}

/// Inventories by key, each with the build it was last matched against and the findings.
#[derive(Default)]
struct Rows(Vec<(String, Inventory, String, Vec<Finding>)>);

impl StoredInventories for Rows {
    fn next_batch(
        &mut self,
        build: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Inventory)>, StoreFailure> {
        Ok(self
            .0
            .iter()
            .filter(|(k, _, b, _)| b != build && after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .map(|(k, inv, _, _)| (k.clone(), inv.clone()))
            .collect())
    }

    fn record(
        &mut self,
        key: &str,
        build: &str,
        findings: &[Finding],
    ) -> Result<bool, StoreFailure> {
        let row = self
            .0
            .iter_mut()
            .find(|r| r.0 == key)
            .ok_or("unknown key")?;
        let changed = row.3.len() != findings.len();
        row.2 = build.to_owned();
        row.3 = findings.to_vec();
        Ok(changed)
    }
}

#[test]
fn stored_inventories_are_rematched_once_per_build() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vulndb.sqlite");
    // A first database without the Alpine records: nothing matches the images.
    import_path(&db, &zip_of("npm")).unwrap();
    // The 3.10.4 image's packages are past every v3.10 record's fix; read as 3.11.5 (as the
    // Alpine tests do) they meet the v3.11 records.
    let mut inv10 = scan("alpine-310.tar.gz");
    inv10.distro.as_mut().unwrap().version_id = Some("3.11.5".into());
    let inv11 = scan("alpine-311.tar.gz");
    // Keys sorted, and a batch of one so the walk crosses batches.
    let mut rows = Rows(vec![
        ("a-310".into(), inv10.clone(), String::new(), vec![]),
        ("b-311".into(), inv11.clone(), String::new(), vec![]),
    ]);
    let first = rematch(&db, &mut rows, 1, 2).unwrap();
    assert_eq!((first.rematched, first.changed, first.findings), (2, 0, 0));
    assert_eq!(first.build, VulnDb::open(&db).unwrap().build().unwrap());
    assert!(rows.0.iter().all(|r| r.2 == first.build));

    // Same build: nothing to do.
    let again = rematch(&db, &mut rows, 1, 2).unwrap();
    assert_eq!(again.rematched, 0);

    // The Alpine records arrive: both are matched again, exactly as a fresh match sees them.
    import_path(&db, &zip_of("Alpine")).unwrap();
    let second = rematch(&db, &mut rows, 1, 2).unwrap();
    assert_ne!(second.build, first.build);
    assert_eq!(second.rematched, 2);
    // The 3.11.5 image's packages are past every v3.11 fix: matched again, unchanged.
    assert_eq!(second.changed, 1);
    let handle = VulnDb::open(&db).unwrap();
    let want10 = match_inventory(&handle, &inv10).unwrap();
    let want11 = match_inventory(&handle, &inv11).unwrap();
    assert!(!want10.is_empty() && want11.is_empty());
    assert_eq!(rows.0[0].3, want10);
    assert_eq!(rows.0[1].3, want11);
    assert_eq!(second.findings as usize, want10.len() + want11.len());
}

#[test]
fn parallel_matching_gives_what_one_handle_gives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vulndb.sqlite");
    import_path(&db, &zip_of("Alpine")).unwrap();
    let invs = vec![
        scan("alpine-310.tar.gz"),
        scan("alpine-311.tar.gz"),
        scan("alpine-310.tar.gz"),
    ];
    let mut handles = vec![VulnDb::open(&db).unwrap(), VulnDb::open(&db).unwrap()];
    let got = crowsnest_vulndb::match_in_parallel(&mut handles, &invs, |inv| {
        (inv.packages.as_slice(), inv.distro.as_ref())
    })
    .unwrap();
    let one = VulnDb::open(&db).unwrap();
    let want: Vec<Vec<Finding>> = invs
        .iter()
        .map(|inv| match_inventory(&one, inv).unwrap())
        .collect();
    assert_eq!(got, want);
}
