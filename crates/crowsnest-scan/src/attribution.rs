//! Which layer introduced each package.
//!
//! A package database such as `var/lib/dpkg/status` is rewritten by every layer that installs
//! anything, so the layer holding the final file is not the layer that introduced most of its
//! packages. Like trivy's applier, we look back through the older copies of the same file: a
//! package is attributed to the earliest layer from which every later copy still lists it at the
//! same version. A package whose version changed is attributed to the layer that changed it.

use std::collections::BTreeSet;

use crowsnest_image::merge::CapturedVersion;
use crowsnest_image::MergedFs;
use crowsnest_model::{FileMeta, ImagePath, LayerInfo, Package};

/// Sets `layer` on each package found in the final copy of `path`. `catalog_older` catalogs one
/// older captured copy and returns its (name, version) pairs.
pub(crate) fn attribute_layers(
    found: &mut [Package],
    path: &ImagePath,
    meta: &FileMeta,
    fs: &MergedFs,
    layers: &[LayerInfo],
    mut catalog_older: impl FnMut(&CapturedVersion<'_>) -> BTreeSet<(String, String)>,
) {
    if layers.is_empty() || found.is_empty() {
        return;
    }
    // Older copies, newest first, each cataloged only when a package still needs it.
    let mut older: Vec<CapturedVersion<'_>> = fs
        .captured_versions(path)
        .into_iter()
        .filter(|v| v.layer < meta.layer)
        .collect();
    older.sort_by_key(|v| std::cmp::Reverse(v.layer));

    let mut introduced: Vec<usize> = vec![meta.layer; found.len()];
    let mut still_present: Vec<bool> = vec![true; found.len()];
    for version in &older {
        if !still_present.iter().any(|&s| s) {
            break;
        }
        let listed = catalog_older(version);
        for (i, pkg) in found.iter().enumerate() {
            if still_present[i] && listed.contains(&(pkg.name.clone(), pkg.version.clone())) {
                introduced[i] = version.layer;
            } else {
                still_present[i] = false;
            }
        }
    }
    for (pkg, layer) in found.iter_mut().zip(introduced) {
        pkg.layer = layers.get(layer).map(|l| l.diff_id.clone());
    }
}
