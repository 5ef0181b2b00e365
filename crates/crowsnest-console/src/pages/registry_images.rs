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

use super::{check_post, form_pairs, query_pairs};
use crate::html::Html;
use crate::layout::{
    api_error, csrf_field, error_banner, internal, page, pager, query_string, require, respond,
    severity, size, time,
};
use crate::session::Session;
use crate::Console;

const PATH: &str = "/console/registry-images";
/// The page size when none is asked for (the API's default of 10 is small for a screen).
const DEFAULT_LIMIT: &str = "50";

/// The time-range parameters: a date input sends `YYYY-MM-DD`, the API takes ms.
const TIME_PARAMS: &[&str] = &[
    "start_latest_update_time",
    "end_latest_update_time",
    "start_latest_scan_time",
    "end_latest_scan_time",
    "start_latest_sync_time",
    "end_latest_sync_time",
];

/// A `YYYY-MM-DD` date as ms: its first millisecond for a range start, its last for an end.
pub fn date_to_ms(value: &str, end: bool) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(value, format).ok()?;
    let start = day.midnight().assume_utc().unix_timestamp() * 1000;
    Some(if end { start + 86_399_999 } else { start })
}

/// The form's pairs as the API's parameters: dates become ms and a default page size is set.
fn api_pairs(form: &Pairs) -> Pairs {
    api_pairs_with(form, TIME_PARAMS)
}

/// [`api_pairs`] with the page's own time parameters.
pub(crate) fn api_pairs_with(form: &Pairs, time_params: &[&str]) -> Pairs {
    let mut out: Vec<(String, String)> = form
        .0
        .iter()
        .filter(|(k, _)| k != "csrf")
        .map(|(k, v)| {
            if time_params.contains(&k.as_str()) {
                if let Some(ms) = date_to_ms(v, k.starts_with("end_")) {
                    return (k.clone(), ms.to_string());
                }
            }
            (k.clone(), v.clone())
        })
        .collect();
    if !out.iter().any(|(k, _)| k == "limit") {
        out.push(("limit".into(), DEFAULT_LIMIT.into()));
    }
    Pairs(out)
}

pub(crate) fn select(
    h: &mut Html,
    form: &Pairs,
    name: &'static str,
    label: &str,
    options: &[&str],
) {
    h.el("label", &[], |h| {
        h.text(label);
        h.el("select", &[("name", name)], |h| {
            h.leaf("option", &[("value", "")], "any");
            for &o in options {
                if form.get(name) == Some(o) {
                    h.leaf("option", &[("value", o), ("selected", "")], o);
                } else {
                    h.leaf("option", &[("value", o)], o);
                }
            }
        });
    });
}

pub(crate) fn input(
    h: &mut Html,
    form: &Pairs,
    name: &'static str,
    label: &str,
    kind: &'static str,
) {
    h.el("label", &[], |h| {
        h.text(label);
        h.void(
            "input",
            &[
                ("name", name),
                ("type", kind),
                ("value", form.get(name).unwrap_or("")),
            ],
        );
    });
}

fn filters(h: &mut Html, form: &Pairs) {
    h.el(
        "form",
        &[
            ("method", "get"),
            ("action", PATH),
            ("class", "filters"),
            ("id", "filters"),
        ],
        |h| {
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
                select(h, form, name, label, &["true", "false"]);
            }
            input(h, form, "image_size", "Size (bytes, exact)", "number");
            for (prefix, label) in [
                ("latest_update_time", "Updated"),
                ("latest_scan_time", "Scanned"),
                ("latest_sync_time", "Synced"),
            ] {
                h.el("fieldset", &[("class", "range")], |h| {
                    h.leaf("legend", &[], label);
                    let (start, end) = match prefix {
                        "latest_update_time" => {
                            ("start_latest_update_time", "end_latest_update_time")
                        }
                        "latest_scan_time" => ("start_latest_scan_time", "end_latest_scan_time"),
                        _ => ("start_latest_sync_time", "end_latest_sync_time"),
                    };
                    input(h, form, start, "from", "date");
                    input(h, form, end, "to", "date");
                });
            }
            select(
                h,
                form,
                "enterprise_project_id",
                "Enterprise project",
                &["0", "all_granted_eps"],
            );
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
            select(
                h,
                form,
                "limit",
                "Rows per page",
                &["20", "50", "100", "200"],
            );
            h.el("div", &[("class", "actions")], |h| {
                h.leaf("button", &[("type", "submit")], "Filter");
                h.leaf("a", &[("href", PATH)], "Clear");
            });
        },
    );
}

