//! language/npm against npm and yarn themselves: a project installed from the npm registry by
//! npm (its `node_modules` tree and its `package-lock.json` written in lockfile versions 1, 2
//! and 3) and by yarn classic (`yarn.lock`). The oracle for npm is `npm ls --all --long --json`,
//! which reads the installed tree; for yarn it is an independent walk of the `node_modules`
//! that yarn installed from its lock file.
//!
//! The project holds the cases that trip lock readers: nested copies of one package at two
//! versions (`ms` under `send`), scoped packages (`@babel/*`), an alias
//! (`string-width-cjs@npm:string-width`), and a local `file:` dependency (the project's own
//! code, linked, whose registry dependency must still be reported).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lang_support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_catalog::language::npm::NpmCataloger;
use crowsnest_catalog::Cataloger;
use crowsnest_model::{Ecosystem, FileKind, ImagePath};
use lang_support::{assert_same, cached_dir, catalog_bytes, catalog_tree, meta, run_ok};
use serde_json::Value;

/// What the project installs, pinned; the transitive versions are whatever the registry
/// resolves on the day the cache is built, which the oracles see too.
const SPECS: [&str; 5] = [
    "lodash@4.17.15",
    "minimist@1.2.0",
    "express@4.17.1",
    "@babel/code-frame@7.22.13",
    "string-width-cjs@npm:string-width@4.2.3",
];

/// The cache key: change it whenever [`SPECS`] or the build steps change.
const CACHE: &str = "npm-project-2";

type Set = BTreeSet<(String, String)>;

fn npm(dir: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false");
    cmd
}

fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// Builds (once) `proj/` installed by npm with its three lock files in `locks/`, the npm ls
/// oracle in `npm-ls.json` (paths relative to `proj/`), and `yarn/` installed by yarn 1.
fn build(root: &Path) {
    let proj = root.join("proj");
    fs::create_dir_all(proj.join("local-lib")).unwrap();
    write_json(
        &proj.join("package.json"),
        &serde_json::json!({"name": "proj", "version": "1.0.0", "private": true}),
    );
    write_json(
        &proj.join("local-lib/package.json"),
        &serde_json::json!({"name": "local-lib", "version": "1.0.0",
            "dependencies": {"isarray": "2.0.5"}}),
    );
    run_ok(
        npm(&proj)
            .args(["install", "--ignore-scripts", "--save-exact"])
            .args(["--lockfile-version", "3"])
            .args(SPECS)
            .arg("./local-lib"),
    );
    let locks = root.join("locks");
    fs::create_dir(&locks).unwrap();
    fs::copy(proj.join("package-lock.json"), locks.join("3.json")).unwrap();
    // Rewriting the lock of an unchanged tree in the older formats.
    for v in ["2", "1"] {
        run_ok(npm(&proj).args(["install", "--ignore-scripts", "--lockfile-version", v]));
        fs::copy(
            proj.join("package-lock.json"),
            locks.join(format!("{v}.json")),
        )
        .unwrap();
    }

    // The oracle's paths are absolute: keep the build-time project path beside it.
    fs::write(
        root.join("npm-ls.json"),
        run_ok(npm(&proj).args(["ls", "--all", "--long", "--json"])),
    )
    .unwrap();
    fs::write(root.join("npm-ls.root"), proj.to_str().unwrap()).unwrap();

    // yarn installs the same registry dependencies; the linked local folder is npm's case.
    let manifest: Value =
        serde_json::from_slice(&fs::read(proj.join("package.json")).unwrap()).unwrap();
    let mut deps = manifest["dependencies"].clone();
    deps.as_object_mut().unwrap().remove("local-lib");
    let yarn = root.join("yarn");
    fs::create_dir(&yarn).unwrap();
    write_json(
        &yarn.join("package.json"),
        &serde_json::json!({"name": "proj", "version": "1.0.0", "private": true,
            "dependencies": deps}),
    );
    // A cache of its own: the tests of this file build the project concurrently on a fresh
    // machine, and yarn 1's shared global cache is not safe for concurrent installs (one
    // install read another's half-written `.yarn-metadata.json`: ENOENT).
    let yarn_cache = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("npx")
            .current_dir(&yarn)
            .env("npm_config_update_notifier", "false")
            .args(["--yes", "yarn@1.22.22", "install"])
            .args(["--ignore-scripts", "--non-interactive", "--no-progress"])
            .arg("--cache-folder")
            .arg(yarn_cache.path()),
    );
}

/// Every installed package of an `npm ls --long --json` tree, as `{name, version, path,
/// license}` with `path` relative to the project. A `file:` entry is the linked local folder,
/// the project's own code; its dependencies are installed packages all the same.
fn flatten_npm_ls(node: &Value, proj: &Path, out: &mut Vec<Value>) {
    let Some(deps) = node.get("dependencies").and_then(Value::as_object) else {
        return;
    };
    for dep in deps.values() {
        let path = Path::new(dep["path"].as_str().expect("npm ls --long gives paths"));
        let rel = path.strip_prefix(proj).unwrap().to_str().unwrap();
        let linked = dep["resolved"]
            .as_str()
            .is_some_and(|r| r.starts_with("file:"));
        if !linked {
            out.push(serde_json::json!({
                "name": dep["name"], "version": dep["version"],
                "path": rel, "license": dep.get("license"),
            }));
        }
        flatten_npm_ls(dep, proj, out);
    }
}

