//! The merged, read-only view of an image's layers: [`MergedFs`].

/// The merged filesystem of an image (being written).
pub struct MergedFs;
