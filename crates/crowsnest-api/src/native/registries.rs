//! `/api/v1/registries`: the registries Crowsnest synchronises itself (what `crowsnest registry
//! add|list|sync|rm` manage from the command line), for the caller's tenant.
//!
//! A password is accepted on add and update and never returned: it is sealed with the server
//! key (`crowsnest_registry::sealed`, bound to the registry's uid) before it reaches the store,
//! and responses only say whether one is set. `POST …/{uid}/sync` runs a sync and answers its
//! report; a registry that refuses the credentials or cannot be reached is a 502 `sync_failed`
//! whose message starts with the seed's failure code (`authentication_failed`,
//! `download_failed`, …). Another tenant's registry is `not_found`, as one that does not exist.
//!
//! `schedule` is a cron expression (`crowsnest_registry::schedule`, UTC; `""` removes it):
//! `crowsnest serve` syncs the registry when it is due and queues a scan task for the digests
//! the sync found unscanned. Setting it computes `next_run_ms`, which responses show.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use crowsnest_registry::sync::{self, SyncOptions, REGISTRY_TYPES};
use crowsnest_registry::ServerKey;
use crowsnest_store::{RegistryConnection, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    authorized, error, invalid, NativeRequest, Reply, Resource, CODE_CONFLICT, CODE_NOT_FOUND,
    CODE_SYNC_FAILED,
};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of listing registries.
pub const ACTION_LIST: &str = "crowsnest:ListRegistries";
/// The policy action of adding a registry.
pub const ACTION_ADD: &str = "crowsnest:AddRegistry";
/// The policy action of reading one registry.
pub const ACTION_GET: &str = "crowsnest:GetRegistry";
/// The policy action of changing a registry.
pub const ACTION_UPDATE: &str = "crowsnest:UpdateRegistry";
/// The policy action of removing a registry.
pub const ACTION_DELETE: &str = "crowsnest:DeleteRegistry";
/// The policy action of synchronising a registry.
pub const ACTION_SYNC: &str = "crowsnest:SyncRegistry";

/// How long one registry request may take before the sync gives up on it (after retries).
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Repositories walked at once by a sync started here (the CLI's default).
const SYNC_CONCURRENCY: usize = 4;
/// The most namespaces or repositories one registry may list.
const MAX_LIST: usize = 1000;

/// The registries resource.
pub const RESOURCE: Resource = Resource {
    actions: &[
        ACTION_LIST,
        ACTION_ADD,
        ACTION_GET,
        ACTION_UPDATE,
        ACTION_DELETE,
        ACTION_SYNC,
    ],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/registries", get(list).post(add))
        .route(
            "/api/v1/registries/{uid}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/api/v1/registries/{uid}/sync", post(sync_now))
}

/// A registry as the API shows it: everything but the password, which is only `has_password`.
fn view(r: &RegistryConnection) -> Value {
    json!({
        "uid": r.uid,
        "name": r.name,
        "type": r.registry_type,
        "url": r.url,
        "username": r.username,
        "has_password": !r.secret_sealed.is_empty(),
        "region": r.region_id,
        "instance_id": r.instance_id,
        "instance_name": r.instance_name,
        "instance_url": r.instance_url,
        "namespaces": r.namespace_filters,
        "repositories": r.repositories,
        "insecure_tls": r.insecure_tls,
        "has_ca_cert": !r.ca_cert_pem.is_empty(),
        "latest_sync_ms": r.latest_sync_ms,
        "latest_sync_error": r.latest_sync_error,
        "created_ms": r.created_ms,
        "schedule": r.schedule,
        "next_run_ms": r.next_run_ms,
        "last_run_ms": r.last_run_ms,
    })
}

/// The fields a client may set; on update every one is optional and an absent one is kept.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Fields {
    uid: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    registry_type: Option<String>,
    url: Option<String>,
    username: Option<String>,
    /// A new password; `""` removes the stored one.
    password: Option<String>,
    region: Option<String>,
    instance_id: Option<String>,
    instance_name: Option<String>,
    instance_url: Option<String>,
    namespaces: Option<Vec<String>>,
    repositories: Option<Vec<String>>,
    insecure_tls: Option<bool>,
    /// PEM of an extra CA to trust; `""` removes it.
    ca_cert_pem: Option<String>,
    /// Cron expression of scheduled syncs; `""` removes it.
    schedule: Option<String>,
}

