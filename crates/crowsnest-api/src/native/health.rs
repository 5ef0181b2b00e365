//! `GET /api/v1/health`: whether the server can answer, without credentials, for load
//! balancers and `curl`. It names the store engine and schema version and says whether a
//! vulnerability database is present; nothing tenant-specific.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{error, Reply, Resource, CODE_STORE_UNAVAILABLE};
use crate::error::Dialect;
use crate::AppState;

/// The health resource.
pub const RESOURCE: Resource = Resource {
    actions: &[],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/health", get(health))
}

async fn health(State(state): State<AppState>) -> Response {
    let outcome = crate::blocking(Dialect::Native, move || {
        let schema_version = state.store.schema_version().map_err(|e| {
            tracing::error!(cause = %e, "health: the store did not answer");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                CODE_STORE_UNAVAILABLE,
                "the store did not answer",
            )
        })?;
        let vulndb_present = state
            .settings
            .vulndb
            .as_deref()
            .is_some_and(|p| p.is_file());
        Ok(Reply::ok(json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "store": {
                "engine": state.store.engine().as_str(),
                "schema_version": schema_version,
            },
            "vulndb": { "present": vulndb_present },
        })))
    })
    .await;
    match outcome {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

fn openapi() -> Value {
    json!({
        "paths": {
            "/api/v1/health": {
                "get": {
                    "operationId": "getHealth",
                    "tags": ["health"],
                    "summary": "Whether the server and its store answer",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The server answers.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } }
                        },
                        "503": { "$ref": "#/components/responses/StoreUnavailable" }
                    }
                }
            }
        },
        "schemas": {
            "Health": {
                "type": "object",
                "required": ["status", "version", "store", "vulndb"],
                "properties": {
                    "status": { "const": "ok" },
                    "version": { "type": "string", "description": "The server's version." },
                    "store": {
                        "type": "object",
                        "required": ["engine", "schema_version"],
                        "properties": {
                            "engine": { "enum": ["sqlite", "postgres"] },
                            "schema_version": { "type": "integer", "minimum": 0 }
                        }
                    },
                    "vulndb": {
                        "type": "object",
                        "required": ["present"],
                        "properties": {
                            "present": { "type": "boolean", "description": "Whether a vulnerability database file exists." }
                        }
                    }
                }
            }
        }
    })
}
