//! The page chrome every console page shares (navigation, sign-out, the error banner), paging
//! links, and the formatting of times, sizes and severities.

use axum::http::StatusCode;
use axum::response::{Html as HtmlBody, IntoResponse, Response};
use crowsnest_api::ApiError;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::html::Html;
use crate::session::Session;

/// The navigation: path and label.
const NAV: &[(&str, &str)] = &[
    ("/console/", "Overview"),
    ("/console/registry-images", "Registry images"),
    ("/console/local-images", "Local images"),
    ("/console/vm-images", "VM images"),
    ("/console/tasks", "Scan tasks"),
    ("/console/registries", "Registries"),
    ("/console/agents", "Agents"),
];

/// A whole page: `title`, the navigation with `current` marked, and `body`.
pub fn page(
    session: Option<&Session>,
    current: &str,
    title: &str,
    body: impl FnOnce(&mut Html),
) -> String {
    let mut h = Html::new();
    h.raw("<!doctype html>");
    h.el("html", &[("lang", "en")], |h| {
        h.el("head", &[], |h| {
            h.void("meta", &[("charset", "utf-8")]);
            h.void(
                "meta",
                &[
                    ("name", "viewport"),
                    ("content", "width=device-width, initial-scale=1"),
                ],
            );
            h.el("title", &[], |h| {
                h.text(title).raw(" · Crowsnest");
            });
            h.void(
                "link",
                &[
                    ("rel", "stylesheet"),
                    ("href", "/console/assets/console.css"),
                ],
            );
            // Deferred: it only finds what the page marked for it after parsing.
            h.el(
                "script",
                &[("src", "/console/assets/console.js"), ("defer", "")],
                |_| {},
            );
        });
        h.el("body", &[], |h| {
            h.el("header", &[], |h| {
                h.leaf(
                    "a",
                    &[("class", "brand"), ("href", "/console/")],
                    "Crowsnest",
                );
                if let Some(s) = session {
                    h.el("nav", &[], |h| {
                        for &(path, label) in NAV {
                            let class = if path == current { "current" } else { "" };
                            h.leaf("a", &[("href", path), ("class", class)], label);
                        }
                    });
                    h.el(
                        "form",
                        &[
                            ("method", "post"),
                            ("action", "/console/sign-out"),
                            ("class", "sign-out"),
                        ],
                        |h| {
                            csrf_field(h, s);
                            h.el("span", &[("class", "who")], |h| {
                                h.text("tenant ").num(s.caller.tenant.0).text(" · ");
                                h.text(&s.caller.principal);
                            });
                            h.leaf("button", &[("type", "submit")], "Sign out");
                        },
                    );
                }
            });
            h.el("main", &[], |h| {
                h.leaf("h1", &[], title);
                body(h);
            });
        });
    });
    h.finish()
}

/// The hidden CSRF field of a POST form.
pub fn csrf_field(h: &mut Html, session: &Session) {
    h.void(
        "input",
        &[
            ("type", "hidden"),
            ("name", "csrf"),
            ("value", &session.csrf),
        ],
    );
}

/// A list table `id` with `columns` as its head; `body` writes the rows, and `empty` (when
/// given) stands alone in a row saying there are none.
pub fn list_table(
    h: &mut Html,
    id: &'static str,
    columns: &[&str],
    empty: Option<&str>,
    body: impl FnOnce(&mut Html),
) {
    h.el("div", &[("class", "table-wrap")], |h| {
        h.el("table", &[("class", "list"), ("id", id)], |h| {
            h.el("thead", &[], |h| {
                h.el("tr", &[], |h| {
                    for c in columns {
                        h.leaf("th", &[], c);
                    }
                });
            });
            h.el("tbody", &[], |h| {
                if let Some(note) = empty {
                    h.el("tr", &[], |h| {
                        let span = columns.len().to_string();
                        h.leaf("td", &[("colspan", &span), ("class", "empty")], note);
                    });
                }
                body(h);
            });
        });
    });
}

