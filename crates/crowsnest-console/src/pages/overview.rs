//! The overview: placements by severity level, scan coverage, the most vulnerable images and
//! the trend of findings over the last 30 days, from one store call
//! ([`crowsnest_store::Store::overview`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use crowsnest_api::huawei::ACTION_LIST_REGISTRY_IMAGES;

use super::signed_in;
use crate::html::Html;
use crate::layout::{internal, page, respond, severity};
use crate::Console;

/// Days the trend chart covers.
pub const TREND_DAYS: i64 = 30;
/// Images in the "most vulnerable" table.
const TOP: i64 = 10;
const DAY_MS: i64 = 86_400_000;

/// `GET /console/`.
pub async fn page_handler(console: Console, headers: HeaderMap) -> Result<Response, Response> {
    let session = signed_in(&console, &headers, ACTION_LIST_REGISTRY_IMAGES)?;
    let today = console.now_ms().div_euclid(DAY_MS);
    let first = today - TREND_DAYS + 1;
    let store = console.app.store.clone();
    let tenant = session.caller.tenant;
    let s2 = session.clone();
    let overview = crate::blocking(move || {
        store
            .overview(tenant, TOP, first * DAY_MS)
            .map_err(|e| internal(Some(&s2), e))
    })
    .await?;
    let total: i64 = overview.by_state.iter().map(|(_, n)| n).sum();
    let count = |state: &str| {
        overview
            .by_state
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let scanned = count("succeeded");
    let body = page(Some(&session), "/console/", "Overview", |h: &mut Html| {
        h.el("section", &[("class", "cards")], |h| {
            h.el("div", &[("class", "card"), ("id", "coverage")], |h| {
                h.leaf("h2", &[], "Scan coverage");
                h.el("p", &[("class", "big")], |h| {
                    let pct = if total == 0 { 0 } else { scanned * 100 / total };
                    h.num(pct).text("%");
                });
                h.el("p", &[], |h| {
                    h.num(scanned).text(" of ").num(total).text(" image instances scanned");
                });
                h.el("table", &[], |h| {
                    h.el("tbody", &[], |h| {
                        for (state, label) in [
                            ("succeeded", "scanned"),
                            ("failed", "failed"),
                            ("running", "scanning"),
                            ("waiting", "waiting"),
                            ("unscanned", "never scanned"),
                        ] {
                            h.el("tr", &[], |h| {
                                h.leaf("th", &[], label);
                                h.el("td", &[("class", "num")], |h| {
                                    h.num(count(state));
                                });
                            });
                        }
                    });
                });
            });
            h.el("div", &[("class", "card"), ("id", "by-severity")], |h| {
                h.leaf("h2", &[], "Scanned images by severity");
                h.el("table", &[], |h| {
                    h.el("tbody", &[], |h| {
                        for level in ["High", "Medium", "Low", "Security"] {
                            let n = overview
                                .by_severity
                                .iter()
                                .find(|(s, _)| s == level)
                                .map_or(0, |(_, n)| *n);
                            h.el("tr", &[], |h| {
                                h.el("th", &[], |h| severity(h, level));
                                h.el("td", &[("class", "num")], |h| {
                                    let href = format!(
                                        "/console/registry-images?severity_level={level}&enterprise_project_id=all_granted_eps"
                                    );
                                    h.leaf("a", &[("href", &href)], &n.to_string());
                                });
                            });
                        }
                    });
                });
            });
        });
        h.el("section", &[("id", "trend")], |h| {
            h.leaf("h2", &[], "Vulnerabilities found per day (last 30 days)");
            h.leaf(
                "p",
                &[("class", "note")],
                "Each bar sums the vulnerabilities of the image instances whose latest scan finished that day.",
            );
            crate::chart::trend(h, &overview.trend, first, today);
        });
        h.el("section", &[("id", "top-vulnerable")], |h| {
            h.leaf("h2", &[], "Most vulnerable images");
            h.el("table", &[("class", "list")], |h| {
                h.el("thead", &[], |h| {
                    h.el("tr", &[], |h| {
                        for c in ["Image", "Tag", "Severity", "Vulnerabilities"] {
                            h.leaf("th", &[], c);
                        }
                    });
                });
                h.el("tbody", &[], |h| {
                    if overview.top_vulnerable.is_empty() {
                        h.el("tr", &[], |h| {
                            h.leaf(
                                "td",
                                &[("colspan", "4")],
                                "No scanned image has vulnerabilities.",
                            );
                        });
                    }
                    for p in &overview.top_vulnerable {
                        h.el("tr", &[], |h| {
                            h.el("td", &[], |h| {
                                let href = format!("/console/images/{}", p.uuid);
                                h.leaf("a", &[("href", &href)], &p.repository);
                            });
                            h.leaf("td", &[], &p.tag);
                            h.el("td", &[], |h| severity(h, &p.severity));
                            h.el("td", &[("class", "num")], |h| {
                                h.num(p.vul_count);
                            });
                        });
                    }
                });
            });
        });
    });
    Ok(respond(StatusCode::OK, body))
}

/// `GET /console/` as an axum handler.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    page_handler(console, headers).await
}
