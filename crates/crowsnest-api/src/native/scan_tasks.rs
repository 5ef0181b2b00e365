//! `/api/v1/scan-tasks/{task_id}`: a scan task's progress (the counters PublicCreateImageScanTask
//! returns, and each image's job: state, attempts, the worker that holds or held it, its failure
//! code), and `POST …/cancel` to stop it. The seed family has no operation for either, hence a
//! native resource. A task of another tenant is `not_found`, exactly as one that does not exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use crowsnest_store::{ScanJob, ScanTask, StoreError, TenantId};
use serde_json::{json, Value};

use super::{
    authorized, error, invalid, NativeRequest, Reply, Resource, CODE_CONFLICT, CODE_NOT_FOUND,
};
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of reading a task.
pub const ACTION_GET: &str = "crowsnest:GetScanTask";
/// The policy action of cancelling a task.
pub const ACTION_CANCEL: &str = "crowsnest:CancelScanTask";

/// Longest task id accepted (ids are 32 hex digits; anything much longer is not one).
const MAX_TASK_ID: usize = 128;

/// The scan-tasks resource.
pub const RESOURCE: Resource = Resource {
    actions: &[ACTION_GET, ACTION_CANCEL],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scan-tasks/{task_id}", get(show))
        .route("/api/v1/scan-tasks/{task_id}/cancel", post(cancel))
}

fn not_found(task_id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        format!("no scan task {task_id:?} in the caller's tenant"),
    )
}

fn checked(task_id: &str) -> Result<(), ApiError> {
    if task_id.is_empty() || task_id.len() > MAX_TASK_ID {
        return Err(invalid("task_id", "must be 1 to 128 characters"));
    }
    Ok(())
}

/// The task and its jobs as the resource shows them.
fn task_body(state: &AppState, tenant: TenantId, task_id: &str) -> Result<Value, ApiError> {
    let internal = |e: StoreError| ApiError::internal(Dialect::Native, e);
    let task = state
        .store
        .scan_task(tenant, task_id)
        .map_err(internal)?
        .ok_or_else(|| not_found(task_id))?;
    let jobs = state.store.scan_jobs(tenant, task_id).map_err(internal)?;
    Ok(render(&task, &jobs))
}

fn render(task: &ScanTask, jobs: &[ScanJob]) -> Value {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "digest": j.digest,
                "repository": j.repository,
                "tag": j.tag,
                "mode": j.mode.as_str(),
                "state": j.state.as_str(),
                "attempts": j.attempts,
                "worker": j.lease_owner,
                "failure_code": j.failure_code,
                "started_ms": j.started_ms,
                "finished_ms": j.finished_ms,
            })
        })
        .collect();
    json!({
        "task_id": task.task_uid,
        "status": task.status,
        "result": task.result,
        "total_count": task.total_count,
        "finish_count": task.finish_count,
        "failed_count": task.failed_count,
        "progress": task.progress,
        "collect_ms": task.collect_ms,
        "exec_ms": task.exec_ms,
        "finished_ms": task.finished_ms,
        "jobs": jobs,
    })
}

async fn show(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_GET, move |state, caller, _| {
        checked(&task_id)?;
        Ok(Reply::ok(task_body(state, caller.tenant, &task_id)?))
    })
    .await
}

async fn cancel(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_CANCEL, move |state, caller, _| {
        checked(&task_id)?;
        match state.store.cancel_scan_task(caller.tenant, &task_id) {
            Ok(true) => Ok(Reply::ok(task_body(state, caller.tenant, &task_id)?)),
            Ok(false) => Err(error(
                StatusCode::CONFLICT,
                CODE_CONFLICT,
                format!("scan task {task_id:?} has already ended"),
            )),
            Err(StoreError::NotFound(_)) => Err(not_found(&task_id)),
            Err(e) => Err(ApiError::internal(Dialect::Native, e)),
        }
    })
    .await
}

fn openapi() -> Value {
    let with = super::openapi::authorized_responses;
    let parameter = json!([{
        "name": "task_id",
        "in": "path",
        "required": true,
        "description": "The TaskId PublicCreateImageScanTask returned.",
        "schema": { "type": "string", "minLength": 1, "maxLength": MAX_TASK_ID }
    }]);
    let ms = |what: &str| json!({ "type": ["integer", "null"], "description": format!("{what}, milliseconds since the Unix epoch; null until then.") });
    json!({
        "paths": {
            "/api/v1/scan-tasks/{task_id}": {
                "get": {
                    "operationId": "getScanTask",
                    "tags": ["scan-tasks"],
                    "summary": "A scan task's progress and each image's job",
                    "description": format!("Action `{ACTION_GET}`. A task of another tenant is `not_found`."),
                    "parameters": parameter,
                    "responses": with(json!({
                        "200": {
                            "description": "The task.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ScanTask" } } }
                        },
                        "400": { "$ref": "#/components/responses/BadRequest" },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                }
            },
            "/api/v1/scan-tasks/{task_id}/cancel": {
                "post": {
                    "operationId": "cancelScanTask",
                    "tags": ["scan-tasks"],
                    "summary": "Cancel a scan task that has not ended",
                    "description": format!("Action `{ACTION_CANCEL}`. The task ends CANCELLED; its queued and running jobs are cancelled (a worker running one drops its result). Images already scanned keep their results."),
                    "parameters": parameter,
                    "responses": with(json!({
                        "200": {
                            "description": "The cancelled task.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ScanTask" } } }
                        },
                        "400": { "$ref": "#/components/responses/BadRequest" },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "409": { "$ref": "#/components/responses/Conflict" }
                    }))
                }
            }
        },
        "schemas": {
            "ScanTask": {
                "type": "object",
                "required": ["task_id", "status", "result", "total_count", "finish_count", "failed_count", "progress", "collect_ms", "exec_ms", "finished_ms", "jobs"],
                "properties": {
                    "task_id": { "type": "string" },
                    "status": { "type": "string", "enum": ["INIT", "PROCESSING", "SUCCESS", "FAIL", "TIMEOUT", "CANCELLED"] },
                    "result": { "type": "string", "description": "'' while running; SUCCESS, the first failed image's scan_failed_code, TIMEOUT or CANCELLED." },
                    "total_count": { "type": "integer", "description": "Distinct images (digests) the task covers." },
                    "finish_count": { "type": "integer", "description": "Images whose job ended, succeeded or failed." },
                    "failed_count": { "type": "integer" },
                    "progress": { "type": "integer", "minimum": 0, "maximum": 100 },
                    "collect_ms": { "type": "integer" },
                    "exec_ms": ms("When the first job was claimed"),
                    "finished_ms": ms("When the task ended"),
                    "jobs": { "type": "array", "items": { "$ref": "#/components/schemas/ScanJob" } }
                }
            },
            "ScanJob": {
                "type": "object",
                "required": ["digest", "repository", "tag", "mode", "state", "attempts", "worker", "failure_code", "started_ms", "finished_ms"],
                "properties": {
                    "digest": { "type": "string" },
                    "repository": { "type": "string" },
                    "tag": { "type": "string" },
                    "mode": { "type": "string", "enum": ["pull", "rematch"], "description": "rematch: the digest had a stored inventory and is not pulled again." },
                    "state": { "type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"] },
                    "attempts": { "type": "integer" },
                    "worker": { "type": "string", "description": "The worker holding or last holding the job's lease; '' before the first claim." },
                    "failure_code": { "type": "string", "description": "The last failure's scan_failed_code; '' if none." },
                    "started_ms": ms("When first claimed"),
                    "finished_ms": ms("When it ended")
                }
            }
        }
    })
}
