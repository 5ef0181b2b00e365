//! language/rust against cargo: this repository's own `Cargo.lock` and a small project
//! locked here with a path dependency and a git dependency (from a local repository), each
//! compared with `cargo metadata --locked --offline`; and executables carrying a
//! cargo-auditable `.dep-v0` section, added to a real ELF with `objcopy` following the
//! format's published JSON schema, compared with the JSON that went in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lang_support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_catalog::language::rust::RustCataloger;
use crowsnest_catalog::CatalogError;
use crowsnest_model::Ecosystem;
use lang_support::{assert_same, cached_dir, catalog_bytes, catalog_file, run_ok};
use serde_json::{json, Value};

type Set = BTreeSet<(String, String)>;

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `(name, version)` of every package `cargo metadata` resolves that has a source: the
/// workspace members and path dependencies (source `null`) are the project itself.
fn cargo_metadata(manifest: &Path) -> (Set, usize) {
    let out = run_ok(
        cargo()
            .args(["metadata", "--format-version", "1", "--locked", "--offline"])
            .arg("--manifest-path")
            .arg(manifest),
    );
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let local = packages.iter().filter(|p| p["source"].is_null()).count();
    let set = packages
        .iter()
        .filter(|p| !p["source"].is_null())
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (set, local)
}

fn catalog_lock(lock: &Path) -> Set {
    let pkgs = catalog_file(&RustCataloger, "src/app/Cargo.lock", lock)
        .expect("Cargo.lock is wanted")
        .unwrap();
    let set: Set = pkgs
        .iter()
        .map(|p| {
            assert_eq!(p.ecosystem, Ecosystem::Cargo);
            assert_eq!(p.location, "/src/app/Cargo.lock");
            (p.name.clone(), p.version.clone())
        })
        .collect();
    assert_eq!(set.len(), pkgs.len(), "duplicates");
    set
}

#[test]
fn own_cargo_lock_matches_cargo_metadata() {
    let root = crowsnest_testkit::repo_root();
    // cargo metadata reads the manifest of every locked package, for every platform; a
    // build only downloads this platform's.
    run_ok(
        cargo()
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(root.join("Cargo.toml")),
    );
    let (expected, members) = cargo_metadata(&root.join("Cargo.toml"));
    assert!(
        members >= 5 && expected.len() > 100,
        "{members} {expected:?}"
    );
    let got = catalog_lock(&root.join("Cargo.lock"));
    assert!(!got.iter().any(|(n, _)| n.starts_with("crowsnest")));
    assert_same(&got, &expected);
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
    cmd
}

/// A workspace (`app` and member `tool`) depending on a path crate, a crate in a local git
/// repository, and a crates.io crate at the version this repository locks.
fn build_project(root: &Path) {
    let gitdep = root.join("gitdep");
    fs::create_dir_all(gitdep.join("src")).unwrap();
    fs::write(
        gitdep.join("Cargo.toml"),
        "[package]\nname = \"gitdep\"\nversion = \"0.3.1\"\nedition = \"2021\"\n",
    )
    .unwrap();
    fs::write(gitdep.join("src/lib.rs"), "").unwrap();
    run_ok(git(&gitdep).args(["init", "-q"]));
    run_ok(git(&gitdep).args(["add", "."]));
    run_ok(git(&gitdep).args(["commit", "-q", "-m", "init"]));

    let own_lock = fs::read_to_string(crowsnest_testkit::repo_root().join("Cargo.lock")).unwrap();
    let memchr = own_lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"memchr\""))
        .and_then(|p| p.split("version = \"").nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();

    let app = root.join("app");
    for (dir, toml) in [
        (
            app.clone(),
            format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [workspace]\nmembers = [\"tool\"]\n\n\
                 [dependencies]\nmemchr = \"={memchr}\"\npathdep = {{ path = \"../pathdep\" }}\n\
                 gitdep = {{ git = \"file://{}\" }}\n",
                gitdep.display()
            ),
        ),
        (
            app.join("tool"),
            "[package]\nname = \"tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_owned(),
        ),
        (
            root.join("pathdep"),
            "[package]\nname = \"pathdep\"\nversion = \"1.0.0\"\nedition = \"2021\"\n".to_owned(),
        ),
    ] {
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("Cargo.toml"), toml).unwrap();
        fs::write(dir.join("src/lib.rs"), "").unwrap();
    }
    run_ok(
        cargo()
            .args(["generate-lockfile", "--manifest-path"])
            .arg(app.join("Cargo.toml"))
            .env("CARGO_NET_GIT_FETCH_WITH_CLI", "false"),
        // Not --offline: cargo fetches even a file:// git source only when online.
    );
}

