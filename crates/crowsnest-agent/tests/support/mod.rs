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
    child: Child,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    /// Starts containerd under `dir` and waits for its socket.
    pub fn start(dir: &Path) -> Containerd {
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

    /// Runs ctr and insists it succeeds.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.socket).args(args);
        run(&mut cmd)
    }
}

/// A private Podman store (vfs driver) under `dir`.
pub struct Podman {
    /// Its graph root (what the agent reads).
    pub root: PathBuf,
    runroot: PathBuf,
}

impl Podman {
    /// A new, empty store.
    pub fn new(dir: &Path) -> Podman {
        Podman {
            root: dir.join("storage"),
            runroot: dir.join("run"),
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
                "vfs",
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
