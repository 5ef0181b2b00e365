//! One module per page or action. The helpers here parse form bodies and query strings with
//! the API's parser and check POSTs (same origin, the session's CSRF token).

pub mod agents;
pub mod filters;
pub mod image;
pub mod local_images;
pub mod overview;
pub mod registries;
pub mod registry_images;
pub mod sign_in;
pub mod tasks;
pub mod vm_images;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use crowsnest_api::form::Pairs;

use crate::layout::{error_page, require};
use crate::session::{same, Session};
use crate::Console;

/// The request's query parameters, with empty values dropped: a filter form sends every field,
/// and an empty one means "not filtered", which the API's parsers express by absence.
pub fn query_pairs(uri: &Uri, session: Option<&Session>) -> Result<Pairs, Response> {
    let pairs = Pairs::parse(uri.query().unwrap_or("")).map_err(|_| {
        error_page(
            session,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "the query string is not valid url-encoded UTF-8",
        )
    })?;
    Ok(Pairs(
        pairs.0.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
    ))
}

/// A url-encoded form body.
pub fn form_pairs(body: &[u8], session: Option<&Session>) -> Result<Pairs, Response> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| Pairs::parse(s).ok())
        .ok_or_else(|| {
            error_page(
                session,
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "the form is not valid url-encoded UTF-8",
            )
        })
}

/// Refuses a POST whose `Origin` names another site. Browsers send `Origin` on every POST;
/// with `SameSite=Strict` cookies and the CSRF token this is the third, independent check.
pub fn same_origin(headers: &HeaderMap, session: Option<&Session>) -> Result<(), Response> {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(error_page(
            session,
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form was sent from another site",
        ))
    }
}

/// Checks a POST form of a signed-in user: same origin and the session's CSRF token.
pub fn check_post(headers: &HeaderMap, session: &Session, form: &Pairs) -> Result<(), Response> {
    same_origin(headers, Some(session))?;
    if form.get("csrf").is_some_and(|t| same(t, &session.csrf)) {
        Ok(())
    } else {
        Err(error_page(
            Some(session),
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form's CSRF token is missing or wrong; reload the page and try again",
        ))
    }
}

/// The session of a page request whose caller may do `action`; else what to answer (the
/// sign-in redirect, or 403).
pub fn signed_in(
    console: &Console,
    headers: &HeaderMap,
    action: &str,
) -> Result<Session, Response> {
    let session = console.session(headers)?;
    require(&session, action)?;
    Ok(session)
}

/// The session and form of a POST action: signed in, sent from this site with the session's
/// CSRF token, and every one of `actions` allowed; else what to answer.
pub fn post_form(
    console: &Console,
    headers: &HeaderMap,
    body: &[u8],
    actions: &[&str],
) -> Result<(Session, Pairs), Response> {
    let session = console.session(headers)?;
    let form = form_pairs(body, Some(&session))?;
    check_post(headers, &session, &form)?;
    for action in actions {
        require(&session, action)?;
    }
    Ok((session, form))
}
