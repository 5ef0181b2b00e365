//! Crowsnest's inventory store: what the API serves and the scanner fills.
//!
//! # Code map
//! - [`sql`]: the thin query layer. SQL text is written once with `$1` placeholders and
//!   engine-neutral types (BIGINT times in milliseconds, BIGINT 0/1 booleans, TEXT); each engine
//!   binds [`Value`]s and returns [`Row`]s.
//! - `migrations/*.sql` (applied by [`Store::open`]): the schema, one text for every engine.
//! - [`tenants`]: tenants, Huawei project ids, AccessKeys with their policy actions (listed and
//!   revoked per tenant for the native API), tokens and
//!   the replay-protection nonces.
//! - [`inventory`]: registries, repositories, images by digest (stored once, shared by every
//!   tenant that has them), multi-arch children, tags (the "image instances" of the cloud APIs)
//!   and the latest scan of each digest.
//! - [`registries`]: registries Crowsnest synchronises itself: URL, sealed credentials,
//!   namespace filters, TLS options, the latest sync, and the sync's edits (tags that moved or
//!   disappeared, `latest_version`).
//! - [`filter`]: a small, closed filter language over placement fields that compiles to SQL;
//!   the API layer translates each cloud's query parameters into it.
//! - [`hosts`]: hosts, the images in their local stores (Huawei ListLocalImages), containers,
//!   pods, and the applications identified in an image digest.
//! - [`vm_images`]: VM images (ECS DescribeImages): platform images seen by all, custom images
//!   of one tenant, shared or published to others; [`vm_import`] records an import's progress
//!   and outcome, [`vm_sharing`] sharing, community publishing and the instances that use an
//!   image (Usage).
//! - [`agents`]: host agents: registration with a per-agent AccessKey, revocation,
//!   heartbeats, and the report ids that make a resent report count once.
//! - [`batch`]: several of the store's writes in one transaction ([`Store::batch`]), so an
//!   agent's report is applied whole, in one turn of SQLite's single writer.
//! - [`tasks`]: scan tasks created through the API.
//! - [`scan_jobs`]: the per-image jobs of a task, claimed by workers under leases, each
//!   counted once in its task when it ends.
//! - [`scans`]: the stored inventory of each scanned digest and its latest match, so a
//!   vulnerability database update re-matches images without reading them again.
//! - [`overview`]: tenant-wide aggregates for the web console's overview (placements per
//!   severity and scan state, the most vulnerable, findings per day).
//! - [`seed`]: a synthetic inventory for benchmarks and `crowsnest dev seed`.
//!
//! # Why rusqlite and a thin layer rather than sqlx
//! rusqlite is already the workspace's SQLite binding (the vulnerability database and the
//! catalogers use it), and Cargo allows only one `libsqlite3-sys` per workspace, so sqlx's SQLite
//! driver would fight it. The queries here are few and hand-written; a 200-line layer that
//! rewrites `$N` for SQLite keeps one SQL text for both engines without compile-time macros.
//!
//! # Two engines, one schema
//! [`Store::open`] takes a SQLite path (the default, a file in the data directory) or a
//! `postgres://` URL. Both run the same migration texts and the same query texts; the engines
//! differ only inside [`sql`] (placeholder syntax, the `ID_PK` column type, value conversion,
//! pooling). `tests/store.rs` runs every test on both.
//!
//! # Not yet here
//! Scan history beyond the latest scan; registry/agent management beyond upserts.
//!
//! # Invariants
//! Every query that returns tenant data takes the [`TenantId`] and filters on it in SQL; there
//! is no method that lists rows across tenants.

pub mod agents;
pub mod batch;
pub mod filter;
pub mod hosts;
pub mod inventory;
mod list_cache;
mod nonce_claims;
pub mod overview;
pub mod registries;
pub mod scan_jobs;
pub mod scans;
pub mod seed;
pub mod sql;
pub mod tasks;
pub mod tenants;
pub mod vm_images;
pub mod vm_import;
pub mod vm_sharing;

use std::path::{Path, PathBuf};

