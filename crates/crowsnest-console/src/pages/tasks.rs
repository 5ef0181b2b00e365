//! Scan tasks: the tenant's tasks in pages, and one task with its per-image jobs, whose
//! progress the page's script follows by polling `progress.json` (the same counters and jobs
//! `GET /api/v1/scan-tasks/{id}` shows) until the task ends.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use crowsnest_api::native::scan_tasks::ACTION_GET;
use crowsnest_store::{ScanJob, ScanTask};
use serde_json::json;

use super::{query_pairs, signed_in};
use crate::html::Html;
use crate::layout::{error_page, internal, list_table, page, pager, respond, time};
use crate::session::Session;
use crate::Console;

const PATH: &str = "/console/tasks";
const PAGE: i64 = 50;
const MAX_TASK_ID: usize = 128;

/// Whether a task status is final.
pub fn ended(status: &str) -> bool {
    !matches!(status, "INIT" | "PROCESSING")
}

/// `GET /console/tasks`.
pub async fn list(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_GET)?;
    let pairs = query_pairs(&uri, Some(&session))?;
    let offset = match pairs.get("offset").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if (0..=2_000_000).contains(&n) => n,
        Some(_) => {
            return Err(error_page(
                Some(&session),
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "offset must be an integer from 0 to 2000000",
            ))
        }
    };
    crate::blocking(move || {
        let (total, tasks) = console
            .app
            .store
            .scan_tasks_page(session.caller.tenant, offset, PAGE)
            .map_err(|e| internal(Some(&session), e))?;
        let body = page(Some(&session), PATH, "Scan tasks", |h| {
            pager(h, PATH, &pairs.0, offset, PAGE, tasks.len(), total);
            list_table(
                h,
                "tasks",
                &[
                    "Task", "Status", "Progress", "Images", "Failed", "Result", "Created",
                    "Finished",
                ],
                None,
                |h| {
                    for t in &tasks {
                        h.el("tr", &[], |h| {
                            h.el("td", &[], |h| {
                                let href = format!("/console/tasks/{}", t.task_uid);
                                h.leaf("a", &[("href", &href), ("class", "digest")], &t.task_uid);
                            });
                            h.leaf("td", &[("class", "status")], &t.status);
                            h.el("td", &[], |h| {
                                let v = t.progress.to_string();
                                h.leaf("progress", &[("value", &v), ("max", "100")], &v);
                            });
                            h.el("td", &[("class", "num")], |h| {
                                h.num(t.finish_count).text(" / ").num(t.total_count);
                            });
                            h.el("td", &[("class", "num")], |h| {
                                h.num(t.failed_count);
                            });
                            h.leaf("td", &[], &t.result);
                            h.leaf("td", &[], &time(Some(t.collect_ms)));
                            h.leaf("td", &[], &time(t.finished_ms));
                        });
                    }
                },
            );
        });
        Ok(respond(StatusCode::OK, body))
    })
    .await
}

fn load(
    console: &Console,
    session: &Session,
    task_id: &str,
) -> Result<(ScanTask, Vec<ScanJob>), Response> {
    let not_found = || {
        error_page(
            Some(session),
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no scan task {task_id:?} in your tenant"),
        )
    };
    if task_id.is_empty() || task_id.len() > MAX_TASK_ID {
        return Err(not_found());
    }
    let store = &console.app.store;
    let task = store
        .scan_task(session.caller.tenant, task_id)
        .map_err(|e| internal(Some(session), e))?
        .ok_or_else(not_found)?;
    let jobs = store
        .scan_jobs(session.caller.tenant, task_id)
        .map_err(|e| internal(Some(session), e))?;
    Ok((task, jobs))
}

