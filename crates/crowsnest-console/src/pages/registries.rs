//! Registries the tenant connected (`crowsnest registry add`, `POST /api/v1/registries`):
//! where they are, their filters and their latest sync. Passwords are sealed in the store and
//! never shown. "Sync now" runs the same domain function as `POST /api/v1/registries/{uid}/sync`
//! and redirects to the page (POST/redirect/GET), which shows its report once.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use crowsnest_api::native::registries::{sync_registry_now, ACTION_LIST, ACTION_SYNC};

use super::{post_form, signed_in};
use crate::html::Html;
use crate::layout::{api_error, csrf_field, internal, list_table, page, respond, time};
use crate::session::{Flash, Session};
use crate::Console;

const PATH: &str = "/console/registries";

fn render(
    console: &Console,
    session: &Session,
    flash: Option<&Flash>,
) -> Result<Response, Response> {
    let registries = console
        .app
        .store
        .registry_connections(session.caller.tenant)
        .map_err(|e| internal(Some(session), e))?;
    let can_sync = session.caller.allows(ACTION_SYNC);
    let body = page(Some(session), PATH, "Registries", |h: &mut Html| {
        if let Some(flash) = flash {
            h.el(
                "p",
                &[
                    ("class", "notice"),
                    ("id", "sync-report"),
                    ("role", "status"),
                ],
                |h| {
                    h.text(&flash.text);
                    for p in &flash.problems {
                        h.el("span", &[("class", "failure")], |h| {
                            h.text(" ").text(p);
                        });
                    }
                },
            );
        }
        let columns = [
            "Name",
            "Type",
            "URL",
            "User",
            "Namespaces",
            "Repositories",
            "Last sync",
            "Sync error",
            "",
        ];
        let empty = registries
            .is_empty()
            .then_some("No registry connected yet: crowsnest registry add.");
        list_table(h, "registries", &columns, empty, |h| {
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
                                &[("method", "post"), ("action", &action), ("class", "sync")],
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
    Ok(respond(StatusCode::OK, body))
}

/// `GET /console/registries`, with the report of a sync that redirected here.
pub async fn page_get(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_LIST)?;
    let flash = console.sessions.take_flash(&headers);
    crate::blocking(move || render(&console, &session, flash.as_ref())).await
}

/// `POST /console/registries/{uid}/sync`: synchronises the registry now and answers 303 See
/// Other to the registries page, which shows the report once (kept as the session's flash),
/// so reloading that page never syncs again. A refused or unreachable registry is the API's
/// `sync_failed` page.
pub async fn sync(
    State(console): State<Console>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let (session, _) = post_form(&console, &headers, &body, &[ACTION_LIST, ACTION_SYNC])?;
    crate::blocking(move || {
        let report = sync_registry_now(&console.app, &session.caller, &uid)
            .map_err(|e| api_error(Some(&session), &e))?;
        let text = format!(
            "Synced {uid}: {} repositories, {} tags, {} changed, {} removed.",
            report.repositories, report.tags, report.changed_tags, report.removed_tags
        );
        console.sessions.set_flash(&headers, text, report.problems);
        Ok(Redirect::to(PATH).into_response())
    })
    .await
}
