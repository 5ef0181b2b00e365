//! Group commit of signature nonces.
//!
//! Every signed Alibaba request (and every Huawei AK/SK request, whose signature plays the
//! nonce) must be remembered before it is answered, so that a replay is refused. One write
//! transaction per request made those requests queue on the single writer: with 64 clients
//! most of a request's time was spent waiting for other requests' commits. Here claims are
//! queued, and one writer thread per store (started by the first claim, ending when none came
//! for a while) takes every claim queued so far, writes them in one transaction, and answers
//! each caller; claims that arrive meanwhile form the next batch. A claim is answered only
//! after the transaction that holds it committed, so a replay is still refused across
//! processes and servers sharing the database. Callers wait for their answer without holding
//! anything: a blocking caller on its own condition variable, an async one by awaiting it, so
//! an async server needs no thread per request in flight.
//!
//! The batch's transaction also does the two reads every signed request used to pay a
//! transaction of its own for:
//! - whether each claim's AccessKey is still enabled. The key's immutable parts (tenant,
//!   secret, actions: no statement changes them, and a key id is never reused) can therefore
//!   be remembered by this process ([`Store::api_key_cached`]); a key revoked by any process
//!   is refused from the first claim that commits after the revocation.
//! - the inventory generation. The transaction began after every claim in it was made, so a
//!   list page remembered at that generation is no older than the request, and can be
//!   answered without a read transaction ([`crate::Store::placements_seen`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::inventory::generation;
use crate::sql::Value;
use crate::{ApiKey, Store, StoreError};

/// What the claim of a request's nonce found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceVerdict {
    /// The nonce is new: the request may be answered.
    Fresh,
    /// The key already used this nonce inside its window: the request is a replay.
    Replayed,
    /// The AccessKey is missing or disabled (revoked since it was looked up).
    KeyDisabled,
}

/// The answer to [`Store::claim_nonce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceClaim {
    /// Whether the request may be answered.
    pub verdict: NonceVerdict,
    /// The inventory generation the claim's transaction saw (see the module comment).
    pub generation: i64,
}

/// One caller's nonce, waiting to be written.
struct Claim {
    access_key_id: String,
    nonce: String,
    /// The caller's clock, by which expired nonces are purged.
    now_ms: i64,
    expires_ms: i64,
    /// Where the caller waits for its answer.
    slot: Arc<Slot>,
}

/// Where one caller waits for its claim's answer: on the condition variable (a blocking
/// caller) or through its waker (an async one). Each caller is woken once, for its own answer:
/// waking every waiter after every batch cost 64 clients most of their CPU in context switches.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    answered: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// What the claim found, or the batch's error text (a `StoreError` cannot be cloned).
    answer: Option<Result<NonceClaim, String>>,
    waker: Option<Waker>,
}

