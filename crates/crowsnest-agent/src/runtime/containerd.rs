//! containerd, read from its root directory (`/var/lib/containerd`, root only) without its
//! gRPC API: the images and containers of every namespace from the metadata database
//! (`io.containerd.metadata.v1.bolt/meta.db`), manifests and layers from the content store
//! (`io.containerd.content.v1.content/blobs/sha256/…`).
//!
//! Reading files instead of the API needs no gRPC stack and works while containerd is down;
//! bbolt readers do not block its writer (bbolt writes a new meta page last, so a file read
//! during a write still has one consistent meta page to start from, and a torn read is an
//! error, retried on the next cycle).
//!
//! # Kubernetes pods (the CRI plugin)
//! containerd's CRI plugin keeps a pod sandbox as a container labelled
//! `io.cri-containerd.kind=sandbox` and each of the pod's containers labelled `…=container`;
//! the kubelet's labels (`io.kubernetes.pod.uid`, `…pod.name`, `…pod.namespace`) are on both.
//! A container names its sandbox in the `sandboxid` key (containerd 1.7 and later) or in its
//! OCI spec's `io.kubernetes.cri.sandbox-id` annotation (1.6 and later; the spec is stored as
//! a protobuf `Any` holding JSON). A sandbox becomes a [`Pod`], never a container (it runs
//! only the pause process: `crictl ps` does not list it either), and a container without pod
//! labels joins the pod of the sandbox it names.
//!
//! # Container state
//! Whether a container's task runs is known to the shim, not to the metadata. Without the
//! gRPC API (a protobuf and HTTP/2 stack, more than the whole agent), the state directory
//! (`/run/containerd` by default) tells as much: a task's bundle directory
//! (`io.containerd.runtime.v2.task/<namespace>/<id>`) exists from task creation to deletion
//! and its `init.pid` names the container's first process. No bundle: `created` (no task);
//! a live, non-zombie process: `running`; otherwise `exited`. The process is looked up in
//! this host's `/proc`, so the agent must run in the host's PID namespace (a task created
//! but not yet started reads as `running`: CRI and `ctr run` start it at once).

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

/// The shims' bundle directories under the state directory.
const TASKS: &str = "io.containerd.runtime.v2.task";
/// An OCI spec is a few KiB; a larger stored one is not parsed.
const MAX_SPEC_BYTES: usize = 1 << 20;
/// The CRI plugin's label telling sandboxes from containers.
const CRI_KIND: &str = "io.cri-containerd.kind";

/// containerd's store at a root directory.
pub struct Containerd {
    root: PathBuf,
    state: PathBuf,
}

impl Containerd {
    /// The store under `root` (`/var/lib/containerd` by default), with its state directory
    /// at the default `/run/containerd`.
    pub fn new(root: impl Into<PathBuf>) -> Containerd {
        Containerd {
            root: root.into(),
            state: PathBuf::from("/run/containerd"),
        }
    }

    /// Reads task state from `state` (containerd's `state` setting) instead of
    /// `/run/containerd`.
    pub fn with_state_dir(mut self, state: impl Into<PathBuf>) -> Containerd {
        self.state = state.into();
        self
    }

    /// The state of container `id` of `namespace`, from its task's bundle directory.
    fn task_status(&self, namespace: &str, id: &str) -> String {
        // Both names come from meta.db: a separator or `..` would leave the tasks directory.
        let safe = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
        if !safe(namespace) || !safe(id) {
            return String::new();
        }
        let bundle = self.state.join(TASKS).join(namespace).join(id);
        if !bundle.is_dir() {
            return "created".to_owned();
        }
        let pid = std::fs::read_to_string(bundle.join("init.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|p| *p > 0);
        match pid.map(process_alive) {
            Some(true) => "running".to_owned(),
            Some(false) => "exited".to_owned(),
            // A bundle without a pid yet: the shim is still creating the task.
            None => "created".to_owned(),
        }
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

/// Whether process `pid` of this PID namespace exists and is not a zombie (the shim reaps
/// its child as soon as it exits, so a zombie is an exit about to be recorded).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: comm may hold spaces and parentheses, the state follows the last `)`.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// The `value` of a protobuf `google.protobuf.Any` (field 2), as containerd stores specs and
/// extensions; `None` when the bytes are not one.
fn any_value(mut bytes: &[u8]) -> Option<&[u8]> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let (first, rest) = b.split_first()?;
            *b = rest;
            x |= u64::from(first & 0x7f) << (7 * i);
            if first & 0x80 == 0 {
                return Some(x);
            }
        }
        None
    }
    let mut value = None;
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        // Both fields of Any are length-delimited; anything else is not an Any.
        if key & 7 != 2 {
            return None;
        }
        let len = usize::try_from(varint(&mut bytes)?).ok()?;
        let field = bytes.get(..len)?;
        bytes = &bytes[len..];
        if key >> 3 == 2 {
            value = Some(field);
        }
    }
    value
}

