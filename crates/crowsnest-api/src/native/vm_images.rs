//! `/api/v1/vm-images`: importing VM disk images into the ECS DescribeImages catalogue, and
//! who else sees and runs them.
//!
//! An import names a disk file on the server, under the configured import directory
//! ([`crate::Settings::vm_import_dir`]); it answers at once with the image `Creating`, and a
//! background thread reads the disk through the [`VmImporter`] the binary plugs in (this crate
//! knows no disk formats), recording progress and the remaining time as it goes, then
//! `Available` with what inspection found or `CreateFailed` with the reason. `GET` shows the
//! image in DescribeImages' own shape (Status, Progress, RemainTime, DetectionOptions, ...).
//!
//! Sharing with another account makes the image appear to it as ImageOwnerAlias `others`;
//! publishing makes it a community image (IsPublic) every account sees; recording an instance
//! makes DescribeImages answer Usage `instance`. Only the owner shares or publishes, and only
//! `Available` images; a tenant records its own instances of any image it can see.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, Path as UrlPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use crowsnest_store::{
    NewVmImport, Store, StoreError, TenantId, VmImageRow, VmImportResult, VulnCounts,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    authorized, error, invalid, NativeRequest, Reply, Resource, CODE_NOT_FOUND,
    CODE_TOO_MANY_REQUESTS,
};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::AppState;

/// The policy action of importing a disk image.
pub const ACTION_IMPORT: &str = "crowsnest:ImportVmImage";
/// The policy action of reading one image.
pub const ACTION_GET: &str = "crowsnest:GetVmImage";
/// The policy action of sharing (and unsharing) an image with another account.
pub const ACTION_SHARE: &str = "crowsnest:ShareVmImage";
/// The policy action of publishing (and withdrawing) a community image.
pub const ACTION_PUBLISH: &str = "crowsnest:PublishVmImage";
/// The policy action of recording (and forgetting) the instances that run an image.
pub const ACTION_USAGE: &str = "crowsnest:RecordVmImageUsage";

/// Imports running at once on one server; each reads a whole disk, so more would only slow
/// every one of them down.
pub const MAX_RUNNING_IMPORTS: usize = 4;

/// The largest disk image an upload may send, bytes (the reader's own limit on virtual disks
/// is larger; an upload this big is a mistake or an attack).
pub const MAX_UPLOAD_BYTES: u64 = 256 << 30;

/// The VM images resource.
pub const RESOURCE: Resource = Resource {
    actions: &[
        ACTION_IMPORT,
        ACTION_GET,
        ACTION_SHARE,
        ACTION_PUBLISH,
        ACTION_USAGE,
    ],
    routes,
    openapi,
};

/// What a disk file is, read from its first bytes before the import is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskProbe {
    /// The format name DescribeImages shows (`qcow2`, `raw`).
    pub format: String,
    /// The virtual disk size in bytes (the file's size when the header does not say).
    pub size_bytes: u64,
}

/// Why an import failed: a stable code (`invalid_image`, `image_oversized`, ...) and a reason
/// for people. Both end up in the image's `ImageImport` check item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmImportFailure {
    /// Stable code.
    pub code: String,
    /// What went wrong, naming the part of the disk that did.
    pub reason: String,
}

/// What the catalogers and risk analyzers found on an imported disk's root filesystem.
#[derive(Clone, Debug)]
pub struct VmScan {
    /// The packages.
    pub inventory: crowsnest_model::Inventory,
    /// The risk analyzers that ran.
    pub risk_scanners: Vec<crowsnest_model::RiskKind>,
    /// What they found.
    pub risks: Vec<crowsnest_model::RiskFinding>,
}

/// A disk that was read: the catalogue's columns and, when the importer scanned the root
/// filesystem, what the scan found (stored under the image, like a container image's scan).
#[derive(Clone, Debug)]
pub struct VmImported {
    /// What inspection found.
    pub result: VmImportResult,
    /// The scan, if one ran.
    pub scan: Option<VmScan>,
}

/// The scan engine's name stored with an imported image's inventory.
const ENGINE: &str = concat!("crowsnest-vm-import ", env!("CARGO_PKG_VERSION"));

/// Reads disk images for imports. The binary implements it with `crowsnest-vm` (and the scan
/// engine); the API only records what it reports.
pub trait VmImporter: Send + Sync {
    /// The disk's format and size from its header. Never fails: a file that cannot be read
    /// is reported by [`VmImporter::import`], which records the failure on the image.
    fn probe(&self, disk: &Path) -> DiskProbe;

    /// Reads and inspects the disk, calling `progress` with percentages (1 to 99) as each
    /// phase ends. When `confine` is given, every file the disk makes the reader open (a qcow2
    /// backing file) must resolve inside that directory.
    fn import(
        &self,
        disk: &Path,
        confine: Option<&Path>,
        progress: &mut dyn FnMut(u8),
    ) -> Result<VmImported, VmImportFailure>;
}

/// An import to start: the catalogue fields of the new image.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// The image id to use.
    pub image_id: String,
    /// Region.
    pub region_id: String,
    /// Name.
    pub image_name: String,
    /// Image family ('' for none).
    pub image_family: String,
    /// Description.
    pub description: String,
    /// Tags (key, value); keys are unique.
    pub tags: Vec<(String, String)>,
}

