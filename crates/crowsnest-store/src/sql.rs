//! The thin query layer: SQL text written once with `$1`-style placeholders, values as a small
//! enum, rows as vectors. Each engine binds and reads these; nothing above this module knows
//! which engine runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::StoreError;

/// A value bound to a placeholder or read from a column.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Every integer, boolean (0/1) and millisecond time.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row; columns are read by position with typed getters that fail instead of panicking.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} missing")))
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A 0/1 column.
    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.int(i)? != 0)
    }

    /// A text column.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.get(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
}

/// Rewrites `$N` placeholders to SQLite's `?N`, leaving quoted literals alone, so that the
/// placeholder numbers (not their order of appearance) decide what is bound.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_quote = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_quote = !in_quote;
            out.push(c);
        } else if c == '$' && !in_quote && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// Embedded SQLite file.
    Sqlite,
}

/// A SQLite database file with a small pool of open connections.
#[derive(Clone)]
pub(crate) struct SqlitePool {
    path: PathBuf,
    idle: Arc<Mutex<Vec<rusqlite::Connection>>>,
}

/// How many idle connections are kept; more are opened on demand and closed after use.
const MAX_IDLE: usize = 8;

impl SqlitePool {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = SqlitePool {
            path: path.to_owned(),
            idle: Arc::new(Mutex::new(Vec::new())),
        };
        let conn = pool.connect()?;
        pool.put(conn);
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
        Ok(conn)
    }

    fn take(&self) -> Result<rusqlite::Connection, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn put(&self, conn: rusqlite::Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// Runs `f` inside one transaction on one connection.
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut handle = Tx { tx: &tx };
            let value = f(&mut handle)?;
            tx.commit()?;
            Ok(value)
        })();
        self.put(conn);
        result
    }

    /// Runs `f` on one connection without an explicit transaction (reads).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
            let mut handle = Tx { tx: &tx };
            let value = f(&mut handle)?;
            tx.commit()?;
            Ok(value)
        })();
        self.put(conn);
        result
    }
}

/// A handle to run statements inside one transaction.
pub(crate) struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
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

impl Tx<'_> {
    /// Runs a statement, returning the number of rows changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let sql = sqlite_placeholders(sql);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let bound: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
        let n = stmt.execute(rusqlite::params_from_iter(bound))?;
        Ok(n as u64)
    }

    /// Runs a batch of statements without parameters (migrations).
    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.execute_batch(sql)?;
        Ok(())
    }

    /// Runs a query and collects every row.
    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let sql = sqlite_placeholders(sql);
        let mut stmt = self.tx.prepare_cached(&sql)?;
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

    /// Runs a query expected to return at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    pub(crate) fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt("query returned no row".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_quotes_are_rewritten() {
        assert_eq!(
            sqlite_placeholders("SELECT '$1', $1 FROM t WHERE a = $12 AND b = '$'"),
            "SELECT '$1', ?1 FROM t WHERE a = ?12 AND b = '$'"
        );
    }
}
