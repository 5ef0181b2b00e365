//! Image sources and layer reading.
//!
//! Two halves meet at [`ImageSource`]:
//! - [`source`] opens what the user named (an OCI layout directory, an `oci-archive` tar, a
//!   `docker save` archive) and yields each layer as a verified, decompressed tar stream;
//! - [`merge`] streams those layers once, applies OCI whiteouts, and builds the [`MergedFs`]: a
//!   read-only view (metadata of every entry, content of the files a caller asked for) that
//!   never writes outside its own sandbox directory and never resolves a link outside the root.
//!   A plain root directory (`--rootfs`) becomes a [`MergedFs`] directly.

mod error;
pub mod merge;
pub mod source;

pub use error::ImageError;
pub use merge::MergedFs;
pub use source::{open_remote, open_source, ImageSource, LayerDescriptor, RemoteFetcher};

/// Limits that keep a hostile or huge image from exhausting the machine. Every limit ends the
/// scan with [`crowsnest_model::ErrorCode::ImageOversized`] when crossed.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Uncompressed bytes of all layers together (tar stream bytes). Default 8 GiB.
    pub max_unpacked_bytes: u64,
    /// Entries in all layers together. Default 4,000,000.
    pub max_entries: u64,
    /// Largest single file kept for a cataloger. Default 1 GiB.
    pub max_captured_file: u64,
    /// Largest JSON document (index, manifest, config) read into memory. Default 8 MiB.
    pub max_json_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked_bytes: 8 << 30,
            max_entries: 4_000_000,
            max_captured_file: 1 << 30,
            max_json_bytes: 8 << 20,
        }
    }
}
