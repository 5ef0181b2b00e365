//! ListRegistryImages (`GET /v5/{project_id}/image/registries/images`): the images of the
//! caller's registries, one row per tag, with multi-arch children as `association_images`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crowsnest_store::inventory::ScanSummary;
use crowsnest_store::{Field, Filter, PlacementOrder, PlacementQuery, PlacementRow};

use super::query::Query;
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The documented `image_type` values.
pub const IMAGE_TYPES: &[&str] = &[
    "private_image",
    "shared_image",
    "instance_image",
    "harbor",
    "jfrog",
];
/// The documented `scan_status` values.
pub const SCAN_STATUSES: &[&str] = &[
    "unscan",
    "success",
    "scanning",
    "failed",
    "waiting_for_scan",
];
/// The documented `severity_level` values.
pub const SEVERITIES: &[&str] = &["Security", "Low", "Medium", "High"];
const MAX_TIME: i64 = i64::MAX;
const MAX_IMAGE_SIZE: i64 = 2_147_483_547;

/// The descriptions the document gives for each scan failure code.
const FAILURES: &[(&str, &str)] = &[
    ("unknown_error", "Unknown error."),
    ("authentication_failed", "Authentication failed."),
    ("download_failed", "The image download failed. Contact technical support."),
    ("image_over_sized", "The image is too large and cannot be scanned. Reduce the image size."),
    ("get_detail_info_not_found", "Image details failed to be obtained. The image is not found in the repository. Synchronize the latest images."),
    ("image_layer_over_sized", "The image has too many layers and cannot be scanned. Reduce the image size."),
    ("schema_v1_not_support", "Schema V1 images cannot be scanned. Upgrade to V2."),
    ("access_swr_failed", "Failed to access SWR. Contact technical support."),
    ("swr_authentication_error", "The SWR authorization is missing. Refer to the image authorization guide to configure permissions."),
    ("failed_to_scan_vulnerability", "The vulnerability scan failed."),
    ("failed_to_scan_file", "The file scan failed."),
    ("failed_to_scan_software", "The software scan failed."),
    ("failed_to_check_sensitive_information", "Failed to check sensitive information."),
    ("failed_to_check_baseline", "Baseline check failed."),
    ("failed_to_check_software_compliance", "The software compliance check failed."),
    ("failed_to_query_basic_image_information", "Failed to query the basic image information."),
    ("failed_to_check_build_cmd", "Failed to scan the image building instructions."),
    ("response_timed_out", "The response timed out."),
    ("database_error", "Database error."),
    ("failed_to_send_the_scan_request", "Failed to send the scan request."),
];

/// The store's scan state for a documented `scan_status` filter value.
pub(crate) fn scan_status_filter(status: &str) -> Filter {
    let state = match status {
        "unscan" => "unscanned",
        "success" => "succeeded",
        "scanning" => "running",
        "failed" => "failed",
        _ => "waiting",
    };
    Filter::Eq(Field::ScanState, state.into())
}

/// Huawei's `scan_status` of a stored scan; failures with their own status keep it.
pub fn scan_status(scan: Option<&ScanSummary>) -> &'static str {
    let Some(scan) = scan else {
        return "unscan";
    };
    match scan.state.as_str() {
        "waiting" => "waiting_for_scan",
        "running" => "scanning",
        "succeeded" => "success",
        _ => match scan.failure_code.as_str() {
            "download_failed" => "download_failed",
            "image_over_sized" => "image_oversized",
            _ => "failed",
        },
    }
}

/// A count filter over succeeded scans: `true` selects positive counts, `false` zero counts.
pub(crate) fn scanned_count(field: Field, positive: bool) -> Filter {
    let succeeded = Filter::Eq(Field::ScanState, "succeeded".into());
    let count = Filter::Positive(field);
    Filter::All(vec![
        succeeded,
        if positive {
            count
        } else {
            Filter::Not(Box::new(count))
        },
    ])
}

