//! `containers/storage`, the store Podman and CRI-O share (`/var/lib/containers/storage`):
//! `<driver>-images/images.json` (id, manifest digest, names, top layer, creation),
//! `<driver>-images/<id>/manifest`, `<driver>-layers/layers.json` and
//! `<driver>-containers/containers.json` (id, names, image id, and a metadata string in which
//! CRI-O records the pod).
//!
//! Container state is not in `containers.json`: Podman keeps it in libpod's own database,
//! `<root>/libpod/bolt_state.db` (bbolt, read with [`super::bolt`]: bucket `ctr`, one bucket
//! per container whose `state` value is JSON with the numeric `state` of libpod's
//! `ContainerStatus`). Podman 5's SQLite state database and CRI-O (whose state lives with
//! its OCI runtime) are not read: their containers report no status.
//!
//! Scanning in place: with the `vfs` driver every layer directory (`vfs/dir/<layer>`) is a
//! complete copy of the root filesystem up to that layer, so the image's top layer is scanned
//! as a root directory. The `overlay` driver keeps only each layer's differences
//! (`overlay/<layer>/diff`, with overlayfs whiteouts): the image's layers, found by following
//! `parent` in `layers.json` down from its top layer, are streamed base first through
//! [`super::overlay`] and merged like any image's. Other drivers (btrfs, zfs, devmapper) are
//! listed but their scans end with `unsupported_driver`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_model::Inventory;
use crowsnest_scan::Scanner;
use serde::Deserialize;

use super::bolt::{Bolt, Entry};
use super::overlay;
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

/// libpod's `ContainerStatus` numbers in the words `podman ps` uses.
fn libpod_status(n: u64) -> &'static str {
    match n {
        // Configured (created in the database, not yet in the OCI runtime) shows as created.
        1 | 2 => "created",
        3 => "running",
        4 => "stopped",
        5 => "paused",
        6 => "exited",
        7 => "removing",
        8 => "stopping",
        _ => "",
    }
}

impl ContainersStorage {
    /// Container id → status from Podman's state database; empty when there is none (CRI-O)
    /// or it cannot be read (status is then only missing, the listing still stands).
    fn libpod_states(&self) -> BTreeMap<String, String> {
        let path = self.root.join("libpod").join("bolt_state.db");
        if !path.is_file() {
            return BTreeMap::new();
        }
        match read_libpod_states(&path) {
            Ok(states) => states,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "podman state not read");
                BTreeMap::new()
            }
        }
    }
}

fn read_libpod_states(path: &Path) -> Result<BTreeMap<String, String>, AgentError> {
    #[derive(Deserialize)]
    struct State {
        #[serde(default)]
        state: u64,
    }
    let db = Bolt::open(path)?;
    let mut out = BTreeMap::new();
    let Some(ctrs) = db.bucket(db.root(), b"ctr")? else {
        return Ok(out);
    };
    for (id, entry) in db.entries(ctrs)? {
        let Entry::Bucket(ctr) = entry else { continue };
        let Some(state) = db.value(ctr, b"state")? else {
            continue;
        };
        let status = serde_json::from_slice::<State>(&state)
            .map(|s| libpod_status(s.state))
            .unwrap_or("");
        out.insert(String::from_utf8_lossy(&id).into_owned(), status.to_owned());
    }
    Ok(out)
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
        let states = self.libpod_states();
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
                        sandbox_id: String::new(),
                    },
                );
            }
            found.containers.push(Container {
                name: c.names.first().cloned().unwrap_or_else(|| c.id.clone()),
                image_digest: digest_of.get(&c.image).cloned().unwrap_or_default(),
                image: meta.image_name,
                status: states.get(&c.id).cloned().unwrap_or_default(),
                id: c.id,
                created_ms: rfc3339_ms(&c.created),
                pod_uid: meta.pod_id,
            });
        }
        found.pods = pods.into_values().collect();
        Ok(found)
    }

    fn scan(&self, image: &LocalImage, scanner: &Scanner) -> Result<Inventory, AgentError> {
        let layer = checked_id(&image.locator)?;
        let scan_error = |e: crowsnest_scan::ScanError| {
            AgentError::Scan(e.code().as_str().to_owned(), e.to_string())
        };
        let mut inventory = match self.driver.as_str() {
            "vfs" => {
                let dir = self.root.join("vfs").join("dir").join(layer);
                scanner.scan_rootfs(&dir).map_err(scan_error)?
            }
            "overlay" => {
                let source = self.overlay_image(image, layer)?;
                scanner
                    .scan_source(&source, &mut |_| {})
                    .map_err(scan_error)?
            }
            other => return Err(AgentError::UnsupportedDriver(other.to_owned())),
        };
        inventory.source.reference = format!("containers-storage:{}:{}", image.name, image.tag);
        inventory.source.manifest_digest = image.digest.parse().ok();
        inventory.source.image_id = image.image_id.parse().ok();
        Ok(inventory)
    }
}

/// One entry of `layers.json`.
#[derive(Deserialize)]
struct StoredLayer {
    id: String,
    #[serde(default)]
    parent: String,
    #[serde(default, rename = "diff-digest")]
    diff_digest: String,
    #[serde(default, rename = "diff-size")]
    diff_size: u64,
}

/// More layers than an image may have (the OCI and Docker limit is 127): a longer parent
/// chain is a loop or corruption.
const MAX_LAYERS: usize = 1024;

impl ContainersStorage {
    /// The overlay layers under `top`, base first, as an image source.
    fn overlay_image(
        &self,
        image: &LocalImage,
        top: &str,
    ) -> Result<overlay::OverlayImage, AgentError> {
        let stored: Vec<StoredLayer> = read_json(&self.file("layers", "layers.json"))?;
        let by_id: BTreeMap<&str, &StoredLayer> =
            stored.iter().map(|l| (l.id.as_str(), l)).collect();
        let mut chain = Vec::new();
        let mut next = top;
        while !next.is_empty() {
            if chain.len() >= MAX_LAYERS {
                return Err(AgentError::CorruptMetadata(format!(
                    "layer {top} has a parent chain longer than {MAX_LAYERS}"
                )));
            }
            let layer = by_id.get(next).ok_or_else(|| {
                AgentError::CorruptMetadata(format!("layer {next} is not in layers.json"))
            })?;
            chain.push(*layer);
            next = &layer.parent;
        }
        chain.reverse();
        let mut layers = Vec::with_capacity(chain.len());
        let mut diff_dirs = Vec::with_capacity(chain.len());
        for layer in chain {
            let id = checked_id(&layer.id)?;
            let digest: crowsnest_model::Digest = layer.diff_digest.parse().map_err(|_| {
                AgentError::CorruptMetadata(format!("layer {id} has no diff-digest"))
            })?;
            layers.push(crowsnest_image::LayerDescriptor {
                digest: digest.clone(),
                diff_id: Some(digest),
                size: layer.diff_size,
                media_type: "application/vnd.oci.image.layer.v1.tar".to_owned(),
                created_by: None,
            });
            diff_dirs.push(self.root.join("overlay").join(id).join("diff"));
        }
        Ok(overlay::OverlayImage {
            // Directories read in place, as for vfs; the reference names the store.
            info: crowsnest_model::SourceInfo {
                kind: crowsnest_model::SourceKind::Rootfs,
                reference: format!("containers-storage:{}:{}", image.name, image.tag),
                image_id: image.image_id.parse().ok(),
                manifest_digest: image.digest.parse().ok(),
                tags: Vec::new(),
                architecture: None,
                os: None,
            },
            layers,
            diff_dirs,
        })
    }
}