#[test]
fn project_with_git_and_path_dependencies_matches_cargo_metadata() {
    if !crowsnest_testkit::require_tool("git") {
        return;
    }
    // The lock file names the absolute path of the git repository, so the project is built
    // where it stays rather than renamed into the cache afterwards.
    let root = cached_dir("cargo-project-1", |_| {});
    let app = root.join("app");
    if !app.join("Cargo.lock").exists() {
        for d in ["app", "gitdep", "pathdep"] {
            let _ = fs::remove_dir_all(root.join(d));
        }
        build_project(&root);
    }
    let lock = fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(lock.contains("source = \"git+file://"), "{lock}");
    let (expected, members) = cargo_metadata(&app.join("Cargo.toml"));
    assert_eq!(members, 3, "app, tool and pathdep");
    assert!(expected.contains(&("gitdep".into(), "0.3.1".into())));
    assert_same(&catalog_lock(&app.join("Cargo.lock")), &expected);
}

/// A `.dep-v0` payload in the documented shape: a local root, crates.io runtime and build
/// dependencies, a git and an alternative-registry dependency, a local path dependency.
fn dep_list(root_source: &str) -> Value {
    json!({"format": 1, "packages": [
        {"name": "app", "version": "0.1.0", "source": root_source, "root": true,
         "dependencies": [1, 2, 3, 4, 5, 6]},
        {"name": "serde", "version": "1.0.200", "source": "crates.io", "dependencies": [2]},
        {"name": "serde_derive", "version": "1.0.200", "source": "crates.io", "kind": "build"},
        {"name": "mylib", "version": "0.2.0", "source": "git"},
        {"name": "helper", "version": "0.1.0", "source": "local"},
        {"name": "internal", "version": "3.0.0", "source": "registry", "kind": "runtime"},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"}
    ]})
}

/// What the cataloger documents for a list: packages compiled in (`kind` runtime, the
/// default) that were published somewhere (`source` not `local`), the root included.
fn compiled_in(list: &Value) -> Set {
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] != "local")
        .filter(|p| p.get("kind").is_none_or(|k| k == "runtime"))
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `/bin/true` with a `.dep-v0` section holding `payload`.
fn with_dep_section(dir: &Path, name: &str, payload: &[u8]) -> PathBuf {
    let section = dir.join(format!("{name}.dep-v0"));
    fs::write(&section, payload).unwrap();
    let out = dir.join(name);
    run_ok(
        Command::new("objcopy")
            .arg(format!("--add-section=.dep-v0={}", section.display()))
            .arg("--set-section-flags=.dep-v0=noload,readonly")
            .arg(fs::canonicalize("/bin/true").unwrap())
            .arg(&out),
    );
    out
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn catalog_binary(path: &Path) -> Result<Set, CatalogError> {
    let pkgs = catalog_file(&RustCataloger, "usr/local/bin/app", path).expect("wanted")?;
    let set: Set = pkgs
        .iter()
        .map(|p| {
            assert_eq!(p.location, "/usr/local/bin/app");
            (p.name.clone(), p.version.clone())
        })
        .collect();
    assert_eq!(set.len(), pkgs.len(), "duplicates");
    Ok(set)
}

#[test]
fn auditable_binaries_report_what_they_embed() {
    if !crowsnest_testkit::require_tool("objcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A binary built from the project's own (local) crate: its root is the project.
    let list = dep_list("local");
    let bin = with_dep_section(dir.path(), "app", &zlib(list.to_string().as_bytes()));
    let expected = compiled_in(&list);
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert_same(&catalog_binary(&bin).unwrap(), &expected);

    // `cargo auditable install ripgrep`: the root is itself a crates.io release.
    let list = dep_list("crates.io");
    let bin = with_dep_section(dir.path(), "rg", &zlib(list.to_string().as_bytes()));
    let expected = compiled_in(&list);
    assert!(expected.contains(&("app".into(), "0.1.0".into())));
    assert_same(&catalog_binary(&bin).unwrap(), &expected);

    // Without the section there is nothing, and no error.
    let plain = fs::canonicalize("/bin/true").unwrap();
    assert!(catalog_binary(&plain).unwrap().is_empty());

    // A section that is not zlib, or not the documented JSON, is an error for that file.
    for (name, payload) in [
        ("garbage", b"not zlib at all".to_vec()),
        ("notjson", zlib(b"{\"packages\": 3}")),
    ] {
        let bin = with_dep_section(dir.path(), name, &payload);
        let err = catalog_binary(&bin).unwrap_err();
        assert!(matches!(err, CatalogError::Malformed { .. }), "{err}");
    }
}

#[test]
fn scripts_and_truncated_executables_give_nothing_or_an_error() {
    assert!(catalog_bytes(&RustCataloger, "/usr/bin/s", b"#!/bin/sh\n")
        .unwrap()
        .is_empty());
    let elf = fs::read(fs::canonicalize("/bin/true").unwrap()).unwrap();
    for cut in [4, 52, 64, 1000] {
        let _ = catalog_bytes(&RustCataloger, "/usr/bin/t", &elf[..cut]);
    }
}
