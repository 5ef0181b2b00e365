//! An image: its placement (found by UUID in the signed-in tenant only), the stored inventory of
//! its digest (layers, packages), the vulnerabilities the server's database matches against it
//! now (with fixed versions), and the stored risk findings (baseline, secrets, malicious
//! files); plus its SBOM (CycloneDX) and SARIF, rendered by `crowsnest-report` from the same
//! data.
//!
//! The same page serves a registry placement (`/console/images/{uuid}`) and an image digest
//! the tenant's hosts hold (`/console/digests/{digest}`, linked from the local images page).
//! Stored inventories are kept per digest whatever tenants use the image, so the lookup in the
//! caller's tenant (the placement by UUID, or a local image of the digest) comes first: an
//! image of another tenant is "not found".

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use crowsnest_api::huawei::registry_images::scan_status;
use crowsnest_api::huawei::{ACTION_LIST_LOCAL_IMAGES, ACTION_LIST_REGISTRY_IMAGES};
use crowsnest_model::{
    DbInfo, Finding, RiskFinding, RiskKind, RiskSummary, ScanReport, ScannerKind,
};
use crowsnest_report::{Format, RenderOptions};
use crowsnest_store::{
    Field, Filter, ImageChild, PlacementOrder, PlacementQuery, PlacementRow, StoredInventory,
};

use super::{query_pairs, signed_in};
use crate::html::Html;
use crate::layout::{error_page, internal, list_table, page, respond, severity, size, time};
use crate::session::Session;
use crate::Console;

/// Whose page it is, as found in the caller's tenant.
enum Subject {
    /// A registry placement, with the platforms of a multi-arch index.
    Placement {
        row: Box<PlacementRow>,
        children: Vec<ImageChild>,
    },
    /// An image digest the tenant's hosts hold, under these names and versions.
    Local { names: Vec<(String, String)> },
}

/// Everything the page and the downloads show of one image.
struct Loaded {
    subject: Subject,
    /// The page's own path: its downloads and platform links hang below it.
    base: String,
    /// The digest shown: the placement's, the chosen platform's of a multi-arch index, or the
    /// local image's.
    digest: String,
    inventory: Option<StoredInventory>,
    risks: Option<crowsnest_store::StoredRisks>,
    findings: Vec<Finding>,
    db: Option<DbInfo>,
    /// Why vulnerabilities could not be matched, if they could not.
    match_note: Option<String>,
}

/// Names of a local image listed on its page at most.
const MAX_LOCAL_NAMES: i64 = 50;

fn not_found(session: &Session, uuid: &str) -> Response {
    error_page(
        Some(session),
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no image {uuid:?} in your tenant"),
    )
}

/// The placement `uuid` of the caller's tenant and the digest shown (`platform`, one of its
/// children, or its own).
fn find_placement(
    console: &Console,
    session: &Session,
    uuid: &str,
    platform: Option<&str>,
) -> Result<(Subject, String), Response> {
    if uuid.is_empty() || uuid.len() > 128 {
        return Err(not_found(session, uuid));
    }
    let store = &console.app.store;
    let found = store
        .placements(
            session.caller.tenant,
            &PlacementQuery {
                filter: Filter::Eq(Field::Uuid, uuid.into()),
                order: PlacementOrder::Id,
                offset: 0,
                limit: 1,
            },
        )
        .map_err(|e| internal(Some(session), e))?;
    let Some(row) = found.rows.first().cloned() else {
        return Err(not_found(session, uuid));
    };
    let children = if row.is_multiarch {
        store
            .image_children(&[row.image_row])
            .map_err(|e| internal(Some(session), e))?
    } else {
        Default::default()
    };
    // A platform must be one of this index's children: never an arbitrary digest.
    let digest = match platform {
        Some(d) => children
            .iter()
            .find(|c| c.digest == d)
            .map(|c| c.digest.clone())
            .ok_or_else(|| not_found(session, d))?,
        None => children
            .first()
            .map_or_else(|| row.digest.clone(), |c| c.digest.clone()),
    };
    let row = Box::new(row);
    let children = children.to_vec();
    Ok((Subject::Placement { row, children }, digest))
}

