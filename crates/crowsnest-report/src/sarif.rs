//! SARIF 2.1.0 for the findings, in the shape GitHub code scanning reads: one rule per
//! vulnerability id carrying `security-severity` (GitHub's severity comes from that CVSS-like
//! score, not from `level`), one result per affected package located at the file the package
//! was found in. Risks follow: one rule per check or rule id (tagged with its kind), one
//! result per finding at its file and line; an image setting, which has no file, is located at
//! the image itself.

use std::io::Write;

use crowsnest_model::{Finding, RiskFinding, ScanReport, Severity};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Map, Value};

use crate::vulnerability::{self, headline_score};
use crate::{write_json, RenderOptions, ReportError};

const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Characters escaped in artifact URIs: those a URI reference cannot hold as they are. `/` stays,
/// so the path keeps its shape.
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

pub(crate) fn render(
    report: &ScanReport,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let groups = vulnerability::group(&report.findings);
    let mut rules: Vec<Value> = Vec::with_capacity(groups.len());
    let mut results: Vec<Value> = Vec::with_capacity(report.findings.len());
    for (rule_index, g) in groups.iter().enumerate() {
        let severity = g.severity();
        let score = headline_score(g.cvss()).unwrap_or_else(|| nominal_score(severity));
        let source = vulnerability::advisory_source(g.id);
        let summary = g.summary().unwrap_or(g.id);
        let mut full = summary.to_owned();
        let aliases = g.aliases();
        if !aliases.is_empty() {
            full.push_str(&format!(" (also known as {})", aliases.join(", ")));
        }
        let mut help_md = format!(
            "**Vulnerability {}**\n\n| Severity | Package | Installed | Fixed |\n| --- | --- | --- | --- |\n",
            markdown_cell(g.id)
        );
        for f in &g.findings {
            help_md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                f.severity.as_str(),
                markdown_cell(&f.package_name),
                markdown_cell(&f.installed_version),
                markdown_cell(&f.fixed_versions.join(", "))
            ));
        }
        help_md.push_str(&format!("\n[{}]({})\n", markdown_cell(g.id), source.url));
        for r in g.reference_urls() {
            help_md.push_str(&format!("- <{r}>\n"));
        }
        rules.push(json!({
            "id": g.id,
            "shortDescription": { "text": summary },
            "fullDescription": { "text": full },
            "helpUri": source.url,
            "help": {
                "text": format!("Vulnerability {}\nSeverity: {}\n{}", g.id, severity.as_str(), source.url),
                "markdown": help_md,
            },
            "defaultConfiguration": { "level": level(severity) },
            "properties": {
                "security-severity": format!("{score:.1}"),
                "precision": "very-high",
                "tags": ["vulnerability", "security", severity.as_str()],
            },
        }));
        for f in &g.findings {
            results.push(result(f, rule_index));
        }
    }

    let mut risk_rules: Vec<&str> = Vec::new();
    for r in &report.risks {
        let rule_index = match risk_rules.iter().position(|id| *id == r.id) {
            Some(i) => rules.len() - risk_rules.len() + i,
            None => {
                risk_rules.push(&r.id);
                rules.push(risk_rule(r));
                rules.len() - 1
            }
        };
        results.push(risk_result(
            r,
            rule_index,
            &report.inventory.source.reference,
        ));
    }

    let mut driver = Map::new();
    driver.insert("name".into(), json!("crowsnest"));
    if let Some(uri) = &options.information_uri {
        driver.insert("informationUri".into(), json!(uri));
    }
    driver.insert("version".into(), json!(options.tool_version));
    driver.insert("rules".into(), Value::Array(rules));

    let mut run = Map::new();
    run.insert("tool".into(), json!({ "driver": driver }));
    run.insert("results".into(), Value::Array(results));
    run.insert("columnKind".into(), json!("utf16CodeUnits"));
    run.insert(
        "originalUriBaseIds".into(),
        json!({ "ROOTPATH": { "uri": "file:///" } }),
    );
    run.insert(
        "properties".into(),
        json!({ "imageName": report.inventory.source.reference }),
    );

    let log = json!({
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [Value::Object(run)],
    });
    write_json(&log, out)
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let fixed = if f.fixed_versions.is_empty() {
        "none known".to_owned()
    } else {
        f.fixed_versions.join(", ")
    };
    let text = format!(
        "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nLink: [{}]({})",
        f.package_name,
        f.installed_version,
        f.id,
        f.severity.as_str(),
        fixed,
        f.id,
        vulnerability::advisory_source(&f.id).url,
    );
    let uri = artifact_uri(&f.location);
    let mut props = Map::new();
    props.insert("purl".into(), json!(f.purl));
    if let Some(layer) = &f.layer {
        props.insert("layer".into(), json!(layer.to_string()));
    }
    json!({
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri, "uriBaseId": "ROOTPATH" },
                // GitHub refuses results without a region; a package has no line, so the
                // first line stands for the whole file, as other image scanners do.
                "region": { "startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1 },
            },
            "message": { "text": format!("{}@{}", f.package_name, f.installed_version) },
        }],
        "properties": Value::Object(props),
    })
}