pub use agents::{AgentRecord, NewAgent};
pub use batch::{Batch, PreparedInventory};
pub use filter::{Field, Filter};
pub use hosts::{
    ImageApp, LocalImagePage, LocalImageQuery, LocalImageRow, NewContainer, NewHost, NewLocalImage,
    NewPod,
};
pub use inventory::{
    ImageChild, NewImage, NewRegistry, NewRepository, NewTag, PlacementOrder, PlacementPage,
    PlacementQuery, PlacementRow, ScanRecord, ScanState,
};
pub use nonce_claims::{NonceClaim, NonceVerdict, PendingClaim};
pub use overview::{Overview, TrendDay, VulnerablePlacement};
pub use registries::{
    NewRegistryConnection, RegistryConnection, SyncEnd, SyncedTag, UnscannedImage,
};
pub use scan_jobs::{
    ClaimPolicy, ClaimedJob, JobEnd, JobEndRecorded, JobLease, JobMode, JobState, ScanJob,
    TaskCreation,
};
pub use scans::{MatchRecorded, StoredInventory, StoredRisks, VulnCounts};
pub use seed::{SeedPlan, SeedReport};
pub use sql::{EngineKind, Row, Value};
pub use tasks::{NewScanTask, ScanTask};
pub use tenants::{ApiKey, ApiKeySummary, NewTenant, TenantId};
pub use vm_images::{
    NewVmImage, OwnerAlias, VmImageCheck, VmImageDisk, VmImagePage, VmImageQuery, VmImageRow,
    VmImageScan, VmImageSource,
};
pub use vm_import::{vm_inventory_digest, NewVmImport, VmImportResult};
pub use vm_sharing::VmImageAudience;

use sql::{PgPool, Pool, SqlitePool, Tx};

/// Why a store operation failed. The API maps all of these to an internal error; none of them
/// is caused by a client's input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite engine reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server or client reported an error (including a malformed URL).
    #[error("postgres: {}", postgres_detail(.0))]
    Postgres(#[from] postgres::Error),
    /// No pooled PostgreSQL connection became free in time.
    #[error("postgres pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// No pooled SQLite connection became free in time.
    #[error("sqlite pool: {0}")]
    Busy(String),
    /// A write batched with other callers' (signature nonces) failed; the text is the error
    /// the batch met.
    #[error("batched write: {0}")]
    Batch(String),
    /// A value could not be bound to a statement parameter (a bug in a query, not bad input).
    #[error("binding a parameter: {0}")]
    Bind(String),
    /// The data directory or database file could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path being created.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row did not have the shape the schema promises.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The database location names an engine this build does not support yet.
    #[error("unsupported database location {0:?}")]
    Unsupported(String),
    /// A referenced row (tenant, registry, repository, image) does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
}

impl StoreError {
    /// Whether the error is a unique-constraint violation (a duplicate name, uid or key), on
    /// either engine; callers map it to their "already exists" answer.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            StoreError::Postgres(e) => {
                e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    /// Whether PostgreSQL rolled the transaction back because it conflicted with another one
    /// (a deadlock or a serialization failure); writing it again may succeed.
    pub fn is_transaction_conflict(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            StoreError::Postgres(e) => matches!(
                e.code(),
                Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
            ),
            _ => false,
        }
    }
}

/// The text of a PostgreSQL error. The client's own `Display` says only "db error" for
/// everything the server refused; the server's SQLSTATE and message are what an operator needs.
fn postgres_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// How many connections a PostgreSQL store opens at most when [`Store::open`] is given a URL.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

/// The file name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "crowsnest.db";

/// The key of the PostgreSQL advisory lock held while migrating ("crowsnes" in ASCII).
const MIGRATION_LOCK: i64 = 0x63726f77736e6573;

