//! Registry images: every filter of ListRegistryImages, parsed by the API's own parser
//! ([`placement_query`]), server-side pages of the store's placement query, and "scan this
//! selection", which creates a task through the domain function PublicCreateImageScanTask uses.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use crowsnest_api::alibaba::scan_task::{create_task, ACTION_CREATE};
use crowsnest_api::form::Pairs;
use crowsnest_api::huawei::query::Query;
use crowsnest_api::huawei::registry_images::{
    placement_query, scan_status, IMAGE_TYPES, SCAN_STATUSES, SEVERITIES,
};
use crowsnest_api::huawei::ACTION_LIST_REGISTRY_IMAGES;
use crowsnest_store::PlacementPage;

use super::filters::{self, date_range, filter_form, input, project_and_page_size, select, yes_no};
use super::{post_form, query_pairs, signed_in};
use crate::html::Html;
use crate::layout::{
    api_error, csrf_field, internal, list_table, page, pager, query_string, respond, severity,
    size, time,
};
use crate::session::Session;
use crate::Console;

const PATH: &str = "/console/registry-images";
/// The time-range parameters: a date input sends `YYYY-MM-DD`, the API takes ms.
const TIME_PARAMS: &[&str] = &[
    "start_latest_update_time",
    "end_latest_update_time",
    "start_latest_scan_time",
    "end_latest_scan_time",
    "start_latest_sync_time",
    "end_latest_sync_time",
];

/// The form's pairs as the API's parameters.
fn api_pairs(form: &Pairs) -> Pairs {
    filters::api_pairs(form, TIME_PARAMS)
}

fn filters(h: &mut Html, form: &Pairs) {
    filter_form(h, PATH, |h| {
        input(h, form, "image_name", "Image name", "text");
        input(h, form, "namespace", "Namespace", "text");
        input(h, form, "image_version", "Tag", "text");
        input(h, form, "registry_name", "Registry", "text");
        input(h, form, "instance_name", "Instance name", "text");
        input(h, form, "instance_id", "Instance id", "text");
        select(h, form, "image_type", "Image type", IMAGE_TYPES);
        select(h, form, "scan_status", "Scan status", SCAN_STATUSES);
        select(h, form, "severity_level", "Severity", SEVERITIES);
        for (name, label) in [
            ("has_vul", "Has vulnerabilities"),
            ("has_unsafe_setting", "Has unsafe settings"),
            ("has_malicious_file", "Has malicious files"),
            ("risky", "Risky"),
            ("latest_version", "Latest version"),
            ("is_multarch", "Multi-arch"),
        ] {
            yes_no(h, form, name, label);
        }
        input(h, form, "image_size", "Size (bytes, exact)", "number");
        for (label, start, end) in [
            (
                "Updated",
                "start_latest_update_time",
                "end_latest_update_time",
            ),
            ("Scanned", "start_latest_scan_time", "end_latest_scan_time"),
            ("Synced", "start_latest_sync_time", "end_latest_sync_time"),
        ] {
            date_range(h, form, label, start, end);
        }
        select(h, form, "sort_dir", "Order by last scan", &["asc", "desc"]);
        if form.get("sort_dir").is_some() {
            h.void(
                "input",
                &[
                    ("type", "hidden"),
                    ("name", "sort_key"),
                    ("value", "latest_scan_time"),
                ],
            );
        }
        project_and_page_size(h, form);
    });
}

