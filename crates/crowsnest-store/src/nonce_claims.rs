//! Group commit of signature nonces.
//!
//! Every signed Alibaba request (and every Huawei AK/SK request, whose signature plays the
//! nonce) must be remembered before it is answered, so that a replay is refused. One write
//! transaction per request made those requests queue on the single writer: with 64 clients
//! most of a request's time was spent waiting for other requests' commits. Here concurrent
//! claims share one transaction: the first caller to find no batch being written becomes the
//! leader, takes every claim queued so far, writes them in one transaction and hands each
//! caller its answer; claims that arrive meanwhile form the next batch, led by one of their
//! own callers. No claim waits for more than the batch in flight and its own, and a claim is
//! answered only after the transaction that holds it committed, so a replay is still refused
//! across processes and servers sharing the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::sql::Value;
use crate::{Store, StoreError};

/// One caller's nonce, waiting to be written.
struct Claim {
    ticket: u64,
    access_key_id: String,
    nonce: String,
    expires_ms: i64,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Claim>,
    /// True while a leader is writing a batch.
    writing: bool,
    /// Answers of written claims, by ticket, until their callers collect them. A failed batch
    /// answers each of its claims with the error's text (a `StoreError` cannot be cloned).
    answers: HashMap<u64, Result<bool, String>>,
    next_ticket: u64,
}

/// The claims queue of one store handle (and its clones).
#[derive(Default)]
pub(crate) struct NonceClaims {
    queue: Mutex<Queue>,
    /// Signalled when a batch's answers are in and when the leader steps down.
    answered: Condvar,
    /// When expired nonces were last dropped (ms): once a second is enough, as they only
    /// take room, and the DELETE cost every batch an index scan.
    purged_ms: AtomicI64,
}

/// How often expired nonces are dropped, at most.
const PURGE_EVERY_MS: i64 = 1000;

/// How many times a batch is written before a deadlock with another server's batch is
/// reported to its callers.
const MAX_ATTEMPTS: u32 = 5;

/// At most this many claims go into one transaction, so a batch's commit stays short.
const MAX_BATCH: usize = 256;

impl Store {
    /// Remembers a signature nonce until `expires_ms`. Returns false when the nonce was already
    /// used by this key inside its window, which means the request is a replay. Concurrent
    /// calls are written together (see the module comment).
    pub fn claim_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        let claims = &self.nonces;
        let mut queue = claims.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.pending.push(Claim {
            ticket,
            access_key_id: access_key_id.to_owned(),
            nonce: nonce.to_owned(),
            expires_ms,
        });
        loop {
            if let Some(answer) = queue.answers.remove(&ticket) {
                return answer.map_err(StoreError::Batch);
            }
            if !queue.writing {
                // Lead one batch (which holds this claim, or a later one if an earlier leader
                // took it), then step down so that a waiting caller leads the next.
                queue.writing = true;
                let take = queue.pending.len().min(MAX_BATCH);
                let batch: Vec<Claim> = queue.pending.drain(..take).collect();
                drop(queue);
                // A panic must not leave `writing` set, or every later claim would wait forever.
                let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.write_claims(&batch, now_ms)
                }))
                .unwrap_or_else(|_| {
                    Err(StoreError::Batch("writing the nonce batch panicked".into()))
                });
                queue = claims.queue.lock().unwrap_or_else(PoisonError::into_inner);
                queue.writing = false;
                match written {
                    Ok(fresh) => {
                        for (claim, fresh) in batch.iter().zip(fresh) {
                            queue.answers.insert(claim.ticket, Ok(fresh));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for claim in &batch {
                            queue.answers.insert(claim.ticket, Err(message.clone()));
                        }
                    }
                }
                claims.answered.notify_all();
                continue;
            }
            queue = claims
                .answered
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
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
    fn write_claims(&self, batch: &[Claim], now_ms: i64) -> Result<Vec<bool>, StoreError> {
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| (&batch[i].access_key_id, &batch[i].nonce);
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
    ) -> Result<Vec<bool>, StoreError> {
        let purge = now_ms - self.nonces.purged_ms.load(Ordering::Relaxed) >= PURGE_EVERY_MS;
        self.write(|tx| {
            if purge {
                tx.execute(
                    "DELETE FROM request_nonces WHERE expires_ms < $1",
                    &[now_ms.into()],
                )?;
            }
            let mut fresh = vec![false; batch.len()];
            for &index in order {
                let claim = &batch[index];
                // A stored nonce that has expired (not purged yet) is taken over: it no
                // longer protects anything, so the nonce counts as new.
                let inserted = tx.execute(
                    "INSERT INTO request_nonces (access_key_id, nonce, expires_ms) \
                     VALUES ($1, $2, $3) ON CONFLICT (access_key_id, nonce) \
                     DO UPDATE SET expires_ms = excluded.expires_ms \
                     WHERE request_nonces.expires_ms < $4",
                    &[
                        claim.access_key_id.as_str().into(),
                        claim.nonce.as_str().into(),
                        Value::Int(claim.expires_ms),
                        Value::Int(now_ms),
                    ],
                )?;
                fresh[index] = inserted == 1;
            }
            Ok(fresh)
        })
        .inspect(|_| {
            if purge {
                self.nonces.purged_ms.store(now_ms, Ordering::Relaxed);
            }
        })
    }
}