fn text(name: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max || value.chars().any(char::is_control) {
        return Err(invalid(
            name,
            &format!("must have {min} to {max} characters and no control characters"),
        ));
    }
    Ok(())
}

fn uid_ok(uid: &str) -> Result<(), ApiError> {
    text("uid", uid, 1, 128)?;
    if !uid
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            "uid",
            "may contain only letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

impl Fields {
    /// Checks every field that is present.
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(uid) = &self.uid {
            uid_ok(uid)?;
        }
        if let Some(name) = &self.name {
            text("name", name, 1, 128)?;
        }
        if let Some(t) = &self.registry_type {
            if !REGISTRY_TYPES.contains(&t.as_str()) {
                return Err(invalid(
                    "type",
                    &format!("must be one of {}", REGISTRY_TYPES.join(", ")),
                ));
            }
        }
        if let Some(url) = &self.url {
            text("url", url, 8, 2048)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("url", "must start with https:// or http://"));
            }
        }
        for (name, value, max) in [
            ("username", &self.username, 256),
            ("region", &self.region, 128),
            ("instance_id", &self.instance_id, 128),
            ("instance_name", &self.instance_name, 128),
            ("instance_url", &self.instance_url, 2048),
        ] {
            if let Some(v) = value {
                text(name, v, 0, max)?;
            }
        }
        if let Some(p) = &self.password {
            if p.len() > 4096 {
                return Err(invalid("password", "longer than 4096 bytes"));
            }
        }
        for (name, list) in [
            ("namespaces", &self.namespaces),
            ("repositories", &self.repositories),
        ] {
            if let Some(list) = list {
                if list.len() > MAX_LIST {
                    return Err(invalid(name, "more than 1000 entries"));
                }
                for item in list {
                    text(name, item, 1, 255)?;
                }
            }
        }
        if let Some(schedule) = &self.schedule {
            if !schedule.trim().is_empty() {
                crowsnest_registry::schedule::Schedule::parse(schedule)
                    .map_err(|e| invalid("schedule", &e.to_string()))?;
            }
        }
        if let Some(pem) = &self.ca_cert_pem {
            if !pem.is_empty() && !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid("ca_cert_pem", "is not a PEM certificate"));
            }
        }
        Ok(())
    }
}

fn parse(body: &[u8]) -> Result<Fields, ApiError> {
    let fields: Fields =
        serde_json::from_slice(body).map_err(|e| invalid("body", &format!("{e}")))?;
    fields.validate()?;
    Ok(fields)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(Dialect::Native, e)
}

fn not_found(uid: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        format!("no registry {uid:?} in the caller's tenant"),
    )
}

/// The server key, which a server started without a data directory lacks.
fn server_key(state: &AppState) -> Result<&ServerKey, ApiError> {
    state
        .settings
        .registry_key
        .as_deref()
        .ok_or_else(|| internal("the server has no registry key (no data directory)"))
}

/// Seals `password` for `uid`; an empty one is stored as none.
fn seal(state: &AppState, uid: &str, password: &str) -> Result<String, ApiError> {
    if password.is_empty() {
        return Ok(String::new());
    }
    server_key(state)?.seal(uid, password).map_err(internal)
}

fn find(state: &AppState, tenant: TenantId, uid: &str) -> Result<RegistryConnection, ApiError> {
    state
        .store
        .registry_connection(tenant, uid)
        .map_err(internal)?
        .ok_or_else(|| not_found(uid))
}

/// Writes `c` (new or changed) for `tenant` and reads it back.
fn save(
    state: &AppState,
    tenant: TenantId,
    c: &RegistryConnection,
) -> Result<RegistryConnection, ApiError> {
    let written = state.store.add_registry_connection(tenant, &c.to_new());
    match written {
        Ok(_) => find(state, tenant, &c.uid),
        // The uid is unique across the store: another tenant holds it.
        Err(crowsnest_store::StoreError::NotFound(_)) => Err(conflict(&c.uid)),
        Err(e) => Err(internal(e)),
    }
}

fn conflict(uid: &str) -> ApiError {
    error(
        StatusCode::CONFLICT,
        CODE_CONFLICT,
        format!("a registry with uid {uid:?} already exists"),
    )
}

