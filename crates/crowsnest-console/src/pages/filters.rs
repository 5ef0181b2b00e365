//! The filter forms of the list pages: labelled inputs and selects that keep the request's
//! values, date ranges, the form around them, and the form's parameters turned into the
//! API's (dates to ms, a default page size), so each page lists only its own fields.

use axum::response::Response;
use crowsnest_api::form::Pairs;
use crowsnest_api::ApiError;

use crate::html::Html;
use crate::layout::{error_banner, page, respond};
use crate::session::Session;

/// The page size when none is asked for (the API's default of 10 is small for a screen).
pub const DEFAULT_LIMIT: &str = "50";

/// A `YYYY-MM-DD` date as ms: its first millisecond for a range start, its last for an end.
pub fn date_to_ms(value: &str, end: bool) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(value, format).ok()?;
    let start = day.midnight().assume_utc().unix_timestamp() * 1000;
    Some(if end { start + 86_399_999 } else { start })
}

/// The form's pairs as the API's parameters: the dates of `time_params` (a date input sends
/// `YYYY-MM-DD`, the API takes ms) become ms, the CSRF token is dropped, and a default page
/// size is set.
pub fn api_pairs(form: &Pairs, time_params: &[&str]) -> Pairs {
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

/// The GET form of the list at `path`: `fields`, then the Filter button and a Clear link.
pub fn filter_form(h: &mut Html, path: &str, fields: impl FnOnce(&mut Html)) {
    h.el(
        "form",
        &[
            ("method", "get"),
            ("action", path),
            ("class", "filters"),
            ("id", "filters"),
        ],
        |h| {
            fields(h);
            h.el("div", &[("class", "actions")], |h| {
                h.leaf("button", &[("type", "submit")], "Filter");
                h.leaf("a", &[("href", path)], "Clear");
            });
        },
    );
}

/// The list page `title` at `path` answering the API's error `e` for the request's
/// filters: the error's code and message above the form `fields` writes, kept as sent.
pub fn refused(
    session: &Session,
    (path, title): (&str, &str),
    e: &ApiError,
    form: &Pairs,
    fields: fn(&mut Html, &Pairs),
) -> Response {
    let body = page(Some(session), path, title, |h| {
        error_banner(h, e.code(), e.message());
        fields(h, form);
    });
    respond(e.status(), body)
}

/// A select of `options` (and "any") that keeps the request's choice.
pub fn select(h: &mut Html, form: &Pairs, name: &'static str, label: &str, options: &[&str]) {
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

/// An input of `kind` that keeps the request's value.
pub fn input(h: &mut Html, form: &Pairs, name: &'static str, label: &str, kind: &'static str) {
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

/// The `from` and `to` dates of one time range, under `label`.
pub fn date_range(h: &mut Html, form: &Pairs, label: &str, start: &'static str, end: &'static str) {
    h.el("fieldset", &[("class", "range")], |h| {
        h.leaf("legend", &[], label);
        input(h, form, start, "from", "date");
        input(h, form, end, "to", "date");
    });
}

/// A true/false select.
pub fn yes_no(h: &mut Html, form: &Pairs, name: &'static str, label: &str) {
    select(h, form, name, label, &["true", "false"]);
}

/// The enterprise project and the rows per page, which every Huawei list takes.
pub fn project_and_page_size(h: &mut Html, form: &Pairs) {
    select(
        h,
        form,
        "enterprise_project_id",
        "Enterprise project",
        &["0", "all_granted_eps"],
    );
    select(
        h,
        form,
        "limit",
        "Rows per page",
        &["20", "50", "100", "200"],
    );
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
        let api = api_pairs(&form, &["start_latest_scan_time"]);
        assert_eq!(api.get("start_latest_scan_time"), Some("86400000"));
        assert_eq!(api.get("limit"), Some(DEFAULT_LIMIT));
        assert_eq!(api.get("csrf"), None);
    }
}
