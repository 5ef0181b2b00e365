//! language/golang against `go version -m`: Go binaries built here, offline, by the Go
//! toolchain, and the fixture image's binary. The build uses a module proxy on disk
//! (`GOPROXY=file://...`) holding two published modules, so the binary links a plain
//! dependency, a dependency replaced by another module version, and one replaced by a local
//! directory. Built with `-trimpath`, once plain and once stripped (`-ldflags=-s -w`); a copy
//! with its section headers removed makes the cataloger search the loaded segments instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lang_support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_catalog::language::golang::GoBinaryCataloger;
use crowsnest_model::Ecosystem;
use lang_support::{assert_same, cached_dir, catalog_bytes, catalog_file, run_ok};

/// The modules published in the on-disk proxy: `(module path, version, package name)`.
const PUBLISHED: [(&str, &str, &str); 2] = [
    ("example.com/dep", "v1.0.0", "dep"),
    ("example.com/new", "v1.1.0", "old"),
];

const MAIN_GO_MOD: &str = "module example.com/hello

go 1.19

require (
\texample.com/dep v1.0.0
\texample.com/greet v0.0.0
\texample.com/old v1.0.0
)

replace example.com/old v1.0.0 => example.com/new v1.1.0

replace example.com/greet => ../greet
";

const MAIN_GO: &str = "package main

import (
\t\"fmt\"

\t\"example.com/dep\"
\t\"example.com/greet\"
\t\"example.com/old\"
)

func main() { fmt.Println(dep.Name(), old.Name(), greet.Hi()) }
";