/// Records `request` as `tenant`'s image, `Creating`, with the format and size `importer`
/// probes from `disk`.
pub fn begin_import(
    store: &Store,
    tenant: TenantId,
    importer: &dyn VmImporter,
    disk: &Path,
    request: &ImportRequest,
) -> Result<(), StoreError> {
    let probe = importer.probe(disk);
    store.begin_vm_import(
        tenant,
        &NewVmImport {
            image_id: request.image_id.clone(),
            region_id: request.region_id.clone(),
            image_name: request.image_name.clone(),
            image_family: request.image_family.clone(),
            description: request.description.clone(),
            tags: request.tags.clone(),
            format: probe.format,
            source_name: disk
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size_gib: i64::try_from(probe.size_bytes.div_ceil(1 << 30)).unwrap_or(i64::MAX),
            created_ms: crowsnest_store::now_ms(),
        },
    )?;
    Ok(())
}

/// Reads `disk` (and nothing outside `confine`, when given) for `tenant`'s `Creating` image
/// `image_id`, recording progress with the remaining time estimated from the pace so far,
/// then `Available` or `CreateFailed`. A scan's inventory and risks are stored first, under
/// [`crowsnest_store::vm_inventory_digest`] of the image id, and matched against the
/// vulnerability database at `vulndb` when there is one. A store failure while recording
/// progress is logged and the import goes on; the outcome is returned whether or not
/// recording it succeeded (the error says so).
pub fn run_import(
    store: &Store,
    tenant: TenantId,
    image_id: &str,
    importer: &dyn VmImporter,
    disk: &Path,
    confine: Option<&Path>,
    vulndb: Option<&Path>,
) -> Result<VmImportResult, VmImportFailure> {
    let started = Instant::now();
    let mut progress = |percent: u8| {
        let percent = percent.clamp(1, 99);
        // elapsed * (100 - p) / p: the time the rest takes at the pace so far.
        let elapsed = started.elapsed().as_secs_f64();
        let remain = (elapsed * f64::from(100 - percent) / f64::from(percent)).ceil();
        if let Err(e) = store.vm_import_progress(tenant, image_id, percent, remain as i64) {
            tracing::warn!(image_id, error = %e, "recording import progress");
        }
    };
    let outcome = importer
        .import(disk, confine, &mut progress)
        .and_then(|imported| {
            let mut result = imported.result;
            if let Some(scan) = &imported.scan {
                result.inventory_digest = store_scan(store, image_id, scan, vulndb)?;
            }
            Ok(result)
        });
    let recorded = match &outcome {
        Ok(result) => store.finish_vm_import(tenant, image_id, result),
        Err(f) => store.fail_vm_import(tenant, image_id, &f.code, &f.reason),
    };
    match (outcome, recorded) {
        (outcome, Ok(())) => outcome,
        (Ok(_), Err(e)) => Err(VmImportFailure {
            code: "internal".into(),
            reason: format!("the disk was read but recording the result failed: {e}"),
        }),
        (Err(f), Err(e)) => Err(VmImportFailure {
            code: f.code,
            reason: format!("{} (and recording the failure failed: {e})", f.reason),
        }),
    }
}

/// Stores what the scan of image `image_id` found, as `scan --save` stores a container
/// image's scan, and returns the key it is stored under. A vulnerability database that cannot
/// be read is logged, not fatal: the inventory stays unmatched, and the next re-match (after
/// `db update`) matches it.
fn store_scan(
    store: &Store,
    image_id: &str,
    scan: &VmScan,
    vulndb: Option<&Path>,
) -> Result<String, VmImportFailure> {
    let digest = crowsnest_store::vm_inventory_digest(image_id);
    let failed = |what: &str, e: &dyn std::fmt::Display| VmImportFailure {
        code: "internal".into(),
        reason: format!("the disk was scanned but {what} failed: {e}"),
    };
    store
        .save_inventory(&digest, &scan.inventory, ENGINE)
        .map_err(|e| failed("storing its inventory", &e))?;
    store
        .save_risks(&digest, &scan.risk_scanners, &scan.risks)
        .map_err(|e| failed("storing its risk findings", &e))?;
    if let Some(path) = vulndb.filter(|p| p.is_file()) {
        let matched = crowsnest_vulndb::VulnDb::open(path).and_then(|db| {
            let build = db.build()?;
            let findings = crowsnest_vulndb::match_inventory(&db, &scan.inventory)?;
            Ok((build, findings))
        });
        match matched {
            Ok((build, findings)) => {
                store
                    .record_match(&digest, &build, &VulnCounts::of(&findings))
                    .map_err(|e| failed("storing its vulnerability counts", &e))?;
            }
            Err(e) => {
                tracing::warn!(image_id, error = %e, "VM image not matched; a re-match will");
            }
        }
    }
    Ok(digest)
}

/// A fresh image id: `m-` and 20 lower-case hex digits.
pub fn new_image_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("m-{}", &hex[..20])
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/vm-images", post(import))
        .route("/api/v1/vm-images/{image_id}", get(show))
        .route("/api/v1/vm-images/{image_id}/findings", get(findings))
        .route("/api/v1/vm-images/{image_id}/shares", post(share))
        .route(
            "/api/v1/vm-images/{image_id}/shares/{account_id}",
            delete(unshare),
        )
        .route("/api/v1/vm-images/{image_id}/public", put(publish))
        .route("/api/v1/vm-images/{image_id}/instances", post(add_instance))
        .route(
            "/api/v1/vm-images/{image_id}/instances/{instance_id}",
            delete(remove_instance),
        )
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(Dialect::Native, e)
}

fn not_found(image_id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        format!("no VM image {image_id:?} the caller can see"),
    )
}

fn body<T: serde::de::DeserializeOwned>(req: &NativeRequest, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| invalid("body", &format!("expected {shape}: {e}")))
}

/// A short printable text: 1 to `max` characters, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n == 0 || n > max || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            &format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

