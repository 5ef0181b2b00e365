//! End-to-end: `crowsnest scan --scanners ...` with the risk analyzers, the real binary on the
//! fixture image, in JSON, SARIF and table form.

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
fn risk_scanners_report_in_json_sarif_and_table() {
    let data = tempfile::tempdir().unwrap();
    let args = |format: &'static str| {
        vec![
            "scan".to_owned(),
            acme(),
            "--scanners".into(),
            "baseline,secret,malware".into(),
            "--format".into(),
            format.into(),
        ]
    };
    let run = |format| {
        let a = args(format);
        crowsnest(
            data.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    let report = stdout_json(&run("json"));
    assert_eq!(report["schemaVersion"], "1.1");
    assert_eq!(
        report["scanners"],
        serde_json::json!(["baseline", "secret", "malware"])
    );
    let risks = report["risks"].as_array().unwrap();
    let has = |id: &str, path: &str| risks.iter().any(|r| r["id"] == id && r["path"] == path);
    assert!(has("php_webshell_exec_request", "/var/www/html/shell.php"));
    assert!(has("eicar_test_file", "/tmp/eicar.com"));
    assert!(has("private-key", "/root/.ssh/id_rsa"));
    assert!(has("aws-access-key-id", "/srv/web/.env"));
    assert!(has("CN-BL-006", "/usr/local/bin/suid-helper"));
    assert!(has("CN-BL-009", "/etc/shadow"));
    assert_eq!(report["summary"]["severity_level"], "High");
    assert_eq!(report["summary"]["malicious_files"], 2);
    assert_eq!(report["summary"]["vulnerabilities"], 0);
    // No vulnerability matching was asked for, so no note about a missing database either.
    assert!(report["findings"].as_array().unwrap().is_empty());

    let sarif = stdout_json(&run("sarif"));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let shell = results
        .iter()
        .find(|r| r["ruleId"] == "php_webshell_exec_request")
        .unwrap();
    assert_eq!(
        shell["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "var/www/html/shell.php"
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], r["ruleId"],
            "ruleIndex points at the rule"
        );
    }

    let table = run("table");
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("severity level: High"), "{text}");
    assert!(text.contains("CN-BL-010"), "{text}");

    // `--save` stores the risks beside the inventory: the same findings, and the counts the
    // APIs serve (HcCount / unsafe_setting_num, malicious_file_num, AlarmCount) from them.
    let mut saved = args("json");
    saved.push("--save".into());
    let saved_report = stdout_json(&crowsnest(
        data.path(),
        &saved.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let digest = saved_report["inventory"]["source"]["manifest_digest"]
        .as_str()
        .unwrap();
    let store = crowsnest_store::Store::open_data_dir(data.path()).unwrap();
    let stored = store.stored_risks(digest).unwrap().unwrap();
    // The report sorts its risks; the store keeps them in scan order.
    let sorted = |v: &Value| {
        let mut all: Vec<String> = v.as_array().unwrap().iter().map(Value::to_string).collect();
        all.sort();
        all
    };
    assert_eq!(
        sorted(&serde_json::to_value(&stored.findings).unwrap()),
        sorted(&saved_report["risks"])
    );
    let summary = &saved_report["summary"];
    assert_eq!(summary["unsafe_settings"], stored.summary.unsafe_settings);
    assert_eq!(summary["malicious_files"], stored.summary.malicious_files);
    assert_eq!(summary["alarms"], stored.summary.alarms);
    assert_eq!(
        summary["severity_level"],
        stored.summary.severity_level.as_str()
    );
}

#[test]
fn unknown_scanner_and_broken_rules_are_invalid_parameters() {
    let data = tempfile::tempdir().unwrap();
    let out = crowsnest(data.path(), &["scan", &acme(), "--scanners", "vuln,virus"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: InvalidParameter: "), "{stderr}");

    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("bad.yar"), "rule bad { condition: nope }").unwrap();
    let out = crowsnest(
        data.path(),
        &[
            "scan",
            &acme(),
            "--yara-rules",
            rules.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("InvalidParameter") && stderr.contains("bad.yar"),
        "{stderr}"
    );
}
