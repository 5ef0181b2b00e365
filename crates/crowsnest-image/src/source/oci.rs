//! OCI image layouts (a directory, or an `oci-archive` tar holding one): `index.json` ->
//! (nested indexes, one platform picked) -> image manifest -> config and layers. Docker
//! distribution manifests (schema 2 and manifest lists) are read the same way, as registries and
//! `docker save` 25+ store them; schema 1 is refused.

use std::collections::BTreeMap;

use crowsnest_model::{Digest, SourceInfo, SourceKind};
use serde::Deserialize;

use super::blob_store::BlobStore;
use super::image_config::ImageConfig;
use super::stored_image::{tag_matches, Request, StoredImage, MAX_LAYERS};
use super::{ImageSource, LayerDescriptor, Platform};
use crate::ImageError;

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_V1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
pub(crate) const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Annotations that name an image in an index: the OCI one, and the full name containerd and
/// `docker save` 25+ add.
const NAME_ANNOTATIONS: &[&str] = &[
    "org.opencontainers.image.ref.name",
    "io.containerd.image.name",
];

/// Indexes may nest (an index of multi-platform images); deeper than this is a loop or an attack.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// An OCI content descriptor.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) platform: Option<DescriptorPlatform>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct DescriptorPlatform {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) variant: Option<String>,
}

impl std::fmt::Display for DescriptorPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
pub(crate) struct IndexJson {
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub(crate) struct ManifestJson {
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutJson {
    image_layout_version: String,
}

pub(crate) enum Document {
    Index(IndexJson),
    Manifest(ManifestJson),
}

/// Opens the image `request` names in the OCI layout `store`.
pub(crate) fn open(
    store: BlobStore,
    request: &Request<'_>,
    kind: SourceKind,
) -> Result<Box<dyn ImageSource>, ImageError> {
    let limit = request.limits.max_json_bytes;
    if let Ok(location) = store.locate("oci-layout") {
        let bytes = store.read_document(&location, None, limit)?;
        let layout: LayoutJson = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("oci-layout: {e}")))?;
        if !layout.image_layout_version.starts_with("1.") {
            return Err(ImageError::Invalid(format!(
                "OCI image layout version {:?} is not supported (1.x is)",
                layout.image_layout_version
            )));
        }
    }
    let index_location = store
        .locate("index.json")
        .map_err(|_| ImageError::Invalid("OCI image layout without index.json".into()))?;
    let bytes = store.read_document(&index_location, None, limit)?;
    let Document::Index(index) = parse_document(&bytes, "index.json", None)? else {
        return Err(ImageError::Invalid(
            "index.json is an image manifest, not an image index".into(),
        ));
    };
    let mut candidates = index.manifests;
    if let Some(tag) = request.tag {
        let available = all_tags(&candidates);
        candidates.retain(|d| descriptor_tags(d).iter().any(|t| tag_matches(tag, t)));
        if candidates.is_empty() {
            return Err(ImageError::NotFound(format!(
                "no image tagged {tag:?} in {}; tags: {}",
                request.reference,
                list_or_none(&available)
            )));
        }
    }
    let platform = &request.options.platform;
    let top = pick(candidates, platform, request.reference)?;
    let tags = descriptor_tags(&top);
    let mut descriptor = top;
    let mut depth = 0;
    let manifest = loop {
        let location = store.locate_blob(&descriptor.digest)?;
        let bytes = store.read_document(
            &location,
            Some((&descriptor.digest, descriptor.size)),
            limit,
        )?;
        let what = format!("manifest {}", descriptor.digest);
        match parse_document(&bytes, &what, Some(&descriptor.media_type))? {
            Document::Manifest(m) => break m,
            Document::Index(nested) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(ImageError::Invalid(format!(
                        "image indexes nest more than {MAX_INDEX_DEPTH} deep"
                    )));
                }
                descriptor = pick(nested.manifests, platform, request.reference)?;
            }
        }
    };
    build(store, request, kind, &descriptor.digest, tags, manifest)
}

/// Chooses the one descriptor of `candidates` to follow.
pub(crate) fn pick(
    candidates: Vec<Descriptor>,
    platform: &Platform,
    reference: &str,
) -> Result<Descriptor, ImageError> {
    let offered: Vec<String> = candidates
        .iter()
        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
        .collect();
    let mut matching: Vec<Descriptor> = candidates
        .into_iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
        })
        .collect();
    if matching.len() > 1 && matching.iter().any(|d| d.platform.is_none()) {
        return Err(ImageError::Invalid(format!(
            "{reference} holds {} images; name one as PATH:TAG (tags: {})",
            matching.len(),
            list_or_none(&all_tags(&matching))
        )));
    }
    if matching.is_empty() {
        return Err(ImageError::NotFound(format!(
            "no image for platform {platform} in {reference}; platforms: {}",
            list_or_none(&offered)
        )));
    }
    // Several entries for the platform differ only in variant (linux/arm/v6, v7) when the
    // request named none; the first is the index author's preferred one.
    Ok(matching.swap_remove(0))
}

fn descriptor_tags(descriptor: &Descriptor) -> Vec<String> {
    let mut tags: Vec<String> = NAME_ANNOTATIONS
        .iter()
        .filter_map(|key| descriptor.annotations.get(*key).cloned())
        .filter(|t| !t.is_empty())
        .collect();
    tags.dedup();
    tags
}

