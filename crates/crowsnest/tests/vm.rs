#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end: `crowsnest vm import|scan|inspect` on a qcow2 built from the debootstrap root
//! (mke2fs -d, qemu-img convert -c), and on a truncated copy that must end CreateFailed. The
//! catalogue is read back with the store query ECS DescribeImages uses. `crowsnest serve
//! --vm-import-dir` imports the same disk through `POST /api/v1/vm-images` with the binary's
//! own importer (its scan checked against dpkg-query), and refuses a backing file outside the
//! import directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crowsnest_store::vm_images::VmImageQuery;
use crowsnest_store::{NewTenant, Store};
use crowsnest_testkit::disk;

fn crowsnest(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env_remove("CROWSNEST_DB")
        .env_remove("CROWSNEST_DATABASE")
        .output()
        .unwrap()
}

/// A compressed qcow2 of the debootstrap root as a bare ext4 disk, and its directory.
fn debian_qcow2(name: &str) -> Option<(PathBuf, PathBuf)> {
    if !disk::require_disk_tools() {
        return None;
    }
    let root = crowsnest_testkit::debian_rootfs()?;
    let dir = disk::scratch(name);
    let ext4 = dir.join("root.ext4");
    disk::mke2fs(&root, &ext4, 400);
    let qcow = dir.join("debian.qcow2");
    disk::qcow2_compressed(&ext4, &qcow);
    Some((dir, qcow))
}

fn query(status: &str) -> VmImageQuery {
    VmImageQuery {
        region_id: "cn-hangzhou".into(),
        statuses: vec![status.into()],
        limit: 10,
        ..VmImageQuery::default()
    }
}

