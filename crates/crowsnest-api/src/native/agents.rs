//! `/api/v1/agents`: host agents. An administrator's (or enrolment) key registers an agent,
//! which receives an AccessKey of its own allowed only to heartbeat and report; listing shows
//! each agent online, offline (no heartbeat or report within the offline window) or revoked;
//! revoking disables the agent's key for good.
//!
//! A report is a full snapshot of one host: the host, every local image (name, tag, digest,
//! size, update time, type), container and pod, inventories of digests the agent has not
//! delivered before (stored once per digest, matched against the server's vulnerability
//! database when it has one) and applications found in them. Applying it makes the host's
//! images and containers exactly those reported. Reports are idempotent: each carries a
//! report id, and a resend of an applied report (its answer was lost) is answered
//! `duplicate: true` and changes nothing.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use crowsnest_model::Inventory;
use crowsnest_store::{
    AgentRecord, Batch, ImageApp, NewAgent, NewContainer, NewHost, NewImage, NewLocalImage, NewPod,
    PreparedInventory, ScanRecord, StoreError, TenantId, VulnCounts,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    authorized, error, invalid, NativeRequest, Reply, Resource, CODE_FORBIDDEN, CODE_NOT_FOUND,
};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of registering an agent (held by enrolment keys).
pub const ACTION_REGISTER: &str = "crowsnest:RegisterAgent";
/// The policy action of listing agents.
pub const ACTION_LIST: &str = "crowsnest:ListAgents";
/// The policy action of revoking an agent.
pub const ACTION_REVOKE: &str = "crowsnest:RevokeAgent";
/// The policy action of a heartbeat (agents' own keys hold it).
pub const ACTION_HEARTBEAT: &str = "crowsnest:AgentHeartbeat";
/// The policy action of a report (agents' own keys hold it).
pub const ACTION_REPORT: &str = "crowsnest:AgentReport";

/// The actions an agent's own key carries.
const AGENT_ACTIONS: &[&str] = &[ACTION_HEARTBEAT, ACTION_REPORT];

/// A report carries inventories, far more than the 64 KiB other native bodies may be.
const MAX_REPORT_BYTES: usize = 64 << 20;
/// Bounds on a report's lists; a host with more is not one this server was sized for.
const MAX_ITEMS: usize = 20_000;
/// Longest text field accepted.
const MAX_TEXT: usize = 1024;

/// The engine version stored with agent inventories.
const ENGINE: &str = "crowsnest-agent";

/// The agents resource.
pub const RESOURCE: Resource = Resource {
    actions: &[
        ACTION_REGISTER,
        ACTION_LIST,
        ACTION_REVOKE,
        ACTION_HEARTBEAT,
        ACTION_REPORT,
    ],
    routes,
    openapi,
};

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list).post(register))
        .route("/api/v1/agents/{agent_id}", delete(revoke))
        .route("/api/v1/agents/heartbeat", post(heartbeat))
        .route("/api/v1/agents/reports", post(report))
}

/// A native request whose body may be as large as a report.
struct ReportRequest(NativeRequest);

impl<S: Send + Sync> FromRequest<S> for ReportRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_REPORT_BYTES)
            .await
            .map_err(|_| invalid("body", "unreadable or larger than 64 MiB"))?;
        Ok(ReportRequest(NativeRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        }))
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(Dialect::Native, e)
}

fn check_text(field: &str, value: &str, required: bool) -> Result<(), ApiError> {
    if required && value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be at most 1024 characters without control characters",
        ));
    }
    Ok(())
}

fn check_digest(field: &str, digest: &str) -> Result<(), ApiError> {
    let ok = digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "must be sha256:<64 hex digits>"))
    }
}

/// The agent whose key signed the request; other keys may not heartbeat or report.
fn calling_agent(state: &AppState, caller: &Caller) -> Result<AgentRecord, ApiError> {
    match state
        .store
        .agent_by_key(&caller.principal)
        .map_err(internal)?
    {
        Some(agent) if agent.revoked_ms.is_none() && agent.tenant == caller.tenant => Ok(agent),
        _ => Err(error(
            StatusCode::FORBIDDEN,
            CODE_FORBIDDEN,
            "only an agent's own key may heartbeat or report",
        )),
    }
}

