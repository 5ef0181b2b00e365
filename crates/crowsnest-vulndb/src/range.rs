//! Evaluating an `affected` entry against one installed version, by the OSV schema's rules.
//!
//! Events are parsed and sorted once, when an entry is loaded ([`PreparedAffected::prepare`]),
//! with the order of the range's type: `ECOSYSTEM` ranges use the ecosystem's scheme, `SEMVER`
//! ranges use SemVer, `GIT` and unknown types are skipped (installed packages carry no commit).
//! An event whose version the scheme cannot parse is dropped from its range rather than guessed
//! at. The installed version is parsed once per package ([`Installed`]), so evaluating an entry
//! is only comparisons of parsed versions.
//!
//! The order itself is behind [`VersionOrder`] so the evaluation rules are testable on their
//! own; [`SchemeOrder`] is the real one, backed by `crowsnest-version`.

use std::cmp::Ordering;

use crowsnest_version::Scheme;
use serde::{Deserialize, Serialize};

use crate::osv::{Affected, Event, RangeKind};

/// Parses versions under a scheme and orders parsed versions.
pub trait VersionOrder {
    /// A parsed version.
    type Parsed: Clone + std::fmt::Debug;
    /// `None` when `v` is not a version of `scheme`.
    fn parse(&self, scheme: Scheme, v: &str) -> Option<Self::Parsed>;
    /// `a` against `b` (both parsed under the same scheme).
    fn cmp(&self, a: &Self::Parsed, b: &Self::Parsed) -> Ordering;
}

/// The production order: `crowsnest_version`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SchemeOrder;

impl VersionOrder for SchemeOrder {
    type Parsed = crowsnest_version::Version;
    fn parse(&self, scheme: Scheme, v: &str) -> Option<Self::Parsed> {
        crowsnest_version::parse(scheme, v).ok()
    }
    fn cmp(&self, a: &Self::Parsed, b: &Self::Parsed) -> Ordering {
        a.cmp(b)
    }
}

/// The part of an `affected` entry the matcher needs, as stored in the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAffected {
    /// Ranges of types this crate evaluates (GIT and unknown types are dropped at import).
    #[serde(default, rename = "r", skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<StoredRange>,
    /// The explicit `versions` list.
    #[serde(default, rename = "v", skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Per-package CVSS vectors (`affected[].severity`).
    #[serde(default, rename = "s", skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<crate::osv::OsvSeverity>,
    /// Per-package severity word (`ecosystem_specific.severity`).
    #[serde(default, rename = "w", skip_serializing_if = "Option::is_none")]
    pub severity_word: Option<String>,
}

/// A range in stored form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRange {
    /// True for `SEMVER`, false for `ECOSYSTEM`.
    #[serde(rename = "sv")]
    pub semver: bool,
    /// The events as the record lists them.
    #[serde(rename = "e")]
    pub events: Vec<Event>,
}

impl StoredAffected {
    /// Keeps what matching needs from an `affected` entry.
    pub fn from_affected(a: &Affected) -> StoredAffected {
        let ranges = a
            .ranges
            .iter()
            .filter_map(|r| match r.kind {
                RangeKind::Ecosystem => Some(StoredRange {
                    semver: false,
                    events: r.events.clone(),
                }),
                RangeKind::Semver => Some(StoredRange {
                    semver: true,
                    events: r.events.clone(),
                }),
                RangeKind::Git | RangeKind::Other(_) => None,
            })
            .collect();
        StoredAffected {
            ranges,
            versions: a.versions.clone(),
            severity: a.severity.clone(),
            severity_word: a.ecosystem_severity().map(str::to_owned),
        }
    }
}

/// What an event does, once its version is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Introduced,
    Fixed,
    LastAffected,
}

/// An event with its version parsed; `at` is `None` only for `introduced: 0`.
#[derive(Clone, Debug)]
struct PreparedEvent<P> {
    kind: Kind,
    text: String,
    at: Option<P>,
}

