//! End-to-end: a scanned image's stored inventory is re-matched after a database import,
//! without the image, and the CRITICAL findings a re-match adds are announced to a webhook
//! once. The expected counts come from the OSV records themselves, evaluated by
//! the independent oracle of the vulnerability tests (`crowsnest-vulndb/tests/oracle`), not
//! from the binary's output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crowsnest_store::{
    Filter, NewImage, NewRegistry, NewRepository, NewTag, NewTenant, PlacementOrder,
    PlacementQuery, Store,
};
use crowsnest_testkit::fixture;
use serde_json::Value;

fn crowsnest(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env_remove("CROWSNEST_DB")
        .env_remove("CROWSNEST_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crowsnest {args:?}: exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn zip(eco: &str) -> PathBuf {
    fixture(&format!("osv/{eco}/all.zip"))
}

fn python_with_packaging() -> Option<&'static str> {
    // Debian's python3 first: python3-packaging is what .ci/apt-packages.txt installs.
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import packaging.version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(candidate);
        }
    }
    if crowsnest_testkit::tools_required() {
        panic!("python3 with `packaging` (Debian python3-packaging) is required under CI");
    }
    eprintln!("skipping: python3 with `packaging` is not installed");
    None
}

/// How many findings (groups of records sharing an id) the records in `zips` imply for the
/// inventory's language packages, by the oracle. OS packages meet no record here: the
/// fixture databases hold no Debian records.
fn implied_findings(python: &str, zips: &[PathBuf], inventory: &Value) -> usize {
    let base = |eco: &str| match eco {
        "pypi" => Some("PyPI"),
        "npm" => Some("npm"),
        "maven" => Some("Maven"),
        "golang" => Some("Go"),
        "cargo" => Some("crates.io"),
        _ => None,
    };
    let probes: Vec<Value> = inventory["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let eco = base(p["ecosystem"].as_str()?)?;
            Some(serde_json::json!({
                "ecosystem": eco,
                "name": p["name"],
                "version": p["version"],
            }))
        })
        .collect();
    assert!(probes.len() > 10, "the fixture image has language packages");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crowsnest-vulndb/tests/oracle/osv_oracle.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&serde_json::json!({"zips": zips, "probes": probes})).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "oracle failed");
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .iter()
        .map(|a| {
            // "invalid": a version the ecosystem cannot order (the Go main module's
            // `(devel)`), which no record can match.
            assert_ne!(a["status"], "indeterminate", "{a}");
            a["groups"].as_array().map_or(0, Vec::len)
        })
        .sum()
}

/// The digest's placement as the APIs list it: (vul_count, severity level).
fn listed(store: &Store, tenant: crowsnest_store::TenantId) -> (i64, String) {
    let page = store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 10,
            },
        )
        .unwrap();
    let scan = page.rows[0]
        .scan
        .clone()
        .expect("the placement shows a scan");
    (scan.vul_count, scan.severity)
}

