//! ListLocalImages (`GET /v5/{project_id}/image/local-repositories`): the images in the local
//! stores of the caller's hosts, with the document's matching rules: partial, case-sensitive
//! names; exact ids; `image_version` only with `image_name`; time ranges only as complete,
//! ordered pairs; out-of-range `scan_status` / `local_image_type` values give an empty result.

use serde_json::{json, Map, Value};

use crowsnest_store::{LocalImageQuery, LocalImageRow};

use super::query::{invalid, Query};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::reply::JsonObject;
use crate::AppState;

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

fn row_json(row: &LocalImageRow) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("image_id", json!(row.uuid));
    put("image_name", json!(row.image_name));
    put("image_version", json!(row.image_version));
    put("image_digest", json!(row.digest));
    put("local_image_type", json!(row.local_image_type));
    put("scan_status", json!(row.scan_status));
    put("image_size", json!(row.size_bytes));
    put("latest_update_time", json!(row.updated_ms));
    if let Some(ms) = row.latest_scan_ms {
        put("latest_scan_time", json!(ms));
    }
    put("host_num", json!(row.host_num));
    put("container_num", json!(row.container_num));
    put("component_num", json!(row.component_num));
    put("vul_num", json!(row.vul_num));
    if let Some((name, id, agent)) = &row.host {
        put("host_name", json!(name));
        put("host_id", json!(id));
        put("agent_id", json!(agent));
    }
    if !row.severity_level.is_empty() {
        put("severity_level", json!(row.severity_level));
    }
    Value::Object(m)
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
    let list: Vec<Value> = page.rows.iter().map(row_json).collect();
    Ok(json!({ "total_num": page.total, "data_list": list }).into())
}
