//! Catalogers: each finds the installed packages of one ecosystem in an image's filesystem.
//!
//! The scan engine streams every layer once. While it does, it asks each cataloger (through
//! [`Cataloger::wants`]) which files it needs, and keeps only those. After the layers are
//! merged it hands each wanted file to [`Cataloger::catalog`] together with a
//! [`CatalogContext`] for reading neighbours. A cataloger never sees image bytes it did not ask
//! for, never touches the host filesystem, and reports a corrupt file as an error for that file
//! only: the engine records it as a diagnostic and goes on.
//!
//! The registry is the explicit list in [`all`]; OS detection lives in [`os_release`].

use crowsnest_model::{Distro, FileMeta, ImageFs, ImagePath, Package, ReadSeek};

pub mod language;
pub mod os;
pub mod os_release;

/// One wanted file, handed to [`Cataloger::catalog`].
pub struct FileInput<'a> {
    /// Where the file is in the image.
    pub path: &'a ImagePath,
    /// Its metadata.
    pub meta: &'a FileMeta,
    /// Its content, seekable.
    pub reader: &'a mut dyn ReadSeek,
}

/// What a cataloger may know besides the file itself.
pub struct CatalogContext<'a> {
    /// The merged filesystem, for reading neighbouring files the cataloger also asked for.
    pub fs: &'a dyn ImageFs,
    /// The detected operating system, if any.
    pub distro: Option<&'a Distro>,
    /// Largest file a cataloger may read whole into memory, in bytes. Larger inputs are
    /// streamed or refused with [`CatalogError::TooLarge`].
    pub max_in_memory: u64,
}

/// Why one file could not be cataloged. The scan goes on; the engine reports it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file is not in the format the cataloger expects.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What was wrong, for a person.
        reason: String,
    },
    /// The file is larger than the cataloger will read.
    #[error("{path}: {size} bytes is more than the limit of {limit}")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading the captured content failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CatalogError {
    /// Shorthand for [`CatalogError::Malformed`].
    pub fn malformed(path: &ImagePath, reason: impl Into<String>) -> Self {
        CatalogError::Malformed {
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CatalogError::Io`].
    pub fn io(path: &ImagePath, source: std::io::Error) -> Self {
        CatalogError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// Finds packages of one ecosystem.
///
/// Implementations are pure functions of their input files: the same bytes give the same
/// packages. Bump [`Cataloger::version`] whenever the output for some input changes, because
/// cached per-layer results are keyed by it.
pub trait Cataloger: Send + Sync {
    /// Stable id such as `os/dpkg` or `language/python`; reported as `Package::found_by`.
    fn name(&self) -> &'static str;

    /// Output version of this cataloger.
    fn version(&self) -> u32;

    /// Whether the engine should keep this file while streaming layers. Decided from path and
    /// metadata only, because content is not yet read; keep it cheap, it runs for every entry.
    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool;

    /// Reads one wanted file. `purl`, `layer` and `found_by` are filled in by the engine.
    fn catalog(
        &self,
        file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError>;
}

/// Every cataloger, grouped by ecosystem. This list is the registry: a cataloger not named here
/// does not run.
pub fn all() -> Vec<Box<dyn Cataloger>> {
    let mut all = os::catalogers();
    all.extend(language::catalogers());
    all
}
