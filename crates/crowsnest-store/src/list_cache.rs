//! Totals and page positions of placement lists, reused while the inventory stays unchanged.
//!
//! A list request costs a count of every matching placement and a walk past `offset` rows;
//! over a million placements both take milliseconds to a hundred, while the answer changes only
//! when the inventory does. Every write transaction that changes inventory data bumps
//! `store_generation` (see `sql::run_in`), and a list reads that counter in the same
//! transaction as its data, so a total or position remembered at generation `g` is exactly
//! what the query would compute again at `g`. A newer generation empties the cache; a reader
//! still at an older one neither reads nor fills it. Other processes writing the same database
//! bump the same counter, so their changes are seen too.
//!
//! A position is a keyset continuation: "the row at index `p - 1` of this ordered, filtered
//! list has key `k`", so the rows from offset `p` on are exactly those after `k`. A page at
//! offset `o` then starts from the nearest remembered `p <= o` and skips only `o - p` rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// How many totals are kept before the map is emptied (bounds memory, not correctness).
const MAX_TOTALS: usize = 4096;
/// How many distinct queries keep positions.
const MAX_QUERIES: usize = 1024;
/// How many positions one query keeps.
const MAX_POSITIONS: usize = 256;

/// Where a page ended: the sort key of its last row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageKey {
    /// The placement id (the tie-breaker of every order).
    pub(crate) id: i64,
    /// The placement's latest scan time (the scan-time orders' first key).
    pub(crate) scan_ms: i64,
}

#[derive(Default)]
struct State {
    generation: i64,
    totals: HashMap<String, i64>,
    positions: HashMap<String, BTreeMap<i64, PageKey>>,
}

/// The cache a [`crate::Store`] shares between its clones.
#[derive(Default)]
pub(crate) struct ListCache {
    state: Mutex<State>,
}

impl ListCache {
    /// Runs `f` on the state when `generation` is current, first emptying the state when
    /// `generation` is newer than what it holds; None for an older reader (or a poisoned lock,
    /// which only disables the cache).
    fn at<T>(&self, generation: i64, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        let mut state = self.state.lock().ok()?;
        if generation > state.generation {
            *state = State {
                generation,
                ..State::default()
            };
        }
        (generation == state.generation).then(|| f(&mut state))
    }

    /// The total remembered for `query` at `generation`.
    pub(crate) fn total(&self, generation: i64, query: &str) -> Option<i64> {
        self.at(generation, |s| s.totals.get(query).copied())
            .flatten()
    }

    /// Remembers the total of `query` at `generation`.
    pub(crate) fn put_total(&self, generation: i64, query: &str, total: i64) {
        self.at(generation, |s| {
            if s.totals.len() >= MAX_TOTALS {
                s.totals.clear();
            }
            s.totals.insert(query.to_owned(), total);
        });
    }

    /// The remembered position of `query` nearest below or at `offset` (positions are > 0).
    pub(crate) fn position(
        &self,
        generation: i64,
        query: &str,
        offset: i64,
    ) -> Option<(i64, PageKey)> {
        // BTreeMap::range panics on an empty inclusive range (1..=0).
        if offset < 1 {
            return None;
        }
        self.at(generation, |s| {
            s.positions
                .get(query)?
                .range(1..=offset)
                .next_back()
                .map(|(p, k)| (*p, *k))
        })
        .flatten()
    }

    /// Remembers that row `position - 1` of `query` at `generation` has `key`.
    pub(crate) fn put_position(&self, generation: i64, query: &str, position: i64, key: PageKey) {
        if position <= 0 {
            return;
        }
        self.at(generation, |s| {
            if !s.positions.contains_key(query) && s.positions.len() >= MAX_QUERIES {
                s.positions.clear();
            }
            let of_query = s.positions.entry(query.to_owned()).or_default();
            if of_query.len() >= MAX_POSITIONS {
                of_query.clear();
            }
            of_query.insert(position, key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> PageKey {
        PageKey { id, scan_ms: 0 }
    }

    #[test]
    fn newer_generation_empties_and_older_readers_are_ignored() {
        let cache = ListCache::default();
        cache.put_total(3, "q", 10);
        assert_eq!(cache.total(3, "q"), Some(10));
        // A reader of an older snapshot neither sees nor changes generation 3's entries.
        assert_eq!(cache.total(2, "q"), None);
        cache.put_total(2, "q", 99);
        assert_eq!(cache.total(3, "q"), Some(10));
        // A write happened: generation 4 starts empty.
        assert_eq!(cache.total(4, "q"), None);
        assert_eq!(cache.total(3, "q"), None);
    }

    #[test]
    fn nearest_position_at_or_below_the_offset() {
        let cache = ListCache::default();
        cache.put_position(1, "q", 20, key(25));
        cache.put_position(1, "q", 100, key(130));
        cache.put_position(1, "q", 0, key(1));
        assert_eq!(cache.position(1, "q", 10), None);
        assert_eq!(cache.position(1, "q", 0), None);
        assert_eq!(cache.position(1, "q", -5), None);
        assert_eq!(cache.position(1, "q", 20), Some((20, key(25))));
        assert_eq!(cache.position(1, "q", 99), Some((20, key(25))));
        assert_eq!(cache.position(1, "q", 5000), Some((100, key(130))));
        assert_eq!(cache.position(1, "other", 5000), None);
    }
}