/// An identifier (region, account, instance): 1 to 128 of `[A-Za-z0-9._-]`.
fn ident(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "must be 1 to 128 of A-Z a-z 0-9 . _ -"))
    }
}

/// The disk file `requested` names, which must resolve (symbolic links included) to a
/// regular file inside `root`: a caller must not make the server read any other file.
fn disk_path(root: &Path, requested: &str) -> Result<PathBuf, ApiError> {
    if requested.is_empty() || requested.contains('\0') {
        return Err(invalid("path", "must name a file"));
    }
    let root = root
        .canonicalize()
        .map_err(|e| internal(format!("VM import directory {}: {e}", root.display())))?;
    let candidate = Path::new(requested);
    let joined = if candidate.is_absolute() {
        candidate.to_path_buf()
    } else {
        root.join(candidate)
    };
    let outside = || {
        invalid(
            "path",
            "must name a file inside the server's VM import directory",
        )
    };
    // A path that does not resolve is answered as one outside, so that probing which files
    // exist elsewhere on the server learns nothing.
    let resolved = joined.canonicalize().map_err(|_| {
        if joined.starts_with(&root) {
            invalid("path", "no such file in the server's VM import directory")
        } else {
            outside()
        }
    })?;
    if !resolved.starts_with(&root) {
        return Err(outside());
    }
    if !resolved.is_file() {
        return Err(invalid("path", "is not a regular file"));
    }
    Ok(resolved)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    path: String,
    name: String,
    region_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    image_family: String,
    /// Tag keys and values; a JSON object keeps keys unique.
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
}

/// Tags as DescribeImages filters them: at most 20, keys of 1 to 128 characters, values of
/// at most 128.
const MAX_TAGS: usize = 20;

/// Releases a running-import slot when the import thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `POST /api/v1/vm-images`: a JSON body names a file in the import directory; an
/// `application/octet-stream` body is the disk itself.
async fn import(State(state): State<AppState>, req: Request) -> Response {
    let is_upload = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/octet-stream"));
    if is_upload {
        return match upload(state, req).await {
            Ok(reply) => reply.into_response(),
            Err(e) => e.into_response(),
        };
    }
    let req = match NativeRequest::from_request(req, &state).await {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    import_by_path(state, req).await
}

async fn import_by_path(state: AppState, req: NativeRequest) -> Response {
    authorized(state, req, ACTION_IMPORT, |state, caller, req| {
        let b: ImportBody = body(
            req,
            "{\"path\": .., \"name\": .., \"region_id\": .., \"description\"?: ..}",
        )?;
        text("name", &b.name, 128)?;
        ident("region_id", &b.region_id)?;
        if b.description.chars().count() > 256 || b.description.chars().any(char::is_control) {
            return Err(invalid("description", "at most 256 printable characters"));
        }
        if !b.image_family.is_empty() {
            text("image_family", &b.image_family, 128)?;
        }
        if b.tags.len() > MAX_TAGS {
            return Err(invalid("tags", "at most 20 tags"));
        }
        for (key, value) in &b.tags {
            text("tags", key, 128)?;
            if value.chars().count() > 128 || value.chars().any(char::is_control) {
                return Err(invalid(
                    "tags",
                    "a value is at most 128 printable characters",
                ));
            }
        }
        let Some(root) = state.settings.vm_import_dir.as_deref() else {
            return Err(invalid(
                "path",
                "this server has no VM import directory (crowsnest serve --vm-import-dir)",
            ));
        };
        let Some(importer) = state.vm_importer.clone() else {
            return Err(invalid("path", "this server cannot read VM disk images"));
        };
        let disk = disk_path(root, &b.path)?;
        let slot = take_slot(state)?;
        let request = ImportRequest {
            image_id: new_image_id(),
            region_id: b.region_id,
            image_name: b.name,
            image_family: b.image_family,
            description: b.description,
            tags: b.tags.into_iter().collect(),
        };
        start_import(
            state,
            caller,
            importer,
            slot,
            &request,
            disk,
            root.to_path_buf(),
        )
    })
    .await
}

/// A running-import slot, or `too_many_requests` when every one is taken.
fn take_slot(state: &AppState) -> Result<Slot, ApiError> {
    let running = state.running_imports.clone();
    if running.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING_IMPORTS {
        running.fetch_sub(1, Ordering::SeqCst);
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            CODE_TOO_MANY_REQUESTS,
            format!("{MAX_RUNNING_IMPORTS} imports are running; try again when one ends"),
        ));
    }
    Ok(Slot(running))
}

/// Records the image `Creating` and reads `disk` (confined to `confine`) on a thread of its
/// own, which holds `slot` until it ends. Answers 202 with the image.
fn start_import(
    state: &AppState,
    caller: &Caller,
    importer: Arc<dyn VmImporter>,
    slot: Slot,
    request: &ImportRequest,
    disk: PathBuf,
    confine: PathBuf,
) -> Result<Reply, ApiError> {
    begin_import(
        &state.store,
        caller.tenant,
        importer.as_ref(),
        &disk,
        request,
    )
    .map_err(internal)?;
    // Shown before the disk is read: a small disk may be imported before this answer would
    // otherwise be built, and the answer is the import's start.
    let created = shown(state, caller, &request.image_id)?;
    let (store, tenant) = (state.store.clone(), caller.tenant);
    let vulndb = state.settings.vulndb.clone();
    let image_id = request.image_id.clone();
    std::thread::Builder::new()
        .name("vm-import".into())
        .spawn(move || {
            let _slot = slot;
            let outcome = run_import(
                &store,
                tenant,
                &image_id,
                importer.as_ref(),
                &disk,
                Some(&confine),
                vulndb.as_deref(),
            );
            match outcome {
                Ok(_) => tracing::info!(%image_id, "VM image imported"),
                Err(f) => {
                    tracing::info!(%image_id, code = %f.code, reason = %f.reason, "VM image import failed")
                }
            }
        })
        .map_err(internal)?;
    Ok(Reply {
        status: StatusCode::ACCEPTED,
        body: Some(created),
    })
}

