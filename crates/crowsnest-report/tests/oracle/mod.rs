//! Python validators as test oracles: a virtualenv under the test cache with pinned PyPI
//! packages, created on first use, and a way to run a script or a console tool from it.
//!
//! Several test binaries (and threads) may ask for the same environment at once, so creation is
//! serialised with a lock directory (`mkdir` is atomic) and finished environments are marked
//! with a file naming exactly the packages installed, so a changed pin reinstalls.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

/// A lock older than this was left by a killed run and is taken over.
const STALE_LOCK: Duration = Duration::from_secs(15 * 60);

/// A ready virtualenv.
pub struct PythonEnv {
    root: PathBuf,
}

impl PythonEnv {
    /// The virtualenv named `name` under `crowsnest_testkit::cache_dir`, with `packages`
    /// (pip requirement strings, pinned) installed. `None` when python3 is missing and the
    /// test may be skipped (under CI, `require_tool` panics instead).
    pub fn with_packages(name: &str, packages: &[&str]) -> Option<PythonEnv> {
        if !crowsnest_testkit::require_tool("python3") {
            return None;
        }
        let base = crowsnest_testkit::cache_dir(name);
        let root = base.join("venv");
        let marker = root.join(format!("crowsnest-installed-{}", marker_name(packages)));
        if marker.exists() {
            return Some(PythonEnv { root });
        }
        let lock = base.join("lock");
        let _guard = LockDir::acquire(&lock);
        if !marker.exists() {
            if !root.join("bin/python").exists() {
                run_ok(Command::new("python3").arg("-m").arg("venv").arg(&root));
                run_ok(Command::new(root.join("bin/python")).args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--upgrade",
                    "pip",
                ]));
            }
            run_ok(
                Command::new(root.join("bin/python"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .args(packages),
            );
            std::fs::write(&marker, packages.join("\n")).expect("writing the venv marker");
        }
        Some(PythonEnv { root })
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        self.root.join("bin/python")
    }

    /// A console script installed in the venv, e.g. `pyspdxtools`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }

    /// The venv's site-packages directory (to find data files packages ship).
    pub fn site_packages(&self) -> PathBuf {
        let lib = self.root.join("lib");
        std::fs::read_dir(&lib)
            .expect("reading the venv's lib dir")
            .filter_map(Result::ok)
            .map(|e| e.path().join("site-packages"))
            .find(|p| p.is_dir())
            .expect("the venv has no site-packages")
    }

    /// Runs `script` with the venv's interpreter (`python -c script args...`).
    pub fn run_script<I, S>(&self, script: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(self.python())
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("running the venv's python")
    }
}

/// Panics with the command's output when it fails.
fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn marker_name(packages: &[&str]) -> String {
    // FNV-1a: only needs to differ when the pins differ, and std has no stable hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in packages.join("\n").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Holds a lock directory until dropped.
struct LockDir(PathBuf);

impl LockDir {
    fn acquire(path: &Path) -> LockDir {
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return LockDir(path.to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        let _ = std::fs::remove_dir(path);
                    } else {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                Err(e) => panic!("creating lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for LockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
