//! The PostgreSQL engine: an r2d2 pool of synchronous `postgres` clients. Each pooled
//! connection keeps the statements it prepared, so a hot query costs one round trip; values are
//! converted to the parameter types the server inferred for the statement, which lets the
//! engine-neutral [`Value`] (one integer type, one text type) bind to BIGINT, INTEGER, BOOLEAN
//! and TEXT parameters alike.
//!
//! The clients are blocking (each runs a small private runtime), matching the store's blocking
//! API; async callers already call the store from blocking threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::types::{ToSql, Type};
use postgres::{NoTls, Statement};

use super::{run_in, Row, Tx, TxConn, Value};
use crate::StoreError;

/// Prepared statements of one connection, by SQL text. Dynamic filters produce many texts, so
/// the cache is cleared when it grows past this many.
const STATEMENT_CACHE: usize = 256;

/// One pooled connection and the statements prepared on it.
pub(crate) struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

/// Opens connections for r2d2.
#[derive(Debug)]
pub(crate) struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A pool of connections to one PostgreSQL database. Clones share it; the last one closes it.
#[derive(Clone)]
pub(crate) struct PgPool {
    owner: Arc<PoolOwner>,
}

/// Owns the r2d2 pool so that closing it can be moved off the caller's thread.
struct PoolOwner {
    /// Always Some until [`Drop`] takes it.
    pool: Option<r2d2::Pool<Manager>>,
}

impl Drop for PoolOwner {
    fn drop(&mut self) {
        // Each synchronous `postgres::Client` runs a private tokio runtime, and closing one
        // blocks on it, which panics on a thread that belongs to another runtime: a server's
        // store is dropped on an async worker when it shuts down. A plain thread has no
        // runtime, so the idle connections are closed there; joining keeps the close orderly
        // (the server sees each Terminate before the process goes on).
        if let Some(pool) = self.pool.take() {
            if let Ok(closer) = std::thread::Builder::new()
                .name("crowsnest-pg-close".into())
                .spawn(move || drop(pool))
            {
                let _ = closer.join();
            }
        }
    }
}

impl PgPool {
    /// Connects to `url` (a libpq-style `postgres://` URL; `options=-csearch_path%3D…` selects a
    /// schema) with at most `max_connections` open at once.
    pub(crate) fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // One direct connection first: a wrong host or password fails now with the server's
        // own message, rather than as an r2d2 timeout after retrying in the background.
        drop(config.connect(NoTls)?);
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            // A broken connection shows as closed; testing each checkout would add a round trip
            // to every request.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build(Manager { config })?;
        Ok(PgPool {
            owner: Arc::new(PoolOwner { pool: Some(pool) }),
        })
    }

    fn with_tx<T>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = self
            .owner
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("the PostgreSQL pool is closed".into()))?;
        let mut conn = pool.get()?;
        let PgConn { client, statements } = &mut *conn;
        let tx = client.build_transaction().read_only(read_only).start()?;
        run_in(TxConn::Postgres(PgTx { tx, statements }), f)
    }

    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_tx(false, f)
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_tx(true, f)
    }
}

/// A transaction on one pooled connection.
pub(crate) struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    pub(super) fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }

    pub(super) fn execute_batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.tx.batch_execute(sql)
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Prepares `sql` and converts `params` to the types the server inferred.
    fn bind(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(Statement, Vec<Box<dyn ToSql + Sync>>), StoreError> {
        let stmt = self.prepare(sql)?;
        if stmt.params().len() != params.len() {
            return Err(StoreError::Bind(format!(
                "statement has {} parameters, {} values given",
                stmt.params().len(),
                params.len()
            )));
        }
        let bound = params
            .iter()
            .zip(stmt.params())
            .map(|(v, ty)| to_pg(v, ty))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stmt, bound))
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let (stmt, bound) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
        self.tx
            .execute(&stmt, &refs)
            .map_err(|e| self.forget(sql, e))
    }

    pub(super) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let (stmt, bound) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
        let rows = self
            .tx
            .query(&stmt, &refs)
            .map_err(|e| self.forget(sql, e))?;
        rows.iter()
            .map(|r| (0..r.len()).map(|i| from_pg(r, i)).collect())
            .map(|values: Result<Vec<Value>, StoreError>| values.map(Row))
            .collect()
    }

    /// A statement that failed may have been invalidated (a migration changed its table);
    /// preparing it afresh next time costs one round trip.
    fn forget(&mut self, sql: &str, e: postgres::Error) -> StoreError {
        self.statements.remove(sql);
        StoreError::Postgres(e)
    }
}

fn is_text(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME)
}

/// Converts a value to what a parameter of type `ty` accepts.
fn to_pg(v: &Value, ty: &Type) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    let mismatch = || StoreError::Bind(format!("cannot bind {v:?} to a {ty} parameter"));
    let out_of_range = |_| StoreError::Bind(format!("{v:?} is out of range for {ty}"));
    Ok(match (v, ty.clone()) {
        (Value::Null, Type::INT8) => Box::new(None::<i64>),
        (Value::Null, Type::INT4) => Box::new(None::<i32>),
        (Value::Null, Type::INT2) => Box::new(None::<i16>),
        (Value::Null, Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, t) if is_text(&t) => Box::new(None::<String>),
        (Value::Int(i), Type::INT8) => Box::new(*i),
        (Value::Int(i), Type::INT4) => Box::new(i32::try_from(*i).map_err(out_of_range)?),
        (Value::Int(i), Type::INT2) => Box::new(i16::try_from(*i).map_err(out_of_range)?),
        (Value::Int(i), Type::BOOL) => Box::new(*i != 0),
        // SQLite compares an integer with a text column by its decimal text; do the same.
        (Value::Int(i), t) if is_text(&t) => Box::new(i.to_string()),
        (Value::Text(s), t) if is_text(&t) => Box::new(s.clone()),
        _ => return Err(mismatch()),
    })
}

/// Reads column `i` as an engine-neutral value.
fn from_pg(row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    let ty = row
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or_else(|| StoreError::Corrupt(format!("column {i} missing")))?;
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    Ok(match ty {
        Type::INT8 => int(row.try_get::<_, Option<i64>>(i)?),
        Type::INT4 => int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(row.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        t if is_text(&t) => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        other => {
            return Err(StoreError::Corrupt(format!(
                "column {i}: unsupported type {other}"
            )))
        }
    })
}
