//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the native API, assembled from
//! every [`super::RESOURCES`] entry's part (its `paths` and `schemas`) around the parts they
//! share: the security schemes, the error envelope and the error responses.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::{Resource, ERROR_CODES, RESOURCES};
use crate::AppState;

/// The OpenAPI resource.
pub const RESOURCE: Resource = Resource {
    actions: &[],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(|| async { Json(document()) }))
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    for resource in RESOURCES {
        let part = (resource.openapi)();
        if let Some(p) = part.get("paths").and_then(Value::as_object) {
            paths.extend(p.clone());
        }
        if let Some(s) = part.get("schemas").and_then(Value::as_object) {
            schemas.extend(s.clone());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Crowsnest native API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Crowsnest's own admin API, for what the Alibaba Cloud and Huawei Cloud \
                operations do not cover. Authenticate with an X-Auth-Token from `crowsnest keys token` \
                or an SDK-HMAC-SHA256 signature with an AccessKey from `crowsnest keys create`. \
                Each endpoint checks one policy action (`crowsnest:*` or `*` allow all). Errors \
                are always the Error object, with a stable code.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "security": [{ "XAuthToken": [] }, { "SdkHmacSha256": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "XAuthToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Auth-Token",
                    "description": "A bearer token made by `crowsnest keys token`."
                },
                "SdkHmacSha256": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, \
                        Signature=HEX`, signed as huaweicloudsdkcore signs (APIG AK/SK), with the \
                        X-Sdk-Date header; host and x-sdk-date must be signed. A signed request is \
                        accepted once, within 15 minutes of its date."
                }
            },
            "schemas": schemas,
            "responses": {
                "BadRequest": error_response("A parameter or the body is invalid (`invalid_parameter`)."),
                "Unauthenticated": error_response("No credentials, or credentials that do not verify (`unauthenticated`)."),
                "Forbidden": error_response("The caller's policy does not allow the action (`forbidden`)."),
                "NotFound": error_response("No such object in the caller's tenant (`not_found`)."),
                "Conflict": error_response("The object's state does not allow the action (`conflict`)."),
                "TooManyRequests": error_response("The server is doing as much of this as it will at once (`too_many_requests`); try again later."),
                "SyncFailed": error_response("The registry refused the credentials, could not be reached or answered wrongly (`sync_failed`; the message starts with the failure code)."),
                "StoreUnavailable": error_response("The store did not answer (`store_unavailable`)."),
                "Internal": error_response("An internal failure (`internal`); the details are in the server's log.")
            }
        }
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Every native error.",
        "required": ["code", "message", "request_id"],
        "properties": {
            "code": { "type": "string", "enum": ERROR_CODES, "description": "Stable; never changes meaning." },
            "message": { "type": "string", "description": "For people; may change." },
            "request_id": { "type": "string", "description": "Also in the X-Request-Id header; the server logs it." }
        }
    })
}

/// `responses` of an authenticated operation: its own (`{"200": …}`) and the error responses
/// every such operation shares (401, 403, 500).
pub fn authorized_responses(own: Value) -> Value {
    let mut all = json!({
        "401": { "$ref": "#/components/responses/Unauthenticated" },
        "403": { "$ref": "#/components/responses/Forbidden" },
        "500": { "$ref": "#/components/responses/Internal" }
    });
    if let (Some(all), Some(own)) = (all.as_object_mut(), own.as_object()) {
        all.extend(own.clone());
    }
    all
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn openapi() -> Value {
    json!({
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "tags": ["meta"],
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document of the native API.",
                            "content": { "application/json": { "schema": { "type": "object" } } }
                        }
                    }
                }
            }
        }
    })
}