/// An upload: the body is the disk, the query names the image (`name`, `region_id`,
/// `description`, `image_family`). The disk is written to the tenant's own upload directory
/// under a name the server picks, and backing files may only name that tenant's uploads.
/// Only a token authenticates an upload: a signature covers the whole body, which the server
/// would have to hold before streaming it to disk.
async fn upload(state: AppState, req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let head = NativeRequest {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body: axum::body::Bytes::new(),
    };
    // Authenticate and validate before reading a byte of the body.
    let (state, caller, request, dir) = crate::blocking(Dialect::Native, move || {
        let caller = super::authorize(&state, &head, ACTION_IMPORT)?;
        let query = crate::form::Pairs::parse(head.uri.query().unwrap_or(""))
            .map_err(|_| invalid("query", "not valid url-encoded UTF-8"))?;
        let name = query.get("name").unwrap_or_default().to_owned();
        let region_id = query.get("region_id").unwrap_or_default().to_owned();
        let description = query.get("description").unwrap_or_default().to_owned();
        let image_family = query.get("image_family").unwrap_or_default().to_owned();
        text("name", &name, 128)?;
        ident("region_id", &region_id)?;
        if description.chars().count() > 256 || description.chars().any(char::is_control) {
            return Err(invalid("description", "at most 256 printable characters"));
        }
        if !image_family.is_empty() {
            text("image_family", &image_family, 128)?;
        }
        let root = state.settings.vm_upload_dir.clone().ok_or_else(|| {
            invalid(
                "body",
                "this server takes no uploads (no VM upload directory)",
            )
        })?;
        if state.vm_importer.is_none() {
            return Err(invalid("body", "this server cannot read VM disk images"));
        }
        let dir = root.join(caller.tenant.0.to_string());
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let request = ImportRequest {
            image_id: new_image_id(),
            region_id,
            image_name: name,
            image_family,
            description,
            tags: Vec::new(),
        };
        Ok((state, caller, request, dir))
    })
    .await?;
    let disk = dir.join(format!("{}.disk", request.image_id));
    if let Err(e) = receive(body, &disk).await {
        let _ = tokio::fs::remove_file(&disk).await;
        return Err(e);
    }
    crate::blocking(Dialect::Native, move || {
        let importer = state
            .vm_importer
            .clone()
            .ok_or_else(|| invalid("body", "this server cannot read VM disk images"))?;
        let slot = match take_slot(&state) {
            Ok(slot) => slot,
            Err(e) => {
                let _ = std::fs::remove_file(&disk);
                return Err(e);
            }
        };
        start_import(&state, &caller, importer, slot, &request, disk, dir)
    })
    .await
}

/// Streams `body` into a new file at `path`, at most [`MAX_UPLOAD_BYTES`].
async fn receive(mut body: axum::body::Body, path: &Path) -> Result<(), ApiError> {
    use axum::body::HttpBody;
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create_new(path).await.map_err(internal)?;
    let mut written: u64 = 0;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| invalid("body", &format!("unreadable: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        written += data.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            return Err(invalid(
                "body",
                &format!("larger than {MAX_UPLOAD_BYTES} bytes"),
            ));
        }
        file.write_all(&data).await.map_err(internal)?;
    }
    if written == 0 {
        return Err(invalid(
            "body",
            "an upload needs the disk image as its body",
        ));
    }
    file.flush().await.map_err(internal)?;
    Ok(())
}

/// The image as `caller` sees it: DescribeImages' Image object plus RemainTime (the system
/// disk's), the accounts it is shared with (owner only), the caller's instances running it,
/// and, for a failed import, FailureCode and FailureReason.
fn image_view(state: &AppState, caller: &Caller, row: &VmImageRow) -> Result<Value, ApiError> {
    let audience = state
        .store
        .vm_image_audience(caller.tenant, row.id)
        .map_err(internal)?;
    let mut image = crate::alibaba::ecs::image_json(row);
    if let Some(m) = image.as_object_mut() {
        let remain = row.disks.iter().map(|d| d.remain_time_s).max().unwrap_or(0);
        m.insert("RemainTime".into(), json!(remain));
        m.insert("SharedWithAccounts".into(), json!(audience.shared_with));
        m.insert("Instances".into(), json!(audience.instances));
        m.insert("PackageCount".into(), json!(row.package_count));
        if let Some(scan) = &row.scan {
            m.insert("ScanSummary".into(), scan_summary(scan));
        }
        if row.status == "CreateFailed" {
            if let Some(c) = row
                .checks
                .iter()
                .find(|c| c.name == crowsnest_store::vm_import::IMPORT_CHECK)
            {
                m.insert("FailureCode".into(), json!(c.risk_code));
                m.insert("FailureReason".into(), json!(c.value));
            }
        }
    }
    Ok(image)
}

/// The counts of an imported image's stored inventory, as its last match and its risk
/// analyzers left them.
fn scan_summary(scan: &crowsnest_store::VmImageScan) -> Value {
    json!({
        "InventoryDigest": scan.inventory_digest,
        "VulnDbBuild": scan.vulndb_build,
        "VulnerabilityCount": scan.vulns.total(),
        "Vulnerabilities": vuln_counts(&scan.vulns),
        "BaselineCount": scan.baseline_count,
        "MaliciousCount": scan.malicious_count,
        "AlarmCount": scan.alarm_count,
        "SeverityLevel": scan.severity_level,
    })
}

