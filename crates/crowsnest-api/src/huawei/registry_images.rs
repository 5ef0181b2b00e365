//! ListRegistryImages (`GET /v5/{project_id}/image/registries/images`): the images of the
//! caller's registries, one row per tag, with multi-arch children as `association_images`.

use std::collections::HashMap;

use crowsnest_store::inventory::ScanSummary;
use crowsnest_store::{Field, Filter, PlacementOrder, PlacementQuery, PlacementRow};

use super::query::Query;
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::reply::JsonObject;
use crate::AppState;
use serde::Serialize;

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

/// One element of `data_list`, borrowed from its placement row and written straight into the
/// answer (reply.rs). Optional members are left out when absent, as before.
#[derive(Serialize)]
struct RegistryImage<'a> {
    id: i64,
    namespace: &'a str,
    image_name: &'a str,
    image_id: &'a str,
    image_digest: &'a str,
    image_version: &'a str,
    image_type: &'a str,
    registry_id: &'a str,
    registry_name: &'a str,
    registry_type: &'a str,
    latest_version: bool,
    scan_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_failed_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_failed_desc: Option<&'static str>,
    image_size: i64,
    latest_update_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_scan_time: Option<i64>,
    latest_sync_time: i64,
    vul_num: i64,
    unsafe_setting_num: i64,
    malicious_file_num: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_status: Option<&'a str>,
    scannable: bool,
    is_multiple_arch: bool,
    instance_name: &'a str,
    instance_id: &'a str,
    instance_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity_level: Option<&'a str>,
    /// Only for multi-arch images.
    #[serde(skip_serializing_if = "Option::is_none")]
    association_images: Option<Vec<ArchImage<'a>>>,
}

/// One architecture's image of a multi-arch image (`association_images`).
#[derive(Serialize)]
struct ArchImage<'a> {
    id: i64,
    image_id: &'a str,
    image_name: &'a str,
    image_version: &'a str,
    image_type: &'a str,
    namespace: &'a str,
    image_digest: &'a str,
    scan_status: &'static str,
    vul_num: i64,
    unsafe_setting_num: i64,
    malicious_file_num: i64,
}

#[derive(Serialize)]
struct RegistryImages<'a> {
    total_num: i64,
    data_list: Vec<RegistryImage<'a>>,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn registry_image<'a>(
    row: &'a PlacementRow,
    children: Option<&Vec<&'a crowsnest_store::ImageChild>>,
) -> RegistryImage<'a> {
    let scan = row.scan.as_ref();
    let (vul, unsafe_settings, malicious) = counts(scan);
    let failed = scan.filter(|s| s.state == "failed" && !s.failure_code.is_empty());
    RegistryImage {
        id: row.id,
        namespace: &row.namespace,
        image_name: &row.repo_name,
        image_id: strip_sha(&row.config_digest),
        image_digest: &row.digest,
        image_version: &row.tag,
        image_type: &row.image_type,
        registry_id: &row.registry_uid,
        registry_name: &row.registry_name,
        registry_type: &row.registry_type,
        latest_version: row.latest_version,
        scan_status: scan_status(scan),
        scan_failed_code: failed.map(|s| s.failure_code.as_str()),
        scan_failed_desc: failed.map(|s| {
            FAILURES
                .iter()
                .find(|(c, _)| *c == s.failure_code)
                .map_or("Unknown error.", |(_, d)| d)
        }),
        image_size: row.size_bytes,
        latest_update_time: row.updated_ms,
        latest_scan_time: scan.and_then(|s| s.finished_ms),
        latest_sync_time: row.synced_ms,
        vul_num: vul,
        unsafe_setting_num: unsafe_settings,
        malicious_file_num: malicious,
        domain_name: non_empty(&row.domain_name),
        shared_status: non_empty(&row.shared_status),
        scannable: row.scannable,
        is_multiple_arch: row.is_multiarch,
        instance_name: &row.instance_name,
        instance_id: &row.instance_id,
        instance_url: &row.instance_url,
        severity_level: scan.and_then(|s| non_empty(&s.severity)),
        association_images: row.is_multiarch.then(|| {
            children
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            let (vul, unsafe_settings, malicious) = counts(c.scan.as_ref());
                            ArchImage {
                                id: c.image_row,
                                image_id: strip_sha(&c.config_digest),
                                image_name: &row.repo_name,
                                image_version: &row.tag,
                                image_type: &row.image_type,
                                namespace: &row.namespace,
                                image_digest: &c.digest,
                                scan_status: scan_status(c.scan.as_ref()),
                                vul_num: vul,
                                unsafe_setting_num: unsafe_settings,
                                malicious_file_num: malicious,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        }),
    }
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
pub(crate) fn list(
    state: &AppState,
    caller: &Caller,
    q: &Query<'_>,
) -> Result<JsonObject, ApiError> {
    let query = placement_query(q)?;
    let page = state
        .store
        .placements_seen(caller.tenant, &query, caller.seen_generation)
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
    for c in children.iter() {
        by_index.entry(c.index_row).or_default().push(c);
    }
    let data_list: Vec<RegistryImage<'_>> = page
        .rows
        .iter()
        .map(|row| registry_image(row, by_index.get(&row.image_row)))
        .collect();
    JsonObject::of(
        Dialect::Huawei,
        &RegistryImages {
            total_num: page.total,
            data_list,
        },
    )
}
