//! [`Inventory`]: everything the scan engine learned about one image.

use serde::{Deserialize, Serialize};

use crate::{Digest, ErrorCode, Package};

/// The operating system release an image is built on, from `os-release` or older release files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID` from os-release, lower-case (`debian`, `alpine`, `rocky`, ...).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`, `9.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    /// `NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `PRETTY_NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
}

/// What kind of thing was scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An OCI image layout directory.
    OciLayout,
    /// An OCI image layout inside a tar file.
    OciArchive,
    /// The output of `docker save`.
    DockerArchive,
    /// A plain directory holding a root filesystem.
    Rootfs,
    /// An image pulled from a registry.
    Registry,
    /// A VM disk image (raw or qcow2), read through its root filesystem.
    VmDisk,
}

/// Where the scanned image came from and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The kind of source.
    pub kind: SourceKind,
    /// What the user named (a path, or a path with `:tag`).
    pub reference: String,
    /// Digest of the image config blob (the image id), absent for a rootfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<Digest>,
    /// Digest of the manifest, where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    /// Tags the source names for this image (`acme-shop`, `alpine:3.10`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `architecture` from the image config (`amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `os` from the image config (`linux`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
}

/// One layer of the image, in order from the base up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Position, 0 for the base layer.
    pub index: usize,
    /// Digest of the blob as stored (compressed).
    pub digest: Digest,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Stored (compressed) size in bytes.
    pub size: u64,
    /// Uncompressed size in bytes, as measured while streaming.
    pub unpacked_size: u64,
    /// The media type of the blob.
    pub media_type: String,
    /// The history entry's `created_by`, where the config has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// The parts of the image config that risk checks and the API need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfigSummary {
    /// `config.User`; empty means root.
    #[serde(default)]
    pub user: String,
    /// `config.Env`, `KEY=value` each.
    #[serde(default)]
    pub env: Vec<String>,
    /// `config.Entrypoint`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `config.Cmd`.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `config.ExposedPorts` keys (`8080/tcp`).
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// True when the config has a HEALTHCHECK that is not `NONE`.
    #[serde(default)]
    pub has_healthcheck: bool,
    /// `created` timestamp, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Every history entry's `created_by`, empty layers included.
    #[serde(default)]
    pub history: Vec<String>,
}

/// A problem the scan met and went past: a corrupt package database, a skipped file.
/// Failures that stop a scan are errors, not diagnostics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// The image path concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Everything the scan engine found in one image: the SBOM of its merged filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Where the image came from.
    pub source: SourceInfo,
    /// The detected operating system, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// The layers, base first (empty for a rootfs).
    #[serde(default)]
    pub layers: Vec<LayerInfo>,
    /// The image config, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfigSummary>,
    /// Every package found in the merged filesystem, sorted by ecosystem, name, version, location.
    pub packages: Vec<Package>,
    /// Problems met along the way.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}