/// The image `digest` when a host of the caller's tenant holds it.
fn find_local(console: &Console, session: &Session, digest: &str) -> Result<Subject, Response> {
    if digest.parse::<crowsnest_model::Digest>().is_err() {
        return Err(not_found(session, digest));
    }
    let names = console
        .app
        .store
        .local_image_names(session.caller.tenant, digest, MAX_LOCAL_NAMES)
        .map_err(|e| internal(Some(session), e))?;
    if names.is_empty() {
        return Err(not_found(session, digest));
    }
    Ok(Subject::Local { names })
}

/// The stored inventory and risks of `digest` and its vulnerabilities matched now.
fn load(
    console: &Console,
    session: &Session,
    subject: Subject,
    base: String,
    digest: String,
) -> Result<Loaded, Response> {
    let store = &console.app.store;
    let inventory = store
        .stored_inventory(&digest)
        .map_err(|e| internal(Some(session), e))?;
    let risks = store
        .stored_risks(&digest)
        .map_err(|e| internal(Some(session), e))?;
    let mut findings = Vec::new();
    let mut db = None;
    let mut match_note = None;
    if let Some(inv) = &inventory {
        match console.app.settings.vulndb.as_deref() {
            Some(path) if path.is_file() => {
                let matched = crowsnest_vulndb::VulnDb::open(path).and_then(|vdb| {
                    let info = vdb.status()?.db_info();
                    let found = crowsnest_vulndb::match_inventory(&vdb, &inv.inventory)?;
                    Ok((found, info))
                });
                match matched {
                    Ok((found, info)) => {
                        findings = found;
                        db = Some(info);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "matching an image for the console");
                        match_note = Some(format!(
                            "vulnerabilities could not be matched: {}",
                            e.code().as_str()
                        ));
                    }
                }
            }
            _ => {
                match_note = Some(
                    "the server has no vulnerability database (crowsnest db update); packages only"
                        .into(),
                )
            }
        }
    }
    Ok(Loaded {
        subject,
        base,
        digest,
        inventory,
        risks,
        findings,
        db,
        match_note,
    })
}

/// A table of the page, "None." when it has no `rows`.
fn table(
    h: &mut Html,
    id: &'static str,
    columns: &[&str],
    rows: usize,
    body: impl FnOnce(&mut Html),
) {
    list_table(h, id, columns, (rows == 0).then_some("None."), body);
}

fn risk_section(h: &mut Html, title: &str, id: &'static str, risks: &[&RiskFinding]) {
    h.el("section", &[], |h| {
        h.el("h2", &[], |h| {
            h.text(title)
                .text(" (")
                .num(i64::try_from(risks.len()).unwrap_or(0))
                .text(")");
        });
        table(
            h,
            id,
            &["Id", "Severity", "Title", "Path", "Detail", "Remediation"],
            risks.len(),
            |h| {
                for r in risks {
                    h.el("tr", &[], |h| {
                        h.leaf("td", &[], &r.id);
                        h.el("td", &[], |h| severity(h, r.severity.as_str()));
                        h.leaf("td", &[], &r.title);
                        h.el("td", &[], |h| {
                            h.text(r.path.as_deref().unwrap_or(""));
                            if let Some(line) = r.line {
                                h.text(":").num(i64::from(line));
                            }
                        });
                        h.el("td", &[], |h| {
                            h.text(r.detail.as_deref().unwrap_or(""));
                            if let Some(x) = &r.excerpt {
                                h.leaf("code", &[], x);
                            }
                        });
                        h.leaf("td", &[], &r.remediation);
                    });
                }
            },
        );
    });
}

