//! CycloneDX 1.5 JSON: the image as the BOM's subject, one component per package (and one for
//! the operating system), and when there are findings, one `vulnerabilities` entry per id
//! pointing at the affected components by `bom-ref`.
//!
//! Field choices follow the 1.5 schema (`bom-1.5.schema.json`): `metadata.tools` in the 1.5
//! object form, `licenses` either all `license` objects or a single `expression` (the schema
//! forbids mixing), CVSS methods `CVSSv31`/`CVSSv3`/`CVSSv4`.

use std::io::Write;

use crowsnest_model::{CvssScore, Finding, Inventory, Package, ScanReport, Severity};
use serde_json::{json, Map, Value};

use crate::license::{self, DeclaredLicense};
use crate::package_ref::{self, purl_of};
use crate::vulnerability::{self, VulnerabilityGroup};
use crate::{rfc3339, write_json, RenderOptions, ReportError};

const IMAGE_REF: &str = "crowsnest:image";
const OS_REF: &str = "crowsnest:operating-system";

pub(crate) fn render(
    report: &ScanReport,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let inv = &report.inventory;
    let refs = package_ref::package_refs(inv);

    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = &inv.distro {
        let mut os = Map::new();
        os.insert("type".into(), json!("operating-system"));
        os.insert("bom-ref".into(), json!(OS_REF));
        os.insert("name".into(), json!(d.id));
        if let Some(v) = &d.version_id {
            os.insert("version".into(), json!(v));
        }
        if let Some(p) = d.pretty_name.as_ref().or(d.name.as_ref()) {
            os.insert("description".into(), json!(p));
        }
        components.push(Value::Object(os));
    }
    for (pkg, bom_ref) in inv.packages.iter().zip(&refs) {
        components.push(component(pkg, bom_ref, purl_of(pkg, inv)));
    }

    // Findings about a package the inventory does not list (a report assembled from two
    // sources) still need a component to point at, or `affects` would dangle.
    let mut finding_refs: Vec<String> = Vec::with_capacity(report.findings.len());
    let mut extra_refs: Vec<String> = Vec::new();
    for f in &report.findings {
        match package_ref::package_of(f, inv).and_then(|i| refs.get(i)) {
            Some(r) => finding_refs.push(r.clone()),
            None => {
                let r = format!("{}#unlisted", f.purl);
                if !extra_refs.contains(&r) {
                    extra_refs.push(r.clone());
                    let pkg = package_from_finding(f);
                    components.push(component(&pkg, &r, f.purl.clone()));
                }
                finding_refs.push(r);
            }
        }
    }

    let serial = options.serial();
    let mut bom = Map::new();
    bom.insert("bomFormat".into(), json!("CycloneDX"));
    bom.insert("specVersion".into(), json!("1.5"));
    bom.insert("serialNumber".into(), json!(format!("urn:uuid:{serial}")));
    bom.insert("version".into(), json!(1));
    bom.insert(
        "metadata".into(),
        json!({
            "timestamp": rfc3339(options.created())?,
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "crowsnest",
                    "version": options.tool_version,
                }]
            },
            "component": image_component(inv),
        }),
    );
    bom.insert("components".into(), Value::Array(components));
    if !report.findings.is_empty() {
        let groups = vulnerability::group(&report.findings);
        let vulns: Vec<Value> = groups
            .iter()
            .map(|g| vulnerability_entry(g, &finding_refs))
            .collect();
        bom.insert("vulnerabilities".into(), Value::Array(vulns));
    }
    write_json(&Value::Object(bom), out)
}

fn image_component(inv: &Inventory) -> Value {
    let src = &inv.source;
    let name = src.tags.first().unwrap_or(&src.reference);
    let mut c = Map::new();
    c.insert("type".into(), json!("container"));
    c.insert("bom-ref".into(), json!(IMAGE_REF));
    c.insert("name".into(), json!(name));
    if let Some(d) = src.image_id.as_ref().or(src.manifest_digest.as_ref()) {
        c.insert("version".into(), json!(d.to_string()));
    }
    let mut props = vec![property("crowsnest:source:kind", &source_kind(inv))];
    if let Some(d) = &src.manifest_digest {
        props.push(property("crowsnest:image:manifest-digest", &d.to_string()));
    }
    if let (Some(os), Some(arch)) = (&src.os, &src.architecture) {
        props.push(property(
            "crowsnest:image:platform",
            &format!("{os}/{arch}"),
        ));
    }
    for l in &inv.layers {
        props.push(property("crowsnest:image:layer", &l.diff_id.to_string()));
    }
    c.insert("properties".into(), Value::Array(props));
    Value::Object(c)
}