impl Slot {
    fn answer(&self, answer: Result<NonceClaim, String>) {
        let waker = {
            let mut state = lock(&self.state);
            state.answer = Some(answer);
            state.waker.take()
        };
        self.answered.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A queued nonce claim: [`PendingClaim::wait`] blocks for its answer, and awaiting it does
/// not, so async servers need no blocking thread per request to claim. Dropping it (a
/// cancelled request) leaves the claim to be written all the same.
pub struct PendingClaim {
    slot: Arc<Slot>,
}

impl PendingClaim {
    /// Blocks until the claim is written.
    pub fn wait(self) -> Result<NonceClaim, StoreError> {
        let mut state = lock(&self.slot.state);
        loop {
            if let Some(answer) = state.answer.take() {
                return answer.map_err(StoreError::Batch);
            }
            state = self
                .slot
                .answered
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Future for PendingClaim {
    type Output = Result<NonceClaim, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.slot.state);
        match state.answer.take() {
            Some(answer) => Poll::Ready(answer.map_err(StoreError::Batch)),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[derive(Default)]
struct Queue {
    pending: Vec<Claim>,
    /// True while a writer thread runs (it writes every claim queued until it exits).
    writer_running: bool,
}

/// The claims queue of one store handle (and its clones).
#[derive(Default)]
pub(crate) struct NonceClaims {
    queue: Mutex<Queue>,
    /// Signalled when a claim is queued, for the writer waiting for more.
    queued: Condvar,
    /// When expired nonces were last dropped (ms): once a second is enough, as they only
    /// take room, and the DELETE cost every batch an index scan.
    purged_ms: AtomicI64,
    /// Enabled AccessKeys as they were read, by id (see the module comment).
    known_keys: Mutex<HashMap<String, ApiKey>>,
}

/// At most this many AccessKeys are remembered; a full cache starts again empty.
const MAX_KNOWN_KEYS: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often expired nonces are dropped, at most, once the expired ones are all gone.
const PURGE_EVERY_MS: i64 = 1000;

/// How many expired nonces one batch's transaction drops at most: twice as many as it
/// claims (at least 16), so that the purge keeps pace with the nonces expiring under steady
/// load and eats into a backlog, while no batch pays for much more than its own claims.
/// A flat 256 per batch made batches of four claims delete 256 rows each when a backlog
/// had built up while the server was idle: the load test fell from about 18,000 to 7,400
/// requests/s with a p99 of 78-318 ms.
fn purge_limit(claims: usize) -> i64 {
    i64::try_from(claims.saturating_mul(2))
        .unwrap_or(i64::MAX)
        .clamp(16, 512)
}

/// How many times a batch is written before a deadlock with another server's batch is
/// reported to its callers.
const MAX_ATTEMPTS: u32 = 5;

/// At most this many claims go into one transaction, so a batch's commit stays short.
const MAX_BATCH: usize = 256;

/// How long the writer thread waits for another claim before it exits; a busy server keeps
/// one writer instead of starting one per burst. The thread holds a clone of the store, so
/// a dropped store closes its database at most this much later.
const WRITER_LINGER: Duration = Duration::from_millis(50);

impl Store {
    /// Remembers a signature nonce of an enabled AccessKey until `expires_ms`, unless the key
    /// already claimed it with the same `expires_ms` (a replay) or the key is missing or
    /// disabled. `expires_ms` must follow from the signed request (its timestamp plus the
    /// accepted skew), so that a replay of it has the same; then the request is refused as
    /// too old once its nonce is forgotten. Expired nonces are purged by `now_ms`. Blocks
    /// until the claim is written; concurrent claims are written together (see the module
    /// comment).
    pub fn claim_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<NonceClaim, StoreError> {
        self.queue_nonce_claim(access_key_id, nonce, now_ms, expires_ms)
            .wait()
    }

    /// Queues the claim [`Store::claim_nonce`] makes, without waiting for it: the returned
    /// claim is waited for or awaited. The store's writer thread writes it (and is started
    /// here when none runs).
    pub fn queue_nonce_claim(
        &self,
        access_key_id: &str,
        nonce: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> PendingClaim {
        let slot = Arc::new(Slot::default());
        let claim = Claim {
            access_key_id: access_key_id.to_owned(),
            nonce: nonce.to_owned(),
            now_ms,
            expires_ms,
            slot: Arc::clone(&slot),
        };
        let start_writer = {
            let mut queue = lock(&self.nonces.queue);
            queue.pending.push(claim);
            !std::mem::replace(&mut queue.writer_running, true)
        };
        if start_writer {
            let store = self.clone();
            let started = std::thread::Builder::new()
                .name("nonce-writer".into())
                .spawn(move || store.write_queued_claims(WRITER_LINGER));
            if started.is_err() {
                // No thread to be had: write the queue here, as the caller waits anyway.
                self.write_queued_claims(Duration::ZERO);
            }
        } else {
            self.nonces.queued.notify_one();
        }
        PendingClaim { slot }
    }

    /// The writer: writes the oldest queued claims (at most [`MAX_BATCH`]) batch after batch
    /// and answers each; returns once nothing was queued for `linger`.
    fn write_queued_claims(&self, linger: Duration) {
        loop {
            let batch: Vec<Claim> = {
                let mut queue = lock(&self.nonces.queue);
                while queue.pending.is_empty() {
                    let (guard, waited) = self
                        .nonces
                        .queued
                        .wait_timeout(queue, linger)
                        .unwrap_or_else(PoisonError::into_inner);
                    queue = guard;
                    if waited.timed_out() && queue.pending.is_empty() {
                        queue.writer_running = false;
                        return;
                    }
                }
                let take = queue.pending.len().min(MAX_BATCH);
                queue.pending.drain(..take).collect()
            };
            // A panic must not end the writer with `writer_running` set, or every later
            // claim would wait forever.
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.write_claims(&batch)
            }))
            .unwrap_or_else(|_| Err(StoreError::Batch("writing the nonce batch panicked".into())));
            match written {
                Ok(answers) => {
                    for (claim, answer) in batch.iter().zip(answers) {
                        if answer.verdict == NonceVerdict::KeyDisabled {
                            lock(&self.nonces.known_keys).remove(&claim.access_key_id);
                        }
                        claim.slot.answer(Ok(answer));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for claim in &batch {
                        claim.slot.answer(Err(message.clone()));
                    }
                }
            }
        }
    }

    /// Writes `batch` in one transaction; for each claim, whether its nonce was new. Expired
    /// nonces are dropped first, at most every [`PURGE_EVERY_MS`]: they no longer protect
    /// anything, and one not dropped yet is taken over by a new claim of the same nonce.
    ///
    /// Batches of two servers on one PostgreSQL database can hold the same nonces. Each batch
    /// therefore writes its claims in key order, so that two batches lock shared keys in the
    /// same order; a deadlock that is still found (the purge deletes rows in its own order)
    /// rolls the transaction back, and the batch is written again from the start.
    fn write_claims(&self, batch: &[Claim]) -> Result<Vec<NonceClaim>, StoreError> {
        // Expired nonces are purged by the latest clock of the batch.
        let now_ms = batch.iter().map(|c| c.now_ms).max().unwrap_or(0);
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| {
                let claim = &batch[i];
                (claim.expires_ms, &claim.access_key_id, &claim.nonce)
            };
            key(a).cmp(&key(b))
        });
        let mut attempt = 1;
        loop {
            match self.write_claims_once(batch, &order, now_ms) {
                Err(e) if e.is_transaction_conflict() && attempt < MAX_ATTEMPTS => attempt += 1,
                written => return written,
            }
        }
    }

    fn write_claims_once(
        &self,
        batch: &[Claim],
        order: &[usize],
        now_ms: i64,
    ) -> Result<Vec<NonceClaim>, StoreError> {
        let purge = now_ms - self.nonces.purged_ms.load(Ordering::Relaxed) >= PURGE_EVERY_MS;
        let limit = purge_limit(batch.len());
        self.write(|tx| {
            // A purge deletes at most `limit` rows, so that the nonces of a busy quarter hour,
            // expiring all at once after a quiet one, do not hold every claim behind one long
            // DELETE (a load test saw 260 ms); a purge that hit the limit leaves the clock
            // alone, so the next batch goes on with the rest.
            let purged = if purge {
                tx.execute(
                    "DELETE FROM request_nonces WHERE (expires_ms, access_key_id, nonce) IN \
                     (SELECT expires_ms, access_key_id, nonce FROM request_nonces \
                      WHERE expires_ms < $1 ORDER BY expires_ms LIMIT $2)",
                    &[now_ms.into(), limit.into()],
                )?
            } else {
                0
            };
            let enabled = enabled_keys(tx, batch)?;
            let generation = generation(tx)?;
            let mut answers = vec![
                NonceClaim {
                    verdict: NonceVerdict::KeyDisabled,
                    generation,
                };
                batch.len()
            ];
            for &index in order {
                let claim = &batch[index];
                if !enabled.contains(claim.access_key_id.as_str()) {
                    continue;
                }
                // The same nonce with the same expiry is the same signed request again.
                let inserted = tx.execute(
                    "INSERT INTO request_nonces (expires_ms, access_key_id, nonce) \
                     VALUES ($1, $2, $3) ON CONFLICT (expires_ms, access_key_id, nonce) \
                     DO NOTHING",
                    &[
                        Value::Int(claim.expires_ms),
                        claim.access_key_id.as_str().into(),
                        claim.nonce.as_str().into(),
                    ],
                )?;
                answers[index].verdict = if inserted == 1 {
                    NonceVerdict::Fresh
                } else {
                    NonceVerdict::Replayed
                };
            }
            Ok((answers, purged))
        })
        .map(|(answers, purged)| {
            if purge && purged < limit.unsigned_abs() {
                self.nonces.purged_ms.store(now_ms, Ordering::Relaxed);
            }
            answers
        })
    }

    /// The AccessKey `access_key_id` if this process remembers it ([`Store::api_key_cached`]);
    /// never touches the database.
    pub fn api_key_if_known(&self, access_key_id: &str) -> Option<ApiKey> {
        lock(&self.nonces.known_keys).get(access_key_id).cloned()
    }

    /// The AccessKey `access_key_id` as the authenticator needs it: remembered by this process
    /// once read while enabled, so most requests need no transaction to find their key. The
    /// `enabled` of a remembered key may be stale; the claim of the request's nonce checks it
    /// (and forgets a key it finds disabled).
    pub fn api_key_cached(&self, access_key_id: &str) -> Result<Option<ApiKey>, StoreError> {
        if let Some(key) = self.api_key_if_known(access_key_id) {
            return Ok(Some(key));
        }
        let key = self.api_key(access_key_id)?;
        if let Some(key) = key.as_ref().filter(|k| k.enabled) {
            let mut known = lock(&self.nonces.known_keys);
            if known.len() >= MAX_KNOWN_KEYS {
                known.clear();
            }
            known.insert(access_key_id.to_owned(), key.clone());
        }
        Ok(key)
    }
}

/// The ids of the batch's AccessKeys that exist and are enabled (a batch usually holds one).
fn enabled_keys<'b>(
    tx: &mut crate::sql::Tx<'_>,
    batch: &'b [Claim],
) -> Result<HashSet<&'b str>, StoreError> {
    let mut ids: Vec<&str> = batch.iter().map(|c| c.access_key_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let rows = tx.query(
        &format!(
            "SELECT access_key_id FROM api_keys WHERE enabled <> 0 AND access_key_id IN ({})",
            placeholders.join(", ")
        ),
        &ids.iter().map(|id| (*id).into()).collect::<Vec<Value>>(),
    )?;
    let enabled: HashSet<String> = rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?;
    Ok(ids.into_iter().filter(|id| enabled.contains(*id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewTenant;

    fn stored_nonces(store: &Store) -> i64 {
        store
            .read(|tx| {
                tx.query_one("SELECT COUNT(*) FROM request_nonces", &[])?
                    .int(0)
            })
            .unwrap()
    }

    /// Expired nonces go in slices of `purge_limit`, one slice per batch until none is left,
    /// and then at most once a second again.
    #[test]
    fn expired_nonces_are_purged_in_slices() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).unwrap();
        let tenant = store
            .create_tenant(&NewTenant {
                name: "t".into(),
                account_id: "1".into(),
            })
            .unwrap();
        store.create_api_key(tenant, "AK", "s", &["*"]).unwrap();
        // A batch drops twice as many as it claims, within bounds.
        assert_eq!(purge_limit(100), 200);
        assert_eq!(purge_limit(MAX_BATCH * 4), 512);
        // Each claim below is a batch of its own.
        let slice = purge_limit(1);
        let expired = 2 * slice + 10;
        // now 0: the first batch may purge, but nothing has expired yet.
        for n in 0..expired {
            store
                .claim_nonce("AK", &format!("old-{n}"), 0, 100)
                .unwrap();
        }
        assert_eq!(stored_nonces(&store), expired);
        // At 5,000 every old nonce has expired: each batch drops one slice, and its own
        // nonce stays.
        let mut claimed = 0;
        for left in [expired - slice, expired - 2 * slice, 0] {
            store
                .claim_nonce("AK", &format!("new-{claimed}"), 5_000, 9_000)
                .unwrap();
            claimed += 1;
            assert_eq!(stored_nonces(&store), left + claimed);
        }
        // Caught up: the next purge waits for PURGE_EVERY_MS.
        store.claim_nonce("AK", "late", 5_001, 5_002).unwrap();
        store.claim_nonce("AK", "later", 5_500, 9_000).unwrap();
        assert_eq!(stored_nonces(&store), claimed + 2);
        store
            .claim_nonce("AK", "after-a-second", 6_001, 9_000)
            .unwrap();
        assert_eq!(stored_nonces(&store), claimed + 2, "`late` was dropped");
    }
}