/// The page's title, the navigation entry it sits under, its facts and its severity.
fn header(l: &Loaded) -> (String, &'static str, Vec<(&'static str, String)>, String) {
    match &l.subject {
        Subject::Placement { row, .. } => {
            let name = if row.namespace.is_empty() {
                row.repo_name.clone()
            } else {
                format!("{}/{}", row.namespace, row.repo_name)
            };
            let scan = row.scan.as_ref();
            let facts = vec![
                ("Digest", l.digest.clone()),
                (
                    "Registry",
                    format!("{} ({})", row.registry_name, row.registry_type),
                ),
                ("Scan", scan_status(scan).to_owned()),
                ("Last scan", time(scan.and_then(|s| s.finished_ms))),
                ("Size", size(row.size_bytes)),
                (
                    "Vulnerabilities (stored)",
                    scan.map_or(0, |s| s.vul_count).to_string(),
                ),
                (
                    "Unsafe settings",
                    scan.map_or(0, |s| s.baseline_count).to_string(),
                ),
                (
                    "Malicious files",
                    scan.map_or(0, |s| s.malicious_count).to_string(),
                ),
            ];
            let level = scan.map_or_else(String::new, |s| s.severity.clone());
            (
                format!("{name}:{}", row.tag),
                "/console/registry-images",
                facts,
                level,
            )
        }
        Subject::Local { names } => {
            let named: Vec<String> = names.iter().map(|(n, v)| format!("{n}:{v}")).collect();
            let risks = l.risks.as_ref();
            let summary = RiskSummary::derive(
                l.findings.iter().map(|f| f.severity),
                risks.map_or(&[][..], |r| &r.findings[..]),
            );
            let facts = vec![
                ("Digest", l.digest.clone()),
                ("Held by hosts as", named.join(", ")),
                (
                    "Last scan",
                    time(l.inventory.as_ref().map(|i| i.indexed_ms)),
                ),
                (
                    "Vulnerabilities (stored)",
                    l.inventory
                        .as_ref()
                        .map_or(0, |i| i.counts.total())
                        .to_string(),
                ),
                ("Unsafe settings", summary.unsafe_settings.to_string()),
                ("Malicious files", summary.malicious_files.to_string()),
            ];
            let level = if l.inventory.is_some() {
                summary.severity_level.as_str().to_owned()
            } else {
                String::new()
            };
            (
                named.first().cloned().unwrap_or_default(),
                "/console/local-images",
                facts,
                level,
            )
        }
    }
}

