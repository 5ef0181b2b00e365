//! Crowsnest's HTTP API: the seed operations of Alibaba Cloud and Huawei Cloud, wire-compatible
//! with their official SDKs, over the inventory store.
//!
//! # Code map
//! - [`router`] builds the whole server as an axum [`Router`]; [`serve`] binds it to an address.
//! - [`alibaba`]: the RPC endpoint (`/?Action=…&Version=…`, GET or POST form). It decodes the
//!   parameters, finds the operation, authenticates ([`auth::alibaba`]), checks the RAM action,
//!   and runs the operation: [`alibaba::sas`] (DescribeImageInstances, DescribeImageCriteria),
//!   [`alibaba::scan_task`] (PublicPreCheckImageScanTask, PublicCreateImageScanTask) and
//!   [`alibaba::ecs`] (DescribeImages).
//! - [`huawei`]: the REST routes under `/v5/{project_id}/image/…`, authenticated by
//!   [`auth::huawei`] and scoped to the tenant owning the project.
//! - [`native`]: the admin API under `/api/v1/` (health, the OpenAPI document, keys, the
//!   vulnerability database's status, VM image imports and sharing, through a
//!   [`native::vm_images::VmImporter`] the binary provides, host agents), one file per resource, listed in
//!   [`native::RESOURCES`].
//! - [`keys`]: creating AccessKeys and tokens (what `crowsnest keys` calls).
//! - [`error`]: the one error type, rendered in each cloud's envelope.
//! - [`form`]: url-encoded pairs and the RFC 3986 encoding the signatures use.
//!
//! # Invariants
//! Handlers are thin: parse and validate, call the store, map to the cloud's envelope. Every
//! store call passes the authenticated caller's tenant, so no response holds another tenant's
//! rows. Bad input is a 4xx in the cloud's envelope, never a 500.

pub mod alibaba;
pub mod auth;
pub mod error;
pub mod form;
pub mod huawei;
pub mod keys;
pub mod native;
mod reply;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use crowsnest_store::Store;

pub use auth::{AuthSettings, Caller, Clock};
pub use error::{ApiError, Dialect};

/// Limits on scan tasks created through the API.
#[derive(Clone, Debug)]
pub struct ScanQuota {
    /// How many unfinished tasks a tenant may have at once. Default 10, as the
    /// PublicCreateImageScanTask document states.
    pub max_unfinished_tasks: i64,
    /// How many distinct images one task may cover (the "authorizations" a task consumes).
    /// Default 10,000.
    pub max_images_per_task: i64,
}

impl Default for ScanQuota {
    fn default() -> Self {
        ScanQuota {
            max_unfinished_tasks: 10,
            max_images_per_task: 10_000,
        }
    }
}

/// Server settings beyond the store.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Signature checking.
    pub auth: AuthSettings,
    /// Scan-task limits.
    pub scan_quota: ScanQuota,
    /// The vulnerability database file whose status `/api/v1/database/status` reports; None
    /// when the server has none configured.
    pub vulndb: Option<PathBuf>,
    /// The directory VM disk images are imported from (`POST /api/v1/vm-images` names a file
    /// inside it); None disables imports by path.
    pub vm_import_dir: Option<PathBuf>,
    /// Where disk images uploaded to `POST /api/v1/vm-images` are kept (one directory per
    /// tenant); None disables uploads.
    pub vm_upload_dir: Option<PathBuf>,
    /// Host agents' timing.
    pub agents: AgentSettings,
    /// The key that seals registry passwords (`registry.key` in the data directory); without
    /// it the registries endpoints cannot store a password or sync one that has.
    pub registry_key: Option<Arc<crowsnest_registry::ServerKey>>,
}

/// How the server judges host agents.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// The heartbeat interval the server asks agents for, ms. Default 30 s.
    pub heartbeat_interval_ms: i64,
    /// An agent with no heartbeat or report for this long is offline, ms. Default 90 s (three
    /// missed heartbeats).
    pub offline_after_ms: i64,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            heartbeat_interval_ms: 30_000,
            offline_after_ms: 90_000,
        }
    }
}

/// What every handler shares: the store, the settings, and what the binary plugs in.
#[derive(Clone)]
pub struct AppState {
    /// The inventory store.
    pub store: Store,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Reads VM disk images for imports; None when the server cannot (imports are refused).
    pub vm_importer: Option<Arc<dyn native::vm_images::VmImporter>>,
    /// VM imports running now (bounded by [`native::vm_images::MAX_RUNNING_IMPORTS`]).
    pub(crate) running_imports: Arc<AtomicUsize>,
    /// Answers rendered from pages the store shares from its cache (see `reply`).
    pub(crate) rendered: Arc<reply::RenderedPages>,
}

