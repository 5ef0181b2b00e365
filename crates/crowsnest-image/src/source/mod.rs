//! Image sources: what the user named, opened as layers.
//!
//! A source yields descriptors for its layers (base first) and opens each as a decompressed tar
//! stream. The stream hashes the bytes as they pass (the compressed blob against its descriptor
//! digest, the uncompressed tar against the config's diff id) and fails with
//! [`ImageError::DigestMismatch`] at end of stream when either differs; it also counts
//! uncompressed bytes against [`crate::Limits::max_unpacked_bytes`].
//!
//! A registry image comes through [`open_remote`] and a [`RemoteFetcher`] that another crate
//! implements over HTTP; everything after the fetch (classification, digests, layer streams) is
//! shared with the file sources.
//!
//! What is opened is decided by content, never by file name: a directory holding `oci-layout` is
//! an OCI image layout; a file is sniffed (gzip or zstd outer compression is undone into a private
//! temporary file first) and read as a tar, which is an `oci-archive` when it holds `oci-layout`
//! or `index.json`, and a `docker save` archive when it holds `manifest.json`. Archives are never
//! extracted: one pass over the tar headers records where each member's bytes lie, and blobs are
//! read from those offsets.
//!
//! # Errors inside layer streams
//! [`ImageSource::open_layer`] returns a [`Read`], so failures met while streaming (a digest
//! mismatch, the unpack budget, corrupt compression) arrive as [`std::io::Error`]s that wrap an
//! [`ImageError`]. Recover it with [`image_error_from_io`] (by reference, also through the
//! `tar` crate's own error wrapping) or [`into_image_error`] (by value).

mod blob_store;
mod compression;
mod content_hash;
mod docker_archive;
mod image_config;
mod layer_stream;
mod oci;
mod remote;
mod stored_image;
pub(crate) mod tar_end;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crowsnest_model::{Digest, ImageConfigSummary, SourceInfo};

use crate::{ImageError, Limits};

pub use layer_stream::LAYER_BUFFER_BYTES;
pub use remote::{
    document_digest, open_remote, FetchedDocument, IndexEntry, RemoteDocument, RemoteFetcher,
};

/// One layer as the manifest and config describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// Digest of the stored blob.
    pub digest: Digest,
    /// The config's diff id for this layer (digest of the uncompressed tar), when known.
    pub diff_id: Option<Digest>,
    /// Stored size in bytes.
    pub size: u64,
    /// Media type of the blob as the manifest names it.
    pub media_type: String,
    /// The matching history entry's `created_by`.
    pub created_by: Option<String>,
}

/// An opened image: its identity, config and layers.
pub trait ImageSource: Send {
    /// Where the image came from and what it is.
    fn info(&self) -> &SourceInfo;

    /// The parts of the image config Crowsnest uses.
    fn config(&self) -> Option<&ImageConfigSummary>;

    /// The layers, base first.
    fn layers(&self) -> &[LayerDescriptor];

    /// Opens layer `index` as an uncompressed tar stream. The stream verifies digests and the
    /// unpacked-size budget as it is read; read it to the end (the tar's trailing padding too) or
    /// the digests are not checked. `budget` is shared across the layers of one image.
    ///
    /// The streams this module returns also finish on their own: when the tar's end-of-archive
    /// block passes through them they drain and verify the rest of the blob before handing that
    /// block over, so a `tar::Archive` that stops reading at the end marker still sees a digest
    /// mismatch as an error. Bytes after the end marker are hashed and counted but not returned.
    fn open_layer(
        &self,
        index: usize,
        budget: &UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError>;
}

/// The uncompressed-bytes budget of one image, shared by all its layer streams.
///
/// Clones share one counter, so a stream can keep its own handle on the budget while the caller
/// keeps another.
#[derive(Clone, Debug)]
pub struct UnpackBudget {
    limit: u64,
    used: Arc<AtomicU64>,
}

impl UnpackBudget {
    /// A budget of `limits.max_unpacked_bytes`.
    pub fn new(limits: &Limits) -> Self {
        UnpackBudget {
            limit: limits.max_unpacked_bytes,
            used: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records `n` more bytes; errors once the total passes the limit.
    pub fn spend(&self, n: u64) -> Result<(), ImageError> {
        let used = self.used.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if used > self.limit {
            return Err(ImageError::Oversized(format!(
                "image unpacks to more than {} bytes (max_unpacked_bytes)",
                self.limit
            )));
        }
        Ok(())
    }

    /// Bytes spent so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// An operating system and CPU architecture, as OCI image indexes name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// `os` (`linux`).
    pub os: String,
    /// `architecture` (`amd64`, `arm64`).
    pub architecture: String,
    /// `variant` (`v8`); `None` accepts any variant.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let mut parts = text.split('/');
        let os = parts.next().unwrap_or_default();
        let architecture = parts.next().unwrap_or_default();
        let variant = parts.next();
        if os.is_empty() || architecture.is_empty() || parts.next().is_some() {
            return Err(ImageError::Invalid(format!(
                "platform {text:?} is not os/architecture[/variant]"
            )));
        }
        Ok(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_owned),
        })
    }

    /// True when an index entry for `os`/`architecture`/`variant` runs on this platform.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && match (&self.variant, variant) {
                (None, _) => true,
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
            }
    }
}

impl Default for Platform {
    /// `linux/amd64`, any variant.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How [`open_source_with`] chooses among what a source holds.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// The platform picked from a multi-platform image index. Default `linux/amd64`. A manifest
    /// named directly (a layout or archive holding one image without platform entries) is used
    /// whatever its config says; [`SourceInfo`] reports the config's platform.
    pub platform: Platform,
}