/// A range with its events parsed and sorted, and its scheme resolved.
#[derive(Clone, Debug)]
pub struct PreparedRange<P> {
    scheme: Scheme,
    /// `introduced`, `fixed` and `last_affected` events, ascending (`introduced: 0` first).
    events: Vec<PreparedEvent<P>>,
    /// `limit` events; `None` is `*`.
    limits: Vec<Option<P>>,
}

/// An `affected` entry ready to be evaluated many times.
#[derive(Clone, Debug)]
pub struct PreparedAffected<P> {
    ranges: Vec<PreparedRange<P>>,
    /// The explicit `versions` list, each parsed under the ecosystem's scheme when it can be.
    versions: Vec<(String, Option<P>)>,
}

/// An installed version, parsed once under the schemes an entry may ask for: the ecosystem's
/// own and SemVer (for `SEMVER` ranges).
#[derive(Clone, Debug)]
pub struct Installed<P> {
    text: String,
    scheme: Option<Scheme>,
    own: Option<P>,
    /// Parsed on first use: most packages meet no `SEMVER` range outside SemVer ecosystems.
    semver: std::cell::OnceCell<Option<P>>,
}

impl<P: Clone + std::fmt::Debug> Installed<P> {
    /// Parses `version` under `scheme` (the ecosystem's, if known) and SemVer.
    pub fn new<O: VersionOrder<Parsed = P>>(
        version: &str,
        scheme: Option<Scheme>,
        order: &O,
    ) -> Installed<P> {
        let own = scheme.and_then(|s| order.parse(s, version));
        let semver = std::cell::OnceCell::new();
        Installed {
            text: version.to_owned(),
            scheme,
            own,
            semver,
        }
    }

