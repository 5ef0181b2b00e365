//! language/python against pip: the site-packages of the fixture image, before and after
//! layer 3 replaces urllib3, listed by `pip list --path` and by the cataloger.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lang_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crowsnest_catalog::language::python::PythonCataloger;
use crowsnest_model::{pep503, Ecosystem};
use lang_support::{catalog_bytes, catalog_tree, unpack_fixture_layers};

const SITE: &str = "usr/local/lib/python3.11/site-packages";

/// (normalised name, version) pairs that pip reports for a site-packages directory.
fn pip_list(site: &Path) -> BTreeSet<(String, String)> {
    let out = Command::new("python3")
        .args(["-m", "pip", "list", "--format", "json", "--path"])
        .arg(site)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.iter()
        .map(|p| {
            (
                pep503(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn check_against_pip(layers: &[usize]) -> BTreeSet<(String, String)> {
    let root = unpack_fixture_layers(layers);
    let expected = pip_list(&root.join(SITE));
    let pkgs = catalog_tree(&PythonCataloger, &root);
    for p in &pkgs {
        assert_eq!(p.ecosystem, Ecosystem::Pypi);
        assert!(
            p.location.starts_with(&format!("/{SITE}/")),
            "{}",
            p.location
        );
        assert!(
            p.location.ends_with(".dist-info/METADATA"),
            "{}",
            p.location
        );
    }
    let got: BTreeSet<(String, String)> = pkgs
        .iter()
        .map(|p| (pep503(&p.name), p.version.clone()))
        .collect();
    assert_eq!(got.len(), pkgs.len(), "duplicates in {pkgs:?}");
    assert_eq!(got, expected);
    got
}

#[test]
fn fixture_site_packages_match_pip_list() {
    if !crowsnest_testkit::require_tool("python3") {
        return;
    }
    let layer2 = check_against_pip(&[1]);
    let merged = check_against_pip(&[1, 2]);
    // The whiteout in layer 3 must have swapped urllib3, which is what the oracle also sees.
    assert!(layer2.contains(&("urllib3".into(), "1.26.4".into())));
    assert!(merged.contains(&("urllib3".into(), "1.26.18".into())));
    assert!(!merged.contains(&("urllib3".into(), "1.26.4".into())));
}

#[test]
fn licences_from_fixture_metadata() {
    let root = unpack_fixture_layers(&[1]);
    let pkgs = catalog_tree(&PythonCataloger, &root);
    let yaml = pkgs.iter().find(|p| p.name == "PyYAML").unwrap();
    assert_eq!(yaml.licenses, vec!["MIT".to_owned()]);
}

#[test]
fn egg_info_forms() {
    // Old setuptools wrote a single PKG-INFO-formatted file named after the distribution.
    let pkg_info =
        "Metadata-Version: 1.0\nName: python-apt\nVersion: 2.6.0\nSummary: x\nLicense: GPL\n";
    let got = catalog_bytes(
        &PythonCataloger,
        "/usr/lib/python3/dist-packages/python_apt-2.6.0.egg-info",
        pkg_info.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (got[0].name.as_str(), got[0].version.as_str()),
        ("python-apt", "2.6.0")
    );
    assert_eq!(got[0].licenses, vec!["GPL".to_owned()]);
    let got = catalog_bytes(
        &PythonCataloger,
        "/opt/venv/lib/python3.9/site-packages/foo.egg-info/PKG-INFO",
        pkg_info.as_bytes(),
    )
    .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].location,
        "/opt/venv/lib/python3.9/site-packages/foo.egg-info/PKG-INFO"
    );
}