fn source_kind(inv: &Inventory) -> String {
    serde_json::to_value(inv.source.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn component(pkg: &Package, bom_ref: &str, purl: String) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), json!("library"));
    c.insert("bom-ref".into(), json!(bom_ref));
    c.insert("name".into(), json!(pkg.name));
    if !pkg.version.is_empty() {
        c.insert("version".into(), json!(pkg.version));
    }
    if !purl.is_empty() {
        c.insert("purl".into(), json!(purl));
    }
    if let Some(l) = licenses(&pkg.licenses) {
        c.insert("licenses".into(), l);
    }
    let mut props = vec![
        property("crowsnest:location", &pkg.location),
        property("crowsnest:found_by", &pkg.found_by),
        property("crowsnest:ecosystem", pkg.ecosystem.purl_type()),
    ];
    if let Some(layer) = &pkg.layer {
        props.push(property("crowsnest:layer", &layer.to_string()));
    }
    if let Some(s) = &pkg.source_name {
        props.push(property("crowsnest:source_name", s));
    }
    if let Some(s) = &pkg.source_version {
        props.push(property("crowsnest:source_version", s));
    }
    if let Some(a) = &pkg.arch {
        props.push(property("crowsnest:arch", a));
    }
    c.insert("properties".into(), Value::Array(props));
    Value::Object(c)
}

fn package_from_finding(f: &Finding) -> Package {
    let mut p = Package::new(
        f.ecosystem,
        f.package_name.clone(),
        f.installed_version.clone(),
        f.location.clone(),
        "",
    );
    p.layer = f.layer.clone();
    p.purl = f.purl.clone();
    p
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

/// The `licenses` array: one `expression` when a compound expression is involved (the schema
/// allows exactly one expression and nothing beside it), else one `license` per entry, with an
/// SPDX `id` where the text is one and a `name` otherwise.
fn licenses(declared: &[String]) -> Option<Value> {
    let classified: Vec<DeclaredLicense> = declared
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| license::classify(l))
        .collect();
    if classified.is_empty() {
        return None;
    }
    let has_expression = classified
        .iter()
        .any(|c| matches!(c, DeclaredLicense::Expression(_)));
    if has_expression {
        if let Some(expr) = license::combined_expression(declared) {
            return Some(json!([{ "expression": expr }]));
        }
    }
    let entries: Vec<Value> = classified
        .into_iter()
        .map(|c| match c {
            DeclaredLicense::Id(id) => json!({ "license": { "id": id } }),
            DeclaredLicense::Expression(text) | DeclaredLicense::Text(text) => {
                json!({ "license": { "name": text } })
            }
        })
        .collect();
    Some(Value::Array(entries))
}

fn vulnerability_entry(group: &VulnerabilityGroup<'_>, finding_refs: &[String]) -> Value {
    let source = vulnerability::advisory_source(group.id);
    let mut v = Map::new();
    v.insert("id".into(), json!(group.id));
    v.insert(
        "source".into(),
        json!({ "name": source.name, "url": source.url }),
    );

    let mut ratings: Vec<Value> = group.cvss().iter().filter_map(rating).collect();
    if ratings.is_empty() {
        ratings.push(json!({ "severity": severity_word(group.severity()) }));
    }
    v.insert("ratings".into(), Value::Array(ratings));

    if let Some(summary) = group.summary() {
        v.insert("description".into(), json!(summary));
    }
    let aliases = group.aliases();
    if !aliases.is_empty() {
        v.insert(
            "references".into(),
            Value::Array(
                aliases
                    .iter()
                    .map(|a| {
                        let s = vulnerability::advisory_source(a);
                        json!({ "id": a, "source": { "name": s.name, "url": s.url } })
                    })
                    .collect(),
            ),
        );
    }
    let advisories: Vec<Value> = group
        .reference_urls()
        .iter()
        .map(|u| json!({ "url": u }))
        .collect();
    if !advisories.is_empty() {
        v.insert("advisories".into(), Value::Array(advisories));
    }

    let recommendations: Vec<String> = group
        .findings
        .iter()
        .filter_map(|f| {
            f.fixed_versions.first().map(|fixed| {
                format!(
                    "Upgrade {} {} to {fixed}",
                    f.package_name, f.installed_version
                )
            })
        })
        .fold(Vec::new(), |mut acc, r| {
            if !acc.contains(&r) {
                acc.push(r);
            }
            acc
        });
    if !recommendations.is_empty() {
        v.insert("recommendation".into(), json!(recommendations.join("; ")));
    }

    let mut affects: Vec<Value> = Vec::new();
    for (f, i) in group.findings.iter().zip(&group.indices) {
        let Some(r) = finding_refs.get(*i) else {
            continue;
        };
        if affects.iter().any(|a| a["ref"] == json!(r)) {
            continue;
        }
        let mut versions = vec![json!({ "version": f.installed_version, "status": "affected" })];
        for fixed in &f.fixed_versions {
            versions.push(json!({ "version": fixed, "status": "unaffected" }));
        }
        affects.push(json!({ "ref": r, "versions": versions }));
    }
    v.insert("affects".into(), Value::Array(affects));
    Value::Object(v)
}

fn rating(c: &CvssScore) -> Option<Value> {
    let method = match c.version.as_str() {
        "3.1" => "CVSSv31",
        "3.0" | "3" => "CVSSv3",
        "4.0" | "4" => "CVSSv4",
        "2.0" | "2" => "CVSSv2",
        _ => "other",
    };
    let score = c.base_score;
    if !score.is_finite() || !(0.0..=10.0).contains(&score) {
        return None;
    }
    Some(json!({
        "score": score,
        "severity": severity_word(Severity::from_cvss_score(score)),
        "method": method,
        "vector": c.vector,
    }))
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}
