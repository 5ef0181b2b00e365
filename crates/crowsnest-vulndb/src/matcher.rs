//! Matching installed packages against the database.
//!
//! The matcher takes packages (an [`Inventory`] or a slice), never an image, so stored
//! inventories are re-matched after a database update without touching images again.
//!
//! Records that describe the same vulnerability for the same package (one's id among another's
//! aliases, or a shared alias such as the CVE) become one [`Finding`]: its id is the CVE when any
//! of them names one, else the lowest record id; every other id becomes an alias. Alpine-style
//! records whose single `upstream` id is a CVE are treated as that CVE.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crowsnest_model::{purl_for, CvssScore, Distro, Finding, Inventory, Package, Severity};
use crowsnest_version::Scheme;

use crate::ecosystem::{lookups_for, scheme_for_base};
use crate::error::VulnDbError;
use crate::range::{Installed, SchemeOrder};
use crate::store::{RecordEntry, VulnDb};

/// One record that affects one package, before aliases are merged.
struct Hit {
    entry: Arc<RecordEntry>,
    fixed: Vec<String>,
    scheme: Option<Scheme>,
    /// Per-package CVSS scores of each affected entry that matched.
    cvss: Vec<Arc<[CvssScore]>>,
    ecosystem_word: Option<Severity>,
    /// [`crate::store::Candidate::uid`] of each affected entry that matched.
    candidates: Vec<u32>,
}
impl Hit {
    /// Every id this record goes by.
    fn ids(&self) -> impl Iterator<Item = &str> {
        let info = &self.entry.info;
        let upstream: &[String] = if info.upstream.len() == 1 {
            &info.upstream
        } else {
            &[]
        };
        std::iter::once(info.id.as_str())
            .chain(info.aliases.iter().map(String::as_str))
            .chain(upstream.iter().map(String::as_str))
    }
}

/// Matches every package of an inventory, using its detected distribution for OS packages.
///
/// This is how a stored inventory is re-matched after a database update: it reads only the
/// inventory (for example one deserialised from a scan report's JSON) and the database, never
/// the image. The result is deterministic: the same inventory against a database holding the
/// same records gives the same findings in the same order, whatever the order of the
/// inventory's packages or of the records in the archives they were imported from (see
/// [`match_packages`] for the order).
pub fn match_inventory(db: &VulnDb, inventory: &Inventory) -> Result<Vec<Finding>, VulnDbError> {
    match_packages(db, &inventory.packages, inventory.distro.as_ref())
}

/// Matches packages against the database. `distro` selects the OS ecosystem release for deb, apk
/// and rpm packages; without it OS packages are not matched.
///
/// Findings are sorted by severity (highest first), then package name, installed version, id,
/// ecosystem, location and layer, which orders any two distinct findings; within a finding,
/// aliases are sorted, fixed versions ascend in the ecosystem's order, and references follow
/// the records' ids.
pub fn match_packages(
    db: &VulnDb,
    packages: &[Package],
    distro: Option<&Distro>,
) -> Result<Vec<Finding>, VulnDbError> {
    let _span = tracing::debug_span!("match", packages = packages.len()).entered();
    // (finding, index of its package)
    let mut found: Vec<(Finding, usize)> = Vec::new();
    for (i, pkg) in packages.iter().enumerate() {
        let hits = package_hits(db, pkg, distro)?;
        if !hits.is_empty() {
            found.extend(merge(db, pkg, distro, hits).into_iter().map(|f| (f, i)));
        }
    }
    Ok(sorted(packages, found))
}

/// Sorts findings by severity (highest first), package name, installed version, id, ecosystem,
/// location and layer. Packages are ranked by (name, version) once, so most comparisons are of
/// two integers rather than of strings, and findings are moved once rather than swapped.
fn sorted(packages: &[Package], found: Vec<(Finding, usize)>) -> Vec<Finding> {
    let mut by_name: Vec<usize> = (0..packages.len()).collect();
    let key = |i: usize| {
        packages
            .get(i)
            .map(|p| (p.name.as_str(), p.version.as_str()))
    };
    by_name.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
    // Equal (name, version) pairs share a rank, so the finding's id decides between them
    // before the ecosystem and location do, as in the documented order.
    let mut rank = vec![0u32; packages.len()];
    let mut current = 0u32;
    for (n, pair) in by_name.iter().enumerate() {
        if n > 0 && key(by_name[n - 1]) != key(*pair) {
            current += 1;
        }
        if let Some(slot) = rank.get_mut(*pair) {
            *slot = current;
        }
    }
    let mut order: Vec<(Severity, u32, usize)> = found
        .iter()
        .enumerate()
        .map(|(n, (f, p))| (f.severity, rank.get(*p).copied().unwrap_or(0), n))
        .collect();
    // The key orders any two distinct findings, so an unstable sort is deterministic.
    order.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| match (found.get(a.2), found.get(b.2)) {
                (Some((a, _)), Some((b, _))) => {
                    a.id.cmp(&b.id)
                        .then_with(|| a.ecosystem.cmp(&b.ecosystem))
                        .then_with(|| a.location.cmp(&b.location))
                        .then_with(|| a.layer.cmp(&b.layer))
                }
                _ => Ordering::Equal,
            })
    });
    let mut slots: Vec<Option<Finding>> = found.into_iter().map(|(f, _)| Some(f)).collect();
    order
        .into_iter()
        .filter_map(|(_, _, n)| slots.get_mut(n).and_then(Option::take))
        .collect()
}

