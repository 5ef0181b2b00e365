//! Stable, unique references to the packages of an inventory, and the link from a finding back
//! to the package it concerns.
//!
//! SBOM formats need one identifier per package (CycloneDX `bom-ref`, SPDX `SPDXID`) that is
//! unique in the document and the same on every run over the same image. The purl alone is not
//! unique: one image can hold the same wheel in two virtualenvs. So the location is added only
//! where the purl repeats, which keeps the common case readable.

use std::collections::{HashMap, HashSet};

use crowsnest_model::{Finding, Inventory, Package};

/// The purl of `pkg`: the one the scan engine filled in, or one built from the package.
pub(crate) fn purl_of(pkg: &Package, inventory: &Inventory) -> String {
    if pkg.purl.is_empty() {
        crowsnest_model::purl_for(pkg, inventory.distro.as_ref())
    } else {
        pkg.purl.clone()
    }
}

/// One unique reference per package of `inventory`, in the same order: the purl, with
/// `#<location>` appended where the purl repeats, and `#<n>` where even that repeats.
pub(crate) fn package_refs(inventory: &Inventory) -> Vec<String> {
    let purls: Vec<String> = inventory
        .packages
        .iter()
        .map(|p| purl_of(p, inventory))
        .collect();
    let mut purl_counts: HashMap<&str, usize> = HashMap::new();
    for p in &purls {
        *purl_counts.entry(p.as_str()).or_default() += 1;
    }
    let candidates: Vec<String> = purls
        .iter()
        .zip(&inventory.packages)
        .map(|(purl, pkg)| {
            if purl_counts.get(purl.as_str()).copied().unwrap_or(0) > 1 {
                format!("{purl}#{}", pkg.location)
            } else {
                purl.clone()
            }
        })
        .collect();
    dedup(candidates)
}

/// Makes every entry unique by suffixing `#2`, `#3`, ... to repeats, first occurrence unchanged.
pub(crate) fn dedup(candidates: Vec<String>) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::with_capacity(candidates.len());
    let mut out = Vec::with_capacity(candidates.len());
    for c in candidates {
        let mut id = c.clone();
        let mut n = 1usize;
        while used.contains(&id) {
            n += 1;
            id = format!("{c}#{n}");
        }
        used.insert(id.clone());
        out.push(id);
    }
    out
}

/// The index in `inventory.packages` of the package `finding` is about: same purl and
/// location first, then same purl, then same ecosystem, name and version.
pub(crate) fn package_of(finding: &Finding, inventory: &Inventory) -> Option<usize> {
    let pkgs = &inventory.packages;
    let purl_matches =
        |p: &Package| !finding.purl.is_empty() && purl_of(p, inventory) == finding.purl;
    pkgs.iter()
        .position(|p| purl_matches(p) && p.location == finding.location)
        .or_else(|| pkgs.iter().position(purl_matches))
        .or_else(|| {
            pkgs.iter().position(|p| {
                p.ecosystem == finding.ecosystem
                    && p.name == finding.package_name
                    && p.version == finding.installed_version
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_get_suffixes_and_stay_unique() {
        let out = dedup(vec![
            "a".into(),
            "a".into(),
            "a#2".into(),
            "b".into(),
            "a".into(),
        ]);
        let mut sorted = out.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), out.len(), "{out:?}");
        assert_eq!(out[0], "a");
        assert_eq!(out[3], "b");
    }
}
