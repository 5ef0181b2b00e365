//! Snapshots of the human table and the JSON report, the two outputs no outside validator can
//! judge, plus the properties of the table that must hold whatever the snapshot says.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sample;

use crowsnest_report::{render, Format, RenderOptions};

fn rendered(
    report: &crowsnest_model::ScanReport,
    format: Format,
    options: &RenderOptions,
) -> String {
    let mut buf = Vec::new();
    render(report, format, options, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn table_plain() {
    let out = rendered(
        &sample::acme_shop(),
        Format::Table,
        &sample::fixed_options(),
    );
    insta::assert_snapshot!(out);
}

#[test]
fn table_wrapped_to_80_columns() {
    let options = RenderOptions {
        width: Some(80),
        ..sample::fixed_options()
    };
    let out = rendered(&sample::acme_shop(), Format::Table, &options);
    // Tables wrap; free-text lines (warnings) are left for the terminal to wrap.
    let table_lines = out
        .lines()
        .filter(|l| l.starts_with(['│', '┌', '├', '└', '╞']));
    for line in table_lines {
        assert!(
            line.chars().count() <= 80,
            "table line wider than 80: {line:?}"
        );
    }
    insta::assert_snapshot!(out);
}

#[test]
fn table_sbom_only_has_no_vulnerability_section() {
    let out = rendered(
        &sample::acme_shop_sbom_only(),
        Format::Table,
        &sample::fixed_options(),
    );
    assert!(!out.contains("Total:"));
    assert!(out.contains("Packages: 18"));
}

#[test]
fn table_without_colour_has_no_escapes_and_with_colour_has_them() {
    let report = sample::acme_shop();
    let plain = rendered(&report, Format::Table, &sample::fixed_options());
    assert!(!plain.contains('\x1b'));
    let options = RenderOptions {
        colour: true,
        ..sample::fixed_options()
    };
    let coloured = rendered(&report, Format::Table, &options);
    assert!(
        coloured.contains("\x1b["),
        "no ANSI escapes in coloured output"
    );
    assert!(coloured.contains("CRITICAL"));
}

#[test]
fn table_summary_counts_every_severity() {
    let report = sample::acme_shop();
    let out = rendered(&report, Format::Table, &sample::fixed_options());
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    use crowsnest_model::Severity::*;
    let expected = format!(
        "Total: {} (CRITICAL: {}, HIGH: {}, MEDIUM: {}, LOW: {}, UNKNOWN: {})",
        report.findings.len(),
        count(Critical),
        count(High),
        count(Medium),
        count(Low),
        count(Unknown)
    );
    assert!(out.contains(&expected), "missing {expected:?} in\n{out}");
}

#[test]
fn table_neutralises_escape_sequences_from_the_image() {
    let mut report = sample::acme_shop();
    report.inventory.packages[0].name = "evil\x1b]0;pwned\x07\x1b[2J".into();
    report.findings[0].summary = Some("title\r\nwith \x1b[31mred".into());
    let out = rendered(&report, Format::Table, &sample::fixed_options());
    assert!(!out.contains('\x1b'));
    assert!(!out.contains('\x07'));
}

#[test]
fn json_report() {
    let out = rendered(&sample::acme_shop(), Format::Json, &sample::fixed_options());
    insta::assert_snapshot!(out);
}

#[test]
fn json_round_trips_to_the_same_report() {
    let report = sample::acme_shop();
    let out = rendered(&report, Format::Json, &sample::fixed_options());
    let mut value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["schemaVersion"], crowsnest_report::SCHEMA_VERSION);
    value.as_object_mut().unwrap().remove("schemaVersion");
    let back: crowsnest_model::ScanReport = serde_json::from_value(value).unwrap();
    assert_eq!(back, report);
}