fn table(h: &mut Html, result: &PlacementPage) {
    list_table(
        h,
        "registry-images",
        &[
            "Image",
            "Tag",
            "Registry",
            "Type",
            "Scan",
            "Severity",
            "Vulns",
            "Unsafe settings",
            "Malicious",
            "Size",
            "Last scan",
        ],
        None,
        |h| {
            for row in &result.rows {
                let scan = row.scan.as_ref();
                h.el("tr", &[], |h| {
                    h.el("td", &[], |h| {
                        let name = if row.namespace.is_empty() {
                            row.repo_name.clone()
                        } else {
                            format!("{}/{}", row.namespace, row.repo_name)
                        };
                        let href = format!("/console/images/{}", row.uuid);
                        h.leaf("a", &[("href", &href), ("class", "image-link")], &name);
                    });
                    h.leaf("td", &[], &row.tag);
                    h.leaf("td", &[], &row.registry_name);
                    h.leaf("td", &[], &row.image_type);
                    h.leaf("td", &[], scan_status(scan));
                    h.el("td", &[], |h| {
                        severity(h, scan.map_or("", |s| s.severity.as_str()))
                    });
                    for n in [
                        scan.map_or(0, |s| s.vul_count),
                        scan.map_or(0, |s| s.baseline_count),
                        scan.map_or(0, |s| s.malicious_count),
                    ] {
                        h.el("td", &[("class", "num")], |h| {
                            h.num(n);
                        });
                    }
                    h.leaf("td", &[("class", "num")], &size(row.size_bytes));
                    h.leaf("td", &[], &time(scan.and_then(|s| s.finished_ms)));
                });
            }
        },
    );
}

/// Renders the page for `form` (the raw filter parameters) or the API's error for them.
pub fn render(console: &Console, session: &Session, form: &Pairs) -> Response {
    let api = api_pairs(form);
    let query = match placement_query(&Query::new(&api)) {
        Ok(q) => q,
        Err(e) => return filters::refused(session, (PATH, "Registry images"), &e, form, filters),
    };
    let result = match console.app.store.placements(session.caller.tenant, &query) {
        Ok(r) => r,
        Err(e) => return internal(Some(session), e),
    };
    // The selection a scan would cover: the filters without paging.
    let selection: Vec<(String, String)> = form
        .0
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "offset" | "limit" | "csrf"))
        .cloned()
        .collect();
    let body = page(Some(session), PATH, "Registry images", |h| {
        filters(h, form);
        h.el("div", &[("class", "toolbar")], |h| {
            pager(
                h,
                PATH,
                &form.0,
                query.offset,
                query.limit,
                result.rows.len(),
                result.total,
            );
            if session.caller.allows(ACTION_CREATE) && result.total > 0 {
                h.el(
                    "form",
                    &[
                        ("method", "post"),
                        ("action", "/console/registry-images/scan"),
                        ("id", "scan-selection"),
                    ],
                    |h| {
                        csrf_field(h, session);
                        h.void(
                            "input",
                            &[
                                ("type", "hidden"),
                                ("name", "selection"),
                                ("value", &query_string(&selection)),
                            ],
                        );
                        h.el("button", &[("type", "submit")], |h| {
                            h.text("Scan these ")
                                .num(result.total)
                                .text(" image instances");
                        });
                    },
                );
            }
        });
        table(h, &result);
    });
    respond(StatusCode::OK, body)
}

/// `GET /console/registry-images`.
pub async fn page_get(
    console: Console,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_LIST_REGISTRY_IMAGES)?;
    let form = query_pairs(&uri, Some(&session))?;
    crate::blocking(move || Ok(render(&console, &session, &form))).await
}

/// The axum handler of `GET /console/registry-images`.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    page_get(console, headers, uri).await
}

/// `POST /console/registry-images/scan`: a scan task over the posted selection (the page's
/// filters), created by [`create_task`] so the scan quota holds as for the API.
pub async fn scan(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let (session, form) = post_form(
        &console,
        &headers,
        &body,
        &[ACTION_LIST_REGISTRY_IMAGES, ACTION_CREATE],
    )?;
    let raw = form.get("selection").unwrap_or("").to_owned();
    let selection = match Pairs::parse(&raw) {
        Ok(p) => Pairs(p.0.into_iter().filter(|(_, v)| !v.is_empty()).collect()),
        Err(_) => {
            return Err(crate::layout::error_page(
                Some(&session),
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "the selection is not valid url-encoded UTF-8",
            ))
        }
    };
    crate::blocking(move || {
        let query = placement_query(&Query::new(&api_pairs(&selection)))
            .map_err(|e| api_error(Some(&session), &e))?;
        let recorded = serde_json::json!({ "Console": { "ListRegistryImages": raw } });
        let created = create_task(&console.app, &session.caller, &query.filter, recorded)
            .map_err(|e| api_error(Some(&session), &e))?;
        let to = format!("/console/tasks/{}", created.task.task_uid);
        Ok(Redirect::to(&to).into_response())
    })
    .await
}