fn vuln_counts(c: &VulnCounts) -> Value {
    json!({
        "Critical": c.critical,
        "High": c.high,
        "Medium": c.medium,
        "Low": c.low,
        "Unknown": c.unknown,
    })
}

/// `GET /api/v1/vm-images/{image_id}/findings`: the image's stored inventory matched now
/// against the server's vulnerability database, with the risk analyzers' stored findings.
async fn findings(
    State(state): State<AppState>,
    UrlPath(image_id): UrlPath<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_GET, move |state, caller, _| {
        let row = state
            .store
            .vm_image(caller.tenant, &image_id)
            .map_err(internal)?
            .ok_or_else(|| not_found(&image_id))?;
        let no_scan = || {
            error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!(
                    "VM image {image_id:?} has no stored inventory (its import is {}, or did \
                     not scan the disk)",
                    row.status
                ),
            )
        };
        let scan = row.scan.as_ref().ok_or_else(no_scan)?;
        let stored = state
            .store
            .stored_inventory(&scan.inventory_digest)
            .map_err(internal)?
            .ok_or_else(no_scan)?;
        let risks = state
            .store
            .stored_risks(&scan.inventory_digest)
            .map_err(internal)?
            .ok_or_else(no_scan)?;
        let path = state
            .settings
            .vulndb
            .as_deref()
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    super::CODE_VULNDB_MISSING,
                    "the server has no vulnerability database; run `crowsnest db update` on it",
                )
            })?;
        let db = crowsnest_vulndb::VulnDb::open(path).map_err(internal)?;
        let build = db.build().map_err(internal)?;
        let found = crowsnest_vulndb::match_inventory(&db, &stored.inventory).map_err(internal)?;
        let counts = VulnCounts::of(&found);
        // The catalogue's rule (scans.rs): the worse of the vulnerabilities' level and the
        // stored risks' level.
        let level = crowsnest_store::scans::worse_level(
            counts.level(),
            risks.summary.severity_level.as_str(),
        );
        Ok(Reply::ok(json!({
            "ImageId": row.image_id,
            "InventoryDigest": scan.inventory_digest,
            "VulnDbBuild": build,
            "PackageCount": stored.inventory.packages.len(),
            "VulnerabilityCount": counts.total(),
            "VulnerabilityCounts": vuln_counts(&counts),
            "Vulnerabilities": found,
            "RiskScanners": risks.scanners.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "BaselineCount": risks.summary.unsafe_settings,
            "MaliciousCount": risks.summary.malicious_files,
            "AlarmCount": risks.summary.alarms,
            "Risks": risks.findings,
            "SeverityLevel": level,
        })))
    })
    .await
}

fn shown(state: &AppState, caller: &Caller, image_id: &str) -> Result<Value, ApiError> {
    let row = state
        .store
        .vm_image(caller.tenant, image_id)
        .map_err(internal)?
        .ok_or_else(|| not_found(image_id))?;
    image_view(state, caller, &row)
}

async fn show(
    State(state): State<AppState>,
    UrlPath(image_id): UrlPath<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_GET, move |state, caller, _| {
        Ok(Reply::ok(shown(state, caller, &image_id)?))
    })
    .await
}

/// `caller`'s own custom image `image_id`, which must be `Available` to be shared or
/// published. Images of others are `not_found`, as images that do not exist.
fn owned_available(
    state: &AppState,
    caller: &Caller,
    image_id: &str,
) -> Result<VmImageRow, ApiError> {
    let row = state
        .store
        .vm_image(caller.tenant, image_id)
        .map_err(internal)?
        .filter(|r| r.owner_alias == "self")
        .ok_or_else(|| not_found(image_id))?;
    if row.status != "Available" {
        return Err(invalid(
            "image_id",
            &format!(
                "the image is {}; only Available images can be shared or published",
                row.status
            ),
        ));
    }
    Ok(row)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    account_id: String,
}

/// The tenant of `account_id`, which must be another account than the caller's.
fn other_account(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
) -> Result<TenantId, ApiError> {
    ident("account_id", account_id)?;
    let tenant = state
        .store
        .tenant_by_account(account_id)
        .map_err(internal)?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("no account {account_id:?} on this server"),
            )
        })?;
    if tenant == caller.tenant {
        return Err(invalid(
            "account_id",
            "an image is not shared with its own account",
        ));
    }
    Ok(tenant)
}

fn store_error(image_id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => not_found(image_id),
        e => internal(e),
    }
}

async fn share(
    State(state): State<AppState>,
    UrlPath(image_id): UrlPath<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_SHARE, move |state, caller, req| {
        let b: ShareBody = body(req, "{\"account_id\": ..}")?;
        owned_available(state, caller, &image_id)?;
        let with = other_account(state, caller, &b.account_id)?;
        let added = state
            .store
            .share_vm_image_with(caller.tenant, &image_id, with)
            .map_err(|e| store_error(&image_id, e))?;
        Ok(Reply::created_or_ok(
            added,
            shown(state, caller, &image_id)?,
        ))
    })
    .await
}

async fn unshare(
    State(state): State<AppState>,
    UrlPath((image_id, account_id)): UrlPath<(String, String)>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_SHARE, move |state, caller, _| {
        state
            .store
            .vm_image(caller.tenant, &image_id)
            .map_err(internal)?
            .filter(|r| r.owner_alias == "self")
            .ok_or_else(|| not_found(&image_id))?;
        let with = other_account(state, caller, &account_id)?;
        let removed = state
            .store
            .unshare_vm_image(caller.tenant, &image_id, with)
            .map_err(|e| store_error(&image_id, e))?;
        if !removed {
            return Err(error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("{image_id:?} is not shared with account {account_id:?}"),
            ));
        }
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    public: bool,
    #[serde(default)]
    supplier_name: Option<String>,
}

