//! SQLite rpmdb (`rpmdb.sqlite`, rpm 4.16 and later): the `blob` column of `Packages`.
//!
//! The captured file is loaded into an in-memory SQLite database with `sqlite3_deserialize`
//! rather than opened by path: catalogers never touch the host filesystem, the input is already
//! bounded by `max_in_memory`, and nothing is written anywhere. rpm keeps the database in WAL
//! mode, which a deserialized database refuses; only the main file is captured anyway (a
//! `-wal` beside it holds at most uncheckpointed changes), so the copy is marked as a
//! rollback-journal database before loading (header bytes 18 and 19).
//!
//! The database is hostile: `trusted_schema` is off so its schema cannot call functions with
//! side effects, and `Packages` must be a real table, not a view that could compute anything.

use std::io::Cursor;

use rusqlite::{Connection, OpenFlags, MAIN_DB};

/// Why an SQLite rpmdb cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqliteError {
    /// SQLite refused the file or the query.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database has no `Packages` table.
    #[error("no Packages table")]
    NoPackagesTable,
    /// The file is larger than SQLite can deserialize at once.
    #[error("{0} bytes is too large to load")]
    TooLarge(usize),
}

/// The 16-byte header every SQLite 3 database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// True when `bytes` start like an SQLite database.
pub(crate) fn is_sqlite(bytes: &[u8]) -> bool {
    bytes.starts_with(SQLITE_MAGIC)
}

/// Every `Packages.blob`, in `hnum` order.
pub(crate) fn blobs(file: &[u8]) -> Result<Vec<Vec<u8>>, SqliteError> {
    // rusqlite allocates the copy with sqlite3_malloc, which takes an int.
    if i32::try_from(file.len()).is_err() {
        return Err(SqliteError::TooLarge(file.len()));
    }
    let mut copy = file.to_vec();
    // WAL (2) to legacy (1) in the file-format write and read version bytes.
    for b in copy.iter_mut().skip(18).take(2) {
        if *b == 2 {
            *b = 1;
        }
    }
    let mut conn = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "trusted_schema", false)?;
    let len = copy.len();
    conn.deserialize_read_exact(MAIN_DB, Cursor::new(copy), len, true)?;
    conn.pragma_update(None, "cell_size_check", true)?;
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if kind.as_deref() != Some("table") {
        return Err(SqliteError::NoPackagesTable);
    }
    let mut stmt = conn.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}
