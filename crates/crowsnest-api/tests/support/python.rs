//! The Python side of the tests: a virtualenv under `target/` (created once, reused while
//! `sdk-tests/requirements.txt` is unchanged) holding the pinned official SDKs and
//! openapi-spec-validator, and the scripts in `sdk-tests/` that run with it.

use std::path::{Path, PathBuf};
use std::process::Command;

const REQUIREMENTS: &str = include_str!("../../sdk-tests/requirements.txt");

pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests")
}

/// The virtualenv's python, creating the venv and installing the SDKs on first use. None when
/// python3 (or its venv module) is missing and the test should be skipped.
pub fn sdk_python() -> Option<PathBuf> {
    if !crowsnest_testkit::require_tool("python3") {
        return None;
    }
    let dir = crowsnest_testkit::cache_dir("sdk-venv");
    let python = dir.join("bin/python");
    let stamp = dir.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(REQUIREMENTS) {
        return Some(python);
    }
    let venv = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg("--clear")
        .arg(&dir)
        .status()
        .unwrap();
    if !venv.success() {
        if crowsnest_testkit::tools_required() {
            panic!("python3 -m venv failed; install python3-venv");
        }
        eprintln!("skipping: python3 -m venv failed (install python3-venv)");
        return None;
    }
    let pip = Command::new(dir.join("bin/pip"))
        .args(["install", "--disable-pip-version-check", "--quiet", "-r"])
        .arg(scripts_dir().join("requirements.txt"))
        .status()
        .unwrap();
    assert!(pip.success(), "pip install of the pinned SDKs failed");
    std::fs::write(&stamp, REQUIREMENTS).unwrap();
    Some(python)
}
