//! VM images (the ECS DescribeImages catalogue the tenant sees: platform, custom, shared and
//! community images) in server-side pages of the store's own query.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use crowsnest_api::alibaba::ecs::ACTION_DESCRIBE_IMAGES;
use crowsnest_api::form::Pairs;
use crowsnest_store::{OwnerAlias, VmImageQuery};

use super::filters::{filter_form, input, select};
use super::{query_pairs, signed_in};
use crate::html::Html;
use crate::layout::{error_page, internal, list_table, page, pager, respond, time};
use crate::Console;

const PATH: &str = "/console/vm-images";
const PAGE: i64 = 50;

fn filters(h: &mut Html, form: &Pairs) {
    filter_form(h, PATH, |h| {
        input(h, form, "image_name", "Name (exact)", "text");
        input(h, form, "image_family", "Family (exact)", "text");
        select(
            h,
            form,
            "status",
            "Status",
            &[
                "Available",
                "Creating",
                "Waiting",
                "UnAvailable",
                "CreateFailed",
                "Deprecated",
            ],
        );
        select(
            h,
            form,
            "owner_alias",
            "Source",
            &["system", "self", "others", "marketplace"],
        );
        select(h, form, "os_type", "OS type", &["linux", "windows"]);
        select(
            h,
            form,
            "architecture",
            "Architecture",
            &["x86_64", "i386", "arm64"],
        );
    });
}

/// `GET /console/vm-images`.
pub async fn page_get(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_DESCRIBE_IMAGES)?;
    let form = query_pairs(&uri, Some(&session))?;
    let bad = |what: &str| {
        error_page(
            Some(&session),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            what,
        )
    };
    let offset = match form.get("offset").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if (0..=2_000_000).contains(&n) => n,
        Some(_) => return Err(bad("offset must be an integer from 0 to 2000000")),
    };
    if form.0.iter().any(|(_, v)| v.len() > 256) {
        return Err(bad("a filter value is longer than 256 characters"));
    }
    let owner_alias = match form.get("owner_alias") {
        None => None,
        Some(a) => match OwnerAlias::parse(a) {
            Some(o) => Some(o),
            None => {
                return Err(bad(
                    "owner_alias must be system, self, others or marketplace",
                ))
            }
        },
    };
    let query = VmImageQuery {
        statuses: form
            .get("status")
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default(),
        image_name: form.get("image_name").map(str::to_owned),
        image_family: form.get("image_family").map(str::to_owned),
        owner_alias,
        os_type: form.get("os_type").map(str::to_owned),
        architecture: form.get("architecture").map(str::to_owned),
        offset,
        limit: PAGE,
        ..VmImageQuery::default()
    };
    crate::blocking(move || {
        let result = console
            .app
            .store
            .vm_images(session.caller.tenant, &query)
            .map_err(|e| internal(Some(&session), e))?;
        let body = page(Some(&session), PATH, "VM images", |h| {
            filters(h, &form);
            pager(
                h,
                PATH,
                &form.0,
                offset,
                PAGE,
                result.rows.len(),
                result.total,
            );
            list_table(
                h,
                "vm-images",
                &[
                    "Image id",
                    "Name",
                    "Source",
                    "Status",
                    "OS",
                    "Arch",
                    "Boot",
                    "Size",
                    "Packages",
                    "Detection",
                    "Created",
                ],
                None,
                |h| {
                    for v in &result.rows {
                        h.el("tr", &[], |h| {
                            h.leaf("td", &[("class", "digest")], &v.image_id);
                            h.leaf("td", &[], &v.image_name);
                            h.leaf("td", &[], &v.owner_alias);
                            h.leaf("td", &[], &v.status);
                            h.leaf("td", &[], &v.os_name_en);
                            h.leaf("td", &[], &v.architecture);
                            h.leaf("td", &[], &v.boot_mode);
                            h.el("td", &[("class", "num")], |h| {
                                h.num(v.size_gib).text(" GiB");
                            });
                            h.el("td", &[("class", "num")], |h| {
                                h.num(v.package_count);
                            });
                            h.leaf("td", &[], &v.detection_status);
                            h.leaf("td", &[], &time(Some(v.created_ms)));
                        });
                    }
                },
            );
        });
        Ok(respond(StatusCode::OK, body))
    })
    .await
}
