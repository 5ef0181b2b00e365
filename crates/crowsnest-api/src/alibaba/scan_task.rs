//! PublicPreCheckImageScanTask and PublicCreateImageScanTask: select images by registry type,
//! region, instance, namespace, repository, digest and tag; count what a scan would cover; and
//! store the task, expanded into one job per distinct image digest for the workers
//! (`crowsnest-worker`), within the scan quota.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crowsnest_store::{
    Field, Filter, NewScanTask, PlacementOrder, PlacementQuery, ScanTask, TaskCreation,
};

use super::params::{invalid, Params};
use super::sas::{normalise_digest, REGISTRY_TYPES};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::reply::JsonObject;
use crate::AppState;

/// The RAM action of PublicCreateImageScanTask.
pub const ACTION_CREATE: &str = "yundun-sas:PublicCreateImageScanTask";
/// The RAM action of PublicPreCheckImageScanTask.
pub const ACTION_PRE_CHECK: &str = "yundun-sas:PublicPreCheckImageScanTask";

/// The regions the document lists as supporting image scanning.
pub const SCAN_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-southeast-5",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
    "eu-west-1",
];

/// Values per list parameter and characters per value.
const MAX_VALUES: usize = 100;
const MAX_VALUE_LEN: usize = 256;
/// Placements read per store round trip while counting a selection.
const COUNT_PAGE: i64 = 1000;

/// A validated selection.
struct Selection {
    filter: Filter,
    json: Value,
}

fn quota_error() -> ApiError {
    ApiError::new(
        Dialect::Alibaba,
        StatusCode::BAD_REQUEST,
        "BeyondQuata",
        "Please check the scan quota",
    )
}

fn empty_error() -> ApiError {
    ApiError::new(
        Dialect::Alibaba,
        StatusCode::BAD_REQUEST,
        "TaskNumEmpty",
        "Create task quantity is empty.",
    )
}

