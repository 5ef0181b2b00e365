//! Images read through a [`RemoteFetcher`]: a registry, or anything else that serves manifests
//! by tag or digest and blobs by digest. This crate knows no HTTP; the registry client
//! (`crowsnest-registry`) implements the trait, and this module does what every other source
//! does with what it fetches: classify and size-limit documents, refuse schema 1, pick a
//! platform from an index, verify manifest, config and layer digests, and stream layers through
//! the same [`LayerStream`] as the file sources. Nothing is written to disk.

use std::io::Read;

use crowsnest_model::{Digest, ImageConfigSummary, SourceInfo, SourceKind};

use super::content_hash::{self, ContentHasher};
use super::image_config::ImageConfig;
use super::layer_stream::LayerStream;
use super::oci::{self, check_manifest, Document, ManifestJson, MAX_INDEX_DEPTH};
use super::{ImageSource, LayerDescriptor, SourceOptions, UnpackBudget};
use crate::{ImageError, Limits};

/// A manifest or index as fetched: its bytes and the media type the server declared.
#[derive(Clone, Debug)]
pub struct FetchedDocument {
    /// The document, exactly as served (its digest is the hash of these bytes).
    pub bytes: Vec<u8>,
    /// `Content-Type` as served, when there was one.
    pub media_type: Option<String>,
}

/// Serves one repository's manifests and blobs. Implementations handle transport, auth,
/// retries and timeouts; they need not verify digests, which the source does itself.
pub trait RemoteFetcher: Send + Sync {
    /// Fetches the manifest or index `reference` names (a tag, or a digest `sha256:…`), reading
    /// at most `limit` bytes ([`ImageError::Oversized`] past that).
    fn fetch_manifest(&self, reference: &str, limit: u64) -> Result<FetchedDocument, ImageError>;

    /// Fetches blob `digest` whole, at most `limit` bytes (configs).
    fn fetch_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ImageError>;

    /// Streams blob `digest` (layers). `size` is what the manifest says it holds.
    fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError>;
}

/// One entry of an image index, as sync and platform choice see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The child manifest's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// `os/architecture[/variant]`, '' when the entry names no platform.
    pub platform: String,
}

/// What a manifest or index says, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteDocument {
    /// A multi-platform index (OCI image index or Docker manifest list).
    Index(Vec<IndexEntry>),
    /// One image.
    Manifest {
        /// Config blob digest (the image id).
        config: Digest,
        /// Config size.
        config_size: u64,
        /// Layer digests and sizes, base first.
        layers: Vec<(Digest, u64)>,
    },
}

impl RemoteDocument {
    /// Classifies `bytes`, served as `media_type`: an index, a manifest, or an error
    /// ([`ImageError::SchemaV1NotSupport`] for Docker schema 1, [`ImageError::Invalid`] for
    /// anything that is not an image).
    pub fn parse(bytes: &[u8], media_type: Option<&str>, what: &str) -> Result<Self, ImageError> {
        // Registries often append parameters (`; charset=utf-8`) to the media type.
        let declared = media_type.map(|m| m.split(';').next().unwrap_or_default().trim());
        // A generic `application/json` says nothing; let the document's own field decide.
        let declared = declared.filter(|m| *m != "application/json" && *m != "text/plain");
        match oci::parse_document(bytes, what, declared)? {
            Document::Index(index) => Ok(RemoteDocument::Index(
                index
                    .manifests
                    .into_iter()
                    .map(|d| IndexEntry {
                        platform: d
                            .platform
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        digest: d.digest,
                        size: d.size,
                        media_type: d.media_type,
                    })
                    .collect(),
            )),
            Document::Manifest(m) => Ok(RemoteDocument::Manifest {
                config: m.config.digest,
                config_size: m.config.size,
                layers: m.layers.into_iter().map(|l| (l.digest, l.size)).collect(),
            }),
        }
    }
}

/// The sha256 digest of a document's bytes: what a registry names it by.
pub fn document_digest(bytes: &[u8]) -> Digest {
    let seed = Digest::sha256_from_bytes(&[0; 32]);
    let mut hasher = ContentHasher::for_digest(&seed);
    hasher.update(bytes);
    hasher.finish()
}

