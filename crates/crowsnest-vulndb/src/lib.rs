//! The vulnerability database: OSV import and update, the on-disk index, and the matcher.
//!
//! - [`osv`]: the OSV schema, validated while deserialising.
//! - [`import`]: records from a directory, a record file or an osv.dev `all.zip`.
//! - [`update`]: per-ecosystem downloads with resume, checksums and conditional requests.
//! - [`store`]: the SQLite index, read-only for scans and replaced atomically by writers.
//! - [`matcher`]: packages in, [`crowsnest_model::Finding`]s out, aliases merged.
//! - [`cvss`]: CVSS vectors and base scores; [`range`]: OSV range evaluation;
//!   [`ecosystem`]: OSV ecosystem names and how packages map onto them.
//! - [`rematch`]: stored inventories matched again after an update, many at a time.

pub mod cvss;
pub mod ecosystem;
mod error;
pub mod import;
pub mod matcher;
pub mod osv;
pub mod range;
pub mod rematch;
pub mod store;
pub mod update;

pub use error::VulnDbError;
pub use import::{import_path, ImportSummary, RecordFailure};
pub use matcher::{match_inventory, match_packages};
pub use rematch::{
    match_in_parallel, rematch, RematchSummary, StoreFailure, StoredInventories, DEFAULT_BATCH,
};
pub use store::{status, DbStatus, SourceStatus, VulnDb};
pub use update::{update, EcosystemUpdate, Progress, UpdateSummary, DEFAULT_BASE_URL};

impl VulnDb {
    /// Imports `source` into the database at `db_path`; see [`import::import_path`].
    pub fn import_path(
        db_path: &std::path::Path,
        source: &std::path::Path,
    ) -> Result<ImportSummary, VulnDbError> {
        import::import_path(db_path, source)
    }
}
