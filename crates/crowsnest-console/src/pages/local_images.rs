//! Local images (the images in hosts' local stores): every filter of ListLocalImages, parsed
//! by the API's own parser ([`local_image_query`]), in server-side pages. A row whose digest
//! has a stored inventory links to its image page (`/console/digests/{digest}`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use crowsnest_api::form::Pairs;
use crowsnest_api::huawei::local_images::local_image_query;
use crowsnest_api::huawei::query::Query;
use crowsnest_api::huawei::ACTION_LIST_LOCAL_IMAGES;

use super::filters::{self, date_range, filter_form, input, project_and_page_size, select, yes_no};
use super::{query_pairs, signed_in};
use crate::html::Html;
use crate::layout::{internal, list_table, page, pager, respond, severity, size, time};
use crate::session::Session;
use crate::Console;

const PATH: &str = "/console/local-images";
const TIME_PARAMS: &[&str] = &[
    "start_latest_update_time",
    "end_latest_update_time",
    "start_latest_scan_time",
    "end_latest_scan_time",
];

fn filters(h: &mut Html, form: &Pairs) {
    filter_form(h, PATH, |h| {
        input(h, form, "image_name", "Image name contains", "text");
        input(h, form, "image_version", "Version (with a name)", "text");
        select(
            h,
            form,
            "scan_status",
            "Scan status",
            &[
                "unscan",
                "success",
                "scanning",
                "failed",
                "download_failed",
                "image_oversized",
                "waiting_for_scan",
            ],
        );
        input(h, form, "local_image_type", "Source type", "text");
        yes_no(h, form, "has_vul", "Has vulnerabilities");
        yes_no(h, form, "has_container", "Has containers");
        input(h, form, "host_name", "Host name contains", "text");
        input(h, form, "host_id", "Host id", "text");
        input(h, form, "host_ip", "Host IP", "text");
        input(h, form, "container_name", "Container name contains", "text");
        input(h, form, "container_id", "Container id", "text");
        input(h, form, "pod_name", "Pod name contains", "text");
        input(h, form, "pod_id", "Pod id", "text");
        input(h, form, "app_name", "App contains", "text");
        input(h, form, "image_size", "Size (bytes, exact)", "number");
        date_range(
            h,
            form,
            "Updated",
            "start_latest_update_time",
            "end_latest_update_time",
        );
        date_range(
            h,
            form,
            "Scanned",
            "start_latest_scan_time",
            "end_latest_scan_time",
        );
        project_and_page_size(h, form);
    });
}

fn render(console: &Console, session: &Session, form: &Pairs) -> Response {
    let api = filters::api_pairs(form, TIME_PARAMS);
    let query = match local_image_query(&Query::new(&api)) {
        Ok(q) => q,
        Err(e) => return filters::refused(session, (PATH, "Local images"), &e, form, filters),
    };
    let result = match console
        .app
        .store
        .local_images(session.caller.tenant, &query)
    {
        Ok(r) => r,
        Err(e) => return internal(Some(session), e),
    };
    // A row links to its digest's image page when there is an inventory to show there.
    let digests: Vec<&str> = result.rows.iter().map(|r| r.digest.as_str()).collect();
    let stored = match console.app.store.stored_inventory_digests(&digests) {
        Ok(s) => s,
        Err(e) => return internal(Some(session), e),
    };
    let body = page(Some(session), PATH, "Local images", |h| {
        filters(h, form);
        pager(
            h,
            PATH,
            &form.0,
            query.offset,
            query.limit,
            result.rows.len(),
            result.total,
        );
        list_table(
            h,
            "local-images",
            &[
                "Image",
                "Version",
                "Source",
                "Scan",
                "Severity",
                "Vulns",
                "Components",
                "Hosts",
                "Containers",
                "Host",
                "Size",
                "Last scan",
            ],
            None,
            |h| {
                for row in &result.rows {
                    h.el("tr", &[], |h| {
                        h.el("td", &[], |h| {
                            if stored.contains(&row.digest) {
                                let href = format!("/console/digests/{}", row.digest);
                                h.leaf(
                                    "a",
                                    &[("href", &href), ("class", "image-link")],
                                    &row.image_name,
                                );
                            } else {
                                h.text(&row.image_name);
                            }
                            h.el("div", &[("class", "digest")], |h| {
                                h.text(&row.digest);
                            });
                        });
                        h.leaf("td", &[], &row.image_version);
                        h.leaf("td", &[], &row.local_image_type);
                        h.leaf("td", &[], &row.scan_status);
                        h.el("td", &[], |h| severity(h, &row.severity_level));
                        for n in [
                            row.vul_num,
                            row.component_num,
                            row.host_num,
                            row.container_num,
                        ] {
                            h.el("td", &[("class", "num")], |h| {
                                h.num(n);
                            });
                        }
                        h.leaf(
                            "td",
                            &[],
                            row.host.as_ref().map_or("", |(name, _, _)| name.as_str()),
                        );
                        h.leaf("td", &[("class", "num")], &size(row.size_bytes));
                        h.leaf("td", &[], &time(row.latest_scan_ms));
                    });
                }
            },
        );
    });
    respond(StatusCode::OK, body)
}

/// `GET /console/local-images`.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_LIST_LOCAL_IMAGES)?;
    let form = query_pairs(&uri, Some(&session))?;
    crate::blocking(move || Ok(render(&console, &session, &form))).await
}
