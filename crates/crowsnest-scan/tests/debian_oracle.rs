//! End-to-end: real Debian images built here from Debian's own packages, scanned through every
//! source kind, compared with what `dpkg-query` says about the same root filesystem.
//!
//! The image has two layers: a debootstrap `minbase` system, then a layer in which dpkg itself
//! purged `logsave` and installed `hello` (downloaded with `apt-get download`). So the second
//! layer carries whiteouts for logsave's files and a rewritten `var/lib/dpkg/status`, which tests
//! both the whiteouts and layer attribution.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crowsnest_model::{Ecosystem, Inventory};
use crowsnest_scan::Scanner;
use crowsnest_testkit::{debian_rootfs, require_tool};

type Row = (String, String, String);

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The oracle: installed packages as dpkg-query lists them for a root filesystem.
fn dpkg_query(root: &Path) -> BTreeSet<Row> {
    let out = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args([
            "-W",
            "-f",
            "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n",
        ]));
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let status = f.next()?;
            // "ii " = wanted install, installed, no error: what a scanner must report.
            let row = (
                f.next()?.to_owned(),
                f.next()?.to_owned(),
                f.next()?.to_owned(),
            );
            (status.trim() == "ii").then_some(row)
        })
        .collect()
}

fn deb_rows(inv: &Inventory) -> BTreeSet<Row> {
    inv.packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Deb)
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn rootfs_scan_lists_exactly_what_dpkg_query_lists() {
    let Some(root) = debian_rootfs() else { return };
    if !require_tool("dpkg-query") {
        return;
    }
    let inv = Scanner::default().scan_rootfs(&root).unwrap();
    let oracle = dpkg_query(&root);
    assert!(
        oracle.len() > 50,
        "debootstrap minbase should install dozens of packages"
    );
    assert_eq!(deb_rows(&inv), oracle);
    let distro = inv.distro.as_ref().expect("os-release detected");
    assert_eq!(distro.id, "debian");
    assert_eq!(distro.version_id.as_deref(), Some("12"));
    for p in &inv.packages {
        assert!(p.purl.starts_with("pkg:deb/debian/"), "{}", p.purl);
        assert!(p.purl.contains("distro=debian-12"), "{}", p.purl);
    }
}

/// Builds the two-layer OCI layout described at the top of this file; returns the layout
/// directory and the root filesystem of the final image (the oracle's input).
fn build_two_layer_image(work: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let root = debian_rootfs()?;
    for tool in ["umoci", "dpkg", "apt-get", "dpkg-query"] {
        if !require_tool(tool) {
            return None;
        }
    }
    let layout = work.join("oci");
    let bundle = work.join("bundle");
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci")
        .args(["new", "--image"])
        .arg(format!("{}:deb", layout.display())));
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:deb", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    run(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.display()))
        .arg(&rootfs));
    // --refresh-bundle: without it the next repack diffs against the empty unpack again and
    // replaces this layer instead of adding one on top.
    run(Command::new("umoci")
        .args(["repack", "--refresh-bundle", "--image"])
        .arg(format!("{}:deb", layout.display()))
        .arg(&bundle));

    // Second layer: dpkg purges logsave and installs hello, inside the image's root.
    let debs = work.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    run(Command::new("apt-get")
        .args(["download", "hello"])
        .current_dir(&debs));
    let hello = std::fs::read_dir(&debs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    run(Command::new("dpkg")
        .arg(format!("--root={}", rootfs.display()))
        .args(["--force-depends", "--purge", "logsave"]));
    run(Command::new("dpkg")
        .arg(format!("--root={}", rootfs.display()))
        .args(["--force-depends", "--force-script-chrootless", "-i"])
        .arg(&hello));
    run(Command::new("umoci")
        .args(["repack", "--image"])
        .arg(format!("{}:deb", layout.display()))
        .arg(&bundle));
    Some((layout, rootfs))
}

#[test]
fn every_source_kind_lists_what_dpkg_query_lists_with_whiteouts_and_layers() {
    let work = tempfile::tempdir().unwrap();
    let Some((layout, final_rootfs)) = build_two_layer_image(work.path()) else {
        return;
    };
    if !require_tool("skopeo") {
        return;
    }
    let oracle = dpkg_query(&final_rootfs);
    assert!(oracle.iter().any(|(n, _, _)| n == "hello"));
    assert!(!oracle.iter().any(|(n, _, _)| n == "logsave"));

    let oci_archive = work.path().join("deb.oci.tar");
    let docker_archive = work.path().join("deb.docker.tar");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:deb", layout.display()))
        .arg(format!("oci-archive:{}:deb", oci_archive.display())));
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:deb", layout.display()))
        .arg(format!(
            "docker-archive:{}:deb:latest",
            docker_archive.display()
        )));

    let scanner = Scanner::default();
    for reference in [
        format!("{}:deb", layout.display()),
        oci_archive.display().to_string(),
        docker_archive.display().to_string(),
    ] {
        let inv = scanner
            .scan_image(&reference, &mut |_| {})
            .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(inv.layers.len(), 2, "{reference}");
        assert_eq!(deb_rows(&inv), oracle, "{reference}");
        // hello came with the second layer, everything else with the first.
        for p in inv
            .packages
            .iter()
            .filter(|p| p.ecosystem == Ecosystem::Deb)
        {
            let expected = if p.name == "hello" {
                &inv.layers[1].diff_id
            } else {
                &inv.layers[0].diff_id
            };
            assert_eq!(
                p.layer.as_ref(),
                Some(expected),
                "{reference}: layer of {}",
                p.name
            );
        }
        // logsave's binary was whited out along with its package entry.
        assert!(
            !inv.packages.iter().any(|p| p.name == "logsave"),
            "{reference}"
        );
    }
}