    fn under<O: VersionOrder<Parsed = P>>(&self, scheme: Scheme, order: &O) -> Option<&P> {
        if scheme == Scheme::Semver && self.scheme == Some(Scheme::Semver) {
            self.own.as_ref()
        } else if scheme == Scheme::Semver {
            self.semver
                .get_or_init(|| order.parse(Scheme::Semver, &self.text))
                .as_ref()
        } else if Some(scheme) == self.scheme {
            self.own.as_ref()
        } else {
            None
        }
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<P: Clone + std::fmt::Debug> PreparedAffected<P> {
    /// Parses and sorts each range's events under its scheme. `scheme` is the ecosystem's order;
    /// `None` when the ecosystem is unknown, in which case `ECOSYSTEM` ranges are dropped.
    pub fn prepare<O: VersionOrder<Parsed = P>>(
        stored: &StoredAffected,
        scheme: Option<Scheme>,
        order: &O,
    ) -> PreparedAffected<P> {
        let mut ranges = Vec::with_capacity(stored.ranges.len());
        for r in &stored.ranges {
            let Some(range_scheme) = (if r.semver {
                Some(Scheme::Semver)
            } else {
                scheme
            }) else {
                continue;
            };
            let mut events = Vec::with_capacity(r.events.len());
            let mut limits = Vec::new();
            for e in &r.events {
                let (kind, text) = match e {
                    Event::Limit(v) if v == "*" => {
                        limits.push(None);
                        continue;
                    }
                    Event::Limit(v) => {
                        // An unreadable limit is dropped like any unreadable event.
                        if let Some(p) = order.parse(range_scheme, v) {
                            limits.push(Some(p));
                        }
                        continue;
                    }
                    Event::Introduced(v) => (Kind::Introduced, v),
                    Event::Fixed(v) => (Kind::Fixed, v),
                    Event::LastAffected(v) => (Kind::LastAffected, v),
                };
                if kind == Kind::Introduced && text == "0" {
                    events.push(PreparedEvent {
                        kind,
                        text: text.clone(),
                        at: None,
                    });
                    continue;
                }
                // Drop events the scheme cannot read: comparing them would be a guess.
                if let Some(at) = order.parse(range_scheme, text) {
                    events.push(PreparedEvent {
                        kind,
                        text: text.clone(),
                        at: Some(at),
                    });
                }
            }
            // Stable: events at the same version keep the record's order.
            events.sort_by(|a, b| match (&a.at, &b.at) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => order.cmp(x, y),
            });
            ranges.push(PreparedRange {
                scheme: range_scheme,
                events,
                limits,
            });
        }
        let versions = stored
            .versions
            .iter()
            .map(|v| (v.clone(), scheme.and_then(|s| order.parse(s, v))))
            .collect();
        PreparedAffected { ranges, versions }
    }

    /// `Some(fixed versions)` when `version` is affected, `None` when it is not. Fixed versions
    /// are the `fixed` events above `version` in the ranges that matched, in ascending order.
    pub fn affects<O: VersionOrder<Parsed = P>>(
        &self,
        version: &Installed<P>,
        order: &O,
    ) -> Option<Vec<String>> {
        let mut affected = false;
        let mut fixed: Vec<String> = Vec::new();
        for range in &self.ranges {
            let Some(v) = version.under(range.scheme, order) else {
                // An installed version the scheme cannot read is never reported.
                continue;
            };
            if range_affects(range, v, order) {
                affected = true;
                for e in &range.events {
                    if let (Kind::Fixed, Some(at)) = (e.kind, &e.at) {
                        if order.cmp(v, at) == Ordering::Less && !fixed.contains(&e.text) {
                            fixed.push(e.text.clone());
                        }
                    }
                }
            }
        }
        if !affected {
            // A listed version matches textually or, when the ecosystem has an order, as an
            // equal version under it (`1.0` lists `1.0.0` for PEP 440).
            let own = version.own.as_ref();
            affected = self.versions.iter().any(|(text, parsed)| {
                text == version.as_str()
                    || matches!((parsed, own), (Some(a), Some(b)) if order.cmp(a, b) == Ordering::Equal)
            });
        }
        affected.then_some(fixed)
    }
}

/// The OSV schema's evaluation of one range: walk the sorted events, `introduced` switches on,
/// `fixed` (inclusive) and `last_affected` (exclusive of itself) switch off; a `limit` caps the
/// whole range.
fn range_affects<O: VersionOrder>(
    range: &PreparedRange<O::Parsed>,
    version: &O::Parsed,
    order: &O,
) -> bool {
    if !range.limits.is_empty()
        && !range.limits.iter().any(|l| match l {
            None => true,
            Some(l) => order.cmp(version, l) == Ordering::Less,
        })
    {
        return false;
    }
    let mut vulnerable = false;
    for e in &range.events {
        let cmp = e.at.as_ref().map(|at| order.cmp(version, at));
        match e.kind {
            Kind::Introduced => {
                if matches!(cmp, None | Some(Ordering::Greater | Ordering::Equal)) {
                    vulnerable = true;
                }
            }
            Kind::Fixed => {
                if matches!(cmp, Some(Ordering::Greater | Ordering::Equal)) {
                    vulnerable = false;
                }
            }
            Kind::LastAffected => {
                if cmp == Some(Ordering::Greater) {
                    vulnerable = false;
                }
            }
        }
    }
    vulnerable
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dotted numeric order (`1.10 > 1.9`), enough to test the evaluation rules alone.
    struct Dotted;
    impl VersionOrder for Dotted {
        type Parsed = Vec<u64>;
        fn parse(&self, _: Scheme, v: &str) -> Option<Vec<u64>> {
            v.split('.').map(|p| p.parse::<u64>().ok()).collect()
        }
        fn cmp(&self, a: &Vec<u64>, b: &Vec<u64>) -> Ordering {
            a.cmp(b)
        }
    }

    struct Entry(PreparedAffected<Vec<u64>>);
    impl Entry {
        fn affects(&self, v: &str, order: &Dotted) -> Option<Vec<String>> {
            self.0
                .affects(&Installed::new(v, Some(Scheme::Pep440), order), order)
        }
    }

    fn entry(ranges: Vec<Vec<Event>>, versions: &[&str]) -> Entry {
        let stored = StoredAffected {
            ranges: ranges
                .into_iter()
                .map(|events| StoredRange {
                    semver: false,
                    events,
                })
                .collect(),
            versions: versions.iter().map(|s| s.to_string()).collect(),
            severity: vec![],
            severity_word: None,
        };
        Entry(PreparedAffected::prepare(
            &stored,
            Some(Scheme::Pep440),
            &Dotted,
        ))
    }

    use Event::{Fixed as F, Introduced as I, LastAffected as LA, Limit as L};

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn introduced_fixed() {
        let e = entry(vec![vec![I(s("1.0")), F(s("1.5"))]], &[]);
        assert_eq!(e.affects("0.9", &Dotted), None);
        assert_eq!(e.affects("1.0", &Dotted), Some(vec![s("1.5")]));
        assert_eq!(e.affects("1.4.9", &Dotted), Some(vec![s("1.5")]));
        assert_eq!(e.affects("1.5", &Dotted), None);
        assert_eq!(e.affects("2.0", &Dotted), None);
    }

    #[test]
    fn introduced_zero_and_open_end() {
        let e = entry(vec![vec![I(s("0"))]], &[]);
        assert!(e.affects("0.0.1", &Dotted).is_some());
        assert!(e.affects("99", &Dotted).is_some());
    }

    #[test]
    fn last_affected_is_inclusive() {
        let e = entry(vec![vec![I(s("1.2")), LA(s("1.2.17"))]], &[]);
        assert_eq!(e.affects("1.2.17", &Dotted), Some(vec![]));
        assert_eq!(e.affects("1.2.18", &Dotted), None);
        assert_eq!(e.affects("1.1", &Dotted), None);
    }

    #[test]
    fn limit_caps_the_range() {
        let e = entry(vec![vec![I(s("0")), L(s("2.0"))]], &[]);
        assert!(e.affects("1.9", &Dotted).is_some());
        assert_eq!(e.affects("2.0", &Dotted), None);
        assert_eq!(e.affects("3.0", &Dotted), None);
    }

    #[test]
    fn multiple_ranges_and_unsorted_events() {
        // Two branches in one range, listed out of order, and a second range.
        let e = entry(
            vec![
                vec![F(s("2.2.5")), I(s("2.0")), F(s("1.11.3")), I(s("1.11"))],
                vec![I(s("3.0")), F(s("3.0.1"))],
            ],
            &[],
        );
        assert_eq!(
            e.affects("1.11.2", &Dotted),
            Some(vec![s("1.11.3"), s("2.2.5")])
        );
        assert_eq!(e.affects("1.11.3", &Dotted), None);
        assert_eq!(e.affects("1.12", &Dotted), None);
        assert_eq!(e.affects("2.1", &Dotted), Some(vec![s("2.2.5")]));
        assert_eq!(e.affects("2.2.5", &Dotted), None);
        assert_eq!(e.affects("3.0", &Dotted), Some(vec![s("3.0.1")]));
        assert_eq!(e.affects("3.0.1", &Dotted), None);
    }

    #[test]
    fn versions_list() {
        let e = entry(vec![], &["1.0", "1.1"]);
        assert_eq!(e.affects("1.1", &Dotted), Some(vec![]));
        // The list is compared under the scheme: 1.00 equals 1.0 in it.
        assert_eq!(e.affects("1.00", &Dotted), Some(vec![]));
        assert_eq!(e.affects("1.2", &Dotted), None);
        // A listed version outside the ranges is still affected.
        let e = entry(vec![vec![I(s("2.0")), F(s("2.1"))]], &["1.0"]);
        assert!(e.affects("1.0", &Dotted).is_some());
        assert!(e.affects("2.0", &Dotted).is_some());
    }

    #[test]
    fn unreadable_versions_never_match() {
        let e = entry(vec![vec![I(s("0")), F(s("junk")), F(s("2.0"))]], &[]);
        assert_eq!(e.affects("1.0", &Dotted), Some(vec![s("2.0")]));
        assert_eq!(e.affects("not-a-version", &Dotted), None);
    }
}