fn package_hits(
    db: &VulnDb,
    pkg: &Package,
    distro: Option<&Distro>,
) -> Result<Vec<Hit>, VulnDbError> {
    let order = SchemeOrder;
    let mut hits: Vec<Hit> = Vec::new();
    for lookup in lookups_for(pkg, distro) {
        let candidates = db.candidates(lookup.base, &lookup.name)?;
        if candidates.is_empty() {
            continue;
        }
        let installed = Installed::new(&lookup.version, scheme_for_base(lookup.base), &order);
        for c in candidates.iter() {
            if !lookup.releases.accepts(&c.release) {
                continue;
            }
            let Some(fixed) = c.prepared.affects(&installed, &order) else {
                continue;
            };
            let word = c.severity_word;
            // A record with several affected entries for the same package (two releases, or
            // split ranges) is one hit.
            // Candidates come sorted by record id, so another entry of the same record can only
            // follow the last hit.
            if let Some(h) = hits.last_mut().filter(|h| h.entry.info.id == c.record_id) {
                for f in fixed {
                    if !h.fixed.contains(&f) {
                        h.fixed.push(f);
                    }
                }
                h.cvss.push(c.cvss.clone());
                h.ecosystem_word = h.ecosystem_word.max(word);
                h.candidates.push(c.uid);
                continue;
            }
            let Some(entry) = db.record_entry(&c.record_id)? else {
                continue;
            };
            hits.push(Hit {
                entry,
                fixed,
                scheme: scheme_for_base(lookup.base),
                cvss: vec![c.cvss.clone()],
                ecosystem_word: word,
                candidates: vec![c.uid],
            });
        }
    }
    Ok(hits)
}

/// Groups hits that share any id (union-find over the hits).
fn groups(hits: &[Hit]) -> Vec<Vec<usize>> {
    if hits.len() <= 1 {
        return (0..hits.len()).map(|i| vec![i]).collect();
    }
    let mut parent: Vec<usize> = (0..hits.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while let Some(&p) = parent.get(i) {
            if p == i {
                break;
            }
            i = p;
        }
        i
    }
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, h) in hits.iter().enumerate() {
        for id in h.ids() {
            match owner.get(id) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        if let Some(slot) = parent.get_mut(a.max(b)) {
                            *slot = a.min(b);
                        }
                    }
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    let mut out: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..hits.len() {
        out.entry(find(&mut parent, i)).or_default().push(i);
    }
    out.into_values().collect()
}

/// What a finding shows of a vulnerability, independent of the package it was found in:
/// the merged records' ids, severity, scores, summary and references. Computed once per set
/// of matched `affected` entries and shared by every package they match (see
/// `VulnDb::groupings`), so a finding costs copies of these rather than merging records again.
#[derive(Debug)]
pub(crate) struct Advisory {
    id: String,
    aliases: Vec<String>,
    severity: Severity,
    cvss: Vec<CvssScore>,
    summary: Option<String>,
    references: Vec<String>,
}

impl Advisory {
    fn merged(members: &[&Hit]) -> Option<Advisory> {
        let first = members.first()?;
        let all_ids: BTreeSet<&str> = members.iter().flat_map(|h| h.ids()).collect();
        let record_ids: BTreeSet<&str> = members.iter().map(|h| h.entry.info.id.as_str()).collect();
        let id = all_ids
            .iter()
            .find(|i| i.starts_with("CVE-"))
            .or_else(|| record_ids.iter().next())
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| first.entry.info.id.clone());
        let aliases: Vec<String> = all_ids
            .iter()
            .filter(|i| **i != id)
            .map(|s| (*s).to_owned())
            .collect();

