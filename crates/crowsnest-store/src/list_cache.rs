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
//! Whole pages are kept too, keyed by their query, offset and limit: a page asked for again at
//! the same generation is the same rows, and list traffic (consoles refreshing, SDK clients
//! polling the first page) asks for the same few pages over and over. They are bounded by the
//! rows they hold, not only by their number.
//!
//! A position is a keyset continuation: "the row at index `p - 1` of this ordered, filtered
//! list has key `k`", so the rows from offset `p` on are exactly those after `k`. A page at
//! offset `o` then starts from the nearest remembered `p <= o` and skips only `o - p` rows.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How many totals are kept before the map is emptied (bounds memory, not correctness).
const MAX_TOTALS: usize = 4096;
/// How many distinct queries keep positions.
const MAX_QUERIES: usize = 1024;
/// How many positions one query keeps.
const MAX_POSITIONS: usize = 256;
/// How many rows the kept pages hold at most, all pages together (about 1 KiB each).
const MAX_PAGE_ROWS: usize = 20_000;

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
    /// Whole pages (a `PlacementPage`, a `LocalImagePage`...), and how many rows they hold.
    pages: HashMap<String, Arc<dyn Any + Send + Sync>>,
    page_rows: usize,
}

/// The cache a [`crate::Store`] shares between its clones.
#[derive(Default)]
pub(crate) struct ListCache {
    state: Mutex<State>,
    /// Pages being computed now, by generation and key: one request computes a missing page
    /// while the others asking for it wait and then read it from the cache. Without this, 64
    /// clients asking for a page whose count takes seconds each ran the same count.
    flights: Mutex<HashSet<(i64, String)>>,
    /// Signalled when a flight lands (its page remembered, or its computation failed).
    landed: Condvar,
}

/// The right to compute one page; dropping it lets the requests waiting for that page go on.
pub(crate) struct Flight<'a> {
    cache: &'a ListCache,
    generation: i64,
    key: String,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .cache
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        flights.remove(&(self.generation, std::mem::take(&mut self.key)));
        self.cache.landed.notify_all();
    }
}

/// How long a request waits for another's computation of its page before looking again (and,
/// if that one still runs, waiting again): only a bound on one wait, not on the request.
const FLIGHT_WAIT: Duration = Duration::from_secs(1);

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

impl ListCache {
    /// The right to compute the page under `key` at `generation`, or None when another request
    /// is computing it (then [`ListCache::wait_for`] it and look in the cache again).
    pub(crate) fn lead(&self, generation: i64, key: &str) -> Option<Flight<'_>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        flights
            .insert((generation, key.to_owned()))
            .then(|| Flight {
                cache: self,
                generation,
                key: key.to_owned(),
            })
    }

    /// Waits until the computation of `key` at `generation` lands, or [`FLIGHT_WAIT`].
    pub(crate) fn wait_for(&self, generation: i64, key: &str) {
        let flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = (generation, key.to_owned());
        let _ = self
            .landed
            .wait_timeout_while(flights, FLIGHT_WAIT, |f| f.contains(&wanted));
    }

    /// The page remembered under `key` at `generation`, if it is a `T`. Shared, not copied:
    /// copying a page's rows (a String per column) was a twentieth of a cached request's CPU.
    pub(crate) fn page<T: Send + Sync + 'static>(
        &self,
        generation: i64,
        key: &str,
    ) -> Option<Arc<T>> {
        self.at(generation, |s| {
            s.pages
                .get(key)
                .and_then(|p| Arc::clone(p).downcast::<T>().ok())
        })
        .flatten()
    }

    /// Remembers `page` (of `rows` rows) under `key` at `generation`.
    pub(crate) fn put_page<T: Send + Sync + 'static>(
        &self,
        generation: i64,
        key: &str,
        page: Arc<T>,
        rows: usize,
    ) {
        self.at(generation, |s| {
            if s.page_rows + rows > MAX_PAGE_ROWS {
                s.pages.clear();
                s.page_rows = 0;
            }
            if rows <= MAX_PAGE_ROWS && !s.pages.contains_key(key) {
                s.pages.insert(key.to_owned(), page);
                s.page_rows += rows;
            }
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
    fn one_request_computes_a_page_the_others_wait_for() {
        let cache = Arc::new(ListCache::default());
        let flight = cache.lead(4, "q").expect("first request leads");
        assert!(cache.lead(4, "q").is_none(), "a second request waits");
        assert!(
            cache.lead(5, "q").is_some(),
            "another generation is another page"
        );
        let waiter = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache.wait_for(4, "q");
                cache.page::<u32>(4, "q")
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        cache.put_page(4, "q", Arc::new(7u32), 1);
        drop(flight);
        assert_eq!(waiter.join().unwrap().as_deref(), Some(&7));
        assert!(
            cache.lead(4, "q").is_some(),
            "a landed flight can be led again"
        );
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
    fn pages_are_kept_per_generation_and_bounded_by_rows() {
        let cache = ListCache::default();
        cache.put_page(1, "p", Arc::new(vec![1, 2, 3]), 3);
        assert_eq!(
            cache.page::<Vec<i32>>(1, "p").as_deref().cloned(),
            Some(vec![1, 2, 3])
        );
        // Another type under the same key is a miss, not a wrong answer.
        assert_eq!(cache.page::<String>(1, "p").as_deref().cloned(), None);
        assert_eq!(cache.page::<Vec<i32>>(2, "p").as_deref().cloned(), None);
        assert_eq!(cache.page::<Vec<i32>>(1, "p").as_deref().cloned(), None);
        cache.put_page(2, "a", Arc::new(1u8), MAX_PAGE_ROWS - 1);
        cache.put_page(2, "b", Arc::new(2u8), 1);
        assert_eq!(cache.page::<u8>(2, "a").as_deref().cloned(), Some(1));
        // Over the row budget: the kept pages are dropped before the new one goes in.
        cache.put_page(2, "c", Arc::new(3u8), 1);
        assert_eq!(cache.page::<u8>(2, "a").as_deref().cloned(), None);
        assert_eq!(cache.page::<u8>(2, "c").as_deref().cloned(), Some(3));
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
