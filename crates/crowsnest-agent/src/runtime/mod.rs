//! Container runtimes the agent reads: each one a [`Runtime`] that lists the local images,
//! containers and pods of one store, and scans one of its images in place.
//!
//! - [`containerd::Containerd`]: the metadata database (`meta.db`, bbolt, read by [`bolt`])
//!   and the content store, whose `blobs/sha256/…` directory already has the shape of an OCI
//!   layout; an image is scanned through a temporary layout whose `blobs` links there.
//! - [`storage::ContainersStorage`]: Podman's and CRI-O's `containers/storage`
//!   (`images.json`, `layers.json`, `containers.json`, and Podman's `libpod/bolt_state.db`
//!   for container state); with the vfs driver each layer directory is a complete root
//!   filesystem, scanned as one; with the overlay driver [`overlay`] streams each layer's
//!   `diff` directory as a tar, overlayfs whiteouts turned back into OCI ones.
//! - [`docker::DockerEngine`]: the Docker Engine API over its unix socket; an image is
//!   scanned from the `docker save` stream the engine sends.

pub(crate) mod bolt;
pub mod containerd;
pub mod docker;
mod overlay;
pub mod storage;

use crowsnest_model::Inventory;
use crowsnest_scan::Scanner;
use serde::Serialize;

use crate::AgentError;

/// An image in a runtime's local store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalImage {
    /// Repository name (`docker.io/library/alpine`, `localhost/acme-shop`).
    pub name: String,
    /// Tag ('' when the image is known by digest only).
    pub tag: String,
    /// Manifest digest (`sha256:…`); the config digest where the runtime knows no manifest.
    pub digest: String,
    /// Config digest (the image id), when known.
    pub image_id: String,
    /// Size in bytes: config and layers as the manifest lists them.
    pub size_bytes: i64,
    /// When the runtime last changed this name, ms since the epoch.
    pub updated_ms: i64,
    /// Huawei's `local_image_type`: `swr_image` for images from SWR, else `other_image`.
    pub image_type: String,
    /// The runtime it was found in (`containerd`, `containers-storage`, `docker`).
    pub runtime: String,
    /// Where the runtime keeps it; meaningful only to that runtime's `scan`.
    #[serde(skip)]
    pub locator: String,
}

/// A container of a runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The runtime's container id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The image's name and tag as the container was created from it.
    pub image: String,
    /// The image's digest, when the runtime links it.
    pub image_digest: String,
    /// running, created, exited, … ('' when the store does not say).
    pub status: String,
    /// Creation, ms.
    pub created_ms: i64,
    /// The Kubernetes pod it belongs to (its UID), if any.
    pub pod_uid: String,
}

/// A Kubernetes pod seen through its containers' labels or metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pod {
    /// UID.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The CRI pod sandbox id, when the runtime keeps one ('' otherwise).
    pub sandbox_id: String,
}

/// What one runtime holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Images, one per name and tag.
    pub images: Vec<LocalImage>,
    /// Containers.
    pub containers: Vec<Container>,
    /// Pods.
    pub pods: Vec<Pod>,
}

/// A container runtime's local store.
pub trait Runtime: Send {
    /// Stable name (`containerd`, `containers-storage`, `docker`).
    fn name(&self) -> &'static str;
    /// Lists what the store holds now.
    fn discover(&self) -> Result<Discovery, AgentError>;
    /// Scans `image` (one this runtime discovered) in place.
    fn scan(&self, image: &LocalImage, scanner: &Scanner) -> Result<Inventory, AgentError>;
}

/// Splits `registry/repo:tag` (or `repo@sha256:…`) into name and tag; a `:` before the last
/// `/` is a registry port, not a tag.
pub fn split_reference(reference: &str) -> (String, String) {
    let reference = reference.split('@').next().unwrap_or(reference);
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            reference[..last_slash + i].to_owned(),
            reference[last_slash + i + 1..].to_owned(),
        ),
        None => (reference.to_owned(), String::new()),
    }
}

/// Huawei's `local_image_type` of an image name: images pulled from SWR (SoftWare
/// Repository for Container, hosts `swr.<region>.myhuaweicloud.com`) are `swr_image`.
pub fn image_type(name: &str) -> &'static str {
    let host = name.split('/').next().unwrap_or("");
    if name.contains('/') && host.starts_with("swr.") {
        "swr_image"
    } else {
        "other_image"
    }
}

/// Pods named by Kubernetes' container labels (the CRI sets them on every container).
pub(crate) fn pod_from_labels(labels: &std::collections::BTreeMap<String, String>) -> Option<Pod> {
    let uid = labels.get("io.kubernetes.pod.uid")?;
    Some(Pod {
        uid: uid.clone(),
        name: labels
            .get("io.kubernetes.pod.name")
            .cloned()
            .unwrap_or_default(),
        namespace: labels
            .get("io.kubernetes.pod.namespace")
            .cloned()
            .unwrap_or_default(),
        sandbox_id: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("docker.io/library/alpine:3.10"),
            ("docker.io/library/alpine".into(), "3.10".into())
        );
        assert_eq!(
            split_reference("localhost:5000/web"),
            ("localhost:5000/web".into(), String::new())
        );
        assert_eq!(
            split_reference("localhost:5000/web:v1@sha256:ab"),
            ("localhost:5000/web".into(), "v1".into())
        );
        assert_eq!(
            image_type("swr.cn-north-4.myhuaweicloud.com/team/web"),
            "swr_image"
        );
        assert_eq!(image_type("swr.local"), "other_image");
    }
}