/// Applies the present fields of `f` to `c` (the uid never changes here).
fn apply(state: &AppState, c: &mut RegistryConnection, f: Fields) -> Result<(), ApiError> {
    let set = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut c.name, f.name);
    set(&mut c.registry_type, f.registry_type);
    set(
        &mut c.url,
        f.url.map(|u| u.trim_end_matches('/').to_owned()),
    );
    set(&mut c.username, f.username);
    set(&mut c.region_id, f.region);
    set(&mut c.instance_id, f.instance_id);
    set(&mut c.instance_name, f.instance_name);
    set(&mut c.instance_url, f.instance_url);
    set(&mut c.ca_cert_pem, f.ca_cert_pem);
    if let Some(p) = f.password {
        c.secret_sealed = seal(state, &c.uid, &p)?;
    }
    if let Some(n) = f.namespaces {
        c.namespace_filters = n;
    }
    if let Some(r) = f.repositories {
        c.repositories = r;
    }
    if let Some(t) = f.insecure_tls {
        c.insecure_tls = t;
    }
    if let Some(schedule) = f.schedule {
        let schedule = schedule.trim().to_owned();
        c.next_run_ms =
            crowsnest_registry::schedule::next_run_ms(&schedule, crowsnest_store::now_ms())
                .map_err(|e| invalid("schedule", &e.to_string()))?;
        c.schedule = schedule;
    }
    Ok(())
}

async fn list(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_LIST, |state, caller, _| {
        let all = state
            .store
            .registry_connections(caller.tenant)
            .map_err(internal)?;
        Ok(Reply::ok(
            json!({ "registries": all.iter().map(view).collect::<Vec<_>>() }),
        ))
    })
    .await
}

async fn add(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_ADD, |state, caller, req| {
        let mut f = parse(&req.body)?;
        let (Some(name), Some(url)) = (f.name.clone(), f.url.clone()) else {
            return Err(invalid("body", "name and url are required"));
        };
        let uid = f.uid.take().unwrap_or_else(|| name.clone());
        uid_ok(&uid)?;
        if state
            .store
            .registry_connection(caller.tenant, &uid)
            .map_err(internal)?
            .is_some()
        {
            return Err(conflict(&uid));
        }
        let mut c = RegistryConnection {
            id: 0,
            uid,
            name,
            registry_type: "generic".into(),
            region_id: String::new(),
            instance_id: String::new(),
            instance_name: String::new(),
            instance_url: String::new(),
            url,
            username: String::new(),
            secret_sealed: String::new(),
            namespace_filters: Vec::new(),
            repositories: Vec::new(),
            insecure_tls: false,
            ca_cert_pem: String::new(),
            latest_sync_ms: 0,
            latest_sync_error: String::new(),
            created_ms: 0,
            schedule: String::new(),
            next_run_ms: 0,
            last_run_ms: 0,
            tenant: caller.tenant,
        };
        apply(state, &mut c, f)?;
        let saved = save(state, caller.tenant, &c)?;
        Ok(Reply {
            status: StatusCode::CREATED,
            body: Some(view(&saved)),
        })
    })
    .await
}

async fn get_one(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_GET, move |state, caller, _| {
        Ok(Reply::ok(view(&find(state, caller.tenant, &uid)?)))
    })
    .await
}

async fn update(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_UPDATE, move |state, caller, req| {
        let f = parse(&req.body)?;
        if f.uid.as_ref().is_some_and(|u| *u != uid) {
            return Err(invalid("uid", "cannot be changed"));
        }
        let mut c = find(state, caller.tenant, &uid)?;
        apply(state, &mut c, f)?;
        Ok(Reply::ok(view(&save(state, caller.tenant, &c)?)))
    })
    .await
}

async fn remove(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_DELETE, move |state, caller, _| {
        if state
            .store
            .remove_registry(caller.tenant, &uid)
            .map_err(internal)?
        {
            Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            })
        } else {
            Err(not_found(&uid))
        }
    })
    .await
}

/// Synchronises the caller's registry `uid` now: what `POST /api/v1/registries/{uid}/sync`
/// and the web console's "Sync now" both run. A registry that cannot be reached or refuses
/// is `sync_failed` (502), a registry of another tenant `not_found`.
pub fn sync_registry_now(
    state: &AppState,
    caller: &Caller,
    uid: &str,
) -> Result<sync::SyncReport, ApiError> {
    let connection = find(state, caller.tenant, uid)?;
    let failed = |e: crowsnest_registry::RegistryError| match e {
        crowsnest_registry::RegistryError::Store(e) => internal(e),
        e => error(StatusCode::BAD_GATEWAY, CODE_SYNC_FAILED, e.to_string()),
    };
    let client = sync::connect(&connection, server_key(state)?, SYNC_TIMEOUT).map_err(failed)?;
    sync::sync_registry(
        &state.store,
        caller.tenant,
        &connection,
        &client,
        &SyncOptions {
            concurrency: SYNC_CONCURRENCY,
        },
    )
    .map_err(failed)
}

