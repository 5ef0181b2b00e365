//! containerd, read from its root directory (`/var/lib/containerd`, root only) without its
//! gRPC API: the images and containers of every namespace from the metadata database
//! (`io.containerd.metadata.v1.bolt/meta.db`), manifests and layers from the content store
//! (`io.containerd.content.v1.content/blobs/sha256/…`).
//!
//! Reading files instead of the API needs no gRPC stack and works while containerd is down;
//! bbolt readers do not block its writer (bbolt writes a new meta page last, so a file read
//! during a write still has one consistent meta page to start from, and a torn read is an
//! error, retried on the next cycle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crowsnest_model::Inventory;
use crowsnest_scan::Scanner;
use serde::Deserialize;

use super::bolt::{self, Bolt, Bucket, Entry};
use super::{image_type, pod_from_labels, split_reference, Container, Discovery, LocalImage, Pod};
use crate::AgentError;

const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";
const CONTENT: &str = "io.containerd.content.v1.content";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests and indexes are small; a larger one is not read.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// containerd's store at a root directory.
pub struct Containerd {
    root: PathBuf,
}

impl Containerd {
    /// The store under `root` (`/var/lib/containerd` by default).
    pub fn new(root: impl Into<PathBuf>) -> Containerd {
        Containerd { root: root.into() }
    }

    /// Whether `root` holds a containerd metadata database.
    pub fn present(root: &Path) -> bool {
        root.join(META_DB).is_file()
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, AgentError> {
        let hex = checked_digest(digest)?;
        Ok(self
            .root
            .join(CONTENT)
            .join("blobs")
            .join("sha256")
            .join(hex))
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, AgentError> {
        let path = self.blob_path(digest)?;
        let len = std::fs::metadata(&path)
            .map_err(|e| AgentError::io(&path, e))?
            .len();
        if len > MAX_MANIFEST_BYTES {
            return Err(AgentError::CorruptMetadata(format!(
                "{digest} is larger than a manifest may be"
            )));
        }
        std::fs::read(&path).map_err(|e| AgentError::io(&path, e))
    }

    /// The size of the image a target names: config plus layers of its manifest (for an
    /// index, of its linux/amd64 manifest, or the first one present).
    fn image_size(&self, target: &Target) -> i64 {
        let manifest_size = |digest: &str| -> Option<i64> {
            let m: Manifest = serde_json::from_slice(&self.read_blob(digest).ok()?).ok()?;
            Some(m.config.size + m.layers.iter().map(|l| l.size).sum::<i64>())
        };
        if target.media_type == OCI_INDEX || target.media_type == DOCKER_LIST {
            let Some(index) = self
                .read_blob(&target.digest)
                .ok()
                .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
            else {
                return target.size;
            };
            let mut children = index.manifests;
            children.sort_by_key(|c| {
                !c.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
            });
            children
                .iter()
                .find_map(|c| manifest_size(&c.digest))
                .unwrap_or(target.size)
        } else {
            manifest_size(&target.digest).unwrap_or(target.size)
        }
    }
}

/// `sha256:<64 hex>` → the hex; anything else is refused before it becomes a path.
fn checked_digest(digest: &str) -> Result<&str, AgentError> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| AgentError::CorruptMetadata(format!("{digest:?} is not a sha256 digest")))
}

