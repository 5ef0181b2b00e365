//! `GET /api/v1/database/status`: the vulnerability database the server matches with, read
//! only: when it was built, its records in all and per ecosystem, and where they came from.
//! The same figures as `crowsnest db status`, minus the server's file paths.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use crowsnest_vulndb::VulnDbError;
use serde_json::{json, Value};

use super::{authorized, error, NativeRequest, Reply, Resource, CODE_VULNDB_MISSING};
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of reading the database status.
pub const ACTION_STATUS: &str = "crowsnest:GetDatabaseStatus";

/// The database resource.
pub const RESOURCE: Resource = Resource {
    actions: &[ACTION_STATUS],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/database/status", get(status))
}

fn missing() -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        CODE_VULNDB_MISSING,
        "the server has no vulnerability database; run `crowsnest db update` on it",
    )
}

async fn status(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_STATUS, |state, _caller, _| {
        let path = state.settings.vulndb.as_deref().ok_or_else(missing)?;
        let status = match crowsnest_vulndb::status(path) {
            Ok(s) => s,
            Err(VulnDbError::Missing(_)) => return Err(missing()),
            Err(e) => return Err(ApiError::internal(Dialect::Native, e)),
        };
        let sources: Vec<Value> = status
            .sources
            .iter()
            .map(|s| {
                json!({
                    // A local import's directory says nothing to a client; its name does.
                    "source": source_name(&s.source),
                    "imported_at": s.imported_at,
                    "records": s.records,
                    "withdrawn": s.withdrawn,
                    "errors": s.errors,
                    "sha256": s.sha256,
                })
            })
            .collect();
        Ok(Reply::ok(json!({
            "schema_version": status.schema_version,
            "updated_at": status.updated_at,
            "file_size": status.file_size,
            "records": status.records,
            "ecosystems": status.ecosystems,
            "releases": status.releases,
            "sources": sources,
        })))
    })
    .await
}

/// A URL as it is; a local path reduced to its file name.
fn source_name(source: &str) -> String {
    if source.contains("://") {
        return source.to_owned();
    }
    std::path::Path::new(source)
        .file_name()
        .map_or_else(|| source.to_owned(), |n| n.to_string_lossy().into_owned())
}

fn openapi() -> Value {
    let counts =
        json!({ "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 } });
    json!({
        "paths": {
            "/api/v1/database/status": {
                "get": {
                    "operationId": "getDatabaseStatus",
                    "tags": ["database"],
                    "summary": "The vulnerability database: build time and records per ecosystem",
                    "description": format!("Action `{ACTION_STATUS}`. Read only."),
                    "responses": super::openapi::authorized_responses(json!({
                        "200": {
                            "description": "The database's status.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/DatabaseStatus" } } }
                        },
                        "404": {
                            "description": "The server has no vulnerability database (`vulndb_missing`).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                        }
                    }))
                }
            }
        },
        "schemas": {
            "DatabaseStatus": {
                "type": "object",
                "required": ["schema_version", "updated_at", "file_size", "records", "ecosystems", "releases", "sources"],
                "properties": {
                    "schema_version": { "type": "integer" },
                    "updated_at": { "type": "string", "description": "When the database was built (RFC 3339)." },
                    "file_size": { "type": "integer", "minimum": 0 },
                    "records": { "type": "integer", "minimum": 0 },
                    "ecosystems": { "description": "Records per OSV ecosystem (`PyPI`, `Debian`, …).", "allOf": [counts] },
                    "releases": { "description": "Records per ecosystem and release (`Debian:12`).", "allOf": [counts] },
                    "sources": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["source", "imported_at", "records", "withdrawn", "errors"],
                            "properties": {
                                "source": { "type": "string" },
                                "imported_at": { "type": "string" },
                                "records": { "type": "integer" },
                                "withdrawn": { "type": "integer" },
                                "errors": { "type": "integer" },
                                "sha256": { "type": ["string", "null"] }
                            }
                        }
                    }
                }
            }
        }
    })
}
