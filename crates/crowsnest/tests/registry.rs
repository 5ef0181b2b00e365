//! The built binary against a real registry: `crowsnest scan REGISTRY/REPO:TAG` gives the same
//! report as scanning the archive, a wrong password exits 2 with `authentication_failed`, and
//! `registry add|list|sync --scan|rm` keep the store in step (a second sync fetches nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use crowsnest_testkit::registry::{TestRegistry, PASSWORD, USER};

fn crowsnest(data_dir: &Path, args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env("CROWSNEST_REGISTRY_USERNAME", USER)
        .env("CROWSNEST_REGISTRY_PASSWORD", password)
        .env_remove("CROWSNEST_DATABASE")
        .output()
        .unwrap()
}

fn packages(report: &[u8]) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(report).unwrap();
    json["inventory"]["packages"].clone()
}

#[test]
fn scan_and_sync_from_a_registry() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(
        &format!(
            "oci-archive:{}",
            crowsnest_testkit::fixture("images/acme-shop.oci.tar").display()
        ),
        "acme/shop:1.0",
        &[],
    );
    let data = tempfile::tempdir().unwrap();
    let archive = crowsnest_testkit::fixture("images/acme-shop.oci.tar");
    let started = Instant::now();
    let local = crowsnest(
        data.path(),
        &[
            "scan",
            archive.to_str().unwrap(),
            "--skip-db",
            "--format",
            "json",
        ],
        PASSWORD,
    );
    let local_time = started.elapsed();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let image = format!("{}/acme/shop:1.0", registry.host());
    let started = Instant::now();
    let remote = crowsnest(
        data.path(),
        &[
            "scan",
            &image,
            "--plain-http",
            "--skip-db",
            "--format",
            "json",
        ],
        PASSWORD,
    );
    let remote_time = started.elapsed();
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    eprintln!("crowsnest scan: archive {local_time:?}, registry {remote_time:?}");
    let found = packages(&remote.stdout);
    assert!(found.as_array().unwrap().len() > 10);
    assert_eq!(found, packages(&local.stdout));

    let refused = crowsnest(
        data.path(),
        &["scan", &image, "--plain-http", "--skip-db"],
        "wrong",
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(": authentication_failed:"), "{stderr}");
    let missing = crowsnest(
        data.path(),
        &[
            "scan",
            &format!("{}/acme/shop:nope", registry.host()),
            "--plain-http",
            "--skip-db",
        ],
        PASSWORD,
    );
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains(": get_detail_info_not_found:"), "{stderr}");

    // Registry records: the password is stored sealed, sync twice, scan, list, remove.
    let tenant = crowsnest(
        data.path(),
        &["tenants", "create", "--name", "t", "--account-id", "a1"],
        PASSWORD,
    );
    assert!(
        tenant.status.success(),
        "{}",
        String::from_utf8_lossy(&tenant.stderr)
    );
    let tenant = String::from_utf8_lossy(&tenant.stdout).trim().to_owned();
    let url = format!("http://{}", registry.host());
    let added = crowsnest(
        data.path(),
        &[
            "registry", "add", "--tenant", &tenant, "--name", "local", "--type", "harbor", "--url",
            &url,
        ],
        PASSWORD,
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let db = std::fs::read(data.path().join("crowsnest.db")).unwrap();
    assert!(
        !db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "the password is not stored in clear"
    );
    let started = Instant::now();
    let first = crowsnest(
        data.path(),
        &["registry", "sync", "--tenant", &tenant, "local", "--scan"],
        PASSWORD,
    );
    let sync_time = started.elapsed();
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    eprintln!("registry sync --scan ({sync_time:?}):\n{out}");
    assert!(
        out.contains("1 repositories, 1 tags (1 new or changed"),
        "{out}"
    );
    assert!(out.contains("scanned 1 images"), "{out}");
    let second = crowsnest(
        data.path(),
        &["registry", "sync", "--tenant", &tenant, "local", "--scan"],
        PASSWORD,
    );
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        out.contains("0 new or changed") && out.contains("0 manifests fetched"),
        "{out}"
    );
    assert!(out.contains("scanned 0 images"), "{out}");
    let listed = crowsnest(
        data.path(),
        &["registry", "list", "--tenant", &tenant, "--format", "json"],
        PASSWORD,
    );
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["uid"], "local");
    assert_eq!(list[0]["type"], "harbor");
    assert_eq!(list[0]["has_secret"], true);
    assert_eq!(list[0]["latest_sync_error"], "");
    let removed = crowsnest(
        data.path(),
        &["registry", "rm", "--tenant", &tenant, "local"],
        PASSWORD,
    );
    assert!(removed.status.success());
    let again = crowsnest(
        data.path(),
        &["registry", "rm", "--tenant", &tenant, "local"],
        PASSWORD,
    );
    assert_eq!(again.status.code(), Some(2));
}