/// The annotations of the OCI spec stored with a container (empty when it has none or the
/// spec cannot be read: they only add pod details).
fn spec_annotations(spec: Option<&[u8]>) -> BTreeMap<String, String> {
    #[derive(Deserialize)]
    struct Spec {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    spec.filter(|s| s.len() <= MAX_SPEC_BYTES)
        .and_then(any_value)
        .and_then(|json| serde_json::from_slice::<Spec>(json).ok())
        .map(|s| s.annotations)
        .unwrap_or_default()
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
        let mut sandboxes: BTreeMap<String, Pod> = BTreeMap::new();
        // The sandbox id each container of `found.containers` names ('' for none).
        let mut sandbox_of: Vec<String> = Vec::new();
        for (namespace_name, entry) in db.entries(v1)? {
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
                let namespace = String::from_utf8_lossy(&namespace_name).into_owned();
                for (id, entry) in db.entries(containers)? {
                    let Entry::Bucket(c) = entry else { continue };
                    let id = String::from_utf8_lossy(&id).into_owned();
                    let labels = labels(&db, c)?;
                    let annotations = spec_annotations(db.value(c, b"spec")?.as_deref());
                    let from = |label: &str, annotation: &str| {
                        labels
                            .get(label)
                            .or_else(|| annotations.get(annotation))
                            .cloned()
                    };
                    if labels.get(CRI_KIND).map(String::as_str) == Some("sandbox") {
                        let pod = Pod {
                            uid: from("io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid")
                                .unwrap_or_default(),
                            name: from("io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name")
                                .unwrap_or_default(),
                            namespace: from(
                                "io.kubernetes.pod.namespace",
                                "io.kubernetes.cri.sandbox-namespace",
                            )
                            .unwrap_or_default(),
                            sandbox_id: id.clone(),
                        };
                        // Without a UID the pod cannot be named in ListLocalImages' filters.
                        if !pod.uid.is_empty() {
                            sandboxes.insert(id, pod);
                        }
                        continue;
                    }
                    let sandbox_id = db
                        .value(c, b"sandboxid")?
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .filter(|v| !v.is_empty())
                        .or_else(|| annotations.get("io.kubernetes.cri.sandbox-id").cloned())
                        .unwrap_or_default();
                    let image = text(db.value(c, b"image")?);
                    let pod = pod_from_labels(&labels);
                    found.containers.push(Container {
                        name: from(
                            "io.kubernetes.container.name",
                            "io.kubernetes.cri.container-name",
                        )
                        .unwrap_or_else(|| id.clone()),
                        status: self.task_status(&namespace, &id),
                        image_digest: digests_by_name.get(&image).cloned().unwrap_or_default(),
                        image,
                        created_ms: time_of(&db, c, b"createdat")?,
                        pod_uid: pod.as_ref().map(|p| p.uid.clone()).unwrap_or_default(),
                        id,
                    });
                    sandbox_of.push(sandbox_id);
                    if let Some(pod) = pod {
                        pods.entry(pod.uid.clone()).or_insert(pod);
                    }
                }
            }
        }
        // Sandboxes sort anywhere among their containers, so membership is settled last.
        for (container, sandbox_id) in found.containers.iter_mut().zip(&sandbox_of) {
            if let Some(pod) = sandboxes.get(sandbox_id) {
                if container.pod_uid.is_empty() {
                    container.pod_uid = pod.uid.clone();
                }
            }
        }
        for pod in sandboxes.into_values() {
            // The sandbox knows the pod best (its id too); it replaces one seen in labels.
            pods.insert(pod.uid.clone(), pod);
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