/// Opens the image `reference` (a tag or digest) through `fetcher`. `display` is the name
/// reports show (`registry/repo:tag`). An index resolves to `options.platform`.
pub fn open_remote(
    fetcher: Box<dyn RemoteFetcher>,
    display: &str,
    reference: &str,
    limits: &Limits,
    options: &SourceOptions,
) -> Result<Box<dyn ImageSource>, ImageError> {
    let shown = display;
    let span = tracing::info_span!("open_remote", image = %shown);
    let _entered = span.enter();
    let limit = limits.max_json_bytes;
    let mut wanted = reference.to_owned();
    let mut declared_type: Option<String> = None;
    let mut depth = 0;
    let (manifest_digest, manifest) = loop {
        let fetched = fetcher.fetch_manifest(&wanted, limit)?;
        let named = wanted.parse::<Digest>().ok();
        let digest = named
            .clone()
            .unwrap_or_else(|| document_digest(&fetched.bytes));
        let served = fetched
            .media_type
            .as_deref()
            .map(|m| m.split(';').next().unwrap_or_default().trim().to_owned());
        let declared = served
            .filter(|m| m != "application/json" && m != "text/plain")
            .or(declared_type.take());
        let what = format!("manifest {digest} of {display}");
        // Classified before the digest check: a signed schema 1 manifest's digest covers its
        // payload without signatures, so it would only ever show up as a mismatch.
        let document = oci::parse_document(&fetched.bytes, &what, declared.as_deref())?;
        if let Some(expected) = &named {
            content_hash::verify_bytes(&format!("manifest {expected}"), expected, &fetched.bytes)?;
        }
        match document {
            Document::Manifest(m) => break (digest, m),
            Document::Index(index) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(ImageError::Invalid(format!(
                        "image indexes nest more than {MAX_INDEX_DEPTH} deep"
                    )));
                }
                let chosen = oci::pick(index.manifests, &options.platform, display)?;
                wanted = chosen.digest.to_string();
                declared_type = Some(chosen.media_type).filter(|m| !m.is_empty());
            }
        }
    };
    build(
        fetcher,
        display,
        reference,
        limits,
        manifest_digest,
        manifest,
    )
}

fn build(
    fetcher: Box<dyn RemoteFetcher>,
    display: &str,
    reference: &str,
    limits: &Limits,
    manifest_digest: Digest,
    manifest: ManifestJson,
) -> Result<Box<dyn ImageSource>, ImageError> {
    check_manifest(&manifest, &manifest_digest)?;
    let config_digest = manifest.config.digest.clone();
    if manifest.config.size > limits.max_json_bytes {
        return Err(ImageError::Oversized(format!(
            "config {config_digest} is {} bytes, more than max_json_bytes ({})",
            manifest.config.size, limits.max_json_bytes
        )));
    }
    let bytes = fetcher.fetch_blob(&config_digest, limits.max_json_bytes)?;
    content_hash::verify_bytes(&format!("config {config_digest}"), &config_digest, &bytes)?;
    let config = ImageConfig::parse(&bytes, &format!("config {config_digest}"))?;
    if config.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::Invalid(format!(
            "manifest {manifest_digest} lists {} layers but its config has {} diff ids",
            manifest.layers.len(),
            config.diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (index, (layer, diff_id)) in manifest
        .layers
        .into_iter()
        .zip(&config.diff_ids)
        .enumerate()
    {
        if !oci::layer_media_type_supported(&layer.media_type) {
            return Err(ImageError::Invalid(format!(
                "layer {index} has media type {}, which is not a (readable) layer tar",
                layer.media_type
            )));
        }
        layers.push(LayerDescriptor {
            digest: layer.digest,
            diff_id: Some(diff_id.clone()),
            size: layer.size,
            media_type: layer.media_type,
            created_by: config.created_by(index),
        });
    }
    let tags = if reference.parse::<Digest>().is_ok() {
        Vec::new()
    } else {
        vec![display.to_owned()]
    };
    let info = SourceInfo {
        kind: SourceKind::Registry,
        reference: display.to_owned(),
        image_id: Some(config_digest),
        manifest_digest: Some(manifest_digest),
        tags,
        architecture: config.architecture.clone(),
        os: config.os.clone(),
    };
    tracing::info!(image_id = ?info.image_id, layers = layers.len(), "opened remote image");
    Ok(Box::new(RemoteImage {
        info,
        config: Some(config.summary),
        layers,
        fetcher,
    }))
}

/// An image whose layers are streamed from a [`RemoteFetcher`] as they are read.
struct RemoteImage {
    info: SourceInfo,
    config: Option<ImageConfigSummary>,
    layers: Vec<LayerDescriptor>,
    fetcher: Box<dyn RemoteFetcher>,
}

impl ImageSource for RemoteImage {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn config(&self) -> Option<&ImageConfigSummary> {
        self.config.as_ref()
    }

    fn layers(&self) -> &[LayerDescriptor] {
        &self.layers
    }

    fn open_layer(
        &self,
        index: usize,
        budget: &UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let descriptor = self.layers.get(index).ok_or_else(|| {
            ImageError::NotFound(format!(
                "layer {index} (the image has {})",
                self.layers.len()
            ))
        })?;
        let raw = self
            .fetcher
            .open_blob(&descriptor.digest, descriptor.size)?;
        Ok(Box::new(LayerStream::new(raw, index, descriptor, budget)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_one_is_refused_by_code() {
        let doc = br#"{"schemaVersion":1,"name":"a/b","tag":"1","fsLayers":[]}"#;
        let err = RemoteDocument::parse(
            doc,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            "m",
        )
        .unwrap_err();
        assert_eq!(err.code(), crowsnest_model::ErrorCode::SchemaV1NotSupport);
    }

    #[test]
    fn index_entries_keep_platforms() {
        let doc = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
          "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,
          "digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let RemoteDocument::Index(entries) =
            RemoteDocument::parse(doc, Some("application/json; charset=utf-8"), "i").unwrap()
        else {
            panic!("not an index")
        };
        assert_eq!(entries[0].platform, "linux/arm64/v8");
        assert_eq!(entries[0].size, 7);
    }
}
