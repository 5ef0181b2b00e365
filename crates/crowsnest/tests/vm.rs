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
