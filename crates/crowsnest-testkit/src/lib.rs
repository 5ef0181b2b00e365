//! Test support shared by every crate (a dev-dependency only).
//!
//! Fixtures come from `../shared/fixtures` beside the repository, through [`fixture`]. Tests that
//! need an external program (dpkg-query, skopeo, umoci, debootstrap, PostgreSQL) call
//! [`require_tool`]: on a developer machine without it the test is skipped with a message, and
//! under CI (`CROWSNEST_REQUIRE_TOOLS=1`, set by `.ci/run`) a missing tool fails the test, so a
//! green CI run never hides a skipped oracle.

pub mod disk;
pub mod registry;
pub mod token;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    // This crate lives at <root>/crates/crowsnest-testkit.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The shared fixtures directory, `<root>/../shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    let dir = repo_root().join("../shared/fixtures");
    assert!(
        dir.is_dir(),
        "fixtures not found at {}: the shared/ folder must sit beside the repository",
        dir.display()
    );
    dir
}

/// A path below the fixtures directory, e.g. `fixture("images/acme-shop.oci.tar")`.
pub fn fixture(relative: &str) -> PathBuf {
    let p = fixtures_dir().join(relative);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// A scratch directory under `target/` that survives between test runs, for expensive artefacts
/// (a debootstrapped root filesystem) that many tests share. Created on first use.
pub fn cache_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target/crowsnest-test-cache").join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// True when running under CI, where every external tool must be present.
pub fn tools_required() -> bool {
    std::env::var("CROWSNEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Checks that `program` is on the PATH. Returns false (after printing why) when the test should
/// be skipped; panics instead when [`tools_required`] says a skip would hide a failure.
pub fn require_tool(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    if tools_required() {
        panic!("{program} is required under CI (CROWSNEST_REQUIRE_TOOLS=1) but is not installed; .ci/run installs it");
    }
    eprintln!("skipping: {program} is not installed (run .ci/setup to install the test tools)");
    false
}

/// True when the process runs as root (some oracles, like debootstrap, need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A Debian 12 (bookworm) `minbase` root filesystem built with debootstrap from Debian's
/// mirror, cached under `target/` and shared by every test that needs a real Debian system.
/// Returns `None` (after printing why) when debootstrap is missing or the process is not root
/// and [`tools_required`] is off.
///
/// Built into a temporary sibling and renamed into place, so concurrent tests never see half a
/// root filesystem; a loser of that race just uses the winner's.
pub fn debian_rootfs() -> Option<PathBuf> {
    // Tests of one binary run as threads of one process: one builds, the others wait for it.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = cache_dir("debian").join("bookworm-minbase");
    if root.join("var/lib/dpkg/status").is_file() {
        return Some(root);
    }
    if !require_tool("debootstrap") {
        return None;
    }
    if !is_root() {
        if tools_required() {
            panic!("debootstrap needs root under CI");
        }
        eprintln!("skipping: debootstrap needs root");
        return None;
    }
    let mirror = std::env::var("CROWSNEST_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_owned());
    let tmp = cache_dir("debian").join(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&tmp)
        .arg(&mirror)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running debootstrap: {e}"));
    assert!(
        status.success(),
        "debootstrap failed ({status}); is {mirror} reachable?"
    );
    if std::fs::rename(&tmp, &root).is_err() {
        // Another test won the race; its root filesystem is complete.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Some(root)
}
