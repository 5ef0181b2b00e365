//! SPDX 2.3 JSON: the image as the described package, containing the operating system and
//! every package found.
//!
//! SPDX is strict where scanners are sloppy: SPDXIDs may hold only letters, digits, `.` and `-`;
//! `licenseDeclared` must be a valid expression or `NOASSERTION`; the namespace must be a unique
//! URI without `#`. Each of those is built here rather than copied from the image.

use std::io::Write;

use crowsnest_model::{Inventory, ScanReport};
use serde_json::{json, Map, Value};

use crate::package_ref::{dedup, purl_of};
use crate::{license, rfc3339, write_json, RenderOptions, ReportError};

const IMAGE_ID: &str = "SPDXRef-Image";
const OS_ID: &str = "SPDXRef-OperatingSystem";
const NOASSERTION: &str = "NOASSERTION";
/// Cap on the name part of an SPDXID; long Maven coordinates would otherwise make huge ids.
const MAX_ID_NAME: usize = 120;

pub(crate) fn render(
    report: &ScanReport,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let inv = &report.inventory;
    let image_name = inv.source.tags.first().unwrap_or(&inv.source.reference);
    let tool = format!("Tool: crowsnest-{}", options.tool_version);

    let mut packages: Vec<Value> = Vec::with_capacity(inv.packages.len() + 2);
    let mut relationships: Vec<Value> = Vec::with_capacity(inv.packages.len() + 2);
    packages.push(image_package(inv, image_name));
    relationships.push(relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID));

    if let Some(d) = &inv.distro {
        let mut os = base_package(OS_ID, &d.id);
        if let Some(v) = &d.version_id {
            os.insert("versionInfo".into(), json!(v));
        }
        if let Some(p) = d.pretty_name.as_ref().or(d.name.as_ref()) {
            os.insert("description".into(), json!(p));
        }
        os.insert("primaryPackagePurpose".into(), json!("OPERATING-SYSTEM"));
        packages.push(Value::Object(os));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", OS_ID));
    }

    let ids = dedup(
        inv.packages
            .iter()
            .map(|p| {
                let key = format!("{}-{}-{}", p.ecosystem.purl_type(), p.name, p.version);
                format!("SPDXRef-Package-{}", spdx_id_part(&key))
            })
            .collect(),
    )
    .into_iter()
    // `dedup` suffixes with `#n`, which SPDXIDs cannot hold.
    .map(|id| id.replace('#', "-"))
    .collect::<Vec<_>>();

    for (pkg, id) in inv.packages.iter().zip(&ids) {
        let mut p = base_package(id, &pkg.name);
        if !pkg.version.is_empty() {
            p.insert("versionInfo".into(), json!(pkg.version));
        }
        let declared =
            license::combined_expression(&pkg.licenses).unwrap_or_else(|| NOASSERTION.into());
        p.insert("licenseDeclared".into(), json!(declared));
        let purl = purl_of(pkg, inv);
        if !purl.is_empty() {
            p.insert(
                "externalRefs".into(),
                json!([{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl,
                }]),
            );
        }
        let mut info = format!("found by {} in {}", pkg.found_by, pkg.location);
        if let Some(layer) = &pkg.layer {
            info.push_str(&format!(" (layer {layer})"));
        }
        p.insert("sourceInfo".into(), json!(info));
        if let Some(src) = &pkg.source_name {
            if src != &pkg.name {
                p.insert(
                    "comment".into(),
                    json!(format!("built from source package {src}")),
                );
            }
        }
        packages.push(Value::Object(p));
        relationships.push(relationship(IMAGE_ID, "CONTAINS", id));
    }

    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_name,
        "documentNamespace": format!(
            "https://crowsnest.invalid/spdx/{}-{}",
            namespace_part(image_name),
            options.serial()
        ),
        "creationInfo": {
            "created": rfc3339(options.created())?,
            "creators": [tool],
        },
        "packages": packages,
        "relationships": relationships,
    });
    write_json(&doc, out)
}

fn image_package(inv: &Inventory, name: &str) -> Value {
    let mut p = base_package(IMAGE_ID, name);
    if let Some(d) = inv
        .source
        .image_id
        .as_ref()
        .or(inv.source.manifest_digest.as_ref())
    {
        p.insert("versionInfo".into(), json!(d.to_string()));
    }
    p.insert("primaryPackagePurpose".into(), json!("CONTAINER"));
    Value::Object(p)
}

/// The fields every package needs, set to what a scan of installed files can honestly say.
fn base_package(id: &str, name: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("SPDXID".into(), json!(id));
    p.insert("name".into(), json!(name));
    p.insert("downloadLocation".into(), json!(NOASSERTION));
    p.insert("filesAnalyzed".into(), json!(false));
    p.insert("licenseConcluded".into(), json!(NOASSERTION));
    p.insert("licenseDeclared".into(), json!(NOASSERTION));
    p.insert("copyrightText".into(), json!(NOASSERTION));
    p.insert("supplier".into(), json!(NOASSERTION));
    p
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": from,
        "relationshipType": kind,
        "relatedSpdxElement": to,
    })
}

/// `s` reduced to what an SPDXID may hold (`[A-Za-z0-9.-]`), other runs becoming one `-`.
fn spdx_id_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_ID_NAME));
    for c in s.chars() {
        if out.len() >= MAX_ID_NAME {
            break;
        }
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The image name made safe for a URI path segment.
fn namespace_part(s: &str) -> String {
    let part = spdx_id_part(s);
    if part.is_empty() {
        "image".to_owned()
    } else {
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hold_only_allowed_characters() {
        assert_eq!(
            spdx_id_part("maven-org.yaml:snakeyaml-1.33"),
            "maven-org.yaml-snakeyaml-1.33"
        );
        assert_eq!(
            spdx_id_part("npm-@babel/core-7.0.0"),
            "npm-babel-core-7.0.0"
        );
        assert_eq!(
            spdx_id_part("deb-libc6-2.36-9+deb12u4"),
            "deb-libc6-2.36-9-deb12u4"
        );
        assert!(spdx_id_part(&"x".repeat(1000)).len() <= MAX_ID_NAME);
    }
}