fn table(h: &mut Html, result: &PlacementPage) {
    h.el("div", &[("class", "table-wrap")], |h| {
        h.el(
            "table",
            &[("class", "list"), ("id", "registry-images")],
            |h| {
                h.el("thead", &[], |h| {
                    h.el("tr", &[], |h| {
                        for c in [
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
                        ] {
                            h.leaf("th", &[], c);
                        }
                    });
                });
                h.el("tbody", &[], |h| {
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
                });
            },
        );
    });
}

/// Renders the page for `form` (the raw filter parameters) or the API's error for them.
pub fn render(console: &Console, session: &Session, form: &Pairs) -> Response {
    let api = api_pairs(form);
    let query = match placement_query(&Query::new(&api)) {
        Ok(q) => q,
        Err(e) => {
            let body = page(Some(session), PATH, "Registry images", |h| {
                error_banner(h, e.code(), e.message());
                filters(h, form);
            });
            return respond(e.status(), body);
        }
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
pub async fn page_get(console: Console, headers: HeaderMap, uri: Uri) -> Response {
    let session = match console.session(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = require(&session, ACTION_LIST_REGISTRY_IMAGES) {
        return r;
    }
    let form = match query_pairs(&uri, Some(&session)) {
        Ok(f) => f,
        Err(r) => return r,
    };
    crate::blocking(move || Ok(render(&console, &session, &form)))
        .await
        .unwrap_or_else(|r| r)
}

/// The axum handler of `GET /console/registry-images`.
pub async fn show(State(console): State<Console>, headers: HeaderMap, uri: Uri) -> Response {
    page_get(console, headers, uri).await
}

/// `POST /console/registry-images/scan`: a scan task over the posted selection (the page's
/// filters), created by [`create_task`] so the scan quota holds as for the API.
pub async fn scan(State(console): State<Console>, headers: HeaderMap, body: Bytes) -> Response {
    let session = match console.session(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match form_pairs(&body, Some(&session)) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(r) = check_post(&headers, &session, &form) {
        return r;
    }
    for action in [ACTION_LIST_REGISTRY_IMAGES, ACTION_CREATE] {
        if let Err(r) = require(&session, action) {
            return r;
        }
    }
    let raw = form.get("selection").unwrap_or("").to_owned();
    let selection = match Pairs::parse(&raw) {
        Ok(p) => Pairs(p.0.into_iter().filter(|(_, v)| !v.is_empty()).collect()),
        Err(_) => {
            return crate::layout::error_page(
                Some(&session),
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "the selection is not valid url-encoded UTF-8",
            )
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
    .unwrap_or_else(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_the_api_ms_range() {
        assert_eq!(date_to_ms("1970-01-02", false), Some(86_400_000));
        assert_eq!(date_to_ms("1970-01-02", true), Some(2 * 86_400_000 - 1));
        assert_eq!(date_to_ms("yesterday", false), None);
        let form = Pairs(vec![
            ("start_latest_scan_time".into(), "1970-01-02".into()),
            ("csrf".into(), "x".into()),
        ]);
        let api = api_pairs(&form);
        assert_eq!(api.get("start_latest_scan_time"), Some("86400000"));
        assert_eq!(api.get("limit"), Some(DEFAULT_LIMIT));
        assert_eq!(api.get("csrf"), None);
    }
}
