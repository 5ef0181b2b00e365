//! [`ImageError`]: why an image could not be read, each with a stable [`ErrorCode`].

use crowsnest_model::ErrorCode;

/// Why an image could not be read. Every variant maps to a stable [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image crossed one of the [`crate::Limits`].
    #[error("image_oversized: {0}")]
    Oversized(String),
    /// A blob's bytes do not hash to the digest its descriptor (or the config's diff id) names.
    #[error("digest_mismatch: {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// The digest named by the descriptor.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// The source is not a readable image.
    #[error("invalid_image: {0}")]
    Invalid(String),
    /// A layer entry would leave the image root or cannot be represented safely.
    #[error("unsafe_layer_entry: layer {layer}: {reason}")]
    UnsafeEntry {
        /// Layer index.
        layer: usize,
        /// What was refused.
        reason: String,
    },
    /// A layer's compression or tar framing is corrupt.
    #[error("corrupt_layer: layer {layer}: {reason}")]
    CorruptLayer {
        /// Layer index.
        layer: usize,
        /// What broke.
        reason: String,
    },
    /// The named thing does not exist (file, tag, blob).
    #[error("not_found: {0}")]
    NotFound(String),
    /// A Docker image manifest in schema 1 (`application/vnd.docker.distribution.manifest.v1+json`),
    /// which has no config blob and no diff ids to verify layers against.
    #[error("schema_v1_not_support: {0}")]
    SchemaV1NotSupport(String),
    /// An I/O error reading the source or writing the sandbox.
    #[error("download_failed: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ImageError::Oversized(_) => ErrorCode::ImageOversized,
            ImageError::DigestMismatch { .. } => ErrorCode::DigestMismatch,
            ImageError::Invalid(_) => ErrorCode::InvalidImage,
            ImageError::UnsafeEntry { .. } => ErrorCode::UnsafeLayerEntry,
            ImageError::CorruptLayer { .. } => ErrorCode::CorruptLayer,
            ImageError::NotFound(_) => ErrorCode::NotFound,
            ImageError::SchemaV1NotSupport(_) => ErrorCode::SchemaV1NotSupport,
            ImageError::Io { .. } => ErrorCode::DownloadFailed,
        }
    }

    /// Shorthand for an [`ImageError::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }
}
