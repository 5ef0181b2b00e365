//! language/ruby against RubyGems itself and language/php against Composer.
//!
//! Ruby: gems built here with `gem build` and installed with `gem install --local` (so the
//! specification files are in the format RubyGems generates), and every gem the system's own
//! Ruby knows (including the default gems under `specifications/default/`); the oracle is
//! `Gem::Specification`, which evaluates each file as Ruby. PHP: a project locked and installed
//! by `composer update` from local path repositories (no Packagist); the oracle is
//! `composer show` (`--locked` for `composer.lock`, installed for `vendor/composer/installed.json`)
//! and, for licences, the lock's JSON read here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lang_support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_catalog::language::php::ComposerCataloger;
use crowsnest_catalog::language::ruby::GemspecCataloger;
use crowsnest_catalog::Cataloger;
use crowsnest_model::{Ecosystem, ImagePath, Package};
use lang_support::{assert_same, cached_dir, catalog_file, meta, run_ok};
use serde_json::Value;

/// `(name, version, location, licences joined by ",")`.
type Row = (String, String, String, String);

fn row(p: &Package) -> Row {
    (
        p.name.clone(),
        p.version.clone(),
        p.location.clone(),
        p.licenses.join(","),
    )
}

/// Gems to build: `(name, version, platform, licences, extra gemspec lines)`. The extra lines
/// put `=` and `name`/`version` words where a line reader could trip on them.
type GemDef = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
);

const GEMS: [GemDef; 3] = [
    (
        "acme-widget",
        "1.2.3",
        None,
        &["MIT", "Ruby"],
        "  s.description = \"Set name = value; version = 9 overrides nothing\"\n  s.metadata = { \"source_code_uri\" => \"https://example.com/x?a=b\" }\n  s.add_runtime_dependency \"rack\", \"= 2.2.8\"\n",
    ),
    (
        "acme_native",
        "0.5.0",
        Some("x86_64-linux"),
        &["Apache-2.0"],
        "",
    ),
    ("acme-pre", "2.0.0.pre1", None, &[], "  s.summary = 'pre'\n"),
];

fn gem(dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new("gem");
    cmd.current_dir(dir)
        .env("HOME", home)
        .env_remove("GEM_HOME")
        .env_remove("GEM_PATH");
    cmd
}

fn build_gems(root: &Path) {
    let home = root.join("home");
    fs::create_dir_all(&home).unwrap();
    for (name, version, platform, licenses, extra) in GEMS {
        let src = root.join("src").join(name);
        fs::create_dir_all(src.join("lib")).unwrap();
        fs::write(src.join(format!("lib/{name}.rb")), "module Acme; end\n").unwrap();
        let licenses: Vec<String> = licenses.iter().map(|l| format!("{l:?}")).collect();
        let platform = platform.map_or(String::new(), |p| format!("  s.platform = {p:?}\n"));
        fs::write(
            src.join(format!("{name}.gemspec")),
            format!(
                "Gem::Specification.new do |s|\n  s.name = {name:?}\n  s.version = {version:?}\n  s.summary = \"test gem\"\n  s.authors = [\"Acme\"]\n  s.files = [\"lib/{name}.rb\"]\n  s.licenses = [{}]\n{platform}{extra}end\n",
                licenses.join(", ")
            ),
        )
        .unwrap();
        run_ok(gem(&src, &home).args(["build", &format!("{name}.gemspec")]));
        let built = fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "gem"))
            .unwrap();
        run_ok(
            gem(&src, &home)
                .args([
                    "install",
                    "--local",
                    "--ignore-dependencies",
                    "--no-document",
                ])
                .arg("--install-dir")
                .arg(root.join("gems"))
                .arg(&built),
        );
    }
}

