//! Huawei Cloud HSS REST operations under `/v5/{project_id}/…`.
//!
//! Every request is authenticated ([`crate::auth::huawei`]), the project must belong to the
//! caller's tenant, and the caller's policy must allow the operation's action. Errors use
//! Huawei's `{error_code, error_msg}` envelope and every response carries `X-Request-Id`.

pub mod local_images;
pub mod query;
pub mod registry_images;

use crate::reply::JsonObject;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::auth::{huawei as signature, Caller};
use crate::error::{huawei_request_id, ApiError, Dialect};
use crate::form::Pairs;
use crate::AppState;
use query::Query;

/// The policy action of ListLocalImages.
pub const ACTION_LIST_LOCAL_IMAGES: &str = "hss:ListLocalImages";
/// The policy action of ListRegistryImages.
pub const ACTION_LIST_REGISTRY_IMAGES: &str = "hss:ListRegistryImages";

/// Crowsnest's HSS error codes. The seeds refer to a shared error-code page they do not
/// include, so these are Crowsnest's own, in HSS's `HSS.NNNN` form, and never change.
/// A query parameter is out of range, malformed, or not one of its allowed values.
pub const CODE_INVALID_PARAMETER: &str = "HSS.0001";
/// An internal failure; details go to the log only.
pub const CODE_INTERNAL: &str = "HSS.0002";
/// The caller may not act on this project or call this operation.
pub const CODE_FORBIDDEN: &str = "HSS.0003";

/// One REST operation: its policy action and its body.
pub(crate) struct Operation {
    /// The policy action checked against the caller's policy.
    pub action: &'static str,
    /// The operation: validate, call the store, build the response body.
    pub run: fn(&AppState, &Caller, &Query<'_>) -> Result<JsonObject, ApiError>,
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(
        Dialect::Huawei,
        StatusCode::FORBIDDEN,
        CODE_FORBIDDEN,
        message,
    )
}

/// Runs `op` for a request: authenticate, check the project and the action, run.
async fn dispatch(
    state: AppState,
    op: Operation,
    project_id: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = huawei_request_id();
    let outcome = crate::blocking(Dialect::Huawei, move || {
        let pairs = Pairs::parse(uri.query().unwrap_or("")).map_err(|_| {
            query::invalid("query", "the query string is not valid url-encoded UTF-8")
        })?;
        let caller = signature::authenticate(
            &state.store,
            &state.settings.auth,
            &signature::SignedRequest {
                method: method.as_str(),
                path: uri.path(),
                query: &pairs,
                headers: &headers,
                body: &body,
            },
        )?;
        if project_id.is_empty() || project_id.chars().count() > 256 {
            return Err(query::invalid(
                "project_id",
                "must have 1 to 256 characters",
            ));
        }
        let owner = state
            .store
            .project_tenant(&project_id)
            .map_err(|e| ApiError::internal(Dialect::Huawei, e))?;
        if owner != Some(caller.tenant) {
            return Err(forbidden("The project does not belong to the caller."));
        }
        if let Some(header_project) = headers.get("x-project-id").and_then(|v| v.to_str().ok()) {
            if header_project != project_id {
                return Err(forbidden(
                    "X-Project-Id does not match the project in the path.",
                ));
            }
        }
        if !caller.allows(op.action) {
            return Err(forbidden(&format!(
                "The caller has no permission for {}.",
                op.action
            )));
        }
        (op.run)(&state, &caller, &Query::new(&pairs))
    })
    .await;
    match outcome {
        Ok(body) => {
            let mut response = body.into_response();
            if let Ok(v) = request_id.parse() {
                response.headers_mut().insert("x-request-id", v);
            }
            response
        }
        Err(e) => e.with_request_id(&request_id).into_response(),
    }
}

/// `GET /v5/{project_id}/image/registries/images`.
pub(crate) async fn list_registry_images(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = Operation {
        action: ACTION_LIST_REGISTRY_IMAGES,
        run: registry_images::list,
    };
    dispatch(state, op, project_id, method, uri, headers, body).await
}

/// `GET /v5/{project_id}/image/local-repositories`.
pub(crate) async fn list_local_images(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = Operation {
        action: ACTION_LIST_LOCAL_IMAGES,
        run: local_images::list,
    };
    dispatch(state, op, project_id, method, uri, headers, body).await
}