#[test]
fn vm_import_records_an_available_image_and_a_truncated_one_as_create_failed() {
    let Some((dir, qcow)) = debian_qcow2("cli-vm-import") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "acme".into(),
            account_id: "1234567890".into(),
        })
        .unwrap();
    let tenant_arg = tenant.0.to_string();

    let out = crowsnest(
        data.path(),
        &[
            "vm",
            "import",
            qcow.to_str().unwrap(),
            "--name",
            "debian-12",
            "--tenant",
            &tenant_arg,
            "--image-id",
            "m-debian",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("m-debian: Creating") && stderr.contains("m-debian: 70%"),
        "{stderr}"
    );
    let page = store.vm_images(tenant, &query("Available")).unwrap();
    assert_eq!(page.total, 1);
    let row = &page.rows[0];
    assert_eq!(row.image_id, "m-debian");
    assert_eq!(row.owner_alias, "self");
    assert_eq!(row.os_name, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(row.platform, "Debian");
    assert_eq!(row.boot_mode, "BIOS");
    assert_eq!(row.progress, "100%");
    assert_eq!(row.detection_status, "Finished");
    // debootstrap's minbase has no kernel: no NVMe driver, a High risk with the seed's code.
    assert_eq!(row.nvme_support, "unsupported");
    let nvme = row.checks.iter().find(|c| c.name == "Nvme").unwrap();
    assert_eq!(
        (nvme.risk_level.as_str(), nvme.risk_code.as_str()),
        ("High", "NVMe.NotInstallded")
    );
    assert_eq!(row.disks[0].format, "qcow2");
    assert_eq!(row.disks[0].remain_time_s, 0);

    // Half a qcow2: the import fails, says why, and the catalogue keeps the reason.
    let bytes = std::fs::read(&qcow).unwrap();
    let truncated = dir.join("truncated.qcow2");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = crowsnest(
        data.path(),
        &[
            "vm",
            "import",
            truncated.to_str().unwrap(),
            "--name",
            "broken",
            "--tenant",
            &tenant_arg,
            "--image-id",
            "m-broken",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: invalid_image:") && stderr.contains("CreateFailed"),
        "{stderr}"
    );
    let row = &store
        .vm_images(tenant, &query("CreateFailed"))
        .unwrap()
        .rows[0];
    assert_eq!(row.image_id, "m-broken");
    let reason = row.checks.iter().find(|c| c.name == "ImageImport").unwrap();
    assert_eq!(reason.risk_code, "invalid_image");
    assert!(reason.value.contains("truncated"), "{}", reason.value);
}

#[test]
fn vm_scan_lists_the_debootstrap_packages() {
    let Some((_dir, qcow)) = debian_qcow2("cli-vm-scan") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let out = crowsnest(
        data.path(),
        &[
            "vm",
            "scan",
            qcow.to_str().unwrap(),
            "--skip-db",
            "-f",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inventory"]["source"]["kind"], "vm-disk");
    let packages = report["inventory"]["packages"].as_array().unwrap();
    assert!(
        packages.iter().any(|p| p["name"] == "dpkg"),
        "{} packages",
        packages.len()
    );

    let out = crowsnest(data.path(), &["vm", "inspect", qcow.to_str().unwrap()]);
    assert!(out.status.success());
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["os"]["id"], "debian");
    assert_eq!(found["partition_table"], "none");
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `crowsnest serve` on a free port over `data`, importing from `imports`; returns once it
/// listens.
fn serve(data: &Path, imports: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--vm-import-dir")
        .arg(imports)
        .env("CROWSNEST_DATA_DIR", data)
        .env_remove("CROWSNEST_DATABASE")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("crowsnest API on"), "{first}");
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (server, format!("http://127.0.0.1:{port}"))
}

/// POSTs an import of `path` and polls the image until its import has ended.
fn import_through_api(base: &str, token: &str, path: &str) -> serde_json::Value {
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(format!("{base}/api/v1/vm-images"))
        .header("x-auth-token", token)
        .json(&serde_json::json!({ "path": path, "name": path, "region_id": "cn-hangzhou" }))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let created: serde_json::Value = resp.json().unwrap();
    assert_eq!(created["Status"], "Creating", "{created}");
    let id = created["ImageId"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let image: serde_json::Value = client
            .get(format!("{base}/api/v1/vm-images/{id}"))
            .header("x-auth-token", token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if image["Status"] != "Creating" {
            return image;
        }
        assert!(std::time::Instant::now() < deadline, "{image}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn serve_imports_through_the_api_with_a_scan_and_keeps_backing_files_inside() {
    let Some((dir, qcow)) = debian_qcow2("cli-vm-serve") else {
        return;
    };
    if !crowsnest_testkit::require_tool("dpkg-query") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "acme".into(),
            account_id: "1234567890".into(),
        })
        .unwrap();
    let token =
        crowsnest_api::keys::create_token(&store, tenant, &["crowsnest:*"], 3_600_000).unwrap();
    // A qcow2 overlay whose backing file lies outside the import directory.
    let imports = dir.join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    std::fs::rename(&qcow, imports.join("debian.qcow2")).unwrap();
    let outside = dir.join("outside.qcow2");
    std::fs::copy(imports.join("debian.qcow2"), &outside).unwrap();
    disk::run(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&outside)
            .arg(imports.join("escape.qcow2")),
    );
    let (_server, base) = serve(data.path(), &imports);

    let image = import_through_api(&base, &token, "debian.qcow2");
    assert_eq!(image["Status"], "Available", "{image}");
    assert_eq!(image["OSName"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(image["Progress"], "100%");
    assert_eq!(image["RemainTime"], 0);
    // The scan's package count against dpkg-query over the same root filesystem.
    let root = crowsnest_testkit::debian_rootfs().unwrap();
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${db:Status-Status}\\n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let installed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == "installed")
        .count();
    assert_eq!(image["PackageCount"], installed, "{image}");

    let image = import_through_api(&base, &token, "escape.qcow2");
    assert_eq!(image["Status"], "CreateFailed", "{image}");
    assert_eq!(image["FailureCode"], "invalid_image");
    let reason = image["FailureReason"].as_str().unwrap();
    assert!(
        reason.contains("not inside the import directory"),
        "{reason}"
    );
}

fn python_with_packaging() -> Option<&'static str> {
    // Debian's python3 first: python3-packaging is what .ci/apt-packages.txt installs.
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import packaging.version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
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

/// How many findings (groups of records sharing an id) the records in `zips` imply for
/// `(name, version)` PyPI packages, by the vulnerability tests' independent oracle.
fn implied_pypi_findings(python: &str, zips: &[PathBuf], packages: &[(&str, &str)]) -> usize {
    use std::io::Write;
    let probes: Vec<serde_json::Value> = packages
        .iter()
        .map(|(name, version)| {
            serde_json::json!({ "ecosystem": "PyPI", "name": name, "version": version })
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crowsnest-vulndb/tests/oracle/osv_oracle.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&serde_json::json!({"zips": zips, "probes": probes})).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "oracle failed");
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .iter()
        .map(|a| {
            assert_eq!(a["status"], "ok", "{a}");
            a["groups"].as_array().map_or(0, Vec::len)
        })
        .sum()
}

/// Python distributions planted on the disk, each with records in the PyPI fixture.
const PLANTED_DISTS: [(&str, &str); 3] = [
    ("PyYAML", "5.3.1"),
    ("Jinja2", "2.11.2"),
    ("urllib3", "1.26.4"),
];

/// The debootstrap root as a compressed qcow2, with planted Python distributions (under
/// `/opt/app/site-packages`), an AWS key in `/opt/app/.env` and the EICAR test file in
/// `/tmp/eicar.com`, all written into the ext4 image with debugfs.
fn debian_qcow2_with_findings(dir: &Path) -> PathBuf {
    let root = crowsnest_testkit::debian_rootfs().unwrap();
    let ext4 = dir.join("root.ext4");
    disk::mke2fs(&root, &ext4, 400);
    let planted = dir.join("planted");
    std::fs::create_dir_all(&planted).unwrap();
    let mut requests = vec![
        "mkdir opt/app".to_owned(),
        "mkdir opt/app/site-packages".to_owned(),
    ];
    for (name, version) in PLANTED_DISTS {
        let file = planted.join(format!("{name}.METADATA"));
        std::fs::write(
            &file,
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        )
        .unwrap();
        let dist = format!("opt/app/site-packages/{name}-{version}.dist-info");
        requests.push(format!("mkdir {dist}"));
        requests.push(format!("write {} {dist}/METADATA", file.display()));
    }
    // Assembled here so that no file of the repository is itself a key or a test virus.
    let env = planted.join("env");
    std::fs::write(
        &env,
        format!("AWS_ACCESS_KEY_ID={}{}\n", "AKIA", "Q3T7ZK2MVX4RB6WN"),
    )
    .unwrap();
    requests.push(format!("write {} opt/app/.env", env.display()));
    let eicar = planted.join("eicar");
    std::fs::write(
        &eicar,
        [
            "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
            "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!",
            "$H+H*",
        ]
        .concat(),
    )
    .unwrap();
    requests.push(format!("write {} tmp/eicar.com", eicar.display()));
    disk::debugfs(&ext4, &requests);
    let qcow = dir.join("debian.qcow2");
    disk::qcow2_compressed(&ext4, &qcow);
    let _ = std::fs::remove_file(ext4);
    qcow
}

#[test]
fn vm_import_stores_findings_and_a_database_import_rematches_them() {
    if !disk::require_disk_tools() || crowsnest_testkit::debian_rootfs().is_none() {
        return;
    }
    let Some(python) = python_with_packaging() else {
        return;
    };
    let dir = disk::scratch("cli-vm-findings");
    let qcow = debian_qcow2_with_findings(&dir);
    let data = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "acme".into(),
            account_id: "1234567890".into(),
        })
        .unwrap();
    let zip = |eco: &str| crowsnest_testkit::fixture(&format!("osv/{eco}/all.zip"));
    let ok = |out: Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };

    // A database without PyPI records first: the import matches against it.
    ok(crowsnest(
        data.path(),
        &["db", "import", zip("npm").to_str().unwrap()],
    ));
    let out = ok(crowsnest(
        data.path(),
        &[
            "vm",
            "import",
            qcow.to_str().unwrap(),
            "--name",
            "debian-12",
            "--tenant",
            &tenant.0.to_string(),
            "--image-id",
            "m-debian",
        ],
    ));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = &printed["ScanSummary"];
    let npm_only = implied_pypi_findings(python, &[zip("npm")], &PLANTED_DISTS);
    assert_eq!(npm_only, 0);
    assert_eq!(summary["VulnerabilityCount"], npm_only, "{printed}");
    let first_build = summary["VulnDbBuild"].as_str().unwrap().to_owned();
    assert!(!first_build.is_empty(), "{printed}");

    // The inventory is stored under the image, with the planted distributions in it.
    let digest = crowsnest_store::vm_inventory_digest("m-debian");
    assert_eq!(summary["InventoryDigest"], digest.as_str());
    let stored = store.stored_inventory(&digest).unwrap().unwrap();
    assert_eq!(
        stored.inventory.packages.len() as u64,
        printed["PackageCount"]
    );
    for (name, version) in PLANTED_DISTS {
        assert!(
            stored
                .inventory
                .packages
                .iter()
                .any(|p| p.name == name && p.version == version),
            "{name} {version} not cataloged"
        );
    }
    // The risk analyzers ran over the same filesystem: the planted key and test virus are
    // found where they were written, and the catalogue shows their counts and level.
    let risks = store.stored_risks(&digest).unwrap().unwrap();
    assert_eq!(risks.scanners, crowsnest_model::RiskKind::ALL.to_vec());
    let at = |kind: crowsnest_model::RiskKind, path: &str| {
        risks
            .findings
            .iter()
            .any(|r| r.kind == kind && r.path.as_deref() == Some(path))
    };
    assert!(
        at(crowsnest_model::RiskKind::Secret, "/opt/app/.env"),
        "{:?}",
        risks.findings
    );
    assert!(
        at(crowsnest_model::RiskKind::Malware, "/tmp/eicar.com"),
        "{:?}",
        risks.findings
    );
    let scan = store.vm_image(tenant, "m-debian").unwrap().unwrap().scan;
    let scan = scan.unwrap();
    assert_eq!(scan.malicious_count, risks.summary.malicious_files as i64);
    assert_eq!(scan.alarm_count, risks.summary.alarms as i64);
    assert_eq!(scan.baseline_count, risks.summary.unsafe_settings as i64);
    assert!(scan.malicious_count >= 1 && scan.alarm_count >= 1);
    assert_eq!(scan.severity_level, "High");

    // The PyPI records arrive: the import's re-match reaches the VM image without the disk.
    std::fs::remove_file(&qcow).unwrap();
    ok(crowsnest(
        data.path(),
        &["db", "import", zip("PyPI").to_str().unwrap()],
    ));
    let expected = implied_pypi_findings(python, &[zip("npm"), zip("PyPI")], &PLANTED_DISTS);
    assert!(expected > 0, "the planted versions have PyPI records");
    let scan = store
        .vm_image(tenant, "m-debian")
        .unwrap()
        .unwrap()
        .scan
        .unwrap();
    assert_eq!(scan.vulns.total() as usize, expected);
    assert_ne!(scan.vulndb_build, first_build);

    // The native API shows the same counts, and the findings themselves.
    let token =
        crowsnest_api::keys::create_token(&store, tenant, &["crowsnest:*"], 3_600_000).unwrap();
    let imports = dir.join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    let (_server, base) = serve(data.path(), &imports);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> serde_json::Value {
        let resp = client
            .get(format!("{base}{path}"))
            .header("x-auth-token", &token)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.json().unwrap()
    };
    let image = get("/api/v1/vm-images/m-debian");
    assert_eq!(
        image["ScanSummary"]["VulnerabilityCount"], expected,
        "{image}"
    );
    assert_eq!(
        image["ScanSummary"]["VulnDbBuild"],
        scan.vulndb_build.as_str()
    );
    let found = get("/api/v1/vm-images/m-debian/findings");
    let vulns = found["Vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), expected, "{found}");
    assert!(vulns.iter().all(|v| PLANTED_DISTS
        .iter()
        .any(|(n, ver)| v["package_name"] == *n && v["installed_version"] == *ver)));
    assert_eq!(found["MaliciousCount"], scan.malicious_count);
    assert_eq!(found["SeverityLevel"], "High");
    let _ = std::fs::remove_dir_all(dir);
}

/// `vm scan` runs the risk analyzers `--scanners` selects, all of them by default, like
/// `crowsnest scan` and like `vm import` (which stores what they find).
#[test]
fn vm_scan_runs_the_risk_analyzers_scanners_selects() {
    if !disk::require_disk_tools() || crowsnest_testkit::debian_rootfs().is_none() {
        return;
    }
    let dir = disk::scratch("cli-vm-scan-risks");
    let qcow = debian_qcow2_with_findings(&dir);
    let data = tempfile::tempdir().unwrap();
    let scan = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["vm", "scan", qcow.to_str().unwrap(), "-f", "json"];
        args.extend_from_slice(extra);
        let out = crowsnest(data.path(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let at = |report: &serde_json::Value, kind: &str, path: &str| {
        report["risks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == kind && r["path"] == path)
    };

    // The default: every analyzer (vulnerability matching skipped here).
    let report = scan(&["--skip-db"]);
    assert_eq!(
        report["scanners"],
        serde_json::json!(["baseline", "secret", "malware"]),
        "{}",
        report["scanners"]
    );
    assert!(
        at(&report, "secret", "/opt/app/.env"),
        "{}",
        report["risks"]
    );
    assert!(
        at(&report, "malware", "/tmp/eicar.com"),
        "{}",
        report["risks"]
    );
    assert!(report["risks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "baseline"));
    assert!(
        report["summary"]["alarms"].as_u64().unwrap() >= 1,
        "{}",
        report["summary"]
    );

    // One analyzer only: the others' findings are absent.
    let report = scan(&["--scanners", "secret"]);
    assert_eq!(report["scanners"], serde_json::json!(["secret"]));
    let kinds: std::collections::BTreeSet<&str> = report["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["secret"].into_iter().collect());

    // Its flags: a secret allowlist glob silences the planted key.
    let report = scan(&["--scanners", "secret", "--secret-allow", "opt/app/**"]);
    assert!(
        !at(&report, "secret", "/opt/app/.env"),
        "{}",
        report["risks"]
    );

    // A scanner name it does not know is refused with the same code as `crowsnest scan`.
    let out = crowsnest(
        data.path(),
        &["vm", "scan", qcow.to_str().unwrap(), "--scanners", "virus"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: InvalidParameter"), "{stderr}");
}

/// The binary reads an XFS root too: `vm inspect` and `vm scan` on a GPT qcow2 whose root
/// partition mkfs.xfs populated from the debootstrap tree (no root privileges).
#[test]
fn vm_inspect_and_scan_read_an_xfs_root() {
    if !disk::require_disk_tools()
        || !crowsnest_testkit::require_tool("mkfs.xfs")
        || crowsnest_testkit::debian_rootfs().is_none()
    {
        return;
    }
    let root = crowsnest_testkit::debian_rootfs().unwrap();
    let dir = disk::scratch("cli-vm-xfs");
    let xfs = dir.join("root.xfs");
    let (body, _) = disk::xfs_protofile(&[&root]);
    disk::mkfs_xfs(&body, &xfs, 600, &[]);
    let raw = dir.join("gpt.raw");
    disk::partitioned(&xfs, disk::Table::GptWithEsp, &raw);
    let _ = std::fs::remove_file(&xfs);
    let qcow = dir.join("debian-xfs.qcow2");
    disk::qcow2(&raw, &qcow);
    let _ = std::fs::remove_file(&raw);
    let data = tempfile::tempdir().unwrap();

    let out = crowsnest(data.path(), &["vm", "inspect", qcow.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["os"]["id"], "debian");
    assert_eq!(found["root_partition"], 2);
    assert_eq!(found["boot_mode"], "UEFI");
    assert!(
        found["filesystems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["partition"] == 2 && f["kind"] == "xfs"),
        "{}",
        found["filesystems"]
    );

    let out = crowsnest(
        data.path(),
        &[
            "vm",
            "scan",
            qcow.to_str().unwrap(),
            "--skip-db",
            "-f",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = report["inventory"]["packages"].as_array().unwrap();
    assert!(
        packages.iter().any(|p| p["name"] == "dpkg"),
        "{} packages",
        packages.len()
    );
    assert_eq!(report["inventory"]["distro"]["id"], "debian");
}
