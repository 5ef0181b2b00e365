//! Re-matching stored inventories after a database update, without touching the images
//! (Clair's split of indexing from matching).
//!
//! The store is behind [`StoredInventories`], so this crate knows nothing of how or where
//! inventories are kept: the binary adapts `crowsnest-store` to it. [`rematch`] walks the
//! inventories not yet matched by the current database build in batches, matches each batch
//! on several threads (one read-only handle per thread, kept across batches so their caches
//! stay warm), and records each result.

use std::path::Path;

use crowsnest_model::{Distro, Finding, Inventory, Package};

use crate::error::VulnDbError;
use crate::matcher::match_packages;
use crate::store::VulnDb;

/// An error of the store behind [`StoredInventories`].
pub type StoreFailure = Box<dyn std::error::Error + Send + Sync>;

/// Where stored inventories come from and where match results go.
pub trait StoredInventories {
    /// Up to `limit` inventories, with their keys (image digests), that were not last matched
    /// by `build`, in key order after `after` (`None` for the first batch).
    fn next_batch(
        &mut self,
        build: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Inventory)>, StoreFailure>;

    /// Records the findings of the inventory `key` against `build`; returns whether the
    /// per-severity counts it had before changed.
    fn record(
        &mut self,
        key: &str,
        build: &str,
        findings: &[Finding],
    ) -> Result<bool, StoreFailure>;
}

/// What [`rematch`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RematchSummary {
    /// The database build matched against.
    pub build: String,
    /// Inventories matched.
    pub rematched: u64,
    /// Inventories whose per-severity counts changed.
    pub changed: u64,
    /// Findings, all inventories together.
    pub findings: u64,
}

/// How many inventories are matched between two rounds of recording.
pub const DEFAULT_BATCH: usize = 256;

/// Matches every stored inventory whose last match was against another build than the
/// database at `db_path`'s, on `threads` threads (at least one), `batch` inventories at a time.
pub fn rematch(
    db_path: &Path,
    store: &mut dyn StoredInventories,
    batch: usize,
    threads: usize,
) -> Result<RematchSummary, VulnDbError> {
    let first = VulnDb::open(db_path)?;
    let build = first.build()?;
    let mut handles = vec![first];
    for _ in 1..threads.max(1) {
        handles.push(VulnDb::open(db_path)?);
    }
    let mut summary = RematchSummary {
        build: build.clone(),
        ..RematchSummary::default()
    };
    let mut after: Option<String> = None;
    loop {
        let items = store
            .next_batch(&build, after.as_deref(), batch.max(1))
            .map_err(VulnDbError::Store)?;
        let Some((last, _)) = items.last() else {
            break;
        };
        after = Some(last.clone());
        let results = match_in_parallel(&mut handles, &items, |(_, inv)| {
            (inv.packages.as_slice(), inv.distro.as_ref())
        })?;
        for ((key, _), findings) in items.iter().zip(&results) {
            let changed = store
                .record(key, &build, findings)
                .map_err(VulnDbError::Store)?;
            summary.rematched += 1;
            summary.changed += u64::from(changed);
            summary.findings += findings.len() as u64;
        }
    }
    Ok(summary)
}

/// Matches many package lists at once, one thread per handle (each thread takes a contiguous
/// share of `items`); results come back in `items`' order, each exactly what
/// [`match_packages`] gives. Handles are `&mut` so each is used by one thread at a time and
/// keeps its caches for the next call.
pub fn match_in_parallel<T: Sync>(
    handles: &mut [VulnDb],
    items: &[T],
    packages: impl Fn(&T) -> (&[Package], Option<&Distro>) + Sync,
) -> Result<Vec<Vec<Finding>>, VulnDbError> {
    if handles.is_empty() || items.is_empty() {
        return Ok(Vec::new());
    }
    let share = items.len().div_ceil(handles.len());
    let packages = &packages;
    let parts: Vec<Result<Vec<Vec<Finding>>, VulnDbError>> = std::thread::scope(|s| {
        let running: Vec<_> = handles
            .iter_mut()
            .zip(items.chunks(share))
            .map(|(db, chunk)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|item| {
                            let (pkgs, distro) = packages(item);
                            match_packages(db, pkgs, distro)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        running
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(VulnDbError::Store("a matching thread panicked".into()))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}
