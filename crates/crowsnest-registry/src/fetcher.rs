//! The bridge into the scan engine: [`RepositoryFetcher`] serves one repository's manifests and
//! blobs to `crowsnest_image::open_remote`, which verifies and streams them like any other
//! source. Registry errors travel inside [`ImageError`]s (as the I/O source) so that, once a
//! scan fails, [`failure_code`] can still name the registry's reason.

use std::io::Read;
use std::sync::Arc;

use crowsnest_image::source::{FetchedDocument, RemoteFetcher, SourceOptions};
use crowsnest_image::{ImageError, ImageSource, Limits};
use crowsnest_model::Digest;

use crate::{ImageReference, RegistryClient, RegistryError};

/// One repository of a registry, as the image source reads it.
pub struct RepositoryFetcher {
    client: Arc<RegistryClient>,
    repository: String,
}

impl RepositoryFetcher {
    /// A fetcher for `repository` through `client`.
    pub fn new(client: Arc<RegistryClient>, repository: &str) -> Self {
        RepositoryFetcher {
            client,
            repository: repository.to_owned(),
        }
    }
}

impl RemoteFetcher for RepositoryFetcher {
    fn fetch_manifest(&self, reference: &str, limit: u64) -> Result<FetchedDocument, ImageError> {
        let manifest = self
            .client
            .manifest(&self.repository, reference, limit)
            .map_err(into_image_error)?;
        Ok(FetchedDocument {
            bytes: manifest.bytes,
            media_type: manifest.media_type,
        })
    }

    fn fetch_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ImageError> {
        self.client
            .blob_bytes(&self.repository, digest, limit)
            .map_err(into_image_error)
    }

    fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let reader = self
            .client
            .blob_stream(&self.repository, digest, size)
            .map_err(into_image_error)?;
        Ok(Box::new(reader))
    }
}

/// Opens `reference` through `client` as an image source whose layers stream from the registry.
pub fn open_image(
    client: Arc<RegistryClient>,
    reference: &ImageReference,
    limits: &Limits,
    options: &SourceOptions,
) -> Result<Box<dyn ImageSource>, ImageError> {
    let fetcher = RepositoryFetcher::new(client, &reference.repository);
    crowsnest_image::open_remote(
        Box::new(fetcher),
        &reference.to_string(),
        &reference.manifest_reference(),
        limits,
        options,
    )
}

/// Wraps a registry error so the image source can carry it.
fn into_image_error(error: RegistryError) -> ImageError {
    match error {
        RegistryError::NotFound(m) => ImageError::NotFound(m),
        RegistryError::SchemaV1(m) => ImageError::SchemaV1NotSupport(m),
        RegistryError::Oversized(m) => ImageError::Oversized(m),
        other => ImageError::io("registry", std::io::Error::other(other)),
    }
}

/// The registry error an [`ImageError`] carries, if any (see the module docs).
pub fn registry_error(error: &ImageError) -> Option<&RegistryError> {
    let ImageError::Io { source, .. } = error else {
        return None;
    };
    let mut current: Option<&(dyn std::error::Error + 'static)> = source
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    for _ in 0..16 {
        let e = current?;
        if let Some(found) = e.downcast_ref::<RegistryError>() {
            return Some(found);
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(inner) => inner
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The Huawei ListRegistryImages `scan_failed_code` for a failed registry image scan.
pub fn failure_code(error: &ImageError) -> &'static str {
    if let Some(inner) = registry_error(error) {
        return match inner {
            RegistryError::Protocol(_) | RegistryError::Transport(_) => "download_failed",
            RegistryError::Store(_) | RegistryError::InvalidInput(_) | RegistryError::Sealed(_) => {
                "unknown_error"
            }
            other => other.code(),
        };
    }
    match error {
        ImageError::Oversized(_) => "image_over_sized",
        ImageError::NotFound(_) => "get_detail_info_not_found",
        ImageError::SchemaV1NotSupport(_) => "schema_v1_not_support",
        ImageError::DigestMismatch { .. }
        | ImageError::CorruptLayer { .. }
        | ImageError::Io { .. } => "download_failed",
        ImageError::Invalid(_) | ImageError::UnsafeEntry { .. } => "failed_to_scan_software",
    }
}
