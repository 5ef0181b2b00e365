//! The risk analyzers inside the engine: every planted risk of the shared fixture image found
//! with its file, check id and layer; the clean Debian base layer alone producing no secret and
//! no malware finding; a secret deleted by a later layer still found in the layer that shipped
//! it; and the baseline checks on root directories built here.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crowsnest_model::{RiskFinding, RiskKind, ScanReport, ScannerKind, SeverityLevel};
use crowsnest_risk::{RiskAnalyzers, RiskOptions};
use crowsnest_scan::{ScanOutput, Scanner};
use crowsnest_testkit::fixture;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

fn all_analyzers() -> Scanner {
    Scanner::default().with_risk(RiskAnalyzers::new(&RiskOptions::all()).unwrap())
}

fn scan(reference: &str) -> ScanOutput {
    all_analyzers()
        .scan_image_full(reference, &mut |_| {})
        .unwrap_or_else(|e| panic!("{reference}: {e}"))
}

fn find<'a>(risks: &'a [RiskFinding], id: &str, path: Option<&str>) -> &'a RiskFinding {
    risks
        .iter()
        .find(|r| r.id == id && r.path.as_deref() == path)
        .unwrap_or_else(|| panic!("no {id} at {path:?} in {risks:#?}"))
}

#[test]
fn every_planted_risk_of_the_fixture_is_found_where_it_was_planted() {
    let image = fixture("images/acme-shop.oci.tar");
    let out = scan(&image.display().to_string());
    let risks = &out.risks;
    let layer3 = out.inventory.layers[2].diff_id.clone();

    // Malware: the webshell and EICAR (by rule and by hash), both from layer 3.
    for (id, path) in [
        ("php_webshell_exec_request", "/var/www/html/shell.php"),
        ("eicar_test_file", "/tmp/eicar.com"),
        ("sha256-blocklist", "/tmp/eicar.com"),
    ] {
        let r = find(risks, id, Some(path));
        assert_eq!(r.kind, RiskKind::Malware);
        assert_eq!(r.layer.as_ref(), Some(&layer3), "{id}");
    }
    // Secrets: the private key and both AWS values, with lines, redacted.
    let key = find(risks, "private-key", Some("/root/.ssh/id_rsa"));
    assert_eq!(key.line, Some(1), "a key is reported at its header line");
    let id = find(risks, "aws-access-key-id", Some("/srv/web/.env"));
    let secret = find(risks, "aws-secret-access-key", Some("/srv/web/.env"));
    assert_eq!((id.line, secret.line), (Some(1), Some(2)));
    for r in [key, id, secret] {
        assert_eq!(r.kind, RiskKind::Secret);
        assert_eq!(r.layer.as_ref(), Some(&layer3));
    }
    // Baseline: config settings and the planted files.
    let root = find(risks, "CN-BL-001", None);
    assert!(root.detail.as_deref().unwrap().contains("USER is not set"));
    find(risks, "CN-BL-002", None);
    let env = find(risks, "CN-BL-003", None);
    assert!(env.detail.as_deref().unwrap().contains("DB_PASSWORD"));
    let suid = find(risks, "CN-BL-006", Some("/usr/local/bin/suid-helper"));
    assert!(suid.detail.as_deref().unwrap().starts_with("setuid root"));
    assert_eq!(suid.layer.as_ref(), Some(&layer3));
    let empty = find(risks, "CN-BL-009", Some("/etc/shadow"));
    assert!(empty.detail.as_deref().unwrap().contains("backdoor"));
    let uid0 = find(risks, "CN-BL-010", Some("/etc/passwd"));
    assert!(uid0.detail.as_deref().unwrap().contains("backdoor"));
    assert_eq!(empty.layer.as_ref(), Some(&layer3));
    // Debian's own setuid programs are one low finding, not one each.
    assert_eq!(risks.iter().filter(|r| r.id == "CN-BL-007").count(), 1);

    // Nothing but the planted files raises a secret or malware finding: layers 1 and 2 (Debian,
    // Python, npm, Java and Go packages) are clean.
    for r in risks.iter().filter(|r| r.kind != RiskKind::Baseline) {
        assert_eq!(r.layer.as_ref(), Some(&layer3), "unexpected finding {r:#?}");
    }
    let secrets: Vec<_> = risks
        .iter()
        .filter(|r| r.kind == RiskKind::Secret)
        .collect();
    assert_eq!(secrets.len(), 3, "{secrets:#?}");

    // No report shows a secret or the ENV password in full.
    let report = ScanReport::new(
        out.inventory.clone(),
        vec![],
        None,
        ScannerKind::ALL[1..].to_vec(),
        out.risks.clone(),
    );
    let risks_json = serde_json::to_string(&report.risks).unwrap();
    let config = out.inventory.config.as_ref().unwrap();
    let password = config
        .env
        .iter()
        .find_map(|e| e.strip_prefix("DB_PASSWORD="))
        .unwrap();
    assert!(!risks_json.contains(password));
    let env_file = extract_from_layer3("srv/web/.env");
    for line in String::from_utf8(env_file).unwrap().lines() {
        let value = line.split_once('=').unwrap().1;
        assert!(!risks_json.contains(value), "{value} leaked");
    }

    assert_eq!(report.summary.malicious_files, 2);
    assert_eq!(report.summary.secrets, 3);
    assert_eq!(report.summary.alarms, 5);
    assert_eq!(
        report.summary.unsafe_settings,
        risks
            .iter()
            .filter(|r| r.kind == RiskKind::Baseline)
            .count() as u64
    );
    assert_eq!(report.summary.severity_level, SeverityLevel::High);
}

