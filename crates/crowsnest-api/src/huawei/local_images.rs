//! ListLocalImages (`GET /v5/{project_id}/image/local-repositories`): the images in the local
//! stores of the caller's hosts, with the document's matching rules: partial, case-sensitive
//! names; exact ids; `image_version` only with `image_name`; time ranges only as complete,
//! ordered pairs; out-of-range `scan_status` / `local_image_type` values give an empty result.

use crowsnest_store::{LocalImageQuery, LocalImageRow};

use super::query::{invalid, Query};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::reply::JsonObject;
use crate::AppState;
use serde::Serialize;

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}
fn version_char(c: char) -> bool {
    name_char(c) || c == ':'
}
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// A time range that only filters when both ends are given and `start < end`.
fn range(q: &Query<'_>, what: &str) -> Result<Option<(i64, i64)>, ApiError> {
    let start = q.int(&format!("start_{what}"), 0, i64::MAX)?;
    let end = q.int(&format!("end_{what}"), 0, i64::MAX)?;
    Ok(match (start, end) {
        (Some(s), Some(e)) if s < e => Some((s, e)),
        _ => None,
    })
}

/// One element of `data_list`, borrowed from its row and written straight into the answer
/// (reply.rs); optional members are left out when absent.
#[derive(Serialize)]
struct LocalImage<'a> {
    image_id: &'a str,
    image_name: &'a str,
    image_version: &'a str,
    image_digest: &'a str,
    local_image_type: &'a str,
    scan_status: &'a str,
    image_size: i64,
    latest_update_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_scan_time: Option<i64>,
    host_num: i64,
    container_num: i64,
    component_num: i64,
    vul_num: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity_level: Option<&'a str>,
}

#[derive(Serialize)]
struct LocalImages<'a> {
    total_num: i64,
    data_list: Vec<LocalImage<'a>>,
}

fn local_image(row: &LocalImageRow) -> LocalImage<'_> {
    let host = row.host.as_ref();
    LocalImage {
        image_id: &row.uuid,
        image_name: &row.image_name,
        image_version: &row.image_version,
        image_digest: &row.digest,
        local_image_type: &row.local_image_type,
        scan_status: &row.scan_status,
        image_size: row.size_bytes,
        latest_update_time: row.updated_ms,
        latest_scan_time: row.latest_scan_ms,
        host_num: row.host_num,
        container_num: row.container_num,
        component_num: row.component_num,
        vul_num: row.vul_num,
        host_name: host.map(|(name, _, _)| name.as_str()),
        host_id: host.map(|(_, id, _)| id.as_str()),
        agent_id: host.map(|(_, _, agent)| agent.as_str()),
        severity_level: (!row.severity_level.is_empty()).then_some(row.severity_level.as_str()),
    }
}

/// ListLocalImages' query parameters as a local image query, with the document's rules. The
/// web console builds its local image list with this too.
pub fn local_image_query(q: &Query<'_>) -> Result<LocalImageQuery, ApiError> {
    let offset = q.int("offset", 0, 2_000_000)?.unwrap_or(0);
    let limit = q.int("limit", 10, 200)?.unwrap_or(10);
    let enterprise_project_id = match q.text("enterprise_project_id", 1, 256)?.unwrap_or("0") {
        "all_granted_eps" => None,
        ep => Some(ep.to_owned()),
    };
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let image_name = q.text_charset(
        "image_name",
        1,
        256,
        name_char,
        "letters, digits, '-', '_' and '.'",
    )?;
    let image_version = q.text_charset(
        "image_version",
        1,
        128,
        version_char,
        "letters, digits, '-', '_', '.' and ':'",
    )?;
    let host_ip = q.text("host_ip", 7, 15)?;
    if let Some(ip) = host_ip {
        ip.parse::<std::net::Ipv4Addr>()
            .map_err(|_| invalid("host_ip", "must be an IPv4 address"))?;
    }
    let pod_name = q.text_charset("pod_name", 1, 63, id_char, "letters, digits and '-'")?;
    if pod_name.is_some_and(|p| p.starts_with('-') || p.ends_with('-')) {
        return Err(invalid("pod_name", "must not start or end with '-'"));
    }
    Ok(LocalImageQuery {
        enterprise_project_id,
        image_name_contains: owned(image_name),
        // The document: image_version only takes effect together with image_name.
        image_version: owned(image_version.filter(|_| image_name.is_some())),
        scan_status: owned(q.text("scan_status", 1, 64)?),
        local_image_type: owned(q.text("local_image_type", 1, 64)?),
        image_size: q.int("image_size", 0, i64::MAX)?,
        updated_between: range(q, "latest_update_time")?,
        scanned_between: range(q, "latest_scan_time")?,
        has_vul: q.bool("has_vul")?,
        host_name_contains: owned(q.text_charset(
            "host_name",
            1,
            64,
            word_char,
            "letters, digits, '-' and '_'",
        )?),
        host_id: owned(q.text_charset("host_id", 1, 64, id_char, "letters, digits and '-'")?),
        host_ip: owned(host_ip),
        container_id: owned(q.text_charset(
            "container_id",
            1,
            64,
            word_char,
            "letters, digits, '-' and '_'",
        )?),
        container_name_contains: owned(q.text_charset(
            "container_name",
            1,
            64,
            name_char,
            "letters, digits, '-', '_' and '.'",
        )?),
        pod_id: owned(q.text_charset("pod_id", 1, 64, id_char, "letters, digits and '-'")?),
        pod_name_contains: owned(pod_name),
        app_name_contains: owned(q.text_charset(
            "app_name",
            1,
            64,
            word_char,
            "letters, digits, '-' and '_'",
        )?),
        has_container: q.bool("has_container")?,
        offset,
        limit,
    })
}

/// ListLocalImages.
pub(crate) fn list(
    state: &AppState,
    caller: &Caller,
    q: &Query<'_>,
) -> Result<JsonObject, ApiError> {
    let query = local_image_query(q)?;
    let page = state
        .store
        .local_images(caller.tenant, &query)
        .map_err(|e| ApiError::internal(Dialect::Huawei, e))?;
    JsonObject::of(
        Dialect::Huawei,
        &LocalImages {
            total_num: page.total,
            data_list: page.rows.iter().map(local_image).collect(),
        },
    )
}