fn selection(p: &Params<'_>) -> Result<Selection, ApiError> {
    let mut parts = Vec::new();
    let mut json = serde_json::Map::new();
    if let Some(ip) = p.text_max("SourceIp", 64)? {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| invalid("SourceIp", "not an IP address"))?;
        json.insert("SourceIp".into(), json!(ip));
    }
    let lists: [(&str, Field); 8] = [
        ("RegistryTypes", Field::RegistryType),
        ("RegionIds", Field::RegionId),
        ("InstanceIds", Field::InstanceId),
        ("RepoNamespaces", Field::RepoNamespace),
        ("RepoIds", Field::RepoId),
        ("RepoNames", Field::RepoName),
        ("Digests", Field::Digest),
        ("Tags", Field::Tag),
    ];
    for (name, field) in lists {
        let mut values = p.list(name, MAX_VALUES, MAX_VALUE_LEN)?;
        if values.is_empty() {
            continue;
        }
        match name {
            "RegistryTypes" => {
                if let Some(bad) = values
                    .iter()
                    .find(|v| !REGISTRY_TYPES.contains(&v.as_str()))
                {
                    return Err(invalid(
                        name,
                        &format!("{bad:?} is not one of {}", REGISTRY_TYPES.join(", ")),
                    ));
                }
            }
            "RegionIds" => {
                if let Some(bad) = values.iter().find(|v| !SCAN_REGIONS.contains(&v.as_str())) {
                    return Err(invalid(
                        name,
                        &format!("image scanning is not supported in {bad:?}"),
                    ));
                }
            }
            "Digests" => {
                values = values
                    .iter()
                    .map(|d| {
                        normalise_digest(d)
                            .ok_or_else(|| invalid(name, &format!("{d:?} is not a SHA-256 digest")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
        json.insert(name.into(), json!(values));
        parts.push(Filter::In(
            field,
            values.into_iter().map(Into::into).collect(),
        ));
    }
    Ok(Selection {
        filter: Filter::All(parts),
        json: Value::Object(json),
    })
}

/// How a selection counts: image instances (placements) and distinct scannable images.
struct Coverage {
    instances: i64,
    images: i64,
}

/// Counts the selection, stopping once more than `cap` distinct images are found.
fn coverage(
    state: &AppState,
    caller: &Caller,
    filter: &Filter,
    cap: i64,
) -> Result<Coverage, ApiError> {
    let mut images = HashSet::new();
    let mut offset = 0;
    loop {
        let page = state
            .store
            .placements(
                caller.tenant,
                &PlacementQuery {
                    filter: filter.clone(),
                    order: PlacementOrder::Id,
                    offset,
                    limit: COUNT_PAGE,
                },
            )
            .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?;
        images.extend(
            page.rows
                .iter()
                .filter(|r| r.scannable)
                .map(|r| r.image_row),
        );
        offset += COUNT_PAGE;
        let done = page.rows.len() < usize::try_from(COUNT_PAGE).unwrap_or(usize::MAX);
        if done || i64::try_from(images.len()).unwrap_or(i64::MAX) > cap {
            return Ok(Coverage {
                instances: page.total,
                images: i64::try_from(images.len()).unwrap_or(i64::MAX),
            });
        }
    }
}

/// PublicPreCheckImageScanTask: how many image instances the selection covers and how many
/// scan authorizations (distinct images: a digest is scanned once wherever it is used) it needs.
pub(crate) fn pre_check(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<JsonObject, ApiError> {
    let sel = selection(p)?;
    let cap = state.settings.scan_quota.max_images_per_task;
    let cov = coverage(state, caller, &sel.filter, cap)?;
    Ok(json!({
        "Data": {
            "ScanImageCount": cov.instances,
            "NeedAuthCount": cov.images,
        }
    })
    .into())
}

/// A task [`create_task`] stored, and whether the tenant may create another.
#[derive(Clone, Debug)]
pub struct CreatedTask {
    /// The task as stored.
    pub task: ScanTask,
    /// False when this task took the tenant's last free slot.
    pub can_create: bool,
}

/// Stores a scan task over the placements `filter` selects (`selection` is what the task
/// records of it), within the scan quota: at most `max_unfinished_tasks` unfinished tasks and
/// `max_images_per_task` distinct images. PublicCreateImageScanTask and the web console's
/// "scan this selection" both create tasks here, so the same limits hold for both. Errors are
/// the operation's own (`BeyondQuata`, `TaskNumEmpty`) in Alibaba's envelope.
pub fn create_task(
    state: &AppState,
    caller: &Caller,
    filter: &Filter,
    selection: Value,
) -> Result<CreatedTask, ApiError> {
    let quota = &state.settings.scan_quota;
    // A quick refusal before the coverage query; the insert below re-checks atomically.
    let unfinished = state
        .store
        .unfinished_scan_tasks(caller.tenant)
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?;
    if unfinished >= quota.max_unfinished_tasks {
        return Err(quota_error());
    }
    let cov = coverage(state, caller, filter, quota.max_images_per_task)?;
    if cov.images == 0 {
        return Err(empty_error());
    }
    if cov.images > quota.max_images_per_task {
        return Err(quota_error());
    }
    let task_uid = uuid::Uuid::new_v4().simple().to_string();
    // Counting, inserting and expanding the selection into one job per distinct digest happen
    // in one store transaction: concurrent creates cannot both take the last free slot, and
    // the jobs are exactly the images the selection covered at that moment.
    let created = state
        .store
        .create_scan_task_with_jobs(
            caller.tenant,
            &NewScanTask {
                task_uid: task_uid.clone(),
                selection,
                total_count: cov.images,
                collect_ms: state.settings.auth.clock.now_ms(),
            },
            filter,
            quota.max_unfinished_tasks,
        )
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?;
    let unfinished = match created {
        TaskCreation::Created {
            unfinished_before, ..
        } => unfinished_before,
        TaskCreation::QuotaFull => return Err(quota_error()),
        // The images went away between the count and the insert.
        TaskCreation::Empty => return Err(empty_error()),
    };
    let task = state
        .store
        .scan_task(caller.tenant, &task_uid)
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?
        .ok_or_else(|| ApiError::internal(Dialect::Alibaba, "created task not found"))?;
    Ok(CreatedTask {
        task,
        can_create: unfinished + 1 < quota.max_unfinished_tasks,
    })
}

/// PublicCreateImageScanTask: stores a scan task over the selection.
pub(crate) fn create(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<JsonObject, ApiError> {
    let sel = selection(p)?;
    let CreatedTask { task, can_create } = create_task(state, caller, &sel.filter, sel.json)?;
    let mut data = json!({
        "TaskId": task.task_uid,
        "TotalCount": task.total_count,
        "FinishCount": task.finish_count,
        "CollectTime": task.collect_ms,
        "Status": task.status,
        "Progress": task.progress,
        "CanCreate": can_create,
    });
    if let Some(map) = data.as_object_mut() {
        if let Some(exec) = task.exec_ms {
            map.insert("ExecTime".into(), json!(exec));
        }
        if !task.result.is_empty() {
            map.insert("Result".into(), json!(task.result));
        }
    }
    Ok(json!({ "Data": data }).into())
}