fn project() -> Option<PathBuf> {
    if !crowsnest_testkit::require_tool("npm") || !crowsnest_testkit::require_tool("npx") {
        return None;
    }
    Some(cached_dir(CACHE, build))
}

/// The npm ls oracle, flattened and deduplicated (npm lists a package once per dependent).
fn npm_ls(root: &Path) -> Vec<Value> {
    let ls: Value = serde_json::from_slice(&fs::read(root.join("npm-ls.json")).unwrap()).unwrap();
    let proj = PathBuf::from(fs::read_to_string(root.join("npm-ls.root")).unwrap());
    let mut rows = Vec::new();
    flatten_npm_ls(&ls, &proj, &mut rows);
    rows.sort_by_key(Value::to_string);
    rows.dedup();
    rows
}

fn name_versions(rows: &[Value]) -> Set {
    rows.iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn node_modules_match_npm_ls() {
    let Some(root) = project() else { return };
    let oracle = npm_ls(&root);
    // The cases the project was built to hold are in the oracle, or the test proves little.
    let want = name_versions(&oracle);
    for (n, v) in [
        ("string-width", "4.2.3"),
        ("isarray", "2.0.5"),
        ("lodash", "4.17.15"),
    ] {
        assert!(
            want.contains(&(n.into(), v.into())),
            "{n}@{v} not in {want:?}"
        );
    }
    assert!(oracle
        .iter()
        .any(|r| r["path"] == "node_modules/send/node_modules/ms"));

    let pkgs: Vec<_> = catalog_tree(&NpmCataloger, &root.join("proj"))
        .into_iter()
        .filter(|p| p.location.ends_with("/package.json"))
        .collect();
    let got: BTreeSet<(String, String, String)> = pkgs
        .iter()
        .map(|p| {
            assert_eq!(p.ecosystem, Ecosystem::Npm);
            (p.name.clone(), p.version.clone(), p.location.clone())
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = oracle
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["version"].as_str().unwrap().to_owned(),
                format!("/{}/package.json", r["path"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(got.len(), pkgs.len(), "duplicates");
    assert_same(&got, &expected);

    // Licences as npm reads them from the same manifests.
    for r in &oracle {
        let Some(license) = r["license"].as_str() else {
            continue;
        };
        let loc = format!("/{}/package.json", r["path"].as_str().unwrap());
        let p = pkgs.iter().find(|p| p.location == loc).unwrap();
        assert_eq!(p.licenses, vec![license.to_owned()], "{loc}");
    }
}

#[test]
fn package_lock_versions_1_2_3_match_npm_ls() {
    let Some(root) = project() else { return };
    let expected = name_versions(&npm_ls(&root));
    for v in 1..=3 {
        let bytes = fs::read(root.join(format!("locks/{v}.json"))).unwrap();
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["lockfileVersion"], v, "npm wrote another version");
        let pkgs = catalog_bytes(&NpmCataloger, "/srv/app/package-lock.json", &bytes).unwrap();
        for p in &pkgs {
            assert_eq!(p.location, "/srv/app/package-lock.json");
        }
        let got: Set = pkgs
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        assert_eq!(got.len(), pkgs.len(), "v{v}: duplicates");
        assert_same(&got, &expected);
    }
}

/// `(name, version)` of every package directory under `node_modules`, read with serde_json
/// (not the cataloger's reader): `node_modules/<name>`, `node_modules/@scope/<name>`, and
/// their own nested `node_modules`.
fn walk_node_modules(dir: &Path, out: &mut Set) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        if name.starts_with('@') {
            walk_node_modules(&path, out);
            continue;
        }
        let doc: Value =
            serde_json::from_slice(&fs::read(path.join("package.json")).unwrap()).unwrap();
        out.insert((
            doc["name"].as_str().unwrap().to_owned(),
            doc["version"].as_str().unwrap().to_owned(),
        ));
        walk_node_modules(&path.join("node_modules"), out);
    }
}

#[test]
fn yarn_v1_lock_matches_yarn_install() {
    let Some(root) = project() else { return };
    let yarn = root.join("yarn");
    let mut expected = Set::new();
    walk_node_modules(&yarn.join("node_modules"), &mut expected);
    assert!(expected.contains(&("string-width".into(), "4.2.3".into())));
    assert!(expected.len() > 40, "{expected:?}");

    let bytes = fs::read(yarn.join("yarn.lock")).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("# yarn lockfile v1"));
    let pkgs = catalog_bytes(&NpmCataloger, "/srv/app/yarn.lock", &bytes).unwrap();
    let got: Set = pkgs
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert_eq!(got.len(), pkgs.len(), "duplicates");
    assert_same(&got, &expected);
}

#[test]
fn lock_files_inside_node_modules_and_npm_bookkeeping_are_not_wanted() {
    let m = meta(10, 0o644);
    let wants = |p: &str| NpmCataloger.wants(&ImagePath::parse(p).unwrap(), &m);
    assert!(wants("srv/app/package-lock.json"));
    assert!(wants("srv/app/yarn.lock"));
    assert!(wants("srv/app/npm-shrinkwrap.json"));
    assert!(!wants("srv/app/node_modules/.package-lock.json"));
    assert!(!wants("srv/app/node_modules/express/package-lock.json"));
    assert!(!wants("srv/app/node_modules/x/yarn.lock"));
    let mut link = meta(10, 0o777);
    link.kind = FileKind::Symlink;
    assert!(!NpmCataloger.wants(
        &ImagePath::parse("srv/app/node_modules/local-lib/package.json").unwrap(),
        &link
    ));
}