async fn publish(
    State(state): State<AppState>,
    UrlPath(image_id): UrlPath<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_PUBLISH, move |state, caller, req| {
        let b: PublishBody = body(req, "{\"public\": true|false, \"supplier_name\"?: ..}")?;
        if b.public {
            owned_available(state, caller, &image_id)?;
        } else {
            // Withdrawing needs no particular status: a deprecated image may be withdrawn.
            state
                .store
                .vm_image(caller.tenant, &image_id)
                .map_err(internal)?
                .filter(|r| r.owner_alias == "self")
                .ok_or_else(|| not_found(&image_id))?;
        }
        let supplier = match &b.supplier_name {
            Some(s) => {
                text("supplier_name", s, 128)?;
                s.clone()
            }
            None => caller_account(state, caller)?,
        };
        state
            .store
            .set_vm_image_public(caller.tenant, &image_id, b.public, &supplier)
            .map_err(|e| store_error(&image_id, e))?;
        Ok(Reply::ok(shown(state, caller, &image_id)?))
    })
    .await
}

/// SupplierName by default: the publishing tenant's name.
fn caller_account(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    state
        .store
        .tenant_name(caller.tenant)
        .map_err(internal)?
        .ok_or_else(|| internal("the caller's tenant has no row"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceBody {
    instance_id: String,
}

async fn add_instance(
    State(state): State<AppState>,
    UrlPath(image_id): UrlPath<String>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_USAGE, move |state, caller, req| {
        let b: InstanceBody = body(req, "{\"instance_id\": ..}")?;
        ident("instance_id", &b.instance_id)?;
        let row = state
            .store
            .vm_image(caller.tenant, &image_id)
            .map_err(internal)?
            .ok_or_else(|| not_found(&image_id))?;
        if row.status != "Available" {
            return Err(invalid(
                "image_id",
                &format!(
                    "the image is {}; instances run Available images only",
                    row.status
                ),
            ));
        }
        let added = state
            .store
            .add_vm_image_instance(caller.tenant, &image_id, &b.instance_id)
            .map_err(|e| store_error(&image_id, e))?;
        Ok(Reply::created_or_ok(
            added,
            shown(state, caller, &image_id)?,
        ))
    })
    .await
}

async fn remove_instance(
    State(state): State<AppState>,
    UrlPath((image_id, instance_id)): UrlPath<(String, String)>,
    req: NativeRequest,
) -> Response {
    authorized(state, req, ACTION_USAGE, move |state, caller, _| {
        let removed = state
            .store
            .remove_vm_image_instance(caller.tenant, &image_id, &instance_id)
            .map_err(internal)?;
        if !removed {
            return Err(error(
                StatusCode::NOT_FOUND,
                CODE_NOT_FOUND,
                format!("no instance {instance_id:?} of the caller runs {image_id:?}"),
            ));
        }
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        })
    })
    .await
}

/// A `$ref` to the shared response `name` (`NotFound`, `BadRequest`, …).
fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// A required string path parameter.
fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

/// The response of an operation that answers with the image.
fn image_ok(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/VmImage" } } }
    })
}

/// A vm-images operation: `id`, `summary`, the policy `action` it needs (`more` follows it in
/// the description), its parameters, its JSON request body's schema and its own responses
/// (the authorization ones are added).
fn operation(
    id: &str,
    summary: &str,
    action: &str,
    more: &str,
    parameters: Value,
    body: Option<&str>,
    responses: Value,
) -> Value {
    let description = if more.is_empty() {
        format!("Action `{action}`.")
    } else {
        format!("Action `{action}`. {more}")
    };
    let mut op = json!({
        "operationId": id,
        "tags": ["vm-images"],
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "responses": super::openapi::authorized_responses(responses)
    });
    if let Some(schema) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        });
    }
    op
}

