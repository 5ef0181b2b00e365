//! [`StoredImage`]: an image whose manifest and config were read from a [`BlobStore`], whatever
//! the format (OCI layout, oci-archive, docker-archive); the formats differ only in how they
//! find the config and the layer blobs.

use std::io::Read;

use crowsnest_model::{ImageConfigSummary, SourceInfo};

use super::blob_store::{BlobLocation, BlobStore};
use super::layer_stream::LayerStream;
use super::{ImageSource, LayerDescriptor, SourceOptions, UnpackBudget};
use crate::{ImageError, Limits};

/// More layers than this is not an image anyone built (Docker caps at 127, OCI tools at a few
/// hundred); the cap keeps a hostile manifest from making per-layer work unbounded.
pub(crate) const MAX_LAYERS: usize = 4096;

/// What the caller asked to open.
pub(crate) struct Request<'a> {
    /// The reference as the user wrote it.
    pub(crate) reference: &'a str,
    /// The tag after the path, if any.
    pub(crate) tag: Option<&'a str>,
    /// Size limits.
    pub(crate) limits: &'a Limits,
    /// Platform choice.
    pub(crate) options: &'a SourceOptions,
}

/// An opened image backed by a [`BlobStore`].
pub(crate) struct StoredImage {
    pub(crate) info: SourceInfo,
    pub(crate) config: Option<ImageConfigSummary>,
    pub(crate) layers: Vec<LayerDescriptor>,
    /// Where each layer's blob is, aligned with `layers`.
    pub(crate) blobs: Vec<BlobLocation>,
    pub(crate) store: BlobStore,
}

impl ImageSource for StoredImage {
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
        let (Some(descriptor), Some(location)) = (self.layers.get(index), self.blobs.get(index))
        else {
            return Err(ImageError::NotFound(format!(
                "layer {index} (the image has {})",
                self.layers.len()
            )));
        };
        let raw = self.store.open(location)?;
        Ok(Box::new(LayerStream::new(raw, index, descriptor, budget)?))
    }
}

/// True when `wanted` names `candidate`, as users write tags: exactly, or without the
/// `:latest` Docker implies, or without the `docker.io/library/` prefix Docker hides.
pub(crate) fn tag_matches(wanted: &str, candidate: &str) -> bool {
    if wanted == candidate {
        return true;
    }
    let short = candidate
        .strip_prefix("docker.io/library/")
        .or_else(|| candidate.strip_prefix("docker.io/"))
        .unwrap_or(candidate);
    if wanted == short {
        return true;
    }
    let names_a_tag = wanted
        .rsplit_once('/')
        .map_or(wanted, |(_, last)| last)
        .contains(':');
    !names_a_tag && (short == format!("{wanted}:latest") || candidate == format!("{wanted}:latest"))
}

#[cfg(test)]
mod tests {
    use super::tag_matches;

    #[test]
    fn tags_match_as_docker_users_write_them() {
        assert!(tag_matches("alpine:3.10", "alpine:3.10"));
        assert!(tag_matches("alpine:3.10", "docker.io/library/alpine:3.10"));
        assert!(tag_matches("alpine", "alpine:latest"));
        assert!(!tag_matches("alpine", "alpine:3.10"));
        assert!(!tag_matches("alpine:3.1", "alpine:3.10"));
        assert!(tag_matches(
            "localhost:5000/app",
            "localhost:5000/app:latest"
        ));
    }
}