fn render(session: &Session, l: &Loaded) -> String {
    let (title, current, facts, level) = header(l);
    page(Some(session), current, &title, |h| {
        h.el("dl", &[("class", "facts")], |h| {
            for (k, v) in facts {
                h.leaf("dt", &[], k);
                h.leaf("dd", &[], &v);
            }
            h.leaf("dt", &[], "Severity");
            h.el("dd", &[], |h| severity(h, &level));
        });
        let children = match &l.subject {
            Subject::Placement { children, .. } => &children[..],
            Subject::Local { .. } => &[],
        };
        if !children.is_empty() {
            h.el("section", &[], |h| {
                h.leaf("h2", &[], "Platforms");
                h.el("ul", &[("class", "platforms")], |h| {
                    for c in children {
                        h.el("li", &[], |h| {
                            let href = format!(
                                "{}?{}",
                                l.base,
                                crate::layout::query_string(&[(
                                    "platform".into(),
                                    c.digest.clone()
                                )])
                            );
                            let label = format!("{} {}", c.platform, c.digest);
                            if c.digest == l.digest {
                                h.leaf("strong", &[], &label);
                            } else {
                                h.leaf("a", &[("href", &href)], &label);
                            }
                        });
                    }
                });
            });
        }
        let Some(stored) = &l.inventory else {
            h.leaf(
                "p",
                &[("class", "note"), ("id", "no-inventory")],
                "No stored inventory for this digest yet: scan it (a scan task, or crowsnest registry sync --scan).",
            );
            return;
        };
        let inv = &stored.inventory;
        h.el("p", &[("class", "downloads")], |h| {
            let q = if children.is_empty() {
                String::new()
            } else {
                format!(
                    "?{}",
                    crate::layout::query_string(&[("platform".into(), l.digest.clone())])
                )
            };
            let sbom = format!("{}/sbom.cdx.json{q}", l.base);
            let sarif = format!("{}/report.sarif{q}", l.base);
            h.leaf(
                "a",
                &[("href", &sbom), ("download", ""), ("id", "download-sbom")],
                "Download SBOM (CycloneDX)",
            );
            h.leaf(
                "a",
                &[("href", &sarif), ("download", ""), ("id", "download-sarif")],
                "Download SARIF",
            );
        });
        if let Some(distro) = &inv.distro {
            h.el("p", &[], |h| {
                h.text("Operating system: ").text(&distro.id).text(" ");
                h.text(distro.version_id.as_deref().unwrap_or(""));
            });
        }
        h.el("section", &[], |h| {
            h.leaf("h2", &[], "Layers");
            table(
                h,
                "layers",
                &["#", "Digest", "Size", "Packages", "Created by"],
                inv.layers.len(),
                |h| {
                    for layer in &inv.layers {
                        // A package names its layer by diff id (the uncompressed tar's digest,
                        // as the config's rootfs lists it), not by the stored blob's digest.
                        let packages = inv
                            .packages
                            .iter()
                            .filter(|p| p.layer.as_ref() == Some(&layer.diff_id))
                            .count();
                        h.el("tr", &[], |h| {
                            h.el("td", &[("class", "num")], |h| {
                                h.num(i64::try_from(layer.index).unwrap_or(0));
                            });
                            h.leaf("td", &[("class", "digest")], &layer.digest.to_string());
                            h.leaf(
                                "td",
                                &[("class", "num")],
                                &size(i64::try_from(layer.size).unwrap_or(i64::MAX)),
                            );
                            h.el("td", &[("class", "num")], |h| {
                                h.num(i64::try_from(packages).unwrap_or(0));
                            });
                            h.leaf(
                                "td",
                                &[("class", "created-by")],
                                layer.created_by.as_deref().unwrap_or(""),
                            );
                        });
                    }
                },
            );
        });
        h.el("section", &[], |h| {
            h.el("h2", &[], |h| {
                h.text("Vulnerabilities (")
                    .num(i64::try_from(l.findings.len()).unwrap_or(0))
                    .text(")");
            });
            if let Some(note) = &l.match_note {
                h.leaf("p", &[("class", "note")], note);
            }
            table(
                h,
                "vulnerabilities",
                &[
                    "Id",
                    "Severity",
                    "Package",
                    "Installed",
                    "Fixed in",
                    "Summary",
                ],
                l.findings.len(),
                |h| {
                    for f in &l.findings {
                        h.el("tr", &[], |h| {
                            h.leaf("td", &[], &f.id);
                            h.el("td", &[], |h| severity(h, f.severity.as_str()));
                            h.el("td", &[], |h| {
                                h.text(&f.package_name).text(" ");
                                h.leaf("span", &[("class", "eco")], f.ecosystem.purl_type());
                            });
                            h.leaf("td", &[], &f.installed_version);
                            h.leaf("td", &[("class", "fixed")], &f.fixed_versions.join(", "));
                            h.leaf("td", &[], f.summary.as_deref().unwrap_or(""));
                        });
                    }
                },
            );
        });
        let risks: Vec<&RiskFinding> = l
            .risks
            .as_ref()
            .map(|r| r.findings.iter().collect())
            .unwrap_or_default();
        for (kind, title, id) in [
            (RiskKind::Baseline, "Baseline findings", "baseline"),
            (RiskKind::Secret, "Secrets", "secrets"),
            (RiskKind::Malware, "Malicious files", "malware"),
        ] {
            let of_kind: Vec<&RiskFinding> =
                risks.iter().copied().filter(|r| r.kind == kind).collect();
            risk_section(h, title, id, &of_kind);
        }
        if l.risks.is_none() {
            h.leaf(
                "p",
                &[("class", "note")],
                "The risk analyzers (baseline, secrets, malware) have not run on this image.",
            );
        }
        h.el("section", &[], |h| {
            h.el("h2", &[], |h| {
                h.text("Packages (")
                    .num(i64::try_from(inv.packages.len()).unwrap_or(0))
                    .text(")");
            });
            table(
                h,
                "packages",
                &["Name", "Version", "Type", "Licenses", "Location"],
                inv.packages.len(),
                |h| {
                    for p in &inv.packages {
                        h.el("tr", &[], |h| {
                            h.leaf("td", &[], &p.name);
                            h.leaf("td", &[], &p.version);
                            h.leaf("td", &[], p.ecosystem.purl_type());
                            h.leaf("td", &[], &p.licenses.join(", "));
                            h.leaf("td", &[("class", "location")], &p.location);
                        });
                    }
                },
            );
        });
    })
}