fn all_tags(descriptors: &[Descriptor]) -> Vec<String> {
    descriptors.iter().flat_map(descriptor_tags).collect()
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Classifies and parses an index or manifest, by its own `mediaType`, the descriptor's, or
/// (both absent, as older layouts allow) the fields it has.
pub(crate) fn parse_document(
    bytes: &[u8],
    what: &str,
    declared: Option<&str>,
) -> Result<Document, ImageError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::Invalid(format!("{what}: not JSON: {e}")))?;
    let own = value.get("mediaType").and_then(|m| m.as_str());
    let declared = declared.filter(|d| !d.is_empty());
    let schema_v1 = value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1)
        || [own, declared]
            .iter()
            .flatten()
            .any(|m| DOCKER_V1.contains(m));
    if schema_v1 {
        return Err(ImageError::SchemaV1NotSupport(format!(
            "{what} is a Docker schema 1 manifest; convert the image (e.g. pull and push it \
             with a current Docker or skopeo) to schema 2 or OCI"
        )));
    }
    if let (Some(own), Some(declared)) = (own, declared) {
        if own != declared {
            return Err(ImageError::Invalid(format!(
                "{what} says it is {own} but its descriptor says {declared}"
            )));
        }
    }
    let is_index = match own.or(declared) {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => {
            return Err(ImageError::Invalid(format!(
                "{what} has media type {other}, which is not an image index or manifest"
            )))
        }
        None if value.get("manifests").is_some() => true,
        None if value.get("config").is_some() => false,
        None => {
            return Err(ImageError::Invalid(format!(
                "{what} is neither an image index nor a manifest"
            )))
        }
    };
    let invalid = |e: serde_json::Error| ImageError::Invalid(format!("{what}: {e}"));
    if is_index {
        Ok(Document::Index(
            serde_json::from_value(value).map_err(invalid)?,
        ))
    } else {
        Ok(Document::Manifest(
            serde_json::from_value(value).map_err(invalid)?,
        ))
    }
}

pub(crate) fn layer_media_type_supported(media_type: &str) -> bool {
    media_type.is_empty()
        || ((media_type.starts_with("application/vnd.oci.image.layer.")
            || media_type.starts_with("application/vnd.docker.image.rootfs."))
            && !media_type.contains("encrypted"))
}

/// Refuses a manifest that is not a container image (an artifact such as a signature or a
/// chart) or that lists more layers than any real image has. Shared by every source that reads
/// a manifest, local or remote, so they refuse the same things with the same words.
pub(crate) fn check_manifest(
    manifest: &ManifestJson,
    manifest_digest: &Digest,
) -> Result<(), ImageError> {
    let config_type = manifest.config.media_type.as_str();
    if !config_type.is_empty() && !CONFIG_TYPES.contains(&config_type) {
        return Err(ImageError::Invalid(format!(
            "manifest {manifest_digest} is not a container image (config media type \
             {config_type}); it may be an artifact such as a signature or a chart"
        )));
    }
    if manifest.layers.len() > MAX_LAYERS {
        return Err(ImageError::Oversized(format!(
            "manifest {manifest_digest} lists {} layers (at most {MAX_LAYERS})",
            manifest.layers.len()
        )));
    }
    Ok(())
}

fn build(
    store: BlobStore,
    request: &Request<'_>,
    kind: SourceKind,
    manifest_digest: &Digest,
    tags: Vec<String>,
    manifest: ManifestJson,
) -> Result<Box<dyn ImageSource>, ImageError> {
    check_manifest(&manifest, manifest_digest)?;
    let config_digest = manifest.config.digest.clone();
    let location = store.locate_blob(&config_digest)?;
    let bytes = store.read_document(
        &location,
        Some((&config_digest, manifest.config.size)),
        request.limits.max_json_bytes,
    )?;
    let config = ImageConfig::parse(&bytes, &format!("config {config_digest}"))?;
    if config.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::Invalid(format!(
            "manifest {manifest_digest} lists {} layers but its config has {} diff ids",
            manifest.layers.len(),
            config.diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    let mut blobs = Vec::with_capacity(manifest.layers.len());
    for (index, (layer, diff_id)) in manifest
        .layers
        .into_iter()
        .zip(&config.diff_ids)
        .enumerate()
    {
        if !layer_media_type_supported(&layer.media_type) {
            return Err(ImageError::Invalid(format!(
                "layer {index} has media type {}, which is not a (readable) layer tar",
                layer.media_type
            )));
        }
        let location = store.locate_blob(&layer.digest)?;
        if location.size != layer.size {
            return Err(ImageError::Invalid(format!(
                "layer {index} blob {} is {} bytes but the manifest says {}",
                layer.digest, location.size, layer.size
            )));
        }
        blobs.push(location);
        layers.push(LayerDescriptor {
            digest: layer.digest,
            diff_id: Some(diff_id.clone()),
            size: layer.size,
            media_type: layer.media_type,
            created_by: config.created_by(index),
        });
    }
    let info = SourceInfo {
        kind,
        reference: request.reference.to_owned(),
        image_id: Some(config_digest),
        manifest_digest: Some(manifest_digest.clone()),
        tags,
        architecture: config.architecture.clone(),
        os: config.os.clone(),
    };
    tracing::info!(image_id = ?info.image_id, layers = layers.len(), "opened OCI image");
    Ok(Box::new(StoredImage {
        info,
        config: Some(config.summary),
        layers,
        blobs,
        store,
    }))
}