/// The enterprise-project filter: default project `0`, `all_granted_eps` for all.
pub(crate) fn enterprise_project(q: &Query<'_>) -> Result<Option<Filter>, ApiError> {
    Ok(
        match q.text("enterprise_project_id", 1, 256)?.unwrap_or("0") {
            "all_granted_eps" => None,
            ep => Some(Filter::Eq(Field::EnterpriseProject, ep.into())),
        },
    )
}

fn strip_sha(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

fn counts(scan: Option<&ScanSummary>) -> (i64, i64, i64) {
    scan.map_or((0, 0, 0), |s| {
        (s.vul_count, s.baseline_count, s.malicious_count)
    })
}

fn row_json(row: &PlacementRow, children: &[Value]) -> Value {
    let scan = row.scan.as_ref();
    let (vul, unsafe_settings, malicious) = counts(scan);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("id", json!(row.id));
    put("namespace", json!(row.namespace));
    put("image_name", json!(row.repo_name));
    put("image_id", json!(strip_sha(&row.config_digest)));
    put("image_digest", json!(row.digest));
    put("image_version", json!(row.tag));
    put("image_type", json!(row.image_type));
    put("registry_id", json!(row.registry_uid));
    put("registry_name", json!(row.registry_name));
    put("registry_type", json!(row.registry_type));
    put("latest_version", json!(row.latest_version));
    put("scan_status", json!(scan_status(scan)));
    if let Some(s) = scan.filter(|s| s.state == "failed" && !s.failure_code.is_empty()) {
        let desc = FAILURES
            .iter()
            .find(|(c, _)| *c == s.failure_code)
            .map_or("Unknown error.", |(_, d)| d);
        put("scan_failed_code", json!(s.failure_code));
        put("scan_failed_desc", json!(desc));
    }
    put("image_size", json!(row.size_bytes));
    put("latest_update_time", json!(row.updated_ms));
    if let Some(ms) = scan.and_then(|s| s.finished_ms) {
        put("latest_scan_time", json!(ms));
    }
    put("latest_sync_time", json!(row.synced_ms));
    put("vul_num", json!(vul));
    put("unsafe_setting_num", json!(unsafe_settings));
    put("malicious_file_num", json!(malicious));
    if !row.domain_name.is_empty() {
        put("domain_name", json!(row.domain_name));
    }
    if !row.shared_status.is_empty() {
        put("shared_status", json!(row.shared_status));
    }
    put("scannable", json!(row.scannable));
    put("is_multiple_arch", json!(row.is_multiarch));
    put("instance_name", json!(row.instance_name));
    put("instance_id", json!(row.instance_id));
    put("instance_url", json!(row.instance_url));
    if let Some(s) = scan.filter(|s| !s.severity.is_empty()) {
        put("severity_level", json!(s.severity));
    }
    if row.is_multiarch {
        put("association_images", Value::Array(children.to_vec()));
    }
    Value::Object(m)
}

/// ListRegistryImages' query parameters as a placement query: every documented filter, the
/// sort and the page. The web console builds its registry image list with this too, so both
/// accept exactly the same parameters.
pub fn placement_query(q: &Query<'_>) -> Result<PlacementQuery, ApiError> {
    let offset = q.int("offset", 0, 2_000_000)?.unwrap_or(0);
    let limit = q.int("limit", 1, 200)?.unwrap_or(10);
    let mut parts = Vec::new();
    if let Some(f) = enterprise_project(q)? {
        parts.push(f);
    }
    let exact: [(&str, usize, usize, Field); 6] = [
        ("namespace", 1, 128, Field::RepoNamespace),
        ("image_version", 1, 64, Field::Tag),
        ("registry_name", 1, 128, Field::RegistryName),
        ("instance_id", 0, 128, Field::InstanceId),
        ("instance_name", 0, 128, Field::InstanceName),
        ("image_name", 1, 128, Field::RepoName),
    ];
    for (name, min, max, field) in exact {
        if let Some(v) = q.text(name, min, max)? {
            // The document's instance parameters allow an empty value, which filters nothing.
            if !v.is_empty() {
                parts.push(Filter::Eq(field, v.into()));
            }
        }
    }
    if let Some(t) = q.one_of("image_type", IMAGE_TYPES)? {
        parts.push(Filter::Eq(Field::ImageType, t.into()));
    }
    if let Some(s) = q.one_of("scan_status", SCAN_STATUSES)? {
        parts.push(scan_status_filter(s));
    }
    if let Some(s) = q.one_of("severity_level", SEVERITIES)? {
        parts.push(Filter::Eq(Field::Severity, s.into()));
    }
    if let Some(b) = q.bool("latest_version")? {
        parts.push(Filter::Eq(Field::LatestVersion, b.into()));
    }
    if let Some(b) = q.bool("is_multarch")? {
        parts.push(Filter::Eq(Field::IsMultiarch, b.into()));
    }
    if let Some(size) = q.int("image_size", 0, MAX_IMAGE_SIZE)? {
        parts.push(Filter::Eq(Field::SizeBytes, size.into()));
    }
    for (prefix, field) in [
        ("latest_update_time", Field::UpdatedMs),
        ("latest_scan_time", Field::LastScanMs),
        ("latest_sync_time", Field::SyncedMs),
    ] {
        let start = q.int(&format!("start_{prefix}"), 0, MAX_TIME)?;
        let end = q.int(&format!("end_{prefix}"), 0, MAX_TIME)?;
        if start.is_some() || end.is_some() {
            parts.push(Filter::Between(field, start, end));
        }
    }
    for (name, field) in [
        ("has_malicious_file", Field::MaliciousCount),
        ("has_unsafe_setting", Field::BaselineCount),
        ("has_vul", Field::VulCount),
    ] {
        if let Some(b) = q.bool(name)? {
            parts.push(scanned_count(field, b));
        }
    }
    if let Some(risky) = q.bool("risky")? {
        parts.push(if risky {
            Filter::Risky
        } else {
            Filter::Not(Box::new(Filter::Risky))
        });
    }
    let sort_key = q.one_of("sort_key", &["latest_scan_time"])?;
    let sort_dir = q.one_of("sort_dir", &["asc", "desc"])?;
    let order = match (sort_key, sort_dir) {
        (Some(_), Some("desc")) => PlacementOrder::LastScanDesc,
        (Some(_), _) => PlacementOrder::LastScanAsc,
        (None, _) => PlacementOrder::Id,
    };
    Ok(PlacementQuery {
        filter: Filter::All(parts),
        order,
        offset,
        limit,
    })
}

/// ListRegistryImages.
pub(crate) fn list(state: &AppState, caller: &Caller, q: &Query<'_>) -> Result<Value, ApiError> {
    let query = placement_query(q)?;
    let page = state
        .store
        .placements(caller.tenant, &query)
        .map_err(|e| ApiError::internal(Dialect::Huawei, e))?;
    let index_rows: Vec<i64> = page
        .rows
        .iter()
        .filter(|r| r.is_multiarch)
        .map(|r| r.image_row)
        .collect();
    let children = state
        .store
        .image_children(&index_rows)
        .map_err(|e| ApiError::internal(Dialect::Huawei, e))?;
    let mut by_index: HashMap<i64, Vec<&crowsnest_store::ImageChild>> = HashMap::new();
    for c in &children {
        by_index.entry(c.index_row).or_default().push(c);
    }
    let list: Vec<Value> = page
        .rows
        .iter()
        .map(|row| {
            let kids: Vec<Value> = by_index
                .get(&row.image_row)
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            let (vul, unsafe_settings, malicious) = counts(c.scan.as_ref());
                            json!({
                                "id": c.image_row,
                                "image_id": strip_sha(&c.config_digest),
                                "image_name": row.repo_name,
                                "image_version": row.tag,
                                "image_type": row.image_type,
                                "namespace": row.namespace,
                                "image_digest": c.digest,
                                "scan_status": scan_status(c.scan.as_ref()),
                                "vul_num": vul,
                                "unsafe_setting_num": unsafe_settings,
                                "malicious_file_num": malicious,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            row_json(row, &kids)
        })
        .collect();
    Ok(json!({ "total_num": page.total, "data_list": list }))
}