fn openapi() -> Value {
    let image = || json!([path_param("image_id")]);
    let (not_found, bad_request) = (response_ref("NotFound"), response_ref("BadRequest"));
    let mut import = operation(
        "importVmImage",
        "Import a disk image (qcow2, vmdk or raw): a file in the server's VM import directory, or uploaded as the body",
        ACTION_IMPORT,
        &format!("A JSON body names a file in the import directory; an `application/octet-stream` body is the disk itself (at most {MAX_UPLOAD_BYTES} bytes; the query names the image; authenticate uploads with X-Auth-Token, since a signature covers the whole body). Answers at once with the image `Creating`; the disk is read in the background, and the image ends `Available` (with inspection's results) or `CreateFailed` (FailureCode and FailureReason say why). At most {MAX_RUNNING_IMPORTS} imports run at once."),
        json!([
            { "name": "name", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Uploads: the image name." },
            { "name": "region_id", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Uploads: the region." },
            { "name": "description", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Uploads: a description." },
            { "name": "image_family", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Uploads: the image family." }
        ]),
        None,
        json!({
            "202": image_ok("The image, `Creating`."),
            "400": bad_request,
            "429": response_ref("TooManyRequests")
        }),
    );
    import["requestBody"] = json!({
        "required": true,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/NewVmImport" } },
            "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } }
        }
    });
    json!({
        "paths": {
            "/api/v1/vm-images": { "post": import },
            "/api/v1/vm-images/{image_id}": {
                "get": operation(
                    "getVmImage",
                    "A VM image the caller can see, with its import's status, progress and remaining time",
                    ACTION_GET,
                    "",
                    image(),
                    None,
                    json!({
                        "200": image_ok("The image as DescribeImages shows it to the caller, with RemainTime, SharedWithAccounts and Instances."),
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/findings": {
                "get": operation(
                    "getVmImageFindings",
                    "What was found in an imported image: its stored inventory matched now against the server's vulnerability database, and the risk analyzers' findings",
                    ACTION_GET,
                    "`not_found` when the image has no stored inventory (its import is still running or failed), `vulndb_missing` when the server has no vulnerability database.",
                    image(),
                    None,
                    json!({
                        "200": {
                            "description": "The findings.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/VmImageFindings" } } }
                        },
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/shares": {
                "post": operation(
                    "shareVmImage",
                    "Share one of the caller's Available images with another account",
                    ACTION_SHARE,
                    "The account then sees the image as ImageOwnerAlias `others` (IsPublic false).",
                    image(),
                    Some("VmImageShare"),
                    json!({
                        "201": image_ok("Shared."),
                        "200": image_ok("It already was."),
                        "400": bad_request,
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/shares/{account_id}": {
                "delete": operation(
                    "unshareVmImage",
                    "Stop sharing one of the caller's images with an account",
                    ACTION_SHARE,
                    "",
                    json!([path_param("image_id"), path_param("account_id")]),
                    None,
                    json!({
                        "204": { "description": "No longer shared." },
                        "400": bad_request,
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/public": {
                "put": operation(
                    "publishVmImage",
                    "Publish one of the caller's Available images as a community image, or withdraw it",
                    ACTION_PUBLISH,
                    "Every account then sees it as ImageOwnerAlias `others` with IsPublic true.",
                    image(),
                    Some("VmImagePublication"),
                    json!({
                        "200": image_ok("The image as it now is."),
                        "400": bad_request,
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/instances": {
                "post": operation(
                    "addVmImageInstance",
                    "Record that one of the caller's instances runs an image (DescribeImages' Usage)",
                    ACTION_USAGE,
                    "Any Available image the caller can see.",
                    image(),
                    Some("VmImageInstance"),
                    json!({
                        "201": image_ok("Recorded; Usage is `instance`."),
                        "200": image_ok("It already was."),
                        "400": bad_request,
                        "404": not_found
                    }),
                )
            },
            "/api/v1/vm-images/{image_id}/instances/{instance_id}": {
                "delete": operation(
                    "removeVmImageInstance",
                    "Forget that one of the caller's instances runs an image",
                    ACTION_USAGE,
                    "",
                    json!([path_param("image_id"), path_param("instance_id")]),
                    None,
                    json!({
                        "204": { "description": "Forgotten." },
                        "404": not_found
                    }),
                )
            }
        },
        "schemas": {
            "NewVmImport": {
                "type": "object",
                "required": ["path", "name", "region_id"],
                "additionalProperties": false,
                "properties": {
                    "path": { "type": "string", "description": "The disk file, relative to the server's VM import directory (or absolute inside it)." },
                    "name": { "type": "string", "minLength": 1, "maxLength": 128 },
                    "region_id": { "type": "string", "description": "The region DescribeImages lists the image in." },
                    "description": { "type": "string", "maxLength": 256 },
                    "image_family": { "type": "string", "maxLength": 128 },
                    "tags": {
                        "type": "object",
                        "maxProperties": MAX_TAGS,
                        "additionalProperties": { "type": "string", "maxLength": 128 },
                        "description": "Tag keys and their values, as DescribeImages' Tag.N filters them."
                    }
                }
            },
            "VmImageShare": {
                "type": "object",
                "required": ["account_id"],
                "additionalProperties": false,
                "properties": { "account_id": { "type": "string", "description": "The other tenant's cloud account id." } }
            },
            "VmImagePublication": {
                "type": "object",
                "required": ["public"],
                "additionalProperties": false,
                "properties": {
                    "public": { "type": "boolean" },
                    "supplier_name": { "type": "string", "description": "SupplierName of the community image; the caller's tenant name by default." }
                }
            },
            "VmImageInstance": {
                "type": "object",
                "required": ["instance_id"],
                "additionalProperties": false,
                "properties": { "instance_id": { "type": "string" } }
            },
            "VmImage": vm_image_schema(),
            "VmImageFindings": findings_schema()
        }
    })
}

/// Vulnerability counts by severity.
fn vuln_counts_schema() -> Value {
    let n = json!({ "type": "integer", "minimum": 0 });
    json!({
        "type": "object",
        "required": ["Critical", "High", "Medium", "Low", "Unknown"],
        "properties": { "Critical": n, "High": n, "Medium": n, "Low": n, "Unknown": n }
    })
}

/// The severity levels of the catalogue (Huawei's `severity_level` scale).
fn level_schema() -> Value {
    json!({ "type": "string", "enum": ["Security", "Low", "Medium", "High"] })
}

/// An imported image's stored scan, as its last match left it.
fn scan_summary_schema() -> Value {
    let n = json!({ "type": "integer", "minimum": 0 });
    json!({
        "type": "object",
        "description": "Imported images with a scan: the counts of the stored inventory's last vulnerability match (every re-match after a database update refreshes them) and of the risk analyzers' findings.",
        "required": ["InventoryDigest", "VulnDbBuild", "VulnerabilityCount", "Vulnerabilities",
                     "BaselineCount", "MaliciousCount", "AlarmCount", "SeverityLevel"],
        "properties": {
            "InventoryDigest": { "type": "string", "pattern": "^sha256:[0-9a-f]{64}$" },
            "VulnDbBuild": { "type": "string", "description": "The database build of the counts; empty until first matched." },
            "VulnerabilityCount": n,
            "Vulnerabilities": vuln_counts_schema(),
            "BaselineCount": n, "MaliciousCount": n, "AlarmCount": n,
            "SeverityLevel": level_schema()
        }
    })
}

/// `GET /api/v1/vm-images/{image_id}/findings`.
fn findings_schema() -> Value {
    let n = json!({ "type": "integer", "minimum": 0 });
    let s = json!({ "type": "string" });
    json!({
        "type": "object",
        "required": ["ImageId", "InventoryDigest", "VulnDbBuild", "PackageCount",
                     "VulnerabilityCount", "VulnerabilityCounts", "Vulnerabilities",
                     "RiskScanners", "BaselineCount", "MaliciousCount", "AlarmCount", "Risks",
                     "SeverityLevel"],
        "properties": {
            "ImageId": s, "InventoryDigest": s, "VulnDbBuild": s, "PackageCount": n,
            "VulnerabilityCount": n, "VulnerabilityCounts": vuln_counts_schema(),
            "Vulnerabilities": { "type": "array", "items": {
                "type": "object",
                "required": ["id", "package_name", "installed_version", "ecosystem", "severity", "location"],
                "properties": {
                    "id": s, "package_name": s, "installed_version": s, "ecosystem": s,
                    "purl": s, "fixed_versions": { "type": "array", "items": s },
                    "severity": s, "location": s
                }
            } },
            "RiskScanners": { "type": "array", "items": { "type": "string", "enum": ["baseline", "secret", "malware"] } },
            "BaselineCount": n, "MaliciousCount": n, "AlarmCount": n,
            "Risks": { "type": "array", "items": {
                "type": "object",
                "required": ["kind", "id", "title", "severity"],
                "properties": { "kind": s, "id": s, "title": s, "severity": s, "path": s }
            } },
            "SeverityLevel": level_schema()
        }
    })
}

/// DescribeImages' Image object (the ECS document's names and types) and the native additions.
fn vm_image_schema() -> Value {
    let s = json!({ "type": "string" });
    let b = json!({ "type": "boolean" });
    let i = json!({ "type": "integer" });
    // Built in parts: one json! literal this size exceeds the macro's recursion limit.
    let mut properties = json!({
        "ImageId": s, "ImageName": s, "ImageFamily": s, "ImageVersion": s, "Description": s,
        "Status": { "type": "string", "enum": ["Creating", "Waiting", "Available", "UnAvailable", "CreateFailed", "Deprecated"] },
        "Progress": { "type": "string", "pattern": "^[0-9]{1,3}%$" },
        "RemainTime": { "type": "integer", "minimum": 0, "description": "Seconds the import still needs, estimated from its pace." },
        "CreationTime": s,
        "ImageOwnerAlias": { "type": "string", "enum": ["system", "self", "others", "marketplace"] },
        "ImageOwnerId": i, "IsPublic": b, "IsCopied": b, "IsSubscribed": b,
        "IsSelfShared": s, "IsSupportIoOptimized": b, "IsSupportCloudinit": b,
        "LoginAsNonRootSupported": b,
        "Usage": { "type": "string", "enum": ["instance", "none"] }
    });
    let more = json!({
        "OSType": s, "OSName": s, "OSNameEn": s, "Platform": s, "Architecture": s, "BootMode": s,
        "Size": i, "ProductCode": s, "SupplierName": s, "ResourceGroupId": s,
        "DiskDeviceMappings": {
            "type": "object",
            "required": ["DiskDeviceMapping"],
            "properties": { "DiskDeviceMapping": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "Type": s, "Device": s, "Size": s, "SnapshotId": s, "Format": s,
                    "ImportOSSBucket": s, "ImportOSSObject": s, "Progress": s, "RemainTime": i
                }
            } } }
        },
        "Tags": { "type": "object", "properties": { "Tag": { "type": "array", "items": {
            "type": "object", "properties": { "TagKey": s, "TagValue": s }
        } } } }
    });
    let native = json!({
        "DetectionOptions": {
            "type": "object",
            "required": ["Status", "Items"],
            "properties": {
                "Status": s,
                "Items": { "type": "object", "properties": { "Item": { "type": "array", "items": {
                    "type": "object",
                    "required": ["Name", "Value"],
                    "properties": { "Name": s, "Value": s, "RiskLevel": s, "RiskCode": s }
                } } } }
            }
        },
        "Features": { "type": "object", "properties": { "NvmeSupport": s } },
        "SharedWithAccounts": { "type": "array", "items": s, "description": "Accounts the image is shared with; listed to its owner only." },
        "Instances": { "type": "array", "items": s, "description": "The caller's instances that run the image." },
        "PackageCount": { "type": "integer", "minimum": 0, "description": "Packages the catalogers found on the root filesystem (imported images)." },
        "ScanSummary": scan_summary_schema(),
        "FailureCode": { "type": "string", "description": "Why the import failed (CreateFailed only): a stable code." },
        "FailureReason": { "type": "string", "description": "Why the import failed, for people." }
    });
    if let Some(all) = properties.as_object_mut() {
        for part in [more, native] {
            if let Value::Object(m) = part {
                all.extend(m);
            }
        }
    }
    json!({
        "type": "object",
        "required": ["ImageId", "ImageName", "Status", "Progress", "RemainTime", "ImageOwnerAlias",
                     "IsPublic", "Usage", "DiskDeviceMappings", "DetectionOptions", "Features",
                     "SharedWithAccounts", "Instances", "PackageCount"],
        "properties": properties
    })
}
