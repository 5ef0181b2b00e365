//! Registries the tenant connected (`crowsnest registry add`, `POST /api/v1/registries`):
//! where they are, their filters and their latest sync. Passwords are sealed in the store and
//! never shown. "Sync now" runs the same domain function as `POST /api/v1/registries/{uid}/sync`
//! and shows its report.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use crowsnest_api::native::registries::{sync_registry_now, ACTION_LIST, ACTION_SYNC};

use super::{check_post, form_pairs};
use crate::html::Html;
use crate::layout::{api_error, csrf_field, internal, page, require, respond, time};
use crate::session::Session;
use crate::Console;

/// What the page says above the table after a sync.
enum Outcome {
    Nothing,
    Synced {
        uid: String,
        repositories: usize,
        tags: usize,
        changed: usize,
        removed: usize,
        problems: Vec<String>,
    },
}

fn render(console: &Console, session: &Session, outcome: &Outcome) -> Result<Response, Response> {
    let registries = console
        .app
        .store
        .registry_connections(session.caller.tenant)
        .map_err(|e| internal(Some(session), e))?;
    let can_sync = session.caller.allows(ACTION_SYNC);
    let body = page(
        Some(session),
        "/console/registries",
        "Registries",
        |h: &mut Html| {
            if let Outcome::Synced {
                uid,
                repositories,
                tags,
                changed,
                removed,
                problems,
            } = outcome
            {
                h.el(
                    "p",
                    &[
                        ("class", "notice"),
                        ("id", "sync-report"),
                        ("role", "status"),
                    ],
                    |h| {
                        h.text("Synced ").text(uid).text(": ");
                        for (n, what) in [
                            (repositories, " repositories, "),
                            (tags, " tags, "),
                            (changed, " changed, "),
                            (removed, " removed."),
                        ] {
                            h.num(i64::try_from(*n).unwrap_or(i64::MAX)).text(what);
                        }
                        for p in problems {
                            h.el("span", &[("class", "failure")], |h| {
                                h.text(" ").text(p);
                            });
                        }
                    },
                );
            }
            h.el("div", &[("class", "table-wrap")], |h| {
                h.el("table", &[("class", "list"), ("id", "registries")], |h| {
                    h.el("thead", &[], |h| {
                        h.el("tr", &[], |h| {
                            for c in [
                                "Name",
                                "Type",
                                "URL",
                                "User",
                                "Namespaces",
                                "Repositories",
                                "Last sync",
                                "Sync error",
                                "",
                            ] {
                                h.leaf("th", &[], c);
                            }
                        });
                    });
                    h.el("tbody", &[], |h| {
                        if registries.is_empty() {
                            h.el("tr", &[], |h| {
                                h.leaf(
                                    "td",
                                    &[("colspan", "9"), ("class", "empty")],
                                    "No registry connected yet: crowsnest registry add.",
                                );
                            });
                        }
                        for r in &registries {
                            h.el("tr", &[], |h| {
                                h.el("td", &[], |h| {
                                    h.text(&r.name);
                                    h.el("div", &[("class", "digest")], |h| {
                                        h.text(&r.uid);
                                    });
                                });
                                h.leaf("td", &[], &r.registry_type);
                                h.leaf("td", &[], &r.url);
                                h.leaf("td", &[], &r.username);
                                h.leaf("td", &[], &r.namespace_filters.join(", "));
                                h.leaf("td", &[], &r.repositories.join(", "));
                                h.leaf("td", &[], &time(Some(r.latest_sync_ms)));
                                h.leaf("td", &[("class", "failure")], &r.latest_sync_error);
                                h.el("td", &[], |h| {
                                    if can_sync {
                                        let action = format!("/console/registries/{}/sync", r.uid);
                                        h.el(
                                            "form",
                                            &[
                                                ("method", "post"),
                                                ("action", &action),
                                                ("class", "sync"),
                                            ],
                                            |h| {
                                                csrf_field(h, session);
                                                h.leaf("button", &[("type", "submit")], "Sync now");
                                            },
                                        );
                                    }
                                });
                            });
                        }
                    });
                });
            });
        },
    );
    Ok(respond(StatusCode::OK, body))
}

/// `GET /console/registries`.
pub async fn page_get(State(console): State<Console>, headers: HeaderMap) -> Response {
    let session = match console.session(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = require(&session, ACTION_LIST) {
        return r;
    }
    crate::blocking(move || render(&console, &session, &Outcome::Nothing))
        .await
        .unwrap_or_else(|r| r)
}

/// `POST /console/registries/{uid}/sync`: synchronises the registry now and shows the report
/// (a refused or unreachable registry is the API's `sync_failed` page).
pub async fn sync(
    State(console): State<Console>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    for action in [ACTION_LIST, ACTION_SYNC] {
        if let Err(r) = require(&session, action) {
            return r;
        }
    }
    crate::blocking(move || {
        let report = sync_registry_now(&console.app, &session.caller, &uid)
            .map_err(|e| api_error(Some(&session), &e))?;
        let outcome = Outcome::Synced {
            uid,
            repositories: report.repositories,
            tags: report.tags,
            changed: report.changed_tags,
            removed: report.removed_tags,
            problems: report.problems,
        };
        render(&console, &session, &outcome)
    })
    .await
    .unwrap_or_else(|r| r)
}
