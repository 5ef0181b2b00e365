//! Crowsnest and real OCI registries.
//!
//! # Code map
//! - [`client`]: [`RegistryClient`], the distribution API over blocking HTTP: `/v2/` ping,
//!   Basic and Bearer-token auth from `WWW-Authenticate` challenges, `_catalog` and
//!   `tags/list` with `Link` paging, manifests by tag or digest (OCI and Docker v2 schema 2,
//!   indexes and manifest lists; schema 1 recognised), `HEAD` for digests, blobs streamed with
//!   resume-on-break, retries with backoff, timeouts on connect and every read.
//! - [`reference`]: parsing `REGISTRY/REPOSITORY[:TAG][@DIGEST]` references.
//! - [`fetcher`]: the [`crowsnest_image::RemoteFetcher`] that lets the scan engine stream layers
//!   straight from a registry (nothing written to disk), and the mapping of failures onto the
//!   seed's `scan_failed_code` vocabulary.
//! - [`schedule`]: cron expressions of scheduled syncs (parsing, the next run in UTC).
//! - [`sealed`]: credentials encrypted at rest under the server key in the data directory.
//! - [`sync`]: enumerates a registry (catalog or configured repositories, namespace filters),
//!   records repositories, tags, digests, sizes, multi-arch children and `latest_version` in
//!   the store, removes what disappeared, and reports the digests that need a scan.
//!   Incremental: unchanged tags cost one `HEAD` each.
//!
//! # Boundary
//! This crate holds every HTTP detail of registries; `crowsnest-image` sees only the
//! [`crowsnest_image::RemoteFetcher`] trait, and the store sees only rows.

pub mod client;
mod error;
pub mod fetcher;
pub mod reference;
pub mod schedule;
pub mod sealed;
pub mod sync;

pub use client::{ClientOptions, Credentials, RegistryClient};
pub use error::RegistryError;
pub use fetcher::{failure_code, open_image};
pub use reference::ImageReference;
pub use sealed::ServerKey;