fn jobs_table(h: &mut Html, jobs: &[ScanJob]) {
    list_table(
        h,
        "jobs",
        &[
            "Image", "Tag", "Digest", "Mode", "State", "Attempts", "Failure",
        ],
        None,
        |h| {
            for j in jobs {
                let id = j.id.to_string();
                h.el("tr", &[("data-job", &id)], |h| {
                    h.leaf("td", &[], &j.repository);
                    h.leaf("td", &[], &j.tag);
                    h.leaf("td", &[("class", "digest")], &j.digest);
                    h.leaf("td", &[], j.mode.as_str());
                    h.leaf("td", &[("class", "state")], j.state.as_str());
                    h.el("td", &[("class", "num attempts")], |h| {
                        h.num(j.attempts);
                    });
                    h.leaf("td", &[("class", "failure")], &j.failure_code);
                });
            }
        },
    );
}

/// `GET /console/tasks/{task_id}`.
pub async fn page_get(
    State(console): State<Console>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_GET)?;
    crate::blocking(move || {
        let (task, jobs) = load(&console, &session, &task_id)?;
        let title = format!("Scan task {}", task.task_uid);
        let progress_url = format!("/console/tasks/{}/progress.json", task.task_uid);
        let body = page(Some(&session), PATH, &title, |h| {
            // The script polls while the task runs; data-ended stops it at once otherwise.
            let ended = if ended(&task.status) { "true" } else { "false" };
            h.el(
                "section",
                &[
                    ("id", "task"),
                    ("data-progress-url", &progress_url),
                    ("data-ended", ended),
                ],
                |h| {
                    h.el("p", &[], |h| {
                        h.text("Status: ");
                        h.leaf("strong", &[("id", "task-status")], &task.status);
                        h.text(" ");
                        h.leaf("span", &[("id", "task-result")], &task.result);
                    });
                    let v = task.progress.to_string();
                    h.leaf(
                        "progress",
                        &[("id", "task-progress"), ("value", &v), ("max", "100")],
                        &v,
                    );
                    h.el("p", &[], |h| {
                        h.leaf(
                            "span",
                            &[("id", "task-finished")],
                            &task.finish_count.to_string(),
                        );
                        h.text(" of ");
                        h.leaf(
                            "span",
                            &[("id", "task-total")],
                            &task.total_count.to_string(),
                        );
                        h.text(" images done, ");
                        h.leaf(
                            "span",
                            &[("id", "task-failed")],
                            &task.failed_count.to_string(),
                        );
                        h.text(" failed.");
                    });
                },
            );
            jobs_table(h, &jobs);
        });
        Ok(respond(StatusCode::OK, body))
    })
    .await
}

/// `GET /console/tasks/{task_id}/progress.json`: the task's counters and jobs for the script.
pub async fn progress(
    State(console): State<Console>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    // A script's request: an expired session is a 401, not a redirect to an HTML page.
    let session = match console
        .sessions
        .find(&console.app.store, &headers, console.now_ms())
    {
        Some(s) => s,
        None => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": "unauthenticated", "message": "sign in again"})),
            )
                .into_response()
        }
    };
    if !session.caller.allows(ACTION_GET) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"code": "forbidden", "message": ACTION_GET})),
        )
            .into_response();
    }
    crate::blocking(move || {
        let (task, jobs) = load(&console, &session, &task_id).map_err(|r| {
            let status = r.status();
            (
                status,
                axum::Json(json!({"code": "not_found", "message": "no such task"})),
            )
                .into_response()
        })?;
        let jobs: Vec<_> = jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.id,
                    "state": j.state.as_str(),
                    "attempts": j.attempts,
                    "failure_code": j.failure_code,
                })
            })
            .collect();
        Ok(axum::Json(json!({
            "task_id": task.task_uid,
            "status": task.status,
            "result": task.result,
            "ended": ended(&task.status),
            "progress": task.progress,
            "finish_count": task.finish_count,
            "total_count": task.total_count,
            "failed_count": task.failed_count,
            "jobs": jobs,
        }))
        .into_response())
    })
    .await
    .unwrap_or_else(|r| r)
}
