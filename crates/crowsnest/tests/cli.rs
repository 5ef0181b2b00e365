//! End-to-end: the real `crowsnest` binary on the fixture image and the fixture OSV records.

// Helpers outside #[test] functions are test code too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use crowsnest_testkit::fixture;
use serde_json::Value;

fn crowsnest(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env_remove("CROWSNEST_DB")
        .output()
        .unwrap()
}

fn acme() -> String {
    fixture("images/acme-shop.oci.tar").display().to_string()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scan_without_a_database_lists_packages_and_says_how_to_get_one() {
    let data = tempfile::tempdir().unwrap();
    let out = crowsnest(data.path(), &["scan", &acme(), "--format", "json"]);
    let report = stdout_json(&out);
    let packages = report["inventory"]["packages"].as_array().unwrap();
    // 88 dpkg packages (fixture README) plus the language packages of layers 2 and 3.
    assert_eq!(
        packages.iter().filter(|p| p["ecosystem"] == "deb").count(),
        88
    );
    assert!(packages
        .iter()
        .all(|p| p["purl"].as_str().unwrap().starts_with("pkg:")));
    assert!(report["findings"].as_array().is_none_or(|f| f.is_empty()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("crowsnest db update"), "{stderr}");
}

#[test]
fn every_format_is_written_and_parses() {
    let data = tempfile::tempdir().unwrap();
    for (format, key) in [
        ("cyclonedx", "bomFormat"),
        ("spdx", "spdxVersion"),
        ("sarif", "runs"),
    ] {
        let out = crowsnest(
            data.path(),
            &["scan", &acme(), "--format", format, "--skip-db"],
        );
        let doc = stdout_json(&out);
        assert!(doc.get(key).is_some(), "{format}: no {key}");
    }
    let table = crowsnest(data.path(), &["scan", &acme(), "--skip-db"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("Packages: 103"), "{text}");
    assert!(text.contains("snakeyaml"), "{text}");
}

#[test]
fn imported_records_become_findings_and_gate_the_exit_code() {
    let data = tempfile::tempdir().unwrap();
    let zips: Vec<String> = ["PyPI", "npm", "Maven", "Go"]
        .iter()
        .map(|e| fixture(&format!("osv/{e}/all.zip")).display().to_string())
        .collect();
    let mut args = vec!["db", "import"];
    args.extend(zips.iter().map(String::as_str));
    let import = crowsnest(data.path(), &args);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );

    let status = stdout_json(&crowsnest(
        data.path(),
        &["db", "status", "--format", "json"],
    ));
    for ecosystem in ["PyPI", "npm", "Maven", "Go"] {
        assert!(
            status["ecosystems"][ecosystem].as_u64().unwrap_or(0) > 0,
            "{ecosystem}: {status}"
        );
    }

    let report = stdout_json(&crowsnest(
        data.path(),
        &["scan", &acme(), "--format", "json"],
    ));
    let findings = report["findings"].as_array().unwrap();
    let has = |id: &str, package: &str| {
        findings.iter().any(|f| {
            f["package_name"] == package
                && (f["id"] == id || f["aliases"].as_array().unwrap().iter().any(|a| a == id))
        })
    };
    // From the npm records: minimist < 1.2.6 is affected by CVE-2021-44906, and 1.2.0 is installed.
    assert!(has("CVE-2021-44906", "minimist"));
    // SnakeYAML < 2.0 (Maven record) with 1.33 installed.
    assert!(has("CVE-2022-1471", "org.yaml:snakeyaml"));
    // urllib3 1.26.4 was replaced by 1.26.18 in layer 3: CVE-2021-33503 (fixed in 1.26.5)
    // must not be reported against the package that is no longer there.
    assert!(!has("CVE-2021-33503", "urllib3"));

    // The gate: only CRITICAL findings, and the chosen exit code when any remain.
    let gated = crowsnest(
        data.path(),
        &[
            "scan",
            &acme(),
            "--format",
            "json",
            "--severity",
            "CRITICAL",
            "--exit-code",
            "5",
        ],
    );
    assert_eq!(gated.status.code(), Some(5));
    let report: Value = serde_json::from_slice(&gated.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f["severity"] == "CRITICAL"));
}

#[test]
fn errors_are_one_line_with_their_code_and_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("no-such-image.tar");
    let out = crowsnest(data.path(), &["scan", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.matches("not_found").count(), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let not_an_image = data.path().join("notes.txt");
    std::fs::write(&not_an_image, "hello").unwrap();
    let out = crowsnest(data.path(), &["scan", not_an_image.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_image"));

    let out = crowsnest(data.path(), &["scan", &acme(), "--severity", "bad"]);
    assert_eq!(out.status.code(), Some(2));
}
