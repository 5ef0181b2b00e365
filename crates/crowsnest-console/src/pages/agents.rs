//! Host agents of the tenant, with online/offline/revoked judged exactly as
//! `GET /api/v1/agents` judges them.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use crowsnest_api::native::agents::{status, ACTION_LIST};

use super::signed_in;
use crate::layout::{internal, list_table, page, respond, time};
use crate::Console;

/// `GET /console/agents`.
pub async fn page_get(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_LIST)?;
    crate::blocking(move || {
        let now = console.now_ms();
        let offline_after = console.app.settings.agents.offline_after_ms;
        let agents = console
            .app
            .store
            .agents(session.caller.tenant)
            .map_err(|e| internal(Some(&session), e))?;
        let body = page(Some(&session), "/console/agents", "Agents", |h| {
            let empty = agents
                .is_empty()
                .then_some("No agent registered yet: crowsnest agent.");
            let columns = [
                "Host",
                "Agent",
                "Status",
                "Registered",
                "Last seen",
                "Reports",
                "Heartbeats",
            ];
            list_table(h, "agents", &columns, empty, |h| {
                for a in &agents {
                    let st = status(a, now, offline_after);
                    h.el("tr", &[], |h| {
                        h.el("td", &[], |h| {
                            h.text(&a.host_name);
                            h.el("div", &[("class", "digest")], |h| {
                                h.text(&a.host_uid);
                            });
                        });
                        h.leaf("td", &[("class", "digest")], &a.uid);
                        let class = match st {
                            "online" => "status-ok",
                            "offline" => "status-warn",
                            _ => "status-off",
                        };
                        h.leaf("td", &[("class", class)], st);
                        h.leaf("td", &[], &time(Some(a.registered_ms)));
                        h.leaf("td", &[], &time(Some(a.last_seen_ms)));
                        h.el("td", &[("class", "num")], |h| {
                            h.num(a.reports_received);
                        });
                        h.el("td", &[("class", "num")], |h| {
                            h.num(a.heartbeats_received);
                        });
                    });
                }
            });
        });
        Ok(respond(StatusCode::OK, body))
    })
    .await
}