        let mut cvss: Vec<CvssScore> = Vec::new();
        for h in members {
            let per_package = h.cvss.iter().flat_map(|list| list.iter());
            for c in per_package.chain(h.entry.cvss.iter()) {
                if !cvss.iter().any(|x| x.vector == c.vector) {
                    cvss.push(c.clone());
                }
            }
        }
        cvss.sort_by(|a, b| {
            b.version.cmp(&a.version).then(
                b.base_score
                    .partial_cmp(&a.base_score)
                    .unwrap_or(Ordering::Equal),
            )
        });
        let best_score = cvss
            .iter()
            .map(|c| c.base_score)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        let db_word = members.iter().filter_map(|h| h.entry.severity_word).max();
        let eco_word = members.iter().filter_map(|h| h.ecosystem_word).max();
        let severity = best_score
            .map(Severity::from_cvss_score)
            .filter(|s| *s != Severity::Unknown)
            .or(db_word)
            .or(eco_word)
            .unwrap_or(Severity::Unknown);

        let references: Vec<String> = if let [only] = members {
            only.entry.info.references.clone()
        } else {
            let mut seen = std::collections::HashSet::new();
            members
                .iter()
                .flat_map(|h| h.entry.info.references.iter())
                .filter(|r| seen.insert(r.as_str()))
                .cloned()
                .collect()
        };
        // Prefer the summary of the record whose id became the finding's, then any.
        let summary = members
            .iter()
            .find(|h| h.entry.info.id == id)
            .and_then(|h| h.entry.info.summary.clone())
            .or_else(|| members.iter().find_map(|h| h.entry.info.summary.clone()));
        Some(Advisory {
            id,
            aliases,
            severity,
            cvss,
            summary,
            references,
        })
    }
}

/// Hits grouped into vulnerabilities, each group with its merged advisory.
pub(crate) type Grouping = Arc<[(Vec<usize>, Arc<Advisory>)]>;

/// The grouping of a package's hits, cached by the entries that matched: the same entries
/// (in the same order) always group and merge the same way, whatever the installed version.
fn grouped(db: &VulnDb, hits: &[Hit]) -> Grouping {
    // u32::MAX separates the hits, so two splits of the same entries differ.
    let key: Vec<u32> = hits
        .iter()
        .flat_map(|h| {
            h.candidates
                .iter()
                .copied()
                .chain(std::iter::once(u32::MAX))
        })
        .collect();
    if let Some(g) = db.groupings.borrow().get(&key) {
        return g.clone();
    }
    let mut out = Vec::new();
    for group in groups(hits) {
        let members: Vec<&Hit> = group.iter().filter_map(|&i| hits.get(i)).collect();
        if let Some(a) = Advisory::merged(&members) {
            out.push((group, Arc::new(a)));
        }
    }
    let out: Grouping = out.into();
    db.groupings.borrow_mut().insert(key, out.clone());
    out
}

fn merge(db: &VulnDb, pkg: &Package, distro: Option<&Distro>, hits: Vec<Hit>) -> Vec<Finding> {
    let purl = if pkg.purl.is_empty() {
        purl_for(pkg, distro)
    } else {
        pkg.purl.clone()
    };
    let mut out = Vec::with_capacity(hits.len());
    for (group, advisory) in grouped(db, &hits).iter() {
        let members: Vec<&Hit> = group.iter().filter_map(|&i| hits.get(i)).collect();
        let Some(first) = members.first() else {
            continue;
        };

        let mut fixed: Vec<String> = Vec::new();
        for h in &members {
            for f in &h.fixed {
                if !fixed.contains(f) {
                    fixed.push(f.clone());
                }
            }
        }
        if fixed.len() > 1 {
            // Each version parsed once (not once per comparison); a pair either of which the
            // scheme cannot read compares as text, as `crowsnest_version::compare` failing did.
            let scheme = first.scheme;
            let mut keyed: Vec<(Option<crowsnest_version::Version>, String)> = fixed
                .into_iter()
                .map(|f| (scheme.and_then(|s| crowsnest_version::parse(s, &f).ok()), f))
                .collect();
            keyed.sort_by(|(pa, a), (pb, b)| match (pa, pb) {
                (Some(x), Some(y)) => x.cmp(y),
                _ => a.cmp(b),
            });
            fixed = keyed.into_iter().map(|(_, f)| f).collect();
        }

        out.push(Finding {
            id: advisory.id.clone(),
            aliases: advisory.aliases.clone(),
            package_name: pkg.name.clone(),
            installed_version: pkg.version.clone(),
            ecosystem: pkg.ecosystem,
            purl: purl.clone(),
            fixed_versions: fixed,
            severity: advisory.severity,
            cvss: advisory.cvss.clone(),
            summary: advisory.summary.clone(),
            references: advisory.references.clone(),
            location: pkg.location.clone(),
            layer: pkg.layer.clone(),
        });
    }
    out
}