/// online, offline or revoked, as of `now_ms`.
pub fn status(agent: &AgentRecord, now_ms: i64, offline_after_ms: i64) -> &'static str {
    if agent.revoked_ms.is_some() {
        "revoked"
    } else if agent.last_seen_ms > 0 && now_ms - agent.last_seen_ms <= offline_after_ms {
        "online"
    } else {
        "offline"
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    host_uid: String,
    #[serde(default)]
    host_name: String,
}

async fn register(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_REGISTER, |state, caller, req| {
        let body: Registration = serde_json::from_slice(&req.body).map_err(|e| {
            invalid(
                "body",
                &format!("expected {{\"host_uid\": …, \"host_name\": …}}: {e}"),
            )
        })?;
        check_text("host_uid", &body.host_uid, true)?;
        if body.host_uid.len() > 64 {
            return Err(invalid("host_uid", "must be at most 64 characters"));
        }
        check_text("host_name", &body.host_name, false)?;
        let key = crate::keys::generate();
        let uid = crate::keys::random_hex(32);
        let agent = state
            .store
            .register_agent(
                caller.tenant,
                &NewAgent {
                    uid: &uid,
                    host_uid: &body.host_uid,
                    host_name: &body.host_name,
                    access_key_id: &key.id,
                    secret: &key.secret,
                    actions: AGENT_ACTIONS,
                },
            )
            .map_err(internal)?;
        Ok(Reply {
            status: StatusCode::CREATED,
            body: Some(json!({
                "agent_id": agent.uid,
                "access_key_id": key.id,
                "access_key_secret": key.secret,
                "host_uid": agent.host_uid,
                "heartbeat_interval_ms": state.settings.agents.heartbeat_interval_ms,
            })),
        })
    })
    .await
}

async fn list(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_LIST, |state, caller, _| {
        let now = state.settings.auth.clock.now_ms();
        let offline_after = state.settings.agents.offline_after_ms;
        let agents: Vec<Value> = state
            .store
            .agents(caller.tenant)
            .map_err(internal)?
            .iter()
            .map(|a| {
                json!({
                    "agent_id": a.uid,
                    "host_uid": a.host_uid,
                    "host_name": a.host_name,
                    "access_key_id": a.access_key_id,
                    "status": status(a, now, offline_after),
                    "registered_ms": a.registered_ms,
                    "last_seen_ms": a.last_seen_ms,
                    "revoked_ms": a.revoked_ms,
                    "reports_received": a.reports_received,
                    "heartbeats_received": a.heartbeats_received,
                })
            })
            .collect();
        Ok(Reply::ok(json!({
            "agents": agents,
            "offline_after_ms": offline_after,
        })))
    })
    .await
}

async fn revoke(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    req: NativeRequest,
) -> Response {
    authorized(
        state,
        req,
        ACTION_REVOKE,
        move |state, caller, _| match state.store.revoke_agent(caller.tenant, &agent_id) {
            Ok(()) => Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            }),
            Err(StoreError::NotFound(_)) => Err(error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("no agent {agent_id:?} in the caller's tenant"),
            )),
            Err(e) => Err(internal(e)),
        },
    )
    .await
}

#[derive(Deserialize)]
struct HeartbeatBody {
    #[serde(default)]
    sent_ms: i64,
    #[serde(default)]
    queued: i64,
}

async fn heartbeat(State(state): State<AppState>, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_HEARTBEAT, |state, caller, req| {
        let body: HeartbeatBody = serde_json::from_slice(&req.body)
            .map_err(|e| invalid("body", &format!("expected {{\"sent_ms\": …}}: {e}")))?;
        let agent = calling_agent(state, caller)?;
        let now = state.settings.auth.clock.now_ms();
        state.store.agent_heartbeat(agent.row, now).map_err(internal)?;
        tracing::debug!(agent = %agent.uid, sent_ms = body.sent_ms, queued = body.queued, "heartbeat");
        Ok(Reply::ok(json!({
            "agent_id": agent.uid,
            "server_ms": now,
            "heartbeat_interval_ms": state.settings.agents.heartbeat_interval_ms,
        })))
    })
    .await
}