/// Writes `example.com/x/@v/{list,VERSION.info,VERSION.mod,VERSION.zip}` as the Go module
/// proxy protocol lays them out.
fn publish(proxy: &Path, module: &str, version: &str, package: &str) {
    let dir = proxy.join(module).join("@v");
    fs::create_dir_all(&dir).unwrap();
    let go_mod = format!("module {module}\n");
    let source = format!("package {package}\n\nfunc Name() string {{ return \"{module}\" }}\n");
    fs::write(dir.join(format!("{version}.mod")), &go_mod).unwrap();
    fs::write(
        dir.join(format!("{version}.info")),
        format!("{{\"Version\":\"{version}\",\"Time\":\"2023-01-01T00:00:00Z\"}}"),
    )
    .unwrap();
    fs::write(dir.join("list"), format!("{version}\n")).unwrap();
    let mut zip =
        zip::ZipWriter::new(fs::File::create(dir.join(format!("{version}.zip"))).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in [("go.mod", &go_mod), (&format!("{package}.go"), &source)] {
        zip.start_file(format!("{module}@{version}/{name}"), opts)
            .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn go(dir: &Path, root: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(dir)
        .env(
            "GOPROXY",
            format!("file://{}", root.join("proxy").display()),
        )
        .env("GOFLAGS", "-mod=mod -modcacherw")
        .env("GOSUMDB", "off")
        .env("GOPATH", root.join("gopath"))
        .env("GOCACHE", crowsnest_testkit::cache_dir("go-build"))
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GO111MODULE", "on")
        .env("CGO_ENABLED", "0");
    cmd
}

fn build(root: &Path) {
    for (module, version, package) in PUBLISHED {
        publish(&root.join("proxy"), module, version, package);
    }
    fs::create_dir_all(root.join("greet")).unwrap();
    fs::write(root.join("greet/go.mod"), "module example.com/greet\n").unwrap();
    fs::write(
        root.join("greet/greet.go"),
        "package greet\n\nfunc Hi() string { return \"hi\" }\n",
    )
    .unwrap();
    let hello = root.join("hello");
    fs::create_dir_all(&hello).unwrap();
    fs::write(hello.join("go.mod"), MAIN_GO_MOD).unwrap();
    fs::write(hello.join("main.go"), MAIN_GO).unwrap();
    let bin = root.join("bin");
    run_ok(
        go(&hello, root)
            .args(["build", "-trimpath", "-o"])
            .arg(bin.join("hello"))
            .arg("."),
    );
    run_ok(
        go(&hello, root)
            .args(["build", "-trimpath", "-ldflags=-s -w", "-o"])
            .arg(bin.join("hello-stripped"))
            .arg("."),
    );
    // The module cache is only needed for building.
    let _ = fs::remove_dir_all(root.join("gopath"));
}

fn binaries() -> Option<PathBuf> {
    if !crowsnest_testkit::require_tool("go") {
        return None;
    }
    Some(cached_dir("go-binaries-1", build).join("bin"))
}

type Set = BTreeSet<(String, String)>;

/// What `go version -m BINARY` says, turned into the packages the cataloger documents: the
/// toolchain as `stdlib` in semantic-version form, the main module, and each dependency as
/// the module actually linked (its replacement when replaced by a module, its own path at
/// `(devel)` when replaced by a local directory).
fn go_version_m(binary: &Path) -> Set {
    let out = String::from_utf8(run_ok(
        Command::new("go").arg("version").arg("-m").arg(binary),
    ))
    .unwrap();
    let mut lines = out.lines();
    let toolchain = lines.next().unwrap().rsplit(": ").next().unwrap().trim();
    let release = toolchain.strip_prefix("go").unwrap();
    assert!(
        release.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "{toolchain}"
    );
    let mut parts: Vec<&str> = release.split('.').collect();
    parts.resize(3, "0");
    let mut set = Set::new();
    set.insert(("stdlib".to_owned(), format!("v{}", parts.join("."))));
    let mut pending: Option<(String, String)> = None;
    for line in lines {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match fields.as_slice() {
            ["mod" | "dep", path, version, ..] => {
                set.extend(pending.take());
                pending = Some(((*path).to_owned(), (*version).to_owned()));
            }
            ["=>", path, version, ..] => {
                let (orig, _) = pending.take().unwrap();
                if path.starts_with('.') || path.starts_with('/') {
                    set.insert((orig, "(devel)".to_owned()));
                } else {
                    set.insert(((*path).to_owned(), (*version).to_owned()));
                }
            }
            _ => {}
        }
    }
    set.extend(pending);
    set
}

fn catalog(binary: &Path, image_path: &str) -> Set {
    let pkgs = catalog_file(&GoBinaryCataloger, image_path, binary)
        .expect("wanted")
        .unwrap();
    let set: Set = pkgs
        .iter()
        .map(|p| {
            assert_eq!(p.ecosystem, Ecosystem::Golang);
            assert_eq!(p.location, format!("/{image_path}"));
            (p.name.clone(), p.version.clone())
        })
        .collect();
    assert_eq!(set.len(), pkgs.len(), "duplicates in {pkgs:?}");
    set
}

#[test]
fn built_binaries_match_go_version_m() {
    let Some(bin) = binaries() else { return };
    let expected = go_version_m(&bin.join("hello"));
    // The oracle holds every case the build was made for.
    for (n, v) in [
        ("example.com/hello", "(devel)"),
        ("example.com/dep", "v1.0.0"),
        ("example.com/new", "v1.1.0"),
        ("example.com/greet", "(devel)"),
    ] {
        assert!(
            expected.contains(&(n.into(), v.into())),
            "{n} {v}: {expected:?}"
        );
    }
    assert_same(
        &catalog(&bin.join("hello"), "usr/local/bin/hello"),
        &expected,
    );
    assert_same(
        &catalog(&bin.join("hello-stripped"), "usr/local/bin/hello-stripped"),
        &go_version_m(&bin.join("hello-stripped")),
    );
}

/// Zeroes an ELF64's section header fields (`e_shoff`, `e_shnum`, `e_shstrndx`), as `sstrip`
/// does: only program headers are left to find the build information by.
fn without_section_headers(elf: &[u8]) -> Vec<u8> {
    assert_eq!(&elf[..5], b"\x7fELF\x02");
    let mut out = elf.to_vec();
    out[0x28..0x30].fill(0);
    out[0x3c..0x40].fill(0);
    out
}

#[test]
fn binary_without_section_headers_is_found_through_its_segments() {
    let Some(bin) = binaries() else { return };
    let bytes = without_section_headers(&fs::read(bin.join("hello-stripped")).unwrap());
    let pkgs = catalog_bytes(&GoBinaryCataloger, "/app/hello", &bytes).unwrap();
    let got: Set = pkgs.into_iter().map(|p| (p.name, p.version)).collect();
    assert_same(&got, &go_version_m(&bin.join("hello-stripped")));
}

#[test]
fn fixture_image_binary_matches_go_version_m() {
    if !crowsnest_testkit::require_tool("go") {
        return;
    }
    let root = lang_support::unpack_fixture_layers(&[1]);
    let hello = root.join("opt/app/bin/hello");
    let expected = go_version_m(&hello);
    assert!(
        expected.contains(&("stdlib".into(), "v1.19.8".into())),
        "{expected:?}"
    );
    assert_same(&catalog(&hello, "opt/app/bin/hello"), &expected);
}

#[test]
fn other_executables_give_nothing_and_no_error() {
    for host in ["/bin/ls", "/bin/sh"] {
        let resolved = fs::canonicalize(host).unwrap();
        let got = catalog_file(&GoBinaryCataloger, "usr/bin/x", &resolved)
            .expect("executables are wanted")
            .unwrap();
        assert!(got.is_empty(), "{host}: {got:?}");
    }
    let script = catalog_bytes(&GoBinaryCataloger, "/usr/bin/s", b"#!/bin/sh\necho\n").unwrap();
    assert!(script.is_empty());
    // A truncated ELF is an error for that file, not a panic.
    let elf = fs::read(fs::canonicalize("/bin/ls").unwrap()).unwrap();
    for cut in [3, 20, 64, 4096] {
        let _ = catalog_bytes(&GoBinaryCataloger, "/usr/bin/t", &elf[..cut]);
    }
}
