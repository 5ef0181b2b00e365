//! End-to-end over the shared fixture image `acme-shop.oci.tar` (see fixtures/README.md): its
//! merged root filesystem, unpacked independently by umoci, is the oracle for dpkg-query,
//! `pip list --path` and the npm package.json files.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crowsnest_model::{Ecosystem, Inventory};
use crowsnest_scan::Scanner;
use crowsnest_testkit::{fixture, require_tool};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scan_fixture() -> Inventory {
    let image = fixture("images/acme-shop.oci.tar");
    Scanner::default()
        .scan_image(&image.display().to_string(), &mut |_| {})
        .unwrap()
}

fn names_versions(inv: &Inventory, eco: Ecosystem) -> BTreeSet<(String, String)> {
    inv.packages
        .iter()
        .filter(|p| p.ecosystem == eco)
        .map(|p| (p.name.to_lowercase(), p.version.clone()))
        .collect()
}

/// Unpacks the fixture's merged root filesystem with skopeo + umoci (the independent oracle).
fn unpack_fixture(work: &Path) -> Option<std::path::PathBuf> {
    if !require_tool("skopeo") || !require_tool("umoci") {
        return None;
    }
    let image = fixture("images/acme-shop.oci.tar");
    let layout = work.join("oci");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}:acme-shop", image.display()))
        .arg(format!("oci:{}:acme-shop", layout.display())));
    let bundle = work.join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:acme-shop", layout.display()))
        .arg(&bundle));
    Some(bundle.join("rootfs"))
}

#[test]
fn acme_shop_matches_dpkg_pip_and_npm_oracles() {
    let inv = scan_fixture();
    let work = tempfile::tempdir().unwrap();
    let Some(rootfs) = unpack_fixture(work.path()) else {
        return;
    };

    // Debian packages: dpkg-query over the unpacked merged view.
    if require_tool("dpkg-query") {
        let out = run(Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                rootfs.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"]));
        let oracle: BTreeSet<(String, String)> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 3 && f[0].trim() == "ii")
                    .then(|| (f[1].to_lowercase(), f[2].to_owned()))
            })
            .collect();
        assert_eq!(oracle.len(), 88, "fixtures/README.md promises 88 packages");
        assert_eq!(names_versions(&inv, Ecosystem::Deb), oracle);
    }

    // Python: pip's own view of the site-packages directory.
    if require_tool("python3") {
        let site = rootfs.join("usr/local/lib/python3.11/site-packages");
        let out = run(Command::new("python3")
            .args(["-m", "pip", "list", "--format", "json", "--path"])
            .arg(&site));
        let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let oracle: BTreeSet<(String, String)> = listed
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_lowercase(),
                    v["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(oracle.contains(&("urllib3".into(), "1.26.18".into())));
        assert_eq!(names_versions(&inv, Ecosystem::Pypi), oracle);
    }

    // npm: the package.json of every package directory under node_modules.
    let node_modules = rootfs.join("srv/web/node_modules");
    let mut oracle = BTreeSet::new();
    for entry in std::fs::read_dir(&node_modules).unwrap() {
        let dir = entry.unwrap().path();
        let manifests: Vec<std::path::PathBuf> =
            if dir.file_name().unwrap().to_string_lossy().starts_with('@') {
                std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().path().join("package.json"))
                    .collect()
            } else {
                vec![dir.join("package.json")]
            };
        for manifest in manifests.into_iter().filter(|m| m.is_file()) {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
            oracle.insert((
                v["name"].as_str().unwrap().to_lowercase(),
                v["version"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let ours: BTreeSet<(String, String)> = inv
        .packages
        .iter()
        .filter(|p| {
            p.ecosystem == Ecosystem::Npm && p.location.starts_with("/srv/web/node_modules/")
        })
        .map(|p| (p.name.to_lowercase(), p.version.clone()))
        .collect();
    assert_eq!(ours, oracle);
}

#[test]
fn whiteout_in_layer_three_replaces_urllib3() {
    // Layer 3 deletes urllib3 1.26.4's dist-info with a whiteout and adds 1.26.18.
    let inv = scan_fixture();
    let urllib3: Vec<_> = inv
        .packages
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case("urllib3"))
        .collect();
    assert_eq!(urllib3.len(), 1, "{urllib3:?}");
    assert_eq!(urllib3[0].version, "1.26.18");
    assert_eq!(urllib3[0].layer.as_ref(), Some(&inv.layers[2].diff_id));
    // The other wheels came with layer 2, the Debian packages with layer 1.
    let django = inv
        .packages
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("django"))
        .unwrap();
    assert_eq!(django.layer.as_ref(), Some(&inv.layers[1].diff_id));
    for p in inv
        .packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Deb)
    {
        assert_eq!(p.layer.as_ref(), Some(&inv.layers[0].diff_id), "{}", p.name);
    }
}

#[test]
fn acme_shop_inventory_snapshot() {
    let inv = scan_fixture();
    let layer_index = |d: &Option<crowsnest_model::Digest>| {
        d.as_ref()
            .and_then(|d| inv.layers.iter().position(|l| &l.diff_id == d))
    };
    let rows: Vec<String> = inv
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} layer={:?} {}",
                p.ecosystem.purl_type(),
                p.name,
                p.version,
                p.location,
                layer_index(&p.layer),
                p.purl
            )
        })
        .collect();
    insta::assert_yaml_snapshot!(rows);
}