async fn sync_now(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_SYNC, move |state, caller, _| {
        let report = sync_registry_now(state, caller, &uid)?;
        Ok(Reply::ok(json!({
            "repositories": report.repositories,
            "tags": report.tags,
            "changed_tags": report.changed_tags,
            "removed_tags": report.removed_tags,
            "removed_repositories": report.removed_repositories,
            "manifests_fetched": report.manifests_fetched,
            "requests": report.requests,
            "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "problems": report.problems,
        })))
    })
    .await
}

fn openapi() -> Value {
    let with = super::openapi::authorized_responses;
    let uid_param = json!({
        "name": "uid",
        "in": "path",
        "required": true,
        "schema": { "type": "string" }
    });
    let registry_json =
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Registry" } } });
    let string_list = json!({ "type": "array", "maxItems": MAX_LIST, "items": { "type": "string", "minLength": 1, "maxLength": 255 } });
    let mut writable = json!({
        "name": { "type": "string", "minLength": 1, "maxLength": 128 },
        "type": { "type": "string", "enum": REGISTRY_TYPES, "default": "generic" },
        "url": { "type": "string", "minLength": 8, "maxLength": 2048, "description": "`https://host[:port]`, or `http://` for a registry without TLS." },
        "username": { "type": "string", "maxLength": 256 },
        "password": { "type": "string", "writeOnly": true, "description": "Sealed with the server key; never returned. `\"\"` removes it." },
        "region": { "type": "string", "maxLength": 128 },
        "instance_id": { "type": "string", "maxLength": 128 },
        "instance_name": { "type": "string", "maxLength": 128 },
        "instance_url": { "type": "string", "maxLength": 2048 },
        "namespaces": string_list.clone(),
        "repositories": { "description": "Walked when the registry has no catalog.", "allOf": [string_list] },
        "insecure_tls": { "type": "boolean" },
        "ca_cert_pem": { "type": "string", "writeOnly": true, "description": "An extra CA certificate to trust (PEM); `\"\"` removes it." },
        "schedule": { "type": "string", "maxLength": 256, "description": "A cron expression (UTC) of scheduled syncs: five crontab fields, or six or seven starting with seconds, or @hourly/@daily/...; each run syncs the registry and queues a scan task for its unscanned digests. `\"\"` removes it." }
    });
    let new_properties = {
        let mut p = writable.clone();
        if let Some(p) = p.as_object_mut() {
            p.insert(
                "uid".into(),
                json!({ "type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$", "description": "Unique in the store; the name when absent." }),
            );
        }
        p
    };
    if let Some(w) = writable.as_object_mut() {
        w.insert(
            "uid".into(),
            json!({ "type": "string", "description": "Must equal the path's uid when given." }),
        );
    }
    json!({
        "paths": {
            "/api/v1/registries": {
                "get": {
                    "operationId": "listRegistries",
                    "tags": ["registries"],
                    "summary": "The caller's tenant's registries, oldest first",
                    "description": format!("Action `{ACTION_LIST}`."),
                    "responses": with(json!({
                        "200": {
                            "description": "The registries (never their passwords).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RegistryList" } } }
                        }
                    }))
                },
                "post": {
                    "operationId": "addRegistry",
                    "tags": ["registries"],
                    "summary": "Connect a registry to the caller's tenant",
                    "description": format!("Action `{ACTION_ADD}`. The password is sealed with the server key before it is stored."),
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewRegistry" } } }
                    },
                    "responses": with(json!({
                        "201": { "description": "The registry as stored.", "content": registry_json.clone() },
                        "400": { "$ref": "#/components/responses/BadRequest" },
                        "409": { "$ref": "#/components/responses/Conflict" }
                    }))
                }
            },
            "/api/v1/registries/{uid}": {
                "get": {
                    "operationId": "getRegistry",
                    "tags": ["registries"],
                    "summary": "One registry of the caller's tenant",
                    "description": format!("Action `{ACTION_GET}`."),
                    "parameters": [uid_param.clone()],
                    "responses": with(json!({
                        "200": { "description": "The registry.", "content": registry_json.clone() },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                },
                "patch": {
                    "operationId": "updateRegistry",
                    "tags": ["registries"],
                    "summary": "Change a registry; absent fields keep their values",
                    "description": format!("Action `{ACTION_UPDATE}`."),
                    "parameters": [uid_param.clone()],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RegistryChange" } } }
                    },
                    "responses": with(json!({
                        "200": { "description": "The registry as stored.", "content": registry_json.clone() },
                        "400": { "$ref": "#/components/responses/BadRequest" },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                },
                "delete": {
                    "operationId": "deleteRegistry",
                    "tags": ["registries"],
                    "summary": "Remove a registry with its repositories and tags (the images stay)",
                    "description": format!("Action `{ACTION_DELETE}`."),
                    "parameters": [uid_param.clone()],
                    "responses": with(json!({
                        "204": { "description": "Removed." },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                }
            },
            "/api/v1/registries/{uid}/sync": {
                "post": {
                    "operationId": "syncRegistry",
                    "tags": ["registries"],
                    "summary": "Synchronise the registry's repositories and tags into the store now",
                    "description": format!("Action `{ACTION_SYNC}`. Incremental: an unchanged tag costs one HEAD request. Answers when the sync ends."),
                    "parameters": [uid_param],
                    "responses": with(json!({
                        "200": {
                            "description": "What the sync did.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SyncReport" } } }
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "502": { "$ref": "#/components/responses/SyncFailed" }
                    }))
                }
            }
        },
        "schemas": {
            "Registry": {
                "type": "object",
                "required": ["uid", "name", "type", "url", "username", "has_password", "region",
                    "instance_id", "instance_name", "instance_url", "namespaces", "repositories",
                    "insecure_tls", "has_ca_cert", "latest_sync_ms", "latest_sync_error", "created_ms",
                    "schedule", "next_run_ms", "last_run_ms"],
                "additionalProperties": false,
                "properties": {
                    "uid": { "type": "string" },
                    "name": { "type": "string" },
                    "type": { "type": "string", "enum": REGISTRY_TYPES },
                    "url": { "type": "string" },
                    "username": { "type": "string" },
                    "has_password": { "type": "boolean" },
                    "region": { "type": "string" },
                    "instance_id": { "type": "string" },
                    "instance_name": { "type": "string" },
                    "instance_url": { "type": "string" },
                    "namespaces": { "type": "array", "items": { "type": "string" } },
                    "repositories": { "type": "array", "items": { "type": "string" } },
                    "insecure_tls": { "type": "boolean" },
                    "has_ca_cert": { "type": "boolean" },
                    "latest_sync_ms": { "type": "integer", "description": "0 until the first sync." },
                    "latest_sync_error": { "type": "string", "description": "'' when the latest sync succeeded." },
                    "created_ms": { "type": "integer" },
                    "schedule": { "type": "string", "description": "'' when the registry has no schedule." },
                    "next_run_ms": { "type": "integer", "description": "When the next scheduled sync is due; 0 without a schedule." },
                    "last_run_ms": { "type": "integer", "description": "When the latest scheduled sync started; 0 if none has." }
                }
            },
            "RegistryList": {
                "type": "object",
                "required": ["registries"],
                "properties": { "registries": { "type": "array", "items": { "$ref": "#/components/schemas/Registry" } } }
            },
            "NewRegistry": {
                "type": "object",
                "required": ["name", "url"],
                "additionalProperties": false,
                "properties": new_properties
            },
            "RegistryChange": {
                "type": "object",
                "additionalProperties": false,
                "properties": writable
            },
            "SyncReport": {
                "type": "object",
                "required": ["repositories", "tags", "changed_tags", "removed_tags",
                    "removed_repositories", "manifests_fetched", "requests", "elapsed_ms", "problems"],
                "properties": {
                    "repositories": { "type": "integer" },
                    "tags": { "type": "integer" },
                    "changed_tags": { "type": "integer", "description": "New, or pointing at a new digest." },
                    "removed_tags": { "type": "integer" },
                    "removed_repositories": { "type": "integer" },
                    "manifests_fetched": { "type": "integer" },
                    "requests": { "type": "integer" },
                    "elapsed_ms": { "type": "integer" },
                    "problems": { "type": "array", "items": { "type": "string" }, "description": "`code: message` of repositories or tags that failed without stopping the sync." }
                }
            }
        }
    })
}