/// One file of the fixture's third layer, read with the tar and flate2 crates directly.
fn extract_from_layer3(path: &str) -> Vec<u8> {
    use std::io::Read;
    let layout = unpack_fixture();
    let manifest = manifest(layout.path());
    let digest = manifest["layers"][2]["digest"].as_str().unwrap();
    let blob = std::fs::File::open(blob_path(layout.path(), digest)).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(path) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            return data;
        }
    }
    panic!("{path} is not in layer 3");
}

fn unpack_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(fixture("images/acme-shop.oci.tar")).unwrap();
    tar::Archive::new(file).unpack(dir.path()).unwrap();
    dir
}

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn manifest(layout: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    serde_json::from_slice(&std::fs::read(blob_path(layout, digest)).unwrap()).unwrap()
}

/// Writes `bytes` as a blob and returns its descriptor.
fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let hex = hex::encode(Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len() })
}

/// Points the layout's index at a new image made of `layers` (descriptors) and `diff_ids`.
fn write_image(layout: &Path, layers: Vec<Value>, diff_ids: Vec<String>) {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "User": "app", "Healthcheck": { "Test": ["CMD", "true"] } },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config = put_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    });
    let manifest = put_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let index = json!({ "schemaVersion": 2, "manifests": [manifest] });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn the_clean_debian_base_layer_alone_has_no_secret_and_no_malware() {
    let layout = unpack_fixture();
    let original = manifest(layout.path());
    let config: Value = serde_json::from_slice(
        &std::fs::read(blob_path(
            layout.path(),
            original["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    write_image(
        layout.path(),
        vec![original["layers"][0].clone()],
        vec![config["rootfs"]["diff_ids"][0].as_str().unwrap().to_owned()],
    );
    let out = scan(&layout.path().display().to_string());
    assert_eq!(out.inventory.layers.len(), 1);
    assert!(out.inventory.packages.len() > 80, "the base layer was read");
    let noise: Vec<_> = out
        .risks
        .iter()
        .filter(|r| r.kind != RiskKind::Baseline)
        .collect();
    assert!(noise.is_empty(), "false positives: {noise:#?}");
    // Its baseline: Debian's setuid programs, and nothing about accounts or files.
    let ids: Vec<&str> = out.risks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["CN-BL-007"], "{:#?}", out.risks);
}

/// An uncompressed layer tar holding `files` (path, mode, content).
fn layer_tar(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        // Real tar writers always fill the numeric fields; the reader refuses empty ones.
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn a_secret_deleted_by_a_later_layer_is_still_found_in_the_layer_that_ships_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path();
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    // A GitHub personal access token is ghp_ and 36 characters.
    let token = format!("{}{}", "ghp_", "Zr8Kq2Lm5Vn1Wx7Ty4Pb9Hc3Jd6Gf0Sa2Qe8");
    let creds = format!("https://ci:{token}@github.com\n");
    let layer1 = layer_tar(&[("root/.git-credentials", 0o600, creds.as_bytes())]);
    let layer2 = layer_tar(&[("root/.wh..git-credentials", 0o644, b"")]);
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in [&layer1, &layer2] {
        let d = put_blob(layout, "application/vnd.oci.image.layer.v1.tar", layer);
        diff_ids.push(d["digest"].as_str().unwrap().to_owned());
        descriptors.push(d);
    }
    write_image(layout, descriptors, diff_ids.clone());

    let out = scan(&layout.display().to_string());
    let r = find(&out.risks, "github-token", Some("/root/.git-credentials"));
    assert_eq!(
        r.layer.as_ref().map(|d| d.to_string()),
        Some(diff_ids[0].clone())
    );
    assert_eq!(r.line, Some(1));
    assert!(!r.excerpt.as_deref().unwrap().contains(&token));
    // ... while the merged view no longer has the file.
    assert!(!out
        .inventory
        .packages
        .iter()
        .any(|p| p.location.contains("git-credentials")));

    // Without the secret analyzer, nothing.
    let quiet = Scanner::default()
        .scan_image_full(&layout.display().to_string(), &mut |_| {})
        .unwrap();
    assert!(quiet.risks.is_empty());
}

fn write(root: &Path, path: &str, mode: u32, data: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn baseline_ids(root: &Path) -> Vec<(String, Option<String>, Option<u32>)> {
    let scanner = Scanner::default().with_risk(
        RiskAnalyzers::new(&RiskOptions {
            kinds: [RiskKind::Baseline].into_iter().collect(),
            ..RiskOptions::default()
        })
        .unwrap(),
    );
    let mut ids: Vec<_> = scanner
        .scan_rootfs_full(root)
        .unwrap()
        .risks
        .into_iter()
        .map(|r| (r.id, r.path, r.line))
        .collect();
    ids.sort();
    ids
}

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";
const SHADOW: &str = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";

#[test]
fn baseline_file_checks_on_a_root_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Positives, one per check.
    write(
        root,
        "etc/passwd",
        0o644,
        &format!("{PASSWD}ops::0:0::/root:/bin/sh\n"),
    );
    write(
        root,
        "etc/shadow",
        0o640,
        &format!("{SHADOW}guest::19000::::::\n"),
    );
    write(root, "usr/sbin/sshd", 0o755, "");
    write(
        root,
        "etc/ssh/sshd_config",
        0o644,
        "#PermitRootLogin prohibit-password\nPermitRootLogin yes\n",
    );
    write(root, "etc/app.conf", 0o666, "x=1\n");
    write(
        root,
        "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
        0o644,
        "x",
    );
    write(root, "var/lib/apt/lists/lock", 0o640, "");
    write(root, "opt/tool/helper", 0o4755, "");
    write(root, "usr/bin/passwd", 0o4755, "");
    let found = baseline_ids(root);
    let expected: Vec<(String, Option<String>, Option<u32>)> = vec![
        ("CN-BL-006".into(), Some("/opt/tool/helper".into()), None),
        ("CN-BL-007".into(), None, None),
        ("CN-BL-008".into(), Some("/etc/app.conf".into()), None),
        ("CN-BL-009".into(), Some("/etc/passwd".into()), Some(3)),
        ("CN-BL-009".into(), Some("/etc/shadow".into()), Some(3)),
        ("CN-BL-010".into(), Some("/etc/passwd".into()), Some(3)),
        ("CN-BL-011".into(), Some("/usr/sbin/sshd".into()), None),
        (
            "CN-BL-012".into(),
            Some("/etc/ssh/sshd_config".into()),
            Some(2),
        ),
        ("CN-BL-013".into(), Some("/var/lib/apt/lists".into()), None),
    ];
    assert_eq!(found, expected);
}

#[test]
fn baseline_file_checks_stay_quiet_on_a_clean_root_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "etc/passwd", 0o644, PASSWD);
    write(root, "etc/shadow", 0o640, SHADOW);
    write(root, "etc/ssh/ssh_config", 0o644, "PermitRootLogin yes\n");
    write(root, "etc/app.conf", 0o644, "x=1\n");
    write(root, "var/lib/apt/lists/lock", 0o640, "");
    write(root, "tmp/scratch", 0o666, "");
    write(root, "usr/local/bin/tool", 0o755, "");
    std::fs::create_dir_all(root.join("var/lib/apt/lists/partial")).unwrap();
    assert_eq!(baseline_ids(root), vec![]);
}
