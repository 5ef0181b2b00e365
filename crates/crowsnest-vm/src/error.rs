//! [`VmError`]: why a disk image could not be read, each with a stable [`ErrorCode`].

use crowsnest_model::ErrorCode;

/// Why a disk image, its partition table or a filesystem on it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The image is not what it claims to be: a bad header, a table pointing outside the file,
    /// a corrupt compressed cluster, a loop in a structure that must not have one.
    #[error("invalid disk image: {0}")]
    Invalid(String),
    /// A structure is valid but uses a feature this reader does not implement (encryption,
    /// external data files, an unknown filesystem).
    #[error("unsupported disk image: {0}")]
    Unsupported(String),
    /// Something is larger than the configured limits allow.
    #[error("disk image too large: {0}")]
    Oversized(String),
    /// A file the image needs (the image itself, a backing file) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Reading the host file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl VmError {
    /// The stable error code: `invalid_image` for corrupt or unsupported images,
    /// `image_oversized` past a limit, `not_found` for missing files, `download_failed` when
    /// the host could not read the file.
    pub fn code(&self) -> ErrorCode {
        match self {
            VmError::Invalid(_) | VmError::Unsupported(_) => ErrorCode::InvalidImage,
            VmError::Oversized(_) => ErrorCode::ImageOversized,
            VmError::NotFound(_) => ErrorCode::NotFound,
            VmError::Io { .. } => ErrorCode::DownloadFailed,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        VmError::Invalid(msg.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            return VmError::NotFound(format!("{}: {source}", context.into()));
        }
        VmError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Reads a little-endian u16 at `at`; the caller has checked the slice is long enough, and a
/// short slice reads as 0 rather than panicking.
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

/// Little-endian u32 at `at` (0 when out of range).
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// Little-endian u64 at `at` (0 when out of range).
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | (u64::from(le32(b, at + 4)) << 32)
}

/// Big-endian u32 at `at` (0 when out of range).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// Big-endian u64 at `at` (0 when out of range).
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}
