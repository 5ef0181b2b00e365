//! [`RegistryError`]: why talking to a registry failed, each with a stable code from the
//! Huawei ListRegistryImages failure vocabulary where one fits.

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused the credentials (or demanded some and none were given).
    #[error("authentication_failed: {0}")]
    Authentication(String),
    /// The repository, tag, manifest or blob does not exist.
    #[error("get_detail_info_not_found: {0}")]
    NotFound(String),
    /// The manifest is Docker schema 1.
    #[error("schema_v1_not_support: {0}")]
    SchemaV1(String),
    /// The registry could not be reached, stopped answering, or kept failing (5xx) after retries.
    #[error("download_failed: {0}")]
    Transport(String),
    /// The registry answered something the distribution protocol does not allow.
    #[error("invalid_response: {0}")]
    Protocol(String),
    /// A document or blob is larger than allowed.
    #[error("image_over_sized: {0}")]
    Oversized(String),
    /// The reference or configuration given by the user is not usable.
    #[error("invalid_parameter: {0}")]
    InvalidInput(String),
    /// Sealed credentials could not be opened (wrong server key or damaged record).
    #[error("credentials_unreadable: {0}")]
    Sealed(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] crowsnest_store::StoreError),
}

impl RegistryError {
    /// The stable code, the text before the first `:` of the message.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Authentication(_) => "authentication_failed",
            RegistryError::NotFound(_) => "get_detail_info_not_found",
            RegistryError::SchemaV1(_) => "schema_v1_not_support",
            RegistryError::Transport(_) => "download_failed",
            RegistryError::Protocol(_) => "invalid_response",
            RegistryError::Oversized(_) => "image_over_sized",
            RegistryError::InvalidInput(_) => "invalid_parameter",
            RegistryError::Sealed(_) => "credentials_unreadable",
            RegistryError::Store(_) => "internal",
        }
    }
}
