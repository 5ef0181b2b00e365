//! The native admin API under `/api/v1/`: what the cloud seeds do not cover (keys, the
//! vulnerability database's status, scan tasks' progress and cancellation, VM image imports,
//! sharing and usage, host agents, registries), in Crowsnest's own JSON,
//! described by the OpenAPI 3.1 document it serves at `/api/v1/openapi.json`.
//!
//! # Adding a resource
//! One file per resource. The file defines a [`Resource`] constant: its policy actions, its
//! routes (full paths, `/api/v1/…`) and its part of the OpenAPI document (`paths` and
//! `components.schemas`). Declare the module here and add the constant to [`RESOURCES`]; the
//! router, the served document and `crowsnest keys create`'s list of known actions all read
//! that list, and the tests check that every route is documented.
//!
//! # Authentication and errors
//! Every endpoint but `health` and `openapi.json` takes the Huawei-style credentials that
//! already exist: an `X-Auth-Token` token or an `SDK-HMAC-SHA256` AK/SK signature (see
//! [`crate::auth::huawei`]). The caller's policy must allow the endpoint's action
//! (`crowsnest:ListKeys`, …; `crowsnest:*` or `*` allow all). Errors are always
//! `{code, message, request_id}` with a code from [`ERROR_CODES`]; every store call takes the
//! caller's tenant, so another tenant's rows are neither visible nor changeable.

pub mod agents;
pub mod database;
pub mod health;
pub mod keys;
pub mod openapi;
pub mod registries;
pub mod scan_tasks;
pub mod vm_images;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

use crate::auth::{huawei as signature, Caller};
use crate::error::{ApiError, Dialect};
use crate::form::Pairs;
use crate::AppState;

/// One resource of the native API.
pub struct Resource {
    /// The policy actions its endpoints check (`crowsnest:ListKeys`).
    pub actions: &'static [&'static str],
    /// Its routes, with full paths.
    pub routes: fn() -> Router<AppState>,
    /// Its part of the OpenAPI document: `{"paths": {…}, "schemas": {…}}`.
    pub openapi: fn() -> Value,
}

/// Every resource, in the order the document lists them.
pub const RESOURCES: &[Resource] = &[
    health::RESOURCE,
    openapi::RESOURCE,
    keys::RESOURCE,
    database::RESOURCE,
    scan_tasks::RESOURCE,
    vm_images::RESOURCE,
    agents::RESOURCE,
    registries::RESOURCE,
];

/// The stable error codes of the native API. They never change meaning; new ones may be added.
pub const ERROR_CODES: &[&str] = &[
    CODE_INVALID_PARAMETER,
    CODE_UNAUTHENTICATED,
    CODE_FORBIDDEN,
    CODE_NOT_FOUND,
    CODE_METHOD_NOT_ALLOWED,
    CODE_CONFLICT,
    CODE_VULNDB_MISSING,
    CODE_STORE_UNAVAILABLE,
    CODE_INTERNAL,
    CODE_TOO_MANY_REQUESTS,
    CODE_SYNC_FAILED,
];

/// 400: a parameter or the body is malformed, out of range or not allowed.
pub const CODE_INVALID_PARAMETER: &str = "invalid_parameter";
/// 401: no credentials, or credentials that do not verify (wrong, expired, stale, replayed).
pub const CODE_UNAUTHENTICATED: &str = "unauthenticated";
/// 403: the caller's policy does not allow the action.
pub const CODE_FORBIDDEN: &str = "forbidden";
/// 404: no such route, or no such object in the caller's tenant.
pub const CODE_NOT_FOUND: &str = "not_found";
/// 405: the route exists but not with this method.
pub const CODE_METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// 409: the object is not in a state that allows the action (a scan task that already ended).
pub const CODE_CONFLICT: &str = "conflict";
/// 404: the server has no vulnerability database (run `crowsnest db update`).
pub const CODE_VULNDB_MISSING: &str = "vulndb_missing";
/// 503: the store did not answer (health only).
pub const CODE_STORE_UNAVAILABLE: &str = "store_unavailable";
/// 500: an internal failure; details go to the server's log only.
pub const CODE_INTERNAL: &str = "internal";
/// 429: the server is already doing as much of this as it will at once (VM imports).
pub const CODE_TOO_MANY_REQUESTS: &str = "too_many_requests";
/// 502: a registry sync could not complete; the message starts with the registry's failure
/// code (`authentication_failed`, `download_failed`, `get_detail_info_not_found`, ...).
pub const CODE_SYNC_FAILED: &str = "sync_failed";

/// The largest request body the native API reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every native route, from [`RESOURCES`].
pub(crate) fn router() -> Router<AppState> {
    RESOURCES
        .iter()
        .fold(Router::new(), |router, r| router.merge((r.routes)()))
}

/// Every policy action the native API checks.
pub fn actions() -> impl Iterator<Item = &'static str> {
    RESOURCES.iter().flat_map(|r| r.actions.iter().copied())
}

/// A native error.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Dialect::Native, status, code, message)
}

/// A 400 `invalid_parameter` naming the parameter.
pub fn invalid(parameter: &str, why: &str) -> ApiError {
    error(
        StatusCode::BAD_REQUEST,
        CODE_INVALID_PARAMETER,
        format!("{parameter}: {why}"),
    )
}

/// A request as the signature check needs it: method, URI, headers and the whole body.
pub struct NativeRequest {
    /// The method.
    pub method: Method,
    /// The URI as received.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (at most 64 KiB).
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for NativeRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| invalid("body", "unreadable or larger than 64 KiB"))?;
        Ok(NativeRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// What an endpoint answers: a status and a JSON body (none for 204).
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Option<Value>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    /// 201 with `body` when the call `created` something, else 200 with it: the answer of an
    /// idempotent "add" (sharing, usage) whose second call changes nothing.
    pub fn created_or_ok(created: bool, body: Value) -> Reply {
        Reply {
            status: if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            body: Some(body),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        }
    }
}

/// Authenticates `req`, checks that the caller may perform `action`, and runs `f` on a
/// blocking thread (the store blocks).
pub(crate) async fn authorized(
    state: AppState,
    req: NativeRequest,
    action: &'static str,
    f: impl FnOnce(&AppState, &Caller, &NativeRequest) -> Result<Reply, ApiError> + Send + 'static,
) -> Response {
    let outcome = crate::blocking(Dialect::Native, move || {
        let caller = authorize(&state, &req, action)?;
        f(&state, &caller, &req)
    })
    .await;
    match outcome {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Authenticates `req` and checks that the caller may perform `action` (blocking: the store
/// is asked).
pub(crate) fn authorize(
    state: &AppState,
    req: &NativeRequest,
    action: &str,
) -> Result<Caller, ApiError> {
    let caller = authenticate(state, req)?;
    if !caller.allows(action) {
        return Err(error(
            StatusCode::FORBIDDEN,
            CODE_FORBIDDEN,
            format!("the caller's policy does not allow {action}"),
        ));
    }
    Ok(caller)
}

fn authenticate(state: &AppState, req: &NativeRequest) -> Result<Caller, ApiError> {
    let query = Pairs::parse(req.uri.query().unwrap_or(""))
        .map_err(|_| invalid("query", "not valid url-encoded UTF-8"))?;
    signature::verify(
        &state.store,
        &state.settings.auth,
        &signature::SignedRequest {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: &query,
            headers: &req.headers,
            body: &req.body,
        },
    )
    .map_err(|e| e.into_api_error(Dialect::Native, CODE_UNAUTHENTICATED))
}