#[derive(Deserialize)]
struct ReportHost {
    uid: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    private_ip: String,
    #[serde(default)]
    public_ip: String,
    #[serde(default)]
    os_type: String,
}

#[derive(Deserialize)]
struct ReportImage {
    name: String,
    #[serde(default)]
    tag: String,
    digest: String,
    #[serde(default)]
    image_id: String,
    #[serde(default)]
    size_bytes: i64,
    #[serde(default)]
    updated_ms: i64,
    #[serde(default)]
    image_type: String,
    #[serde(default)]
    runtime: String,
}

#[derive(Deserialize)]
struct ReportContainer {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    image_digest: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    created_ms: i64,
    #[serde(default)]
    pod_uid: String,
}

#[derive(Deserialize)]
struct ReportPod {
    uid: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize)]
struct ReportApp {
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
struct ReportScan {
    digest: String,
    #[serde(default)]
    component_count: i64,
    #[serde(default)]
    apps: Vec<ReportApp>,
    inventory: Inventory,
}

#[derive(Deserialize)]
struct ReportFailure {
    digest: String,
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ReportBody {
    report_id: String,
    #[serde(default)]
    created_ms: i64,
    host: ReportHost,
    #[serde(default)]
    images: Vec<ReportImage>,
    #[serde(default)]
    containers: Vec<ReportContainer>,
    #[serde(default)]
    pods: Vec<ReportPod>,
    #[serde(default)]
    scans: Vec<ReportScan>,
    #[serde(default)]
    scan_failures: Vec<ReportFailure>,
}

fn validate(r: &ReportBody, agent: &AgentRecord) -> Result<(), ApiError> {
    check_text("report_id", &r.report_id, true)?;
    if r.report_id.len() > 128 {
        return Err(invalid("report_id", "must be at most 128 characters"));
    }
    if r.host.uid != agent.host_uid {
        return Err(invalid(
            "host.uid",
            "an agent reports only the host it registered for",
        ));
    }
    for (field, value) in [
        ("host.name", &r.host.name),
        ("host.private_ip", &r.host.private_ip),
        ("host.public_ip", &r.host.public_ip),
        ("host.os_type", &r.host.os_type),
    ] {
        check_text(field, value, false)?;
    }
    for (field, n) in [
        ("images", r.images.len()),
        ("containers", r.containers.len()),
        ("pods", r.pods.len()),
        ("scans", r.scans.len()),
        ("scan_failures", r.scan_failures.len()),
    ] {
        if n > MAX_ITEMS {
            return Err(invalid(field, "lists more than 20,000 items"));
        }
    }
    for i in &r.images {
        check_text("images.name", &i.name, true)?;
        check_text("images.tag", &i.tag, false)?;
        check_text("images.image_id", &i.image_id, false)?;
        check_text("images.runtime", &i.runtime, false)?;
        check_digest("images.digest", &i.digest)?;
        if !matches!(i.image_type.as_str(), "" | "swr_image" | "other_image") {
            return Err(invalid(
                "images.image_type",
                "must be swr_image or other_image",
            ));
        }
        if i.size_bytes < 0 {
            return Err(invalid("images.size_bytes", "must not be negative"));
        }
    }
    for c in &r.containers {
        check_text("containers.id", &c.id, true)?;
        for (field, value) in [
            ("containers.name", &c.name),
            ("containers.image", &c.image),
            ("containers.status", &c.status),
            ("containers.pod_uid", &c.pod_uid),
        ] {
            check_text(field, value, false)?;
        }
        if !c.image_digest.is_empty() {
            check_digest("containers.image_digest", &c.image_digest)?;
        }
    }
    for p in &r.pods {
        check_text("pods.uid", &p.uid, true)?;
        check_text("pods.name", &p.name, false)?;
        check_text("pods.namespace", &p.namespace, false)?;
    }
    for s in &r.scans {
        check_digest("scans.digest", &s.digest)?;
        for a in &s.apps {
            check_text("scans.apps.name", &a.name, true)?;
            check_text("scans.apps.version", &a.version, false)?;
        }
    }
    for f in &r.scan_failures {
        check_digest("scan_failures.digest", &f.digest)?;
        check_text("scan_failures.code", &f.code, true)?;
    }
    Ok(())
}

/// What a report's scans need computed before its transaction: the compressed inventory and,
/// with a vulnerability database, the match (neither may hold SQLite's single writer).
struct PreparedScan {
    inventory: PreparedInventory,
    matched: Option<(String, VulnCounts)>,
}

fn prepare_scans(state: &AppState, r: &ReportBody) -> Result<Vec<PreparedScan>, ApiError> {
    let vulndb = state
        .settings
        .vulndb
        .as_ref()
        .filter(|p| p.is_file())
        .map(|p| crowsnest_vulndb::VulnDb::open(p))
        .transpose()
        .map_err(internal)?;
    let build = vulndb
        .as_ref()
        .map(|db| db.build())
        .transpose()
        .map_err(internal)?;
    r.scans
        .iter()
        .map(|scan| {
            let matched = match (&vulndb, &build) {
                (Some(db), Some(build)) => {
                    let findings =
                        crowsnest_vulndb::match_inventory(db, &scan.inventory).map_err(internal)?;
                    Some((build.clone(), VulnCounts::of(&findings)))
                }
                _ => None,
            };
            Ok(PreparedScan {
                inventory: PreparedInventory::of(&scan.inventory).map_err(internal)?,
                matched,
            })
        })
        .collect()
}

/// Writes one report's contents in `batch` (one transaction: the report is applied whole or
/// not at all); every step is an upsert, so a repeat changes nothing.
fn apply(
    batch: &mut Batch<'_, '_>,
    now: i64,
    tenant: TenantId,
    agent: &AgentRecord,
    r: &ReportBody,
    prepared: &[PreparedScan],
) -> Result<(usize, usize), StoreError> {
    let host_row = batch.upsert_host(
        tenant,
        &NewHost {
            uid: r.host.uid.clone(),
            name: r.host.name.clone(),
            agent_id: agent.uid.clone(),
            private_ip: r.host.private_ip.clone(),
            public_ip: r.host.public_ip.clone(),
            os_type: r.host.os_type.clone(),
            ..NewHost::default()
        },
    )?;
    let image_of = |digest: &str| r.images.iter().find(|i| i.digest == digest);
    // Digests were checked by `validate`, so parsing them again cannot fail.
    let upsert_image = |batch: &mut Batch<'_, '_>, digest: &str, config: Option<&str>| {
        let listed = image_of(digest);
        batch.upsert_image(&NewImage {
            digest: digest
                .parse()
                .map_err(|_| StoreError::Bind(format!("{digest} is not a digest")))?,
            config_digest: config
                .or(listed.map(|i| i.image_id.as_str()))
                .and_then(|c| c.parse().ok()),
            size_bytes: listed.map_or(0, |i| i.size_bytes),
            created_ms: listed.map_or(0, |i| i.updated_ms),
            is_multiarch: false,
        })
    };
    // Inventories first, so the local images below point at scanned digests.
    for (scan, prepared) in r.scans.iter().zip(prepared) {
        let config = scan
            .inventory
            .source
            .image_id
            .as_ref()
            .map(ToString::to_string);
        let row = upsert_image(batch, &scan.digest, config.as_deref())?;
        batch.record_scan(row, &ScanRecord::succeeded(r.created_ms, now))?;
        batch.set_component_count(row, scan.component_count.max(0))?;
        let apps: Vec<ImageApp> = scan
            .apps
            .iter()
            .map(|a| ImageApp {
                name: a.name.clone(),
                version: a.version.clone(),
            })
            .collect();
        batch.set_image_apps(row, &apps)?;
        batch.save_inventory(&scan.digest, &prepared.inventory, ENGINE)?;
        if let Some((build, counts)) = &prepared.matched {
            batch.record_match(&scan.digest, build, counts)?;
        }
    }
    for failure in &r.scan_failures {
        let row = upsert_image(batch, &failure.digest, None)?;
        tracing::info!(digest = %failure.digest, code = %failure.code, detail = %failure.message, "agent scan failed");
        batch.record_scan(
            row,
            &ScanRecord {
                started_ms: Some(r.created_ms),
                ..ScanRecord::failed(&failure.code, now)
            },
        )?;
    }
    let mut local_rows = Vec::new();
    let mut local_by_digest: Vec<(&str, &str, i64)> = Vec::new();
    for image in &r.images {
        let image_row = upsert_image(batch, &image.digest, None)?;
        let local = batch.upsert_local_image(
            tenant,
            &NewLocalImage {
                image_row,
                image_name: image.name.clone(),
                image_version: image.tag.clone(),
                local_image_type: image.image_type.clone(),
                enterprise_project_id: String::new(),
                updated_ms: image.updated_ms,
            },
        )?;
        batch.add_local_image_host(tenant, local, host_row)?;
        local_rows.push(local);
        local_by_digest.push((image.digest.as_str(), image.name.as_str(), local));
    }
    let mut pod_rows = Vec::new();
    for pod in &r.pods {
        let row = batch.upsert_pod(
            tenant,
            &NewPod {
                uid: pod.uid.clone(),
                name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                cluster_name: String::new(),
                host_row: Some(host_row),
            },
        )?;
        pod_rows.push((pod.uid.as_str(), row));
    }
    let mut container_ids = Vec::new();
    for c in &r.containers {
        // The local image with the container's digest, preferring the name it was created by.
        let (image_name, _) = split_name(&c.image);
        let local_image_row = local_by_digest
            .iter()
            .filter(|(d, _, _)| !c.image_digest.is_empty() && *d == c.image_digest)
            .min_by_key(|(_, n, _)| *n != image_name)
            .map(|(_, _, row)| *row);
        let pod_row = pod_rows
            .iter()
            .find(|(uid, _)| !c.pod_uid.is_empty() && *uid == c.pod_uid)
            .map(|(_, row)| *row);
        batch.upsert_container(
            tenant,
            &NewContainer {
                container_id: c.id.clone(),
                name: c.name.clone(),
                host_row,
                local_image_row,
                pod_row,
                status: c.status.clone(),
                created_ms: c.created_ms,
            },
        )?;
        container_ids.push(c.id.clone());
    }
    batch.prune_host(tenant, host_row, &local_rows, &container_ids)?;
    Ok((r.images.len(), r.containers.len()))
}

/// `name:tag` → (name, tag), a `:` before the last `/` being a registry port.
fn split_name(reference: &str) -> (&str, &str) {
    let start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[start..].rfind(':') {
        Some(i) => (&reference[..start + i], &reference[start + i + 1..]),
        None => (reference, ""),
    }
}

async fn report(State(state): State<AppState>, ReportRequest(req): ReportRequest) -> Response {
    authorized(state, req, ACTION_REPORT, |state, caller, req| {
        let agent = calling_agent(state, caller)?;
        let body: ReportBody = serde_json::from_slice(&req.body)
            .map_err(|e| invalid("body", &format!("not a report: {e}")))?;
        validate(&body, &agent)?;
        let now = state.settings.auth.clock.now_ms();
        let seen = state
            .store
            .agent_report_seen(agent.row, &body.report_id)
            .map_err(internal)?;
        // Applied and claimed in one transaction: a failure leaves the id free for the resend,
        // and a success cannot be half applied.
        let (fresh, images, containers) = if seen {
            (false, 0, 0)
        } else {
            let prepared = prepare_scans(state, &body)?;
            state
                .store
                .batch(|batch| {
                    let (images, containers) =
                        apply(batch, now, caller.tenant, &agent, &body, &prepared)?;
                    let fresh = batch.claim_agent_report(agent.row, &body.report_id, now)?;
                    Ok((fresh, images, containers))
                })
                .map_err(internal)?
        };
        Ok(Reply::ok(json!({
            "report_id": body.report_id,
            "duplicate": !fresh,
            "images": images,
            "containers": containers,
        })))
    })
    .await
}

fn openapi() -> Value {
    let with = super::openapi::authorized_responses;
    let body = |schema: &str| {
        json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        })
    };
    let answer = |description: &str, schema: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        })
    };
    let text = || json!({ "type": "string" });
    let int = || json!({ "type": "integer" });
    json!({
        "paths": {
            "/api/v1/agents": {
                "get": {
                    "operationId": "listAgents",
                    "tags": ["agents"],
                    "summary": "The caller's tenant's agents with their online, offline or revoked status",
                    "description": format!("Action `{ACTION_LIST}`. An agent is offline when neither a heartbeat nor a report arrived within `offline_after_ms`."),
                    "responses": with(json!({ "200": answer("The agents, oldest first.", "AgentList") }))
                },
                "post": {
                    "operationId": "registerAgent",
                    "tags": ["agents"],
                    "summary": "Register an agent for a host; its own AccessKey is returned once",
                    "description": format!("Action `{ACTION_REGISTER}` (an enrolment key). The new key may only `{ACTION_HEARTBEAT}` and `{ACTION_REPORT}`. Registering again for the same host revokes the host's earlier agents."),
                    "requestBody": body("NewAgent"),
                    "responses": with(json!({
                        "201": answer("The agent and its key (the secret is shown only here).", "RegisteredAgent"),
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }))
                }
            },
            "/api/v1/agents/{agent_id}": {
                "delete": {
                    "operationId": "revokeAgent",
                    "tags": ["agents"],
                    "summary": "Revoke an agent: its key authenticates nothing from now on",
                    "description": format!("Action `{ACTION_REVOKE}`. An agent of another tenant is `not_found`."),
                    "parameters": [{ "name": "agent_id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": with(json!({
                        "204": { "description": "Revoked." },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }))
                }
            },
            "/api/v1/agents/heartbeat": {
                "post": {
                    "operationId": "agentHeartbeat",
                    "tags": ["agents"],
                    "summary": "An agent is alive",
                    "description": format!("Action `{ACTION_HEARTBEAT}`, with the agent's own key."),
                    "requestBody": body("Heartbeat"),
                    "responses": with(json!({
                        "200": answer("Recorded.", "HeartbeatAnswer"),
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }))
                }
            },
            "/api/v1/agents/reports": {
                "post": {
                    "operationId": "agentReport",
                    "tags": ["agents"],
                    "summary": "A full snapshot of the agent's host: images, containers, pods and new inventories",
                    "description": format!("Action `{ACTION_REPORT}`, with the agent's own key. Idempotent by `report_id`: a resend is answered `duplicate: true` and changes nothing. Bodies up to 64 MiB."),
                    "requestBody": body("Report"),
                    "responses": with(json!({
                        "200": answer("Applied (or already applied).", "ReportAnswer"),
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }))
                }
            }
        },
        "schemas": {
            "Agent": {
                "type": "object",
                "required": ["agent_id", "host_uid", "host_name", "access_key_id", "status", "registered_ms", "last_seen_ms", "revoked_ms", "reports_received", "heartbeats_received"],
                "properties": {
                    "agent_id": text(), "host_uid": text(), "host_name": text(), "access_key_id": text(),
                    "status": { "type": "string", "enum": ["online", "offline", "revoked"] },
                    "registered_ms": int(), "last_seen_ms": int(),
                    "revoked_ms": { "type": ["integer", "null"] },
                    "reports_received": int(), "heartbeats_received": int()
                }
            },
            "AgentList": {
                "type": "object",
                "required": ["agents", "offline_after_ms"],
                "properties": {
                    "agents": { "type": "array", "items": { "$ref": "#/components/schemas/Agent" } },
                    "offline_after_ms": int()
                }
            },
            "NewAgent": {
                "type": "object",
                "required": ["host_uid"],
                "additionalProperties": false,
                "properties": {
                    "host_uid": { "type": "string", "minLength": 1, "maxLength": 64 },
                    "host_name": text()
                }
            },
            "RegisteredAgent": {
                "type": "object",
                "required": ["agent_id", "access_key_id", "access_key_secret", "host_uid", "heartbeat_interval_ms"],
                "properties": {
                    "agent_id": text(), "access_key_id": text(), "access_key_secret": text(),
                    "host_uid": text(), "heartbeat_interval_ms": int()
                }
            },
            "Heartbeat": {
                "type": "object",
                "properties": { "sent_ms": int(), "queued": int() }
            },
            "HeartbeatAnswer": {
                "type": "object",
                "required": ["agent_id", "server_ms", "heartbeat_interval_ms"],
                "properties": { "agent_id": text(), "server_ms": int(), "heartbeat_interval_ms": int() }
            },
            "Report": {
                "type": "object",
                "required": ["report_id", "host"],
                "properties": {
                    "report_id": { "type": "string", "minLength": 1, "maxLength": 128 },
                    "created_ms": int(),
                    "host": {
                        "type": "object",
                        "required": ["uid"],
                        "properties": { "uid": text(), "name": text(), "private_ip": text(), "public_ip": text(), "os_type": text() }
                    },
                    "images": { "type": "array", "items": {
                        "type": "object",
                        "required": ["name", "digest"],
                        "properties": {
                            "name": text(), "tag": text(), "digest": text(), "image_id": text(),
                            "size_bytes": int(), "updated_ms": int(),
                            "image_type": { "type": "string", "enum": ["swr_image", "other_image", ""] },
                            "runtime": text()
                        }
                    }},
                    "containers": { "type": "array", "items": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {
                            "id": text(), "name": text(), "image": text(), "image_digest": text(),
                            "status": text(), "created_ms": int(), "pod_uid": text()
                        }
                    }},
                    "pods": { "type": "array", "items": {
                        "type": "object",
                        "required": ["uid"],
                        "properties": { "uid": text(), "name": text(), "namespace": text() }
                    }},
                    "scans": { "type": "array", "items": {
                        "type": "object",
                        "required": ["digest", "inventory"],
                        "properties": {
                            "digest": text(), "component_count": int(),
                            "apps": { "type": "array", "items": {
                                "type": "object", "required": ["name"],
                                "properties": { "name": text(), "version": text() }
                            }},
                            "inventory": { "type": "object", "description": "A Crowsnest inventory (what `crowsnest scan --format json` reports as `inventory`)." }
                        }
                    }},
                    "scan_failures": { "type": "array", "items": {
                        "type": "object",
                        "required": ["digest", "code"],
                        "properties": { "digest": text(), "code": text(), "message": text() }
                    }}
                }
            },
            "ReportAnswer": {
                "type": "object",
                "required": ["report_id", "duplicate", "images", "containers"],
                "properties": {
                    "report_id": text(),
                    "duplicate": { "type": "boolean", "description": "True when this report id was already applied." },
                    "images": int(), "containers": int()
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_offline_window() {
        let mut a = AgentRecord {
            row: 1,
            tenant: TenantId(1),
            uid: "a".into(),
            host_uid: "h".into(),
            host_name: String::new(),
            access_key_id: "k".into(),
            registered_ms: 0,
            last_seen_ms: 0,
            revoked_ms: None,
            reports_received: 0,
            heartbeats_received: 0,
        };
        assert_eq!(status(&a, 1_000, 500), "offline", "never seen");
        a.last_seen_ms = 600;
        assert_eq!(status(&a, 1_000, 500), "online");
        assert_eq!(status(&a, 1_101, 500), "offline");
        a.revoked_ms = Some(1);
        assert_eq!(status(&a, 1_000, 500), "revoked");
        assert_eq!(
            split_name("localhost:5000/web:v1"),
            ("localhost:5000/web", "v1")
        );
    }
}