/// Opens `reference`: a path, optionally followed by `:tag` to pick one image of an archive or
/// layout that holds several. Detects OCI layout directories, oci-archive tars and docker-archive
/// tars (plain, gzip or zstd compressed) by content, not by file name. Multi-platform indexes
/// resolve to `linux/amd64`; use [`open_source_with`] to choose another platform.
pub fn open_source(reference: &str, limits: &Limits) -> Result<Box<dyn ImageSource>, ImageError> {
    open_source_with(reference, limits, &SourceOptions::default())
}

/// [`open_source`] with explicit [`SourceOptions`].
///
/// A `:` in `reference` is ambiguous (paths may contain one, tags like `alpine:3.10` do). The
/// whole reference is tried as a path first; otherwise it is split at a `:` whose left side is an
/// existing path, the rightmost such `:` first, and the right side is the tag.
pub fn open_source_with(
    reference: &str,
    limits: &Limits,
    options: &SourceOptions,
) -> Result<Box<dyn ImageSource>, ImageError> {
    let (path, tag) = split_reference(reference)?;
    let span = tracing::info_span!("open_source", reference, tag = tag.as_deref());
    let _entered = span.enter();
    let request = stored_image::Request {
        reference,
        tag: tag.as_deref(),
        limits,
        options,
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| ImageError::io(format!("reading {}", path.display()), e))?;
    if meta.is_dir() {
        if !path.join("oci-layout").is_file() {
            return Err(ImageError::Invalid(format!(
                "{} is a directory without an oci-layout file, so not an OCI image layout; \
                 to scan a root filesystem directory use --rootfs",
                path.display()
            )));
        }
        let store = blob_store::BlobStore::directory(path);
        return oci::open(store, &request, crowsnest_model::SourceKind::OciLayout);
    }
    if !meta.is_file() {
        return Err(ImageError::Invalid(format!(
            "{} is neither a regular file nor a directory",
            path.display()
        )));
    }
    let store = blob_store::BlobStore::archive(&path, limits)?;
    if store.contains("oci-layout") || store.contains("index.json") {
        oci::open(store, &request, crowsnest_model::SourceKind::OciArchive)
    } else if store.contains("manifest.json") {
        docker_archive::open(store, &request)
    } else {
        Err(ImageError::Invalid(format!(
            "{} is a tar archive but holds neither oci-layout/index.json (oci-archive) nor \
             manifest.json (docker save)",
            path.display()
        )))
    }
}

/// Splits `reference` into an existing path and an optional tag (see [`open_source_with`]).
fn split_reference(reference: &str) -> Result<(PathBuf, Option<String>), ImageError> {
    if reference.is_empty() {
        return Err(ImageError::Invalid("empty image reference".into()));
    }
    if Path::new(reference).exists() {
        return Ok((PathBuf::from(reference), None));
    }
    for (at, _) in reference.rmatch_indices(':') {
        let (path, tag) = (&reference[..at], &reference[at + 1..]);
        if !path.is_empty() && Path::new(path).exists() {
            if tag.is_empty() {
                return Err(ImageError::Invalid(format!(
                    "image reference {reference:?} ends with ':' but names no tag"
                )));
            }
            return Ok((PathBuf::from(path), Some(tag.to_owned())));
        }
    }
    Err(ImageError::NotFound(format!(
        "no file or directory at {reference:?}"
    )))
}

/// The [`ImageError`] inside an [`io::Error`] returned by a layer stream, if there is one. Looks
/// through wrappers that keep the original error as their source (the `tar` crate wraps reader
/// errors this way).
pub fn image_error_from_io(error: &io::Error) -> Option<&ImageError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = error
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    // Bounded so a cyclic or absurdly deep chain cannot loop.
    for _ in 0..32 {
        let e = current?;
        if let Some(found) = e.downcast_ref::<ImageError>() {
            return Some(found);
        }
        current = match e.downcast_ref::<io::Error>() {
            // `io::Error::source` skips the wrapped error itself, so step into it explicitly.
            Some(inner) => inner
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Turns an [`io::Error`] from a layer stream into the [`ImageError`] it carries, or into
/// [`ImageError::Io`] with `context` when it carries none.
pub fn into_image_error(error: io::Error, context: &str) -> ImageError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<ImageError>())
    {
        // Checked just above, so the downcast succeeds; the fallback only keeps this total.
        return match error
            .into_inner()
            .map(|inner| inner.downcast::<ImageError>())
        {
            Some(Ok(found)) => *found,
            _ => ImageError::Invalid(format!("{context}: unreadable error")),
        };
    }
    if let Some(found) = image_error_from_io(&error) {
        return duplicate(found);
    }
    ImageError::io(context, error)
}

/// A copy of `error`; [`ImageError`] is not `Clone` because its I/O variant holds an
/// [`io::Error`], which keeps its kind and message here.
fn duplicate(error: &ImageError) -> ImageError {
    match error {
        ImageError::Oversized(m) => ImageError::Oversized(m.clone()),
        ImageError::DigestMismatch {
            what,
            expected,
            actual,
        } => ImageError::DigestMismatch {
            what: what.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        },
        ImageError::Invalid(m) => ImageError::Invalid(m.clone()),
        ImageError::UnsafeEntry { layer, reason } => ImageError::UnsafeEntry {
            layer: *layer,
            reason: reason.clone(),
        },
        ImageError::CorruptLayer { layer, reason } => ImageError::CorruptLayer {
            layer: *layer,
            reason: reason.clone(),
        },
        ImageError::NotFound(m) => ImageError::NotFound(m.clone()),
        ImageError::SchemaV1NotSupport(m) => ImageError::SchemaV1NotSupport(m.clone()),
        ImageError::Io { context, source } => ImageError::Io {
            context: context.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
    }
}