/// An HTML response.
pub fn respond(status: StatusCode, body: String) -> Response {
    (status, HtmlBody(body)).into_response()
}

/// A page that says what went wrong: `code` and `message` in a banner.
pub fn error_page(
    session: Option<&Session>,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let body = page(session, "", "Something went wrong", |h| {
        error_banner(h, code, message);
    });
    respond(status, body)
}

/// The banner of an API error, with its stable code.
pub fn error_banner(h: &mut Html, code: &str, message: &str) {
    h.el("p", &[("class", "error"), ("role", "alert")], |h| {
        h.leaf("code", &[], code).text(" ").text(message);
    });
}

/// An API error as a page: its status (internal errors stay hidden), code and message.
pub fn api_error(session: Option<&Session>, e: &ApiError) -> Response {
    error_page(session, e.status(), e.code(), e.message())
}

/// 403 when the caller's policy does not allow `action`.
pub fn require(session: &Session, action: &str) -> Result<(), Response> {
    if session.caller.allows(action) {
        Ok(())
    } else {
        Err(error_page(
            Some(session),
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("The signed-in key has no permission for {action}."),
        ))
    }
}

/// A store failure: logged, shown as a generic 500.
pub fn internal(session: Option<&Session>, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console store call failed");
    error_page(
        session,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal server error",
    )
}

/// `pairs` as a query string.
pub fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// "rows a–b of n" and previous/next links that keep every other parameter.
pub fn pager(
    h: &mut Html,
    path: &str,
    pairs: &[(String, String)],
    offset: i64,
    limit: i64,
    shown: usize,
    total: i64,
) {
    let link = |offset: i64| {
        let mut kept: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "offset")
            .cloned()
            .collect();
        kept.push(("offset".into(), offset.to_string()));
        format!("{path}?{}", query_string(&kept))
    };
    h.el("nav", &[("class", "pager")], |h| {
        let shown = i64::try_from(shown).unwrap_or(0);
        h.el("span", &[("class", "range")], |h| {
            if shown == 0 {
                h.text("no rows of ").num(total);
            } else {
                h.text("rows ")
                    .num(offset + 1)
                    .text("–")
                    .num(offset + shown)
                    .text(" of ")
                    .num(total);
            }
        });
        if offset > 0 {
            h.leaf(
                "a",
                &[("href", &link((offset - limit).max(0))), ("rel", "prev")],
                "← Previous",
            );
        }
        if offset + shown < total {
            h.leaf(
                "a",
                &[("href", &link(offset + limit)), ("rel", "next")],
                "Next →",
            );
        }
    });
}

/// A time in ms as `2026-11-23 19:17` UTC; `—` for none.
pub fn time(ms: Option<i64>) -> String {
    let Some(ms) = ms.filter(|ms| *ms > 0) else {
        return "—".into();
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A time in ms as its UTC date, `2026-11-23`.
pub fn date(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A byte count as `12.3 MB`.
pub fn size(bytes: i64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The CSS class of a severity name (seed levels and finding severities alike).
pub fn severity_class(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => "sev sev-critical",
        "high" => "sev sev-high",
        "medium" => "sev sev-medium",
        "low" => "sev sev-low",
        "security" | "none" => "sev sev-none",
        _ => "sev sev-unknown",
    }
}

/// A severity as a coloured badge.
pub fn severity(h: &mut Html, severity: &str) {
    let label = if severity.is_empty() { "—" } else { severity };
    h.leaf("span", &[("class", severity_class(severity))], label);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(time(Some(0)), "—");
        assert_eq!(time(Some(86_400_000)), "1970-01-02 00:00");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(12_345_678), "12.3 MB");
        assert_eq!(query_string(&[("a b".into(), "x&y".into())]), "a%20b=x%26y");
    }
}
