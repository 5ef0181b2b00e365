//! The web console end to end: a real `crowsnest serve` (with in-process scan workers) on a
//! data directory seeded with 10,000 synthetic images, plus a real registry (`docker-registry`)
//! whose acme-shop image was synced and scanned, against a vulnerability database imported from
//! the OSV fixtures. The Playwright script in `crates/crowsnest-console/e2e/` drives Debian's
//! headless Chromium through it: sign in, page and filter, open the scanned image (packages,
//! vulnerabilities with fixed versions, SBOM and SARIF downloads), scan an unscanned image
//! through a task and watch it finish live, visit every page, sign out, and check that a
//! second tenant sees nothing. Screenshots land in `target/console-screenshots/`. Any browser
//! console error, failed request or HTTP error fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::registry::{docker_archive, TestRegistry, PASSWORD, USER};

fn crowsnest(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env("CROWSNEST_REGISTRY_USERNAME", USER)
        .env("CROWSNEST_REGISTRY_PASSWORD", PASSWORD)
        .env_remove("CROWSNEST_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crowsnest {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `AccessKeyId:` and `AccessKeySecret:` of `crowsnest keys create`.
fn key(data_dir: &Path, tenant: &str) -> (String, String) {
    let out = crowsnest(
        data_dir,
        &["keys", "create", "--tenant", tenant, "--action", "*"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    (field("AccessKeyId:"), field("AccessKeySecret:"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `npm ci` in the e2e directory, skipped when its node_modules already match the lock file.
fn npm_ci(dir: &Path) {
    let lock = std::fs::read(dir.join("package-lock.json")).unwrap();
    let stamp = dir.join("node_modules/.crowsnest-lock");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "npm ci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(stamp, lock).unwrap();
}

#[test]
fn the_console_in_headless_chromium() {
    if !crowsnest_testkit::require_tool("chromium")
        || !crowsnest_testkit::require_tool("node")
        || !crowsnest_testkit::require_tool("npm")
    {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let acme = format!(
        "oci-archive:{}",
        crowsnest_testkit::fixture("images/acme-shop.oci.tar").display()
    );
    registry.push(&acme, "acme/shop:1.0", &[]);
    registry.push(
        &docker_archive("images/alpine-310.tar.gz"),
        "lib/alpine:3.10",
        &[],
    );

    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let zips: Vec<String> = ["PyPI", "npm", "Maven", "Go", "Alpine"]
        .iter()
        .map(|e| {
            crowsnest_testkit::fixture(&format!("osv/{e}/all.zip"))
                .display()
                .to_string()
        })
        .filter(|p| Path::new(p).is_file())
        .collect();
    let mut import = vec!["db", "import"];
    import.extend(zips.iter().map(String::as_str));
    crowsnest(dir, &import);
    // 10,000 synthetic images in tenant 1; the registry's images join them.
    let seeded = crowsnest(dir, &["dev", "seed", "--images", "10000"]);
    let seeded = String::from_utf8_lossy(&seeded.stdout).into_owned();
    let tenant = seeded
        .split("for tenants ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("tenant in {seeded}"))
        .to_owned();
    let url = format!("http://{}", registry.host());
    crowsnest(
        dir,
        &[
            "registry", "add", "--tenant", &tenant, "--name", "local", "--uid", "local", "--type",
            "harbor", "--url", &url,
        ],
    );
    crowsnest(dir, &["registry", "sync", "--tenant", &tenant, "local"]);
    // acme-shop is scanned before the browser arrives (below, once serve runs); alpine stays
    // unscanned for the browser to scan through a task.
    let store = crowsnest_store::Store::open_data_dir(dir).unwrap();
    let acme_row = store
        .placements(
            crowsnest_store::TenantId(tenant.parse().unwrap()),
            &crowsnest_store::PlacementQuery {
                filter: crowsnest_store::Filter::Eq(
                    crowsnest_store::Field::RepoName,
                    "shop".into(),
                ),
                order: crowsnest_store::PlacementOrder::Id,
                offset: 0,
                limit: 1,
            },
        )
        .unwrap();
    assert_eq!(acme_row.total, 1, "acme/shop synced");
    drop(store);
    let (key_id, key_secret) = key(dir, &tenant);
    let other = crowsnest(
        dir,
        &[
            "tenants",
            "create",
            "--name",
            "other",
            "--account-id",
            "other-1",
        ],
    );
    let other_tenant = String::from_utf8_lossy(&other.stdout).trim().to_owned();
    let (other_id, other_secret) = key(dir, &other_tenant);

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("serve.log");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args([
                "serve",
                "--listen",
                &listen,
                "--workers",
                "1",
                "--poll-secs",
                "0.2",
                "--registry-timeout-secs",
                "30",
            ])
            .env("CROWSNEST_DATA_DIR", dir)
            .env("CROWSNEST_LOG", "info")
            .env_remove("CROWSNEST_DATABASE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "serve did not listen: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The acme image is scanned through the API's path too: a task created by the store call
    // PublicCreateImageScanTask makes, run by serve's worker, before the browser looks at it.
    let store = crowsnest_store::Store::open_data_dir(dir).unwrap();
    let t = crowsnest_store::TenantId(tenant.parse().unwrap());
    let created = store
        .create_scan_task_with_jobs(
            t,
            &crowsnest_store::NewScanTask {
                task_uid: "pre-scan-acme".into(),
                selection: serde_json::json!({"RepoNames": ["shop"]}),
                total_count: 1,
                collect_ms: crowsnest_store::now_ms(),
            },
            &crowsnest_store::Filter::Eq(crowsnest_store::Field::RepoName, "shop".into()),
            10,
        )
        .unwrap();
    assert!(
        matches!(created, crowsnest_store::TaskCreation::Created { .. }),
        "{created:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let task = store.scan_task(t, "pre-scan-acme").unwrap().unwrap();
        if task.status == "SUCCESS" {
            break;
        }
        assert!(
            matches!(task.status.as_str(), "INIT" | "PROCESSING") && Instant::now() < deadline,
            "acme pre-scan: {task:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(store);

    let e2e: PathBuf = crowsnest_testkit::repo_root().join("crates/crowsnest-console/e2e");
    npm_ci(&e2e);
    let shots = crowsnest_testkit::repo_root().join("target/console-screenshots");
    let out = Command::new("node")
        .arg("console.e2e.js")
        .current_dir(&e2e)
        .env("CONSOLE_URL", format!("http://{listen}"))
        .env("KEY_ID", &key_id)
        .env("KEY_SECRET", &key_secret)
        .env("OTHER_KEY_ID", &other_id)
        .env("OTHER_KEY_SECRET", &other_secret)
        .env("SCANNED_IMAGE", "shop")
        .env("SCAN_IMAGE", "alpine")
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the console e2e script failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stdout.contains("console e2e: ok"));
    for name in [
        "01-sign-in",
        "02-overview",
        "05-image",
        "07-task-finished",
        "14-other-tenant",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "screenshot {name}"
        );
    }
    drop(server);
}
