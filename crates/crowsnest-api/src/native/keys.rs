//! `/api/v1/keys`: the caller's tenant's AccessKeys. Listing never shows a secret; creating
//! returns the secret once; revoking disables a key for good. A key of another tenant is
//! `not_found`, exactly as a key that does not exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use crowsnest_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{authorized, error, invalid, NativeRequest, Reply, Resource, CODE_NOT_FOUND};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of listing keys.
pub const ACTION_LIST: &str = "crowsnest:ListKeys";
/// The policy action of creating a key.
pub const ACTION_CREATE: &str = "crowsnest:CreateKey";
/// The policy action of revoking a key.
pub const ACTION_REVOKE: &str = "crowsnest:RevokeKey";

/// The most policy actions one key may carry.
const MAX_ACTIONS: usize = 64;

/// The keys resource.
pub const RESOURCE: Resource = Resource {
    actions: &[ACTION_LIST, ACTION_CREATE, ACTION_REVOKE],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(list).post(create))
        .route("/api/v1/keys/{access_key_id}", delete(revoke))
}

async fn list(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_LIST, |state, caller, _| {
        let keys = state
            .store
            .list_api_keys(caller.tenant)
            .map_err(|e| ApiError::internal(Dialect::Native, e))?;
        let keys: Vec<Value> = keys
            .into_iter()
            .map(|k| {
                json!({
                    "access_key_id": k.access_key_id,
                    "actions": k.actions,
                    "enabled": k.enabled,
                    "created_ms": k.created_ms,
                })
            })
            .collect();
        Ok(Reply::ok(json!({ "keys": keys })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    actions: Vec<String>,
}

/// Whether `caller` may hand `action` to a new key: a caller can only delegate what it holds,
/// so a key limited to `crowsnest:CreateKey` cannot mint a `*` key.
fn may_grant(caller: &Caller, action: &str) -> bool {
    if action == "*" || action.ends_with(":*") {
        caller
            .actions
            .iter()
            .any(|held| held == "*" || held.eq_ignore_ascii_case(action))
    } else {
        caller.allows(action)
    }
}

async fn create(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_CREATE, |state, caller, req| {
        let body: CreateKey = serde_json::from_slice(&req.body)
            .map_err(|e| invalid("body", &format!("expected {{\"actions\": [..]}}: {e}")))?;
        if body.actions.is_empty() || body.actions.len() > MAX_ACTIONS {
            return Err(invalid("actions", "must list 1 to 64 policy actions"));
        }
        for action in &body.actions {
            if !crate::keys::is_known_action(action) {
                return Err(invalid(
                    "actions",
                    &format!("{action:?} is not an action this server knows"),
                ));
            }
            if !may_grant(caller, action) {
                return Err(invalid(
                    "actions",
                    &format!("{action:?} is not in the caller's own policy"),
                ));
            }
        }
        let actions: Vec<&str> = body.actions.iter().map(String::as_str).collect();
        let key = crate::keys::create(&state.store, caller.tenant, &actions)
            .map_err(|e| ApiError::internal(Dialect::Native, e))?;
        Ok(Reply {
            status: StatusCode::CREATED,
            body: Some(json!({
                "access_key_id": key.id,
                "access_key_secret": key.secret,
                "actions": body.actions,
            })),
        })
    })
    .await
}

async fn revoke(
    State(state): State<AppState>,
    Path(access_key_id): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(
        state,
        req,
        ACTION_REVOKE,
        move |state, caller, _| match state.store.revoke_api_key(caller.tenant, &access_key_id) {
            Ok(()) => Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            }),
            Err(StoreError::NotFound(_)) => Err(error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("no access key {access_key_id:?} in the caller's tenant"),
            )),
            Err(e) => Err(ApiError::internal(Dialect::Native, e)),
        },
    )
    .await
}

fn openapi() -> Value {
    let with = super::openapi::authorized_responses;
    json!({
        "paths": {
            "/api/v1/keys": {
                "get": {
                    "operationId": "listKeys",
                    "tags": ["keys"],
                    "summary": "The caller's tenant's AccessKeys (never their secrets)",
                    "description": format!("Action `{ACTION_LIST}`."),
                    "responses": with(json!({
                        "200": {
                            "description": "The keys, oldest first.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/KeyList" } } }
                        }
                    }))
                },
                "post": {
                    "operationId": "createKey",
                    "tags": ["keys"],
                    "summary": "Create an AccessKey in the caller's tenant; the secret is returned once",
                    "description": format!("Action `{ACTION_CREATE}`. The new key may hold only actions the caller itself holds."),
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewKey" } } }
                    },
                    "responses": with(json!({
                        "201": {
                            "description": "The new key, with its secret (shown only here).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreatedKey" } } }
                        },
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }))
                }
            },
            "/api/v1/keys/{access_key_id}": {
                "delete": {
                    "operationId": "revokeKey",
                    "tags": ["keys"],
                    "summary": "Revoke (disable for good) an AccessKey of the caller's tenant",
                    "description": format!("Action `{ACTION_REVOKE}`. A key of another tenant is `not_found`."),
                    "parameters": [{
                        "name": "access_key_id",
                        "in": "path",
                        "required": true,
                        "schema": { "type": "string" }
                    }],
                    "responses": with(json!({
                        "204": { "description": "Revoked; the key authenticates nothing from now on." },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                }
            }
        },
        "schemas": {
            "Key": {
                "type": "object",
                "required": ["access_key_id", "actions", "enabled", "created_ms"],
                "properties": {
                    "access_key_id": { "type": "string" },
                    "actions": { "type": "array", "items": { "type": "string" } },
                    "enabled": { "type": "boolean", "description": "False once revoked." },
                    "created_ms": { "type": "integer", "description": "Milliseconds since the Unix epoch." }
                }
            },
            "KeyList": {
                "type": "object",
                "required": ["keys"],
                "properties": { "keys": { "type": "array", "items": { "$ref": "#/components/schemas/Key" } } }
            },
            "NewKey": {
                "type": "object",
                "required": ["actions"],
                "additionalProperties": false,
                "properties": {
                    "actions": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_ACTIONS,
                        "items": { "type": "string" },
                        "description": "Policy actions: `service:Operation`, `service:*` or `*`."
                    }
                }
            },
            "CreatedKey": {
                "type": "object",
                "required": ["access_key_id", "access_key_secret", "actions"],
                "properties": {
                    "access_key_id": { "type": "string" },
                    "access_key_secret": { "type": "string" },
                    "actions": { "type": "array", "items": { "type": "string" } }
                }
            }
        }
    })
}
