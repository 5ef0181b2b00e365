//! The dependency list that cargo-auditable embeds in Rust executables: a `.dep-v0` section
//! (ELF, PE; `__DATA,.dep-v0` on Mach-O) holding zlib-compressed JSON
//! `{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`.
//!
//! `source` is `crates.io`, `git`, `local` or `registry`; `kind` is `runtime` (the default when
//! absent) or `build`. Reported are the packages compiled into the binary: `runtime` ones that
//! are not `local` (workspace members and path dependencies, as for `Cargo.lock`). The root
//! (the binary's own crate) follows the same rule: a project's own crate is `local`, but a
//! tool installed with `cargo auditable install ripgrep` has a crates.io root, and that
//! release is what advisories about the tool name. Build-time dependencies (build scripts,
//! proc macros) run on the build machine and are not in the executable, so they are left out.

use std::io::Read;

use flate2::read::ZlibDecoder;
use serde::Deserialize;

use crowsnest_model::ReadSeek;

use crate::language::executable::{read_at, ExecutableLayout};

/// Largest compressed section read.
const MAX_COMPRESSED: u64 = 8 << 20;

/// Largest JSON accepted after decompression: cargo-auditable's own limit is 8 MiB.
const MAX_JSON: u64 = 8 << 20;

/// One entry of the embedded list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AuditablePackage {
    /// Crate name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// `crates.io`, `git`, `local` or `registry`.
    #[serde(default)]
    pub source: String,
    /// `runtime` or `build`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The binary's own crate.
    #[serde(default)]
    pub root: bool,
}

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<AuditablePackage>,
}

/// Why an embedded list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditableError {
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The decompressed data is larger than [`MAX_JSON`].
    #[error("dependency list decompresses to more than {MAX_JSON} bytes")]
    TooLarge,
    /// The JSON does not have the documented shape.
    #[error("dependency list is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads the embedded list; `Ok(None)` when the binary has none.
pub fn read_auditable(
    reader: &mut dyn ReadSeek,
    layout: &ExecutableLayout,
) -> Result<Option<Vec<AuditablePackage>>, AuditableError> {
    let Some(section) = layout.section(".dep-v0") else {
        return Ok(None);
    };
    let compressed = read_at(reader, section.offset, section.size, MAX_COMPRESSED)?;
    decode(&compressed).map(Some)
}

/// Decompresses and parses a `.dep-v0` section's content.
pub fn decode(compressed: &[u8]) -> Result<Vec<AuditablePackage>, AuditableError> {
    let mut json = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)?;
    if json.len() as u64 > MAX_JSON {
        return Err(AuditableError::TooLarge);
    }
    let info: VersionInfo = serde_json::from_slice(&json)?;
    Ok(info.packages)
}

/// Whether a package is compiled into the binary and published somewhere (see the module doc).
pub fn is_reported(p: &AuditablePackage) -> bool {
    p.source != "local" && p.kind.as_deref().unwrap_or("runtime") == "runtime"
}