/// Which image a request names.
enum Named {
    /// A registry placement by UUID.
    Placement(String),
    /// An image digest the tenant's hosts hold.
    Local(String),
}

async fn loaded(
    console: Console,
    headers: HeaderMap,
    uri: Uri,
    named: Named,
    then: fn(&Session, &Loaded) -> Response,
) -> Result<Response, Response> {
    let action = match named {
        Named::Placement(_) => ACTION_LIST_REGISTRY_IMAGES,
        Named::Local(_) => ACTION_LIST_LOCAL_IMAGES,
    };
    let session = signed_in(&console, &headers, action)?;
    let pairs = query_pairs(&uri, Some(&session))?;
    crate::blocking(move || {
        let (subject, base, digest) = match named {
            Named::Placement(uuid) => {
                let (subject, digest) =
                    find_placement(&console, &session, &uuid, pairs.get("platform"))?;
                (subject, format!("/console/images/{uuid}"), digest)
            }
            Named::Local(digest) => {
                let subject = find_local(&console, &session, &digest)?;
                (subject, format!("/console/digests/{digest}"), digest)
            }
        };
        let l = load(&console, &session, subject, base, digest)?;
        Ok(then(&session, &l))
    })
    .await
}

fn show(session: &Session, l: &Loaded) -> Response {
    respond(StatusCode::OK, render(session, l))
}

fn sbom_of(session: &Session, l: &Loaded) -> Response {
    report(session, l, Format::CycloneDx, "sbom.cdx.json")
}

fn sarif_of(session: &Session, l: &Loaded) -> Response {
    report(session, l, Format::Sarif, "report.sarif")
}

/// `GET /console/images/{uuid}`.
pub async fn page_get(
    State(console): State<Console>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Placement(uuid), show).await
}

/// `GET /console/images/{uuid}/sbom.cdx.json`.
pub async fn sbom(
    State(console): State<Console>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Placement(uuid), sbom_of).await
}

/// `GET /console/images/{uuid}/report.sarif`.
pub async fn sarif(
    State(console): State<Console>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Placement(uuid), sarif_of).await
}

/// `GET /console/digests/{digest}`: the page of an image the tenant's hosts hold.
pub async fn local_page_get(
    State(console): State<Console>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Local(digest), show).await
}

/// `GET /console/digests/{digest}/sbom.cdx.json`.
pub async fn local_sbom(
    State(console): State<Console>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Local(digest), sbom_of).await
}

/// `GET /console/digests/{digest}/report.sarif`.
pub async fn local_sarif(
    State(console): State<Console>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    loaded(console, headers, uri, Named::Local(digest), sarif_of).await
}

/// The report of a loaded image in `format`, as an attachment.
fn report(session: &Session, l: &Loaded, format: Format, file: &str) -> Response {
    let Some(stored) = &l.inventory else {
        return error_page(
            Some(session),
            StatusCode::NOT_FOUND,
            "not_found",
            "this image has no stored inventory yet",
        );
    };
    let mut scanners = vec![ScannerKind::Vuln];
    if let Some(r) = &l.risks {
        for kind in &r.scanners {
            scanners.push(match kind {
                RiskKind::Baseline => ScannerKind::Baseline,
                RiskKind::Secret => ScannerKind::Secret,
                RiskKind::Malware => ScannerKind::Malware,
            });
        }
    }
    let scan = ScanReport::new(
        stored.inventory.clone(),
        l.findings.clone(),
        l.db.clone(),
        scanners,
        l.risks
            .as_ref()
            .map(|r| r.findings.clone())
            .unwrap_or_default(),
    );
    let mut out = Vec::new();
    if let Err(e) = crowsnest_report::render(&scan, format, &RenderOptions::default(), &mut out) {
        return internal(Some(session), e);
    }
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut response = ([(header::CONTENT_TYPE, "application/json")], out).into_response();
    if let Ok(v) = disposition.parse() {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
