//! Crowsnest's web console: server-rendered HTML over the inventory store, served by
//! `crowsnest serve` under `/console` (the binary mounts [`mount`] beside the API).
//!
//! # Code map
//! - [`session`]: sign-in sessions (random id in an `HttpOnly`, `SameSite=Strict` cookie, the
//!   rest in server memory) and CSRF tokens.
//! - [`html`]: the escaping HTML builder every page writes with.
//! - [`layout`]: the page chrome (navigation, sign-out), paging links, shared formatting.
//! - [`chart`]: the overview's trend chart, drawn server-side as inline SVG.
//! - [`pages`]: one module per page or action.
//! - `assets/`: the one CSS file and the one script (live task progress), compiled into the
//!   binary with `include_str!`.
//!
//! # Invariants
//! Handlers are thin, as the API's are: they parse with the API's own parsers
//! (`crowsnest_api::huawei::registry_images::placement_query`, …), call the store or the API's
//! domain functions (`crowsnest_api::alibaba::scan_task::create_task`) with the signed-in
//! caller's tenant, and render. Every page and action requires a session and passes its
//! tenant to the store; every POST carries the session's CSRF token. Bad input is a page with
//! the API's error code and message and a 4xx status, never a panic or a 500.

// A handler step's Err is the response to send (an error page or a redirect): made at most
// once per request and handed straight to axum, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub mod chart;
pub mod html;
pub mod layout;
pub mod pages;
pub mod session;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use crowsnest_api::AppState;

use session::{Session, Sessions};

/// The console's CSS, served at `/console/assets/console.css`.
pub const CSS: &str = include_str!("../assets/console.css");
/// The console's script (live task progress), served at `/console/assets/console.js`.
pub const JS: &str = include_str!("../assets/console.js");

/// What the console's handlers share: the API's state and the sessions.
#[derive(Clone)]
pub struct Console {
    /// The API's state: the store and the settings (quotas, the vulnerability database).
    pub app: AppState,
    /// Signed-in sessions.
    pub sessions: Sessions,
}

impl Console {
    /// Now, by the API's clock (tests may fix it).
    pub fn now_ms(&self) -> i64 {
        self.app.settings.auth.clock.now_ms()
    }

    /// The session of the request, or a redirect to the sign-in page.
    pub fn session(&self, headers: &HeaderMap) -> Result<Session, Response> {
        self.sessions
            .find(&self.app.store, headers, self.now_ms())
            .ok_or_else(|| Redirect::to("/console/sign-in").into_response())
    }
}

/// The console's routes over `app`, for `crowsnest_api::router_with`.
pub fn mount(app: AppState) -> Router {
    router(Console {
        app,
        sessions: Sessions::default(),
    })
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    use pages::*;
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview::show))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/registry-images", get(registry_images::show))
        .route("/console/registry-images/scan", post(registry_images::scan))
        .route("/console/local-images", get(local_images::show))
        .route("/console/images/{uuid}", get(image::page_get))
        .route("/console/images/{uuid}/sbom.cdx.json", get(image::sbom))
        .route("/console/images/{uuid}/report.sarif", get(image::sarif))
        .route("/console/digests/{digest}", get(image::local_page_get))
        .route(
            "/console/digests/{digest}/sbom.cdx.json",
            get(image::local_sbom),
        )
        .route(
            "/console/digests/{digest}/report.sarif",
            get(image::local_sarif),
        )
        .route("/console/vm-images", get(vm_images::page_get))
        .route("/console/tasks", get(tasks::list))
        .route("/console/tasks/{task_id}", get(tasks::page_get))
        .route(
            "/console/tasks/{task_id}/progress.json",
            get(tasks::progress),
        )
        .route("/console/registries", get(registries::page_get))
        .route("/console/registries/{uid}/sync", post(registries::sync))
        .route("/console/agents", get(agents::page_get))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        // Browsers ask for it on their own (after a download, for instance); an empty answer
        // instead of the API's 404 keeps the console's pages free of failed requests.
        .route(
            "/favicon.ico",
            get(|| async {
                (
                    StatusCode::NO_CONTENT,
                    [(axum::http::header::CACHE_CONTROL, "max-age=86400")],
                )
            }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// No inline script or style can run (the pages have none), no other site may frame the
/// console, and pages with tenant data are not cached.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(axum::http::header::CACHE_CONTROL) {
        h.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    response
}

/// Runs a blocking store call off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "console handler failed");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })?
}