/// What RubyGems reads from each specification file: the gems `Gem::Specification` lists
/// with the given `GEM_HOME`/`GEM_PATH` (or the system's when `None`).
fn ruby_gem_list(gem_home: Option<&Path>) -> BTreeSet<Row> {
    let mut cmd = Command::new("ruby");
    cmd.arg("-e").arg(
        "Gem::Specification.each { |s| puts [s.name, s.version.to_s, s.loaded_from, s.licenses.join(',')].join(\"\\t\") }",
    );
    match gem_home {
        Some(h) => cmd.env("GEM_HOME", h).env("GEM_PATH", h),
        None => cmd.env_remove("GEM_HOME").env_remove("GEM_PATH"),
    };
    let out = String::from_utf8(run_ok(&mut cmd)).unwrap();
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
            )
        })
        .collect()
}

/// Runs the cataloger on each host file of `rows` as the same path in an image; a file it
/// does not want gives no row, so the comparison shows it as missing.
fn catalog_gemspecs(rows: &BTreeSet<Row>) -> BTreeSet<Row> {
    let mut got = BTreeSet::new();
    for (_, _, file, _) in rows {
        let image_path = file.trim_start_matches('/');
        if let Some(pkgs) = catalog_file(&GemspecCataloger, image_path, Path::new(file)) {
            for p in pkgs.unwrap() {
                assert_eq!(p.ecosystem, Ecosystem::Gem);
                got.insert(row(&p));
            }
        }
    }
    got
}

#[test]
fn gems_installed_by_rubygems_match_gem_specification() {
    if !crowsnest_testkit::require_tool("gem") || !crowsnest_testkit::require_tool("ruby") {
        return;
    }
    let root = cached_dir("ruby-gems-1", build_gems);
    let gems = root.join("gems");
    let prefix = gems.to_str().unwrap().to_owned();
    let expected: BTreeSet<Row> = ruby_gem_list(Some(&gems))
        .into_iter()
        .filter(|r| r.2.starts_with(&prefix))
        .collect();
    assert_eq!(expected.len(), GEMS.len(), "{expected:?}");
    assert!(expected
        .iter()
        .any(|r| r.2.ends_with("acme_native-0.5.0-x86_64-linux.gemspec")));
    assert_same(&catalog_gemspecs(&expected), &expected);
}

#[test]
fn system_ruby_gems_including_default_gems_match_gem_specification() {
    if !crowsnest_testkit::require_tool("ruby") {
        return;
    }
    let expected = ruby_gem_list(None);
    // Debian's Ruby ships dozens of default gems (json, psych, openssl, ...): advisories
    // name them like any other gem.
    assert!(
        expected
            .iter()
            .filter(|r| r.2.contains("/specifications/default/"))
            .count()
            > 10,
        "{expected:?}"
    );
    assert_same(&catalog_gemspecs(&expected), &expected);
}

#[test]
fn gemspec_paths_wanted() {
    let m = meta(100, 0o644);
    let wants = |p: &str| GemspecCataloger.wants(&ImagePath::parse(p).unwrap(), &m);
    assert!(wants("usr/local/bundle/specifications/rack-2.2.8.gemspec"));
    assert!(wants(
        "usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec"
    ));
    // A gem's own source gemspec is not an installed gem.
    assert!(!wants("usr/local/bundle/gems/rack-2.2.8/rack.gemspec"));
    assert!(!wants("usr/src/app/app.gemspec"));
}

/// Path-repository packages: `(name, composer.json)`. The versions cover a `v` prefix and a
/// pre-release; the licences a single string, an array and a dev requirement's.
const PHP_PACKAGES: [(&str, &str); 3] = [
    (
        "acme/log",
        r#"{"name": "acme/log", "version": "1.4.2", "license": "MIT"}"#,
    ),
    (
        "acme/http",
        r#"{"name": "acme/http", "version": "v2.0.1", "license": ["MIT", "Apache-2.0"],
            "require": {"acme/log": "^1.4"}}"#,
    ),
    (
        "acme/testkit",
        r#"{"name": "acme/testkit", "version": "0.3.0-beta.2", "license": "BSD-3-Clause"}"#,
    ),
];