impl AppState {
    /// State over `store` with default settings.
    pub fn new(store: Store) -> AppState {
        AppState::with_settings(store, Settings::default())
    }

    /// State over `store` with `settings`.
    pub fn with_settings(store: Store, settings: Settings) -> AppState {
        AppState {
            store,
            settings: Arc::new(settings),
            vm_importer: None,
            running_imports: Arc::new(AtomicUsize::new(0)),
            rendered: Arc::default(),
        }
    }

    /// The same state with `importer` reading VM disk images for imports.
    pub fn with_vm_importer(
        mut self,
        importer: Arc<dyn native::vm_images::VmImporter>,
    ) -> AppState {
        self.vm_importer = Some(importer);
        self
    }
}

/// Routes the binary serves beside the API over the same state (the web console): a function
/// from the state to a router with no fallback of its own, merged before the API's.
pub type Mount = fn(AppState) -> Router;

/// The whole HTTP API as a router.
pub fn router(state: AppState) -> Router {
    router_with(state, &[])
}

/// The API with `mounts` merged in: their routes answer beside the API's, and anything neither
/// knows gets the API's not-found envelope.
pub fn router_with(state: AppState, mounts: &[Mount]) -> Router {
    let extra = mounts.iter().fold(Router::new(), |router, mount| {
        router.merge(mount(state.clone()))
    });
    Router::new()
        .route("/", get(alibaba::rpc).post(alibaba::rpc))
        .route(
            "/v5/{project_id}/image/registries/images",
            get(huawei::list_registry_images),
        )
        .route(
            "/v5/{project_id}/image/local-repositories",
            get(huawei::list_local_images),
        )
        .merge(native::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .merge(extra)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let dialect = if uri.path().starts_with("/v5/") {
        Dialect::Huawei
    } else {
        Dialect::Native
    };
    let code = match dialect {
        Dialect::Huawei => huawei::CODE_INVALID_PARAMETER,
        _ => native::CODE_METHOD_NOT_ALLOWED,
    };
    ApiError::new(
        dialect,
        StatusCode::METHOD_NOT_ALLOWED,
        code,
        format!("{} does not answer {method}", uri.path()),
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    if uri.path().starts_with("/v5/") {
        ApiError::new(
            Dialect::Huawei,
            StatusCode::NOT_FOUND,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment.",
        )
    } else {
        ApiError::new(
            Dialect::Native,
            StatusCode::NOT_FOUND,
            native::CODE_NOT_FOUND,
            format!("no route for {}", uri.path()),
        )
    }
}

/// How [`serve`] runs.
pub struct ServeOptions {
    /// The address to listen on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// The store, already opened and migrated.
    pub store: Store,
    /// Settings.
    pub settings: Settings,
    /// Reads VM disk images for imports through the API (None: imports are refused).
    pub vm_importer: Option<Arc<dyn native::vm_images::VmImporter>>,
    /// Routes served beside the API (the web console).
    pub mounts: Vec<Mount>,
    /// Called with the bound address once the server accepts connections, before the first
    /// one is served: an announcement printed any earlier let clients that wait for it
    /// connect too soon (a test did, and was refused).
    pub on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
}

/// Binds `opts.addr` and serves until `shutdown` completes.
pub async fn serve(
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| ApiError::startup(format!("cannot listen on {}: {e}", opts.addr)))?;
    if let Some(announce) = opts.on_listening {
        announce(listener.local_addr().unwrap_or(opts.addr));
    }
    let mut state = AppState::with_settings(opts.store, opts.settings);
    state.vm_importer = opts.vm_importer;
    serve_router_until(listener, router_with(state, &opts.mounts), shutdown).await
}

/// Serves on an already bound listener (tests bind `127.0.0.1:0` and read the port first).
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> Result<(), ApiError> {
    serve_until(listener, state, std::future::pending()).await
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight and
/// returns. The store is dropped here, on the async runtime; the store makes that safe for
/// PostgreSQL too (its synchronous clients are closed on a thread of their own).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    serve_router_until(listener, router(state), shutdown).await
}

/// Serves `app` (the API, possibly with mounts) on `listener` until `shutdown` completes.
pub async fn serve_router_until(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "crowsnest API listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ApiError::startup(format!("server stopped: {e}")))
}

/// Runs a blocking store call off the async runtime; a panicked or cancelled task is an
/// internal error in `dialect`'s envelope.
pub(crate) async fn blocking<T: Send + 'static>(
    dialect: Dialect,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(dialect, e))?
}
