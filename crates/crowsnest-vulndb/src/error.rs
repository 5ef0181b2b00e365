//! The crate's error type, each variant with a stable code.

use std::path::PathBuf;

use crowsnest_model::ErrorCode;

/// Everything that can go wrong opening, building or updating the database.
#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    /// The database file does not exist.
    #[error("no vulnerability database at {0} (run `crowsnest db update` or `db import`)")]
    Missing(PathBuf),
    /// SQLite failed.
    #[error("vulnerability database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a database this version understands.
    #[error(
        "{path} is not a Crowsnest vulnerability database (schema {found:?}, expected {expected})"
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema version found, if any.
        found: Option<String>,
        /// The schema version this build writes.
        expected: u32,
    },
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An archive is corrupt (bad structure or CRC); nothing from it was kept.
    #[error("corrupt archive {path}: {reason}")]
    CorruptArchive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A download failed or its content did not verify.
    #[error("download of {url} failed: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A downloaded file's checksum does not match what the server announced.
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        /// The URL.
        url: String,
        /// The announced checksum.
        expected: String,
        /// The computed checksum.
        actual: String,
    },
    /// A single record file given to import does not parse as an OSV record; nothing was
    /// written. (Within a directory or an archive, such records are counted and listed in the
    /// import summary instead, and the rest is imported.)
    #[error("invalid OSV record {path}: {reason}")]
    InvalidRecord {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The import path is neither a directory, a zip nor a record file.
    #[error("{0} is not a directory, a zip archive or an OSV record file")]
    UnsupportedSource(PathBuf),
    /// The store of inventories being re-matched failed (or a matching thread died).
    #[error("re-matching stored inventories: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
}

impl VulnDbError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            VulnDbError::Missing(_) => ErrorCode::NotFound,
            VulnDbError::UnsupportedSource(_) => ErrorCode::NotFound,
            VulnDbError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            VulnDbError::Download { .. } | VulnDbError::Io { .. } => ErrorCode::DownloadFailed,
            VulnDbError::Checksum { .. } => ErrorCode::DigestMismatch,
            // The closest existing code: a database file that could not be parsed.
            VulnDbError::CorruptArchive { .. }
            | VulnDbError::InvalidRecord { .. }
            | VulnDbError::Schema { .. } => ErrorCode::CatalogFailed,
            VulnDbError::Sqlite { .. } | VulnDbError::Store(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn sqlite(path: &std::path::Path) -> impl FnOnce(rusqlite::Error) -> Self + '_ {
        move |source| VulnDbError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| VulnDbError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