#[derive(Debug, Clone)]
struct Target {
    digest: String,
    media_type: String,
    size: i64,
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

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

fn text(v: Option<Vec<u8>>) -> String {
    v.map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn labels(db: &Bolt, item: Bucket) -> Result<BTreeMap<String, String>, AgentError> {
    let mut out = BTreeMap::new();
    if let Some(b) = db.bucket(item, b"labels")? {
        for (k, e) in db.entries(b)? {
            if let Entry::Value(v) = e {
                out.insert(
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                );
            }
        }
    }
    Ok(out)
}

fn time_of(db: &Bolt, item: Bucket, key: &[u8]) -> Result<i64, AgentError> {
    Ok(db
        .value(item, key)?
        .and_then(|v| bolt::go_time_ms(&v))
        .unwrap_or(0))
}

impl super::Runtime for Containerd {
    fn name(&self) -> &'static str {
        "containerd"
    }

    fn discover(&self) -> Result<Discovery, AgentError> {
        let db = Bolt::open(&self.root.join(META_DB))?;
        let Some(v1) = db.bucket(db.root(), b"v1")? else {
            return Ok(Discovery::default());
        };
        let mut found = Discovery::default();
        let mut digests_by_name = BTreeMap::new();
        let mut pods = BTreeMap::new();
        for (_namespace, entry) in db.entries(v1)? {
            let Entry::Bucket(ns) = entry else { continue };
            if let Some(images) = db.bucket(ns, b"images")? {
                for (name, entry) in db.entries(images)? {
                    let Entry::Bucket(image) = entry else {
                        continue;
                    };
                    let Some(t) = db.bucket(image, b"target")? else {
                        continue;
                    };
                    let target = Target {
                        digest: text(db.value(t, b"digest")?),
                        media_type: text(db.value(t, b"mediatype")?),
                        size: db
                            .value(t, b"size")?
                            .and_then(|v| bolt::varint(&v))
                            .unwrap_or(0),
                    };
                    if checked_digest(&target.digest).is_err() {
                        tracing::warn!(digest = %target.digest, "containerd image with a malformed digest skipped");
                        continue;
                    }
                    let reference = String::from_utf8_lossy(&name).into_owned();
                    // An image stored by digest only (`name@sha256:…`) repeats a named one.
                    let (repo, tag) = split_reference(&reference);
                    let updated = time_of(&db, image, b"updatedat")?;
                    digests_by_name.insert(reference.clone(), target.digest.clone());
                    found.images.push(LocalImage {
                        image_type: image_type(&repo).to_owned(),
                        name: repo,
                        tag,
                        digest: target.digest.clone(),
                        image_id: String::new(),
                        size_bytes: self.image_size(&target),
                        updated_ms: updated,
                        runtime: self.name().to_owned(),
                        locator: serde_json::json!({
                            "digest": target.digest,
                            "mediaType": target.media_type,
                            "size": target.size,
                        })
                        .to_string(),
                    });
                }
            }
            if let Some(containers) = db.bucket(ns, b"containers")? {
                for (id, entry) in db.entries(containers)? {
                    let Entry::Bucket(c) = entry else { continue };
                    let image = text(db.value(c, b"image")?);
                    let labels = labels(&db, c)?;
                    let pod: Option<Pod> = pod_from_labels(&labels);
                    let id = String::from_utf8_lossy(&id).into_owned();
                    found.containers.push(Container {
                        name: labels
                            .get("io.kubernetes.container.name")
                            .cloned()
                            .unwrap_or_else(|| id.clone()),
                        id,
                        image_digest: digests_by_name.get(&image).cloned().unwrap_or_default(),
                        image,
                        // Run state lives in the shim, not in the metadata.
                        status: String::new(),
                        created_ms: time_of(&db, c, b"createdat")?,
                        pod_uid: pod.as_ref().map(|p| p.uid.clone()).unwrap_or_default(),
                    });
                    if let Some(pod) = pod {
                        pods.insert(pod.uid.clone(), pod);
                    }
                }
            }
        }
        found.pods = pods.into_values().collect();
        Ok(found)
    }

    fn scan(&self, image: &LocalImage, scanner: &Scanner) -> Result<Inventory, AgentError> {
        // An OCI layout whose blobs are containerd's own: nothing is copied, and the image
        // source verifies every blob against its digest as it streams.
        let view = tempfile::tempdir().map_err(|e| AgentError::io(Path::new("tempdir"), e))?;
        let write = |name: &str, text: &str| {
            let path = view.path().join(name);
            std::fs::write(&path, text).map_err(|e| AgentError::io(&path, e))
        };
        write("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let descriptor: serde_json::Value = serde_json::from_str(&image.locator)
            .map_err(|e| AgentError::CorruptMetadata(format!("image locator: {e}")))?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor],
        });
        write("index.json", &index.to_string())?;
        let blobs = self.root.join(CONTENT).join("blobs");
        std::os::unix::fs::symlink(&blobs, view.path().join("blobs"))
            .map_err(|e| AgentError::io(&blobs, e))?;
        let source = crowsnest_image::open_source(&view.path().to_string_lossy(), scanner.limits())
            .map_err(|e| AgentError::Scan(e.code().as_str().to_owned(), e.to_string()))?;
        let mut inventory = scanner
            .scan_source(source.as_ref(), &mut |_| {})
            .map_err(|e| AgentError::Scan(e.code().as_str().to_owned(), e.to_string()))?;
        inventory.source.reference = format!("containerd:{}:{}", image.name, image.tag);
        Ok(inventory)
    }
}