/// The migrations, in order. Their index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_inventory.sql"),
    include_str!("../migrations/0002_assets.sql"),
    include_str!("../migrations/0003_list_indexes.sql"),
    include_str!("../migrations/0004_placement_scan_summary.sql"),
    include_str!("../migrations/0005_registry_connections.sql"),
    include_str!("../migrations/0006_stored_inventories.sql"),
    include_str!("../migrations/0007_stored_risks.sql"),
    include_str!("../migrations/0008_scan_jobs.sql"),
    include_str!("../migrations/0009_vm_image_instances.sql"),
    include_str!("../migrations/0010_list_generation.sql"),
    include_str!("../migrations/0011_agents.sql"),
    include_str!("../migrations/0012_registry_schedules.sql"),
    include_str!("../migrations/0013_critical_findings.sql"),
    include_str!("../migrations/0014_vm_image_inventories.sql"),
    include_str!("../migrations/0015_nonces_by_expiry.sql"),
];

/// A handle on the store; cheap to clone, safe to share between threads. Every method blocks,
/// so async callers run them on a blocking thread.
#[derive(Clone)]
pub struct Store {
    db: Pool,
    /// Totals and page positions of list queries (see `list_cache`).
    lists: std::sync::Arc<list_cache::ListCache>,
    /// Signature nonces waiting to be written together (see `nonce_claims`).
    nonces: std::sync::Arc<nonce_claims::NonceClaims>,
}

impl Store {
    /// Opens the store at `location`: a `postgres://` (or `postgresql://`) URL names a
    /// PostgreSQL database, opened with [`DEFAULT_POSTGRES_CONNECTIONS`]; a `sqlite:` URL or a
    /// plain path names a SQLite file (created if missing). Any other `scheme://` is
    /// [`StoreError::Unsupported`]. Migrations are applied before this returns.
    pub fn open(location: &str) -> Result<Store, StoreError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            return Store::open_postgres(location, DEFAULT_POSTGRES_CONNECTIONS);
        }
        let path = location
            .strip_prefix("sqlite://")
            .or_else(|| location.strip_prefix("sqlite:"))
            .unwrap_or(location);
        if path.contains("://") {
            return Err(StoreError::Unsupported(redact_url(location)));
        }
        Store::open_sqlite(Path::new(path))
    }

    /// Opens a PostgreSQL database from a libpq-style URL
    /// (`postgres://user:password@host:port/db`, parameters such as `connect_timeout` and
    /// `options=-csearch_path%3Dschema` allowed) with at most `max_connections` pooled
    /// connections, and applies migrations. The database must exist; the tables are created in
    /// the first schema of the search path. Connections are not encrypted (`sslmode=require`
    /// fails): run the server on localhost or a private network.
    pub fn open_postgres(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store {
            db: Pool::Postgres(PgPool::open(url, max_connections)?),
            lists: Default::default(),
            nonces: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens (creating it and the data directory on first start) `<data_dir>/crowsnest.db`.
    pub fn open_data_dir(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        Store::open_sqlite(&data_dir.join(SQLITE_FILE))
    }

    /// Opens a SQLite file, creating it if missing, and applies migrations.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let store = Store {
            db: Pool::Sqlite(SqlitePool::open(path)?),
            lists: Default::default(),
            nonces: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> EngineKind {
        self.db.kind()
    }

    /// The schema version after migrations.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.db.read(|tx| {
            tx.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .int(0)
        })
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let kind = self.db.kind();
        self.db.transaction(|tx| {
            if kind == EngineKind::Postgres {
                // Two servers starting at once on one database take turns; the second sees the
                // first one's migrations. (SQLite's IMMEDIATE transaction already serialises.)
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[MIGRATION_LOCK.into()])?;
            }
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (\
                 version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )?;
            let current = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    &[],
                )?
                .int(0)?;
            for (index, text) in MIGRATIONS.iter().enumerate() {
                let version = index as i64 + 1;
                if version <= current {
                    continue;
                }
                tracing::info!(version, "applying store migration");
                tx.execute_batch(&text.replace("ID_PK", kind.id_primary_key()))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                    &[version.into(), now_ms().into()],
                )?;
            }
            Ok(())
        })
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.transaction(f)
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.read(f)
    }
}

/// Milliseconds since the Unix epoch, the store's only time unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Hides the password of a database URL before it reaches an error message or a log.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x"),
            "postgres://***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    }
}
