//! Real container stores for the agent's tests: a private containerd (its own root, state
//! and socket under a temporary directory) and a private Podman store (vfs driver), each
//! filled from the fixture images with the runtime's own import command.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crowsnest_testkit::{fixture, is_root, require_tool, tools_required};

/// The package set of an inventory: (ecosystem, name, version), sorted.
pub fn package_set(inv: &crowsnest_model::Inventory) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = inv
        .packages
        .iter()
        .map(|p| {
            (
                p.ecosystem.purl_type().to_owned(),
                p.name.clone(),
                p.version.clone(),
            )
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether this process may start container runtimes (they need root); skips otherwise,
/// or fails under CI where a skip would hide a failure.
pub fn can_run_runtimes(tools: &[&str]) -> bool {
    if !tools.iter().all(|t| require_tool(t)) {
        return false;
    }
    if !is_root() {
        if tools_required() {
            panic!("container runtime tests need root under CI");
        }
        eprintln!("skipping: container runtimes need root");
        return false;
    }
    true
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gunzipped Alpine 3.10 `docker save` archive (ctr and podman read plain tars).
pub fn alpine_tar(dir: &Path) -> PathBuf {
    let path = dir.join("alpine-310.tar");
    let mut gz = flate2::read::GzDecoder::new(
        std::fs::File::open(fixture("images/alpine-310.tar.gz")).unwrap(),
    );
    let mut out = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut gz, &mut out).unwrap();
    path
}

/// A containerd started by the test; killed (by its pid) when dropped.
pub struct Containerd {
    /// Its root directory (what the agent reads).
    pub root: PathBuf,
    /// Its socket.
    pub socket: PathBuf,
    /// Its state directory (task bundles).
    pub state: PathBuf,
    child: Child,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks a test started outlive containerd (their shims are separate processes):
        // kill and delete them first, through containerd itself.
        let (_, tasks) = self.ctr(&["tasks", "ls", "-q"]);
        for id in tasks.lines().filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            let _ = self.wait_task_gone_or_stopped(id);
            let _ = self.ctr(&["tasks", "delete", "--force", id]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    /// Starts containerd under `dir` and waits for its socket.
    pub fn start(dir: &Path) -> Containerd {
        std::fs::create_dir_all(dir).unwrap();
        let root = dir.join("root");
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\n[grpc]\n  address = {:?}\n\
                 [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_apparmor = true\n",
                root,
                dir.join("state"),
                socket
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let c = Containerd {
            root,
            socket,
            state: dir.join("state"),
            child,
        };
        while !c.ctr(&["version"]).0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "containerd did not start: {}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    /// Runs `ctr --address SOCKET args…`: (success, stdout).
    pub fn ctr(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The STATUS column of `ctr tasks ls` for task `id`, if it is listed.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let (_, tasks) = self.ctr(&["tasks", "ls"]);
        tasks
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_owned)
    }

    /// Waits (up to 30 s) until task `id` has `status`.
    pub fn wait_task_status(&self, id: &str, status: &str) {
        let started = Instant::now();
        while self.task_status(id).as_deref() != Some(status) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "task {id} never reached {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_task_gone_or_stopped(&self, id: &str) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            match self.task_status(id).as_deref() {
                None | Some("STOPPED") => return true,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        false
    }

    /// Runs ctr and insists it succeeds.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.socket).args(args);
        run(&mut cmd)
    }
}

/// A private Podman store (vfs driver unless asked otherwise) under `dir`.
pub struct Podman {
    /// Its graph root (what the agent reads).
    pub root: PathBuf,
    runroot: PathBuf,
    driver: &'static str,
}

impl Podman {
    /// A new, empty store (vfs driver).
    pub fn new(dir: &Path) -> Podman {
        Podman::with_driver(dir, "vfs")
    }

    /// A new, empty store with the storage driver `driver`.
    pub fn with_driver(dir: &Path, driver: &'static str) -> Podman {
        Podman {
            root: dir.join("storage"),
            runroot: dir.join("run"),
            driver,
        }
    }

    /// Runs `podman` on this store and insists it succeeds.
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args([
                "--storage-driver",
                self.driver,
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args);
        run(&mut cmd)
    }

    /// A store holding acme-shop (loaded from its oci-archive) and one container of it.
    pub fn with_acme_shop(dir: &Path) -> Podman {
        let p = Podman::new(dir);
        p.run(&[
            "load",
            "-i",
            fixture("images/acme-shop.oci.tar").to_str().unwrap(),
        ]);
        p.run(&["create", "--name", "web", "localhost/acme-shop:latest"]);
        p
    }
}

/// A `docker save` archive of a two-layer image whose second layer makes a directory opaque
/// (`.wh..wh..opq`) and deletes a file (`.wh.NAME`): layer 1 installs Python distributions
/// `alpha 1.0` and `beta 2.0` under `site-packages` and `gamma 3.0` in `dist-packages`;
/// layer 2 empties `site-packages`, adds `delta 4.0` there, and deletes `gamma`'s
/// METADATA.
pub fn whiteout_image_tar(dir: &Path) -> PathBuf {
    use sha2::Digest as _;
    fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            if path.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
            } else {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
            }
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }
    let meta = |name: &str, version: &str| {
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes()
    };
    let site = "usr/lib/python3/site-packages/";
    let dist = "usr/lib/python3/dist-packages/";
    let (a, b, g, d) = (
        meta("alpha", "1.0"),
        meta("beta", "2.0"),
        meta("gamma", "3.0"),
        meta("delta", "4.0"),
    );
    let l1 = layer(&[
        ("usr/", b""),
        ("usr/lib/", b""),
        ("usr/lib/python3/", b""),
        (site, b""),
        (&format!("{site}alpha-1.0.dist-info/"), b""),
        (&format!("{site}alpha-1.0.dist-info/METADATA"), &a),
        (&format!("{site}beta-2.0.dist-info/"), b""),
        (&format!("{site}beta-2.0.dist-info/METADATA"), &b),
        (dist, b""),
        (&format!("{dist}gamma-3.0.dist-info/"), b""),
        (&format!("{dist}gamma-3.0.dist-info/METADATA"), &g),
    ]);
    let l2 = layer(&[
        (site, b""),
        (&format!("{site}.wh..wh..opq"), b""),
        (&format!("{site}delta-4.0.dist-info/"), b""),
        (&format!("{site}delta-4.0.dist-info/METADATA"), &d),
        (&format!("{dist}gamma-3.0.dist-info/.wh.METADATA"), b""),
    ]);
    let hex = |bytes: &[u8]| format!("{:x}", sha2::Sha256::digest(bytes));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}","sha256:{}"]}}}}"#,
        hex(&l1),
        hex(&l2)
    );
    let config_name = format!("{}.json", hex(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["localhost/whiteouts:1"],"Layers":["l1/layer.tar","l2/layer.tar"]}}]"#
    );
    let out = layer(&[
        ("manifest.json", manifest.as_bytes()),
        (&config_name, config.as_bytes()),
        ("l1/", b""),
        ("l1/layer.tar", &l1),
        ("l2/", b""),
        ("l2/layer.tar", &l2),
    ]);
    let path = dir.join("whiteouts.tar");
    std::fs::write(&path, out).unwrap();
    path
}
