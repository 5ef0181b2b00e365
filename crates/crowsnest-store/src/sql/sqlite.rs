//! The SQLite engine: one database file, a small pool of open connections, WAL so readers run
//! beside the single writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::{run_in, sqlite_placeholders, Row, Tx, TxConn, Value};
use crate::StoreError;

/// A SQLite database file with a bounded pool of open connections.
#[derive(Clone)]
pub(crate) struct SqlitePool {
    path: PathBuf,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    /// Signalled when a connection is returned or a slot frees up.
    returned: Condvar,
    /// Held by this process's writer for its whole transaction. SQLite admits one writer at a
    /// time; without this lock the others wait in SQLite's busy handler, which polls with
    /// sleeps of up to 100 ms, so under many concurrent writers (every signed Alibaba request
    /// writes its nonce) latency grew in those steps. Queued here they wake as soon as the
    /// writer commits. Writers in other processes still meet the busy timeout.
    writer: Mutex<()>,
}

struct PoolState {
    idle: Vec<rusqlite::Connection>,
    /// Connections open, idle or in use.
    open: usize,
}

/// How many connections are open at most. Callers beyond this wait for one to be returned
/// rather than opening more: SQLite answers from the CPU and the page cache, so more
/// connections than cores only add contention, and a connection opened per request (and
/// closed after it) starts with a cold page cache and pays the set-up pragmas every time,
/// which under 64 concurrent clients cost more than the queries. Eight covers a few cores and
/// a writer waiting on the busy timeout.
const MAX_OPEN: usize = 8;

/// How long a caller waits for a connection before giving up (as PostgreSQL's pool does).
const CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl SqlitePool {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = SqlitePool {
            path: path.to_owned(),
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 1,
                }),
                returned: Condvar::new(),
                writer: Mutex::new(()),
            }),
        };
        let conn = pool.connect()?;
        pool.put(conn);
        spawn_checkpointer(&pool.path, Arc::downgrade(&pool.shared));
        Ok(pool)
    }

    fn connect(&self) -> Result<rusqlite::Connection, StoreError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        // WAL lets readers run beside the single writer; the busy timeout makes writers queue
        // instead of failing when several requests write at once.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // No checkpoint on commit: the committing writer would copy the WAL back and fsync the
        // database while every other writer queues behind it (a signed request's nonce write
        // waited tens of ms for one). The pool's checkpointer thread does it instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // 32 MiB of page cache per connection (the default is 2 MiB): list queries over a
        // million placements touch far more pages than that.
        conn.pragma_update(None, "cache_size", -32768)?;
        // Lets the query planner gather the statistics it lacks, as SQLite recommends for
        // long-lived connections. The analysis limit makes that a sample of each index: without
        // it, the first connections to a store of a million placements ran a full ANALYZE
        // (seconds each, holding the write lock) before answering anything.
        conn.execute_batch("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002")?;
        // Dynamic filters produce many distinct statement texts; keep the hot ones prepared.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// An idle connection, a new one while fewer than [`MAX_OPEN`] are open, or else the next
    /// one returned.
    fn take(&self) -> Result<rusqlite::Connection, StoreError> {
        fn poisoned<T>(_: T) -> StoreError {
            StoreError::Corrupt("the SQLite pool's lock was poisoned".into())
        }
        let mut state = self.shared.state.lock().map_err(poisoned)?;
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < MAX_OPEN {
                state.open += 1;
                drop(state);
                let conn = self.connect();
                if conn.is_err() {
                    self.release_slot();
                }
                return conn;
            }
            let (next, waited) = self
                .shared
                .returned
                .wait_timeout(state, CHECKOUT_TIMEOUT)
                .map_err(poisoned)?;
            state = next;
            if waited.timed_out() && state.idle.is_empty() && state.open >= MAX_OPEN {
                return Err(StoreError::Busy(format!(
                    "no SQLite connection became free within {} s",
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
        }
    }

    fn put(&self, conn: rusqlite::Connection) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.idle.push(conn);
        }
        self.shared.returned.notify_one();
    }

    /// Gives back the slot of a connection that could not be opened.
    fn release_slot(&self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.open = state.open.saturating_sub(1);
        }
        self.shared.returned.notify_one();
    }

    fn with_tx<T>(
        &self,
        behavior: rusqlite::TransactionBehavior,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let result = conn
            .transaction_with_behavior(behavior)
            .map_err(StoreError::from)
            .and_then(|tx| run_in(TxConn::Sqlite(tx), f));
        self.put(conn);
        result
    }

    /// Runs `f` inside one write transaction; IMMEDIATE takes the write lock up front so two
    /// writers queue on the busy timeout instead of failing on a lock upgrade.
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // The lock guards no data, so a panic while holding it leaves nothing to repair.
        let _writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.with_tx(rusqlite::TransactionBehavior::Immediate, f)
    }

    /// Runs `f` inside one deferred (read) transaction.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_tx(rusqlite::TransactionBehavior::Deferred, f)
    }
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts the thread that checkpoints the WAL for the pool whose state `shared` is, on a
/// connection of its own, until the pool is dropped. A PASSIVE checkpoint takes neither the
/// write lock nor waits for readers, so commits never pay for the copy and its fsync; it copies
/// what no reader still needs, and SQLite restarts the WAL from the start once all of it was
/// copied, which keeps the file bounded.
fn spawn_checkpointer(path: &Path, shared: std::sync::Weak<Shared>) {
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(conn) = rusqlite::Connection::open(&path) else {
                return;
            };
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                if shared.strong_count() == 0 {
                    return;
                }
                // A failed checkpoint (busy, I/O) is retried on the next tick; the WAL keeps
                // every committed transaction meanwhile, so nothing is lost by waiting.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        });
    // Without the thread the WAL only grows until the last connection closes (which
    // checkpoints it); the store still works, so a failed spawn is not an error.
    drop(spawned);
}

fn to_sqlite(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Result<Value, StoreError> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|_| StoreError::Corrupt("text column is not UTF-8".into()))?
                .to_owned(),
        ),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            return Err(StoreError::Corrupt("unexpected real or blob column".into()))
        }
    })
}

pub(super) fn execute(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: &[Value],
) -> Result<u64, StoreError> {
    let sql = sqlite_placeholders(sql);
    let mut stmt = tx.prepare_cached(&sql)?;
    let bound: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
    let n = stmt.execute(rusqlite::params_from_iter(bound))?;
    Ok(n as u64)
}

pub(super) fn query(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let sql = sqlite_placeholders(sql);
    let mut stmt = tx.prepare_cached(&sql)?;
    let width = stmt.column_count();
    let bound: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(bound))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(from_sqlite(r.get_ref(i)?)?);
        }
        out.push(Row(values));
    }
    Ok(out)
}