/// The rule of a risk check, from its first finding (every finding of one id shares title,
/// severity and remediation).
fn risk_rule(r: &RiskFinding) -> Value {
    json!({
        "id": r.id,
        "shortDescription": { "text": r.title },
        "fullDescription": { "text": r.title },
        "help": {
            "text": format!("{}\nSeverity: {}\nRemediation: {}", r.title, r.severity.as_str(), r.remediation),
            "markdown": format!(
                "**{}**\n\n| Type | Severity |\n| --- | --- |\n| {} | {} |\n\nRemediation: {}\n",
                markdown_cell(&r.title),
                r.kind.as_str(),
                r.severity.as_str(),
                markdown_cell(&r.remediation)
            ),
        },
        "defaultConfiguration": { "level": level(r.severity) },
        "properties": {
            "security-severity": format!("{:.1}", nominal_score(r.severity)),
            "precision": "high",
            "tags": [r.kind.as_str(), "security", r.severity.as_str()],
        },
    })
}

fn risk_result(r: &RiskFinding, rule_index: usize, image: &str) -> Value {
    let mut text = format!("{}\nSeverity: {}", r.title, r.severity.as_str());
    if let Some(detail) = &r.detail {
        text.push_str(&format!("\n{detail}"));
    }
    if let Some(excerpt) = &r.excerpt {
        text.push_str(&format!("\nLine (redacted): {excerpt}"));
    }
    let (uri, line) = match &r.path {
        Some(p) => (artifact_uri(p), r.line.unwrap_or(1)),
        // An image setting has no file: point at the image itself, first line, as GitHub
        // needs a location.
        None => {
            let name = std::path::Path::new(image.split(':').next().unwrap_or(image))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| image.to_owned());
            (artifact_uri(&name), 1)
        }
    };
    let mut props = Map::new();
    props.insert("kind".into(), json!(r.kind.as_str()));
    if let Some(layer) = &r.layer {
        props.insert("layer".into(), json!(layer.to_string()));
    }
    json!({
        "ruleId": r.id,
        "ruleIndex": rule_index,
        "level": level(r.severity),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri, "uriBaseId": "ROOTPATH" },
                "region": { "startLine": line, "startColumn": 1, "endLine": line, "endColumn": 1 },
            },
        }],
        "properties": Value::Object(props),
    })
}

/// GitHub shows `error` for critical and high, `warning` for medium, `note` below.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// A score inside the severity's CVSS band, for vulnerabilities the database rates only by word;
/// GitHub derives its severity from `security-severity` alone, so it must land in the right band.
fn nominal_score(s: Severity) -> f64 {
    match s {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    }
}

/// The package location as a relative URI: no leading `/` (GitHub resolves it against the
/// checkout) and escaped where a URI cannot hold the character.
fn artifact_uri(location: &str) -> String {
    let rel = location.trim_start_matches('/');
    utf8_percent_encode(rel, URI_PATH).to_string()
}

fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_relative_uris() {
        assert_eq!(artifact_uri("/var/lib/dpkg/status"), "var/lib/dpkg/status");
        assert_eq!(
            artifact_uri("/opt/my app/x#1.jar"),
            "opt/my%20app/x%231.jar"
        );
    }

    #[test]
    fn nominal_scores_land_in_their_band() {
        for s in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(Severity::from_cvss_score(nominal_score(s)), s);
        }
    }
}