const APP_COMPOSER_JSON: &str = r#"{
    "name": "acme/app",
    "repositories": [
        {"packagist.org": false},
        {"type": "path", "url": "../pkgs/*/*", "options": {"symlink": false}}
    ],
    "require": {"acme/http": "^2.0"},
    "require-dev": {"acme/testkit": "^0.3@beta"}
}"#;

fn composer(dir: &Path, root: &Path) -> Command {
    let mut cmd = Command::new("composer");
    cmd.current_dir(dir)
        .env("COMPOSER_HOME", root.join("composer-home"))
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("COMPOSER_DISABLE_NETWORK", "1");
    cmd
}

fn build_php(root: &Path) {
    for (name, json) in PHP_PACKAGES {
        let dir = root.join("pkgs").join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("composer.json"), json).unwrap();
    }
    let app = root.join("app");
    fs::create_dir_all(&app).unwrap();
    fs::write(app.join("composer.json"), APP_COMPOSER_JSON).unwrap();
    run_ok(composer(&app, root).args(["update", "--no-plugins", "--no-scripts", "--no-audit"]));
}

fn php_project() -> Option<PathBuf> {
    if !crowsnest_testkit::require_tool("composer") {
        return None;
    }
    Some(cached_dir("composer-project-1", build_php))
}

/// `(name, version)` that `composer show` lists, `--locked` or installed.
fn composer_show(root: &Path, locked: bool) -> BTreeSet<(String, String)> {
    let app = root.join("app");
    let mut cmd = composer(&app, root);
    cmd.args(["show", "--format=json"]);
    if locked {
        cmd.arg("--locked");
    }
    let doc: Value = serde_json::from_slice(&run_ok(&mut cmd)).unwrap();
    let list = &doc[if locked { "locked" } else { "installed" }];
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn catalog_php(file: &Path, image_path: &str) -> Vec<Package> {
    let pkgs = catalog_file(&ComposerCataloger, image_path, file)
        .expect("wanted")
        .unwrap();
    for p in &pkgs {
        assert_eq!(p.ecosystem, Ecosystem::Composer);
        assert_eq!(p.location, format!("/{image_path}"));
    }
    pkgs
}

fn name_versions(pkgs: &[Package]) -> BTreeSet<(String, String)> {
    let set: BTreeSet<_> = pkgs
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert_eq!(set.len(), pkgs.len(), "duplicates in {pkgs:?}");
    set
}

#[test]
fn composer_lock_matches_composer_show_locked() {
    let Some(root) = php_project() else { return };
    let lock_path = root.join("app/composer.lock");
    let expected = composer_show(&root, true);
    assert_eq!(expected.len(), PHP_PACKAGES.len(), "{expected:?}");
    let pkgs = catalog_php(&lock_path, "var/www/app/composer.lock");
    assert_same(&name_versions(&pkgs), &expected);

    // Licences as the lock records them, read here with serde_json.
    let lock: Value = serde_json::from_slice(&fs::read(&lock_path).unwrap()).unwrap();
    let mut seen = 0;
    for section in ["packages", "packages-dev"] {
        for entry in lock[section].as_array().unwrap() {
            let licenses: Vec<String> = entry["license"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect();
            let p = pkgs.iter().find(|p| p.name == entry["name"]).unwrap();
            assert_eq!(p.licenses, licenses, "{}", p.name);
            seen += 1;
        }
    }
    assert_eq!(seen, PHP_PACKAGES.len());
}

#[test]
fn installed_json_matches_composer_show() {
    let Some(root) = php_project() else { return };
    let expected = composer_show(&root, false);
    assert_eq!(expected.len(), PHP_PACKAGES.len(), "{expected:?}");
    let pkgs = catalog_php(
        &root.join("app/vendor/composer/installed.json"),
        "var/www/app/vendor/composer/installed.json",
    );
    assert_same(&name_versions(&pkgs), &expected);
}