#[test]
fn a_saved_inventory_is_rematched_after_an_import_without_the_image() {
    let Some(python) = python_with_packaging() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    // A copy of the fixture image that the test can take away afterwards.
    let image = data.path().join("acme-shop.oci.tar");
    std::fs::copy(fixture("images/acme-shop.oci.tar"), &image).unwrap();

    // Some ecosystems first.
    let first = [zip("npm"), zip("Maven")];
    let out = crowsnest(
        data.path(),
        &[
            "db",
            "import",
            first[0].to_str().unwrap(),
            first[1].to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no stored inventories to re-match"), "{text}");

    let out = crowsnest(
        data.path(),
        &[
            "scan",
            image.to_str().unwrap(),
            "--save",
            "--format",
            "json",
            "--no-progress",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inventory = &report["inventory"];
    let digest = inventory["source"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_owned();

    // The digest is also a registry image of a tenant, so the API-facing counts can be read.
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "shop".into(),
            account_id: "acct-shop".into(),
        })
        .unwrap();
    let registry = store
        .upsert_registry(
            tenant,
            &NewRegistry {
                uid: "reg".into(),
                name: "registry".into(),
                registry_type: "acr".into(),
                region_id: "cn-hangzhou".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let repository = store
        .upsert_repository(
            registry,
            &NewRepository {
                uid: "repo".into(),
                namespace: "shop".into(),
                name: "acme".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let row = store
        .upsert_image(&NewImage {
            digest: digest.parse().unwrap(),
            config_digest: None,
            size_bytes: 0,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap();
    store
        .put_tag(
            repository,
            row,
            &NewTag {
                tag: "1.0".into(),
                ..Default::default()
            },
        )
        .unwrap();

    let stored = store.stored_inventory(&digest).unwrap().expect("saved");
    let before = implied_findings(python, &first, inventory);
    // npm (lodash 4.17.15, minimist 1.2.0) and Maven (log4j 1.2.17, SnakeYAML 1.33) records.
    assert!(before > 0);
    assert_eq!(stored.counts.total() as usize, before);
    assert!(!stored.vulndb_build.is_empty());
    assert_eq!(
        stored.inventory.packages.len(),
        inventory["packages"].as_array().unwrap().len()
    );

    // Rematching against the same build does nothing.
    let out = crowsnest(data.path(), &["db", "rematch"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("re-matched 0 stored inventories"), "{text}");

    // Registering the digest after the scan left its placement unscanned; a re-match after
    // the next import fills it.
    std::fs::remove_file(&image).unwrap();
    let rest = [zip("PyPI"), zip("Go")];
    let out = crowsnest(
        data.path(),
        &[
            "db",
            "import",
            rest[0].to_str().unwrap(),
            rest[1].to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("re-matched 1 stored inventories") && text.contains("1 with changed"),
        "{text}"
    );

    let after = store
        .stored_inventory(&digest)
        .unwrap()
        .expect("still stored");
    let all = [
        first[0].clone(),
        first[1].clone(),
        rest[0].clone(),
        rest[1].clone(),
    ];
    let expected = implied_findings(python, &all, inventory);
    assert!(expected > before, "PyPI and Go records add findings");
    assert_eq!(after.counts.total() as usize, expected);
    assert_ne!(after.vulndb_build, stored.vulndb_build);
    // Django 3.2 and Go 1.19.8 have critical and high records (CVSS 9.8 and 7.5 and up).
    assert!(
        after.counts.critical > 0 && after.counts.high > 0,
        "{:?}",
        after.counts
    );

    let (vul_count, level) = listed(&store, tenant);
    assert_eq!(vul_count as usize, expected);
    assert_eq!(level, "High");
}

/// The ids of a JSON report's CRITICAL findings, sorted.
fn critical_ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "CRITICAL")
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn scan_json(data: &Path, image: &Path, save: bool) -> Value {
    let mut args = vec![
        "scan",
        image.to_str().unwrap(),
        "--format",
        "json",
        "--no-progress",
    ];
    if save {
        args.push("--save");
    }
    serde_json::from_slice(&crowsnest(data, &args).stdout).unwrap()
}

/// A re-match that gives an image CRITICAL findings it did not have announces exactly those,
/// once, to a real HTTP receiver, signed like the task webhook; the criticals the image had
/// when it was scanned are not announced, and a second re-match announces nothing.
#[test]
fn new_critical_findings_after_an_import_are_announced_once() {
    use hmac::Mac;
    let data = tempfile::tempdir().unwrap();
    let image = data.path().join("acme-shop.oci.tar");
    std::fs::copy(fixture("images/acme-shop.oci.tar"), &image).unwrap();
    let zips = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| zip(n).to_str().unwrap().to_owned())
            .collect()
    };
    let mut args = vec!["db".to_owned(), "import".to_owned()];
    args.extend(zips(&["Maven"]));
    crowsnest(
        data.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let scanned = scan_json(data.path(), &image, true);
    let digest = scanned["inventory"]["source"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let had = critical_ids(&scanned);

    // A placement, so the event can name the image.
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "shop".into(),
            account_id: "acct-shop".into(),
        })
        .unwrap();
    let registry = store
        .upsert_registry(
            tenant,
            &NewRegistry {
                uid: "reg".into(),
                name: "registry".into(),
                registry_type: "harbor".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let repository = store
        .upsert_repository(
            registry,
            &NewRepository {
                uid: "repo".into(),
                namespace: "shop".into(),
                name: "acme".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let row = store
        .upsert_image(&NewImage {
            digest: digest.parse().unwrap(),
            config_digest: None,
            size_bytes: 0,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap();
    store
        .put_tag(
            repository,
            row,
            &NewTag {
                tag: "1.0".into(),
                ..Default::default()
            },
        )
        .unwrap();

    let hook = crowsnest_testkit::webhook::Receiver::start();
    let secret = "critical-secret";
    let mut args = vec!["db".to_owned(), "import".to_owned()];
    args.extend(zips(&["npm"]));
    args.extend(["--webhook-url".into(), hook.url().into()]);
    args.extend(["--webhook-secret".into(), secret.into()]);
    crowsnest(
        data.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    // What the image has now, from a scan that stores nothing.
    let now = critical_ids(&scan_json(data.path(), &image, false));
    let expected: Vec<String> = now.iter().filter(|id| !had.contains(id)).cloned().collect();
    assert!(
        !expected.is_empty(),
        "the npm records add a critical finding (minimist): had {had:?}, now {now:?}"
    );
    assert!(
        !had.is_empty(),
        "the Maven records give log4j 1.2 a critical finding"
    );

    let delivery = hook
        .next(std::time::Duration::from_secs(20))
        .expect("the new critical findings are announced");
    assert_eq!(delivery.method, "POST");
    assert_eq!(
        delivery.header("x-crowsnest-event"),
        Some("image.critical_findings")
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&delivery.body);
    assert_eq!(
        delivery.header("x-crowsnest-signature").unwrap(),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let event = delivery.json();
    assert_eq!(event["Event"], "image.critical_findings");
    assert_eq!(event["Digest"], digest.as_str());
    assert_eq!(event["Images"], serde_json::json!(["reg/shop/acme:1.0"]));
    assert_eq!(event["NewCriticalFindings"], serde_json::json!(expected));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(hook.drain().is_empty(), "one event for one image");

    // The same database again: nothing new, nothing announced.
    crowsnest(
        data.path(),
        &[
            "db",
            "rematch",
            "--webhook-url",
            hook.url(),
            "--webhook-secret",
            secret,
        ],
    );
    // The same records imported again make a new build, so everything is re-matched again;
    // still nothing new.
    crowsnest(
        data.path(),
        &[
            "db",
            "import",
            zip("npm").to_str().unwrap(),
            "--webhook-url",
            hook.url(),
        ],
    );
    assert!(
        hook.next(std::time::Duration::from_secs(2)).is_none(),
        "no event when no critical finding is new"
    );
}
