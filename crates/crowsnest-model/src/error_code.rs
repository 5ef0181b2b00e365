//! Stable error codes. Where the seed documents name a code (`image_oversized`,
//! `download_failed`, ...) that exact string is used, so the API can pass it through unchanged.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. The string form never changes once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The image (or one of its layers) unpacks to more than the configured limit.
    ImageOversized,
    /// A blob's content does not hash to the digest its descriptor names.
    DigestMismatch,
    /// The archive or layout is not a readable image (missing index, bad JSON, unknown media type).
    InvalidImage,
    /// A layer entry tries to leave the image root, or names something that cannot be represented.
    UnsafeLayerEntry,
    /// A layer's compression or tar stream is corrupt.
    CorruptLayer,
    /// The source could not be read from disk or network.
    DownloadFailed,
    /// The reference names nothing that exists (no such file, tag or manifest).
    NotFound,
    /// A package database or metadata file could not be parsed.
    CatalogFailed,
    /// A registry manifest in Docker schema 1, which is not supported.
    SchemaV1NotSupport,
    /// Something the user passed is invalid (a YARA rule that does not compile, an unreadable
    /// blocklist, a bad allowlist pattern). Spelled as the seeds' APIs spell it.
    #[serde(rename = "InvalidParameter")]
    InvalidParameter,
    /// Anything the engine did not expect; a bug to report.
    Internal,
}

impl ErrorCode {
    /// The stable string form, e.g. `image_oversized`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ImageOversized => "image_oversized",
            ErrorCode::DigestMismatch => "digest_mismatch",
            ErrorCode::InvalidImage => "invalid_image",
            ErrorCode::UnsafeLayerEntry => "unsafe_layer_entry",
            ErrorCode::CorruptLayer => "corrupt_layer",
            ErrorCode::DownloadFailed => "download_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::CatalogFailed => "catalog_failed",
            ErrorCode::SchemaV1NotSupport => "schema_v1_not_support",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for code in [
            ErrorCode::ImageOversized,
            ErrorCode::SchemaV1NotSupport,
            ErrorCode::UnsafeLayerEntry,
            ErrorCode::InvalidParameter,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
