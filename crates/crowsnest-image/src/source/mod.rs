//! Image sources: what the user named, opened as layers.
//!
//! A source yields descriptors for its layers (base first) and opens each as a decompressed tar
//! stream. The stream hashes the bytes as they pass (the compressed blob against its descriptor
//! digest, the uncompressed tar against the config's diff id) and fails with
//! [`ImageError::DigestMismatch`] at end of stream when either differs; it also counts
//! uncompressed bytes against [`crate::Limits::max_unpacked_bytes`].

use std::io::Read;

use crowsnest_model::{Digest, ImageConfigSummary, SourceInfo};

use crate::{ImageError, Limits};

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
    fn open_layer(
        &self,
        index: usize,
        budget: &UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError>;
}

/// The uncompressed-bytes budget of one image, shared by all its layer streams.
#[derive(Debug)]
pub struct UnpackBudget {
    limit: u64,
    used: std::sync::atomic::AtomicU64,
}

impl UnpackBudget {
    /// A budget of `limits.max_unpacked_bytes`.
    pub fn new(limits: &Limits) -> Self {
        UnpackBudget {
            limit: limits.max_unpacked_bytes,
            used: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records `n` more bytes; errors once the total passes the limit.
    pub fn spend(&self, n: u64) -> Result<(), ImageError> {
        let used = self.used.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
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
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Opens `reference`: a path, optionally followed by `:tag` to pick one image of an archive or
/// layout that holds several. Detects OCI layout directories, oci-archive tars and docker-archive
/// tars (plain, gzip or zstd compressed) by content, not by file name.
pub fn open_source(reference: &str, limits: &Limits) -> Result<Box<dyn ImageSource>, ImageError> {
    let _ = (reference, limits);
    Err(ImageError::Invalid(
        "image sources are not implemented yet".into(),
    ))
}
