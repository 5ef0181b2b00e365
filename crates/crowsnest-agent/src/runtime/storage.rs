//! `containers/storage`, the store Podman and CRI-O share (`/var/lib/containers/storage`):
//! `<driver>-images/images.json` (id, manifest digest, names, top layer, creation),
//! `<driver>-images/<id>/manifest`, `<driver>-layers/layers.json` and
//! `<driver>-containers/containers.json` (id, names, image id, and a metadata string in which
//! CRI-O records the pod).
//!
//! Scanning in place: with the `vfs` driver every layer directory (`vfs/dir/<layer>`) is a
//! complete copy of the root filesystem up to that layer, so the image's top layer is scanned
//! as a root directory. The `overlay` driver keeps only each layer's differences
//! (`overlay/<layer>/diff`, with overlayfs whiteouts); its images are listed but scanning
//! them is refused with `unsupported_driver` until a merged view of diff directories exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_model::Inventory;
use crowsnest_scan::Scanner;
use serde::Deserialize;

use super::{image_type, split_reference, Container, Discovery, LocalImage, Pod};
use crate::AgentError;

/// The drivers whose files are recognised, in the order they are looked for.
const DRIVERS: &[&str] = &["overlay", "vfs"];
/// The JSON indexes are small; a larger file is refused rather than read into memory.
const MAX_INDEX_BYTES: u64 = 256 << 20;

/// A `containers/storage` root.
pub struct ContainersStorage {
    root: PathBuf,
    driver: String,
}

#[derive(Deserialize)]
struct StoredImage {
    id: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    layer: String,
    #[serde(default)]
    created: String,
}

#[derive(Deserialize)]
struct StoredContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    created: String,
}

/// The metadata string Podman and CRI-O store with a container.
#[derive(Default, Deserialize)]
struct ContainerMetadata {
    #[serde(default, rename = "image-name")]
    image_name: String,
    #[serde(default, rename = "pod-name")]
    pod_name: String,
    #[serde(default, rename = "pod-id")]
    pod_id: String,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default)]
    size: i64,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AgentError> {
    let len = std::fs::metadata(path)
        .map_err(|e| AgentError::io(path, e))?
        .len();
    if len > MAX_INDEX_BYTES {
        return Err(AgentError::CorruptMetadata(format!(
            "{} is larger than 256 MiB",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AgentError::CorruptMetadata(format!("{}: {e}", path.display())))
}

/// RFC 3339 to ms; 0 when absent or malformed.
pub(crate) fn rfc3339_ms(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .unwrap_or(0)
}

/// Store ids are 64 hex characters; checked before one becomes a path.
fn checked_id(id: &str) -> Result<&str, AgentError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(AgentError::CorruptMetadata(format!(
            "{id:?} is not a storage id"
        )))
    }
}

impl ContainersStorage {
    /// The store under `root` (`/var/lib/containers/storage` by default), if one of the known
    /// drivers has an image index there.
    pub fn open(root: impl Into<PathBuf>) -> Option<ContainersStorage> {
        let root = root.into();
        DRIVERS
            .iter()
            .find(|d| root.join(format!("{d}-images/images.json")).is_file())
            .map(|d| ContainersStorage {
                root,
                driver: (*d).to_owned(),
            })
    }

    /// The graph driver in use.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    fn file(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(format!("{}-{kind}", self.driver)).join(name)
    }

    fn size(&self, image_id: &str) -> i64 {
        let Ok(id) = checked_id(image_id) else {
            return 0;
        };
        read_json::<Manifest>(&self.file("images", &format!("{id}/manifest")))
            .map(|m| m.config.size + m.layers.iter().map(|l| l.size).sum::<i64>())
            .unwrap_or(0)
    }
}

impl super::Runtime for ContainersStorage {
    fn name(&self) -> &'static str {
        "containers-storage"
    }

    fn discover(&self) -> Result<Discovery, AgentError> {
        let images: Vec<StoredImage> = read_json(&self.file("images", "images.json"))?;
        let mut found = Discovery::default();
        let mut digest_of = BTreeMap::new();
        for image in &images {
            let digest = if image.digest.is_empty() {
                format!("sha256:{}", image.id)
            } else {
                image.digest.clone()
            };
            digest_of.insert(image.id.clone(), digest.clone());
            let size = self.size(&image.id);
            let names = if image.names.is_empty() {
                // A dangling image is still on disk and still scanned.
                vec!["<none>:<none>".to_owned()]
            } else {
                image.names.clone()
            };
            for reference in names {
                let (name, tag) = split_reference(&reference);
                found.images.push(LocalImage {
                    image_type: image_type(&name).to_owned(),
                    name,
                    tag,
                    digest: digest.clone(),
                    image_id: format!("sha256:{}", image.id),
                    size_bytes: size,
                    updated_ms: rfc3339_ms(&image.created),
                    runtime: self.name().to_owned(),
                    locator: image.layer.clone(),
                });
            }
        }
        let containers_file = self.file("containers", "containers.json");
        let containers: Vec<StoredContainer> = if containers_file.is_file() {
            read_json(&containers_file)?
        } else {
            Vec::new()
        };
        let mut pods = BTreeMap::new();
        for c in containers {
            let meta: ContainerMetadata = serde_json::from_str(&c.metadata).unwrap_or_default();
            if !meta.pod_id.is_empty() {
                pods.insert(
                    meta.pod_id.clone(),
                    Pod {
                        uid: meta.pod_id.clone(),
                        name: meta.pod_name.clone(),
                        namespace: String::new(),
                    },
                );
            }
            found.containers.push(Container {
                name: c.names.first().cloned().unwrap_or_else(|| c.id.clone()),
                image_digest: digest_of.get(&c.image).cloned().unwrap_or_default(),
                image: meta.image_name,
                id: c.id,
                status: String::new(),
                created_ms: rfc3339_ms(&c.created),
                pod_uid: meta.pod_id,
            });
        }
        found.pods = pods.into_values().collect();
        Ok(found)
    }

    fn scan(&self, image: &LocalImage, scanner: &Scanner) -> Result<Inventory, AgentError> {
        if self.driver != "vfs" {
            return Err(AgentError::UnsupportedDriver(self.driver.clone()));
        }
        let layer = checked_id(&image.locator)?;
        let dir = self.root.join("vfs").join("dir").join(layer);
        let mut inventory = scanner
            .scan_rootfs(&dir)
            .map_err(|e| AgentError::Scan(e.code().as_str().to_owned(), e.to_string()))?;
        inventory.source.reference = format!("containers-storage:{}:{}", image.name, image.tag);
        inventory.source.manifest_digest = image.digest.parse().ok();
        inventory.source.image_id = image.image_id.parse().ok();
        Ok(inventory)
    }
}
