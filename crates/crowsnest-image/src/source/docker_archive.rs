//! `docker save` archives: `manifest.json` lists each image's config file, tags and layer files.
//!
//! Before Docker 25 layers are `<id>/layer.tar` (uncompressed; the id is not a content digest,
//! so the blob is verified against the config's diff id); from 25 on they are
//! `blobs/sha256/<hex>`, whose name is their digest and which may be compressed.

use crowsnest_model::{Digest, SourceInfo, SourceKind};
use serde::Deserialize;

use super::blob_store::BlobStore;
use super::compression::Compression;
use super::content_hash::ContentHasher;
use super::image_config::ImageConfig;
use super::stored_image::{tag_matches, Request, StoredImage, MAX_LAYERS};
use super::{ImageSource, LayerDescriptor};
use crate::ImageError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// Opens the image `request` names in the docker-archive `store`.
pub(crate) fn open(
    store: BlobStore,
    request: &Request<'_>,
) -> Result<Box<dyn ImageSource>, ImageError> {
    let limit = request.limits.max_json_bytes;
    let location = store.locate("manifest.json")?;
    let bytes = store.read_document(&location, None, limit)?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| ImageError::Invalid(format!("manifest.json: {e}")))?;
    let entry = choose(entries, request)?;
    if entry.layers.len() > MAX_LAYERS {
        return Err(ImageError::Oversized(format!(
            "manifest.json lists {} layers (at most {MAX_LAYERS})",
            entry.layers.len()
        )));
    }

    let config_location = store.locate(&entry.config)?;
    let named = digest_in_name(&entry.config);
    let config_bytes = store.read_document(
        &config_location,
        named.as_ref().map(|d| (d, config_location.size)),
        limit,
    )?;
    // The image id is the config's sha256 whether or not the file name says so.
    let mut hasher = ContentHasher::for_digest(&Digest::sha256_from_bytes(&[0; 32]));
    hasher.update(&config_bytes);
    let image_id = hasher.finish();
    let config = ImageConfig::parse(&config_bytes, &format!("config {}", entry.config))?;
    if config.diff_ids.len() != entry.layers.len() {
        return Err(ImageError::Invalid(format!(
            "manifest.json lists {} layers but the config has {} diff ids",
            entry.layers.len(),
            config.diff_ids.len()
        )));
    }

    let mut layers = Vec::with_capacity(entry.layers.len());
    let mut blobs = Vec::with_capacity(entry.layers.len());
    for (index, (name, diff_id)) in entry.layers.iter().zip(&config.diff_ids).enumerate() {
        let location = store.locate(name)?;
        let mut head = [0u8; 8];
        let got = store.head(&location, &mut head)?;
        let compression = Compression::sniff(head.get(..got).unwrap_or_default());
        let digest = match (digest_in_name(name), compression) {
            (Some(named), _) => named,
            // An uncompressed blob's digest is its diff id; the stream checks it against that.
            (None, Compression::None) => diff_id.clone(),
            (None, _) => store.hash(&location)?,
        };
        let media_type = match compression {
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        layers.push(LayerDescriptor {
            digest,
            diff_id: Some(diff_id.clone()),
            size: location.size,
            media_type: media_type.to_owned(),
            created_by: config.created_by(index),
        });
        blobs.push(location);
    }
    let info = SourceInfo {
        kind: SourceKind::DockerArchive,
        reference: request.reference.to_owned(),
        image_id: Some(image_id),
        manifest_digest: None,
        tags: entry.repo_tags.unwrap_or_default(),
        architecture: config.architecture.clone(),
        os: config.os.clone(),
    };
    tracing::info!(image_id = ?info.image_id, layers = layers.len(), "opened docker archive");
    Ok(Box::new(StoredImage {
        info,
        config: Some(config.summary),
        layers,
        blobs,
        store,
    }))
}

fn choose(entries: Vec<ManifestEntry>, request: &Request<'_>) -> Result<ManifestEntry, ImageError> {
    let tags_of = |entries: &[ManifestEntry]| -> String {
        let tags: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        if tags.is_empty() {
            "none".into()
        } else {
            tags.join(", ")
        }
    };
    if let Some(tag) = request.tag {
        let available = tags_of(&entries);
        return entries
            .into_iter()
            .find(|e| e.repo_tags.iter().flatten().any(|t| tag_matches(tag, t)))
            .ok_or_else(|| {
                ImageError::NotFound(format!(
                    "no image tagged {tag:?} in {}; tags: {available}",
                    request.reference
                ))
            });
    }
    if entries.len() > 1 {
        return Err(ImageError::Invalid(format!(
            "{} holds {} images; name one as PATH:TAG (tags: {})",
            request.reference,
            entries.len(),
            tags_of(&entries)
        )));
    }
    entries
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::Invalid("manifest.json lists no images".into()))
}

/// The digest a docker-archive member name carries: `blobs/sha256/<hex>` (Docker 25+) or
/// `<hex>.json` (older configs). Legacy `<id>/layer.tar` ids are not content digests.
fn digest_in_name(name: &str) -> Option<Digest> {
    let last = name.rsplit('/').next()?;
    if let Some(rest) = name.strip_prefix("blobs/") {
        let (algorithm, hex) = rest.split_once('/')?;
        return format!("{algorithm}:{hex}").parse().ok();
    }
    let stem = last.strip_suffix(".json")?;
    format!("sha256:{stem}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::digest_in_name;

    #[test]
    fn digests_come_only_from_content_addressed_names() {
        let hex = "af341ccd2df8b0e2d67cf8dd32e087bfda4e5756ebd1c76bbf3efa0dc246590e";
        assert_eq!(digest_in_name(&format!("{hex}.json")).unwrap().hex(), hex);
        assert_eq!(
            digest_in_name(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .hex(),
            hex
        );
        assert!(digest_in_name(&format!("{hex}/layer.tar")).is_none());
        assert!(digest_in_name("manifest.json").is_none());
    }
}
