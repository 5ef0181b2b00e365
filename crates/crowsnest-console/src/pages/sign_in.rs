//! Sign-in with the API's credentials (an AccessKey id and secret, or a token), and sign-out.
//!
//! The form carries a CSRF token that must equal a cookie set with the form (a double submit:
//! another site can neither read the cookie nor make the browser send it, `SameSite=Strict`),
//! so no one can sign a visitor in to an account of theirs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use crowsnest_api::Caller;

use super::{form_pairs, post_form, same_origin};
use crate::html::Html;
use crate::layout::{error_banner, page, respond};
use crate::session::{
    cookie, random_token, same, set_cookie, Credential, COOKIE, PRE_COOKIE, TTL_MS,
};
use crate::Console;

fn render(csrf: &str, failure: Option<(&str, &str)>) -> String {
    page(None, "", "Sign in", |h: &mut Html| {
        if let Some((code, message)) = failure {
            error_banner(h, code, message);
        }
        h.leaf(
            "p",
            &[],
            "Sign in with an AccessKey (crowsnest keys create) or a token (crowsnest keys token). \
             You see the images of the key's tenant only.",
        );
        h.el(
            "form",
            &[
                ("method", "post"),
                ("action", "/console/sign-in"),
                ("class", "sign-in"),
            ],
            |h| {
                h.void(
                    "input",
                    &[("type", "hidden"), ("name", "csrf"), ("value", csrf)],
                );
                h.el("fieldset", &[], |h| {
                    h.leaf("legend", &[], "AccessKey");
                    h.el("label", &[], |h| {
                        h.text("AccessKey id");
                        h.void(
                            "input",
                            &[
                                ("name", "access_key_id"),
                                ("autocomplete", "username"),
                                ("id", "access_key_id"),
                            ],
                        );
                    });
                    h.el("label", &[], |h| {
                        h.text("Secret");
                        h.void(
                            "input",
                            &[
                                ("name", "secret"),
                                ("type", "password"),
                                ("autocomplete", "current-password"),
                                ("id", "secret"),
                            ],
                        );
                    });
                });
                h.el("fieldset", &[], |h| {
                    h.leaf("legend", &[], "or a token");
                    h.el("label", &[], |h| {
                        h.text("Token");
                        h.void(
                            "input",
                            &[("name", "token"), ("type", "password"), ("id", "token")],
                        );
                    });
                });
                h.leaf("button", &[("type", "submit")], "Sign in");
            },
        );
    })
}

fn form_response(status: StatusCode, failure: Option<(&str, &str)>) -> Response {
    let csrf = random_token();
    let mut response = respond(status, render(&csrf, failure));
    if let Ok(v) = set_cookie(PRE_COOKIE, &csrf, 3600).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /console/sign-in`.
pub async fn form(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console
        .sessions
        .find(&console.app.store, &headers, console.now_ms())
        .is_some()
    {
        return Redirect::to("/console/").into_response();
    }
    form_response(StatusCode::OK, None)
}

/// `POST /console/sign-in`.
pub async fn submit(State(console): State<Console>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = same_origin(&headers, None) {
        return r;
    }
    let form = match form_pairs(&body, None) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or("");
    if pre.is_empty() || !form.get("csrf").is_some_and(|t| same(t, pre)) {
        return form_response(
            StatusCode::FORBIDDEN,
            Some(("csrf_failed", "the sign-in form expired; try again")),
        );
    }
    let field = |name: &str| form.get(name).map(str::trim).unwrap_or("").to_owned();
    let (key_id, secret, token) = (field("access_key_id"), field("secret"), field("token"));
    if [&key_id, &secret, &token].iter().any(|v| v.len() > 32_768) {
        return form_response(
            StatusCode::BAD_REQUEST,
            Some(("invalid_parameter", "a field is too long")),
        );
    }
    let store = console.app.store.clone();
    let now = console.now_ms();
    let verified = crate::blocking(move || {
        let internal = |e: crowsnest_store::StoreError| crate::layout::internal(None, e);
        if !token.is_empty() {
            return Ok(store
                .token(&token, now)
                .map_err(internal)?
                .map(|(tenant, actions)| {
                    (
                        Caller {
                            tenant,
                            principal: "token".into(),
                            actions,
                            seen_generation: None,
                        },
                        Credential::Token(token.clone()),
                    )
                }));
        }
        if key_id.is_empty() || secret.is_empty() {
            return Ok(None);
        }
        let key = store.api_key(&key_id).map_err(internal)?;
        Ok(key
            .filter(|k| k.enabled && same(&k.secret, &secret))
            .map(|k| {
                (
                    Caller {
                        tenant: k.tenant,
                        principal: k.access_key_id.clone(),
                        actions: k.actions,
                        seen_generation: None,
                    },
                    Credential::AccessKey(k.access_key_id),
                )
            }))
    })
    .await;
    let (caller, credential) = match verified {
        Ok(Some(found)) => found,
        Ok(None) => {
            return form_response(
                StatusCode::UNAUTHORIZED,
                Some((
                    "unauthenticated",
                    "the AccessKey id and secret, or the token, are wrong, disabled or expired",
                )),
            )
        }
        Err(r) => return r,
    };
    let Some(id) = console.sessions.start(caller, credential, now) else {
        return form_response(
            StatusCode::SERVICE_UNAVAILABLE,
            Some((
                "too_many_requests",
                "the server holds too many sessions; try later",
            )),
        );
    };
    let mut response = Redirect::to("/console/").into_response();
    for value in [
        set_cookie(COOKIE, &id, TTL_MS / 1000),
        set_cookie(PRE_COOKIE, "", 0),
    ] {
        if let Ok(v) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    post_form(&console, &headers, &body, &[])?;
    if let Some(id) = cookie(&headers, COOKIE) {
        console.sessions.end(id);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(v) = set_cookie(COOKIE, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
