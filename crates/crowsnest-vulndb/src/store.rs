//! The on-disk index: one SQLite file, read-only for scans, replaced whole by updates.
//!
//! Layout: `records` holds what a finding shows (aliases, summary, severity, references) keyed by
//! record id; `affected` holds one row per `affected` entry, keyed by (base ecosystem, normalised
//! name) so matching a package is one indexed lookup, with the ranges in a compact JSON form;
//! `sources` remembers where each batch of records came from (path or URL, ETag, checksum).
//!
//! Atomicity: a writer ([`Staging`]) copies the live file to a temporary file in the same
//! directory, changes the copy, syncs it and renames it over the live file. A reader that opened
//! the old file keeps its inode and never sees half an update; readers open with SQLite's
//! `immutable` flag because the live file is never modified in place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::ecosystem::{normalise_name, scheme_for_base, OsvEcosystem};
use crate::error::VulnDbError;
use crate::osv::{OsvRecord, OsvSeverity};
use crate::range::{PreparedAffected, SchemeOrder, StoredAffected};
use crowsnest_model::{CvssScore, Severity};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records(
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    modified TEXT NOT NULL,
    info TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS affected(
    eco TEXT NOT NULL,
    name TEXT NOT NULL,
    release TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected(eco, name);
CREATE INDEX IF NOT EXISTS affected_by_record ON affected(record_id);
CREATE TABLE IF NOT EXISTS sources(
    source TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    sha256 TEXT
) WITHOUT ROWID;
";

/// What a finding shows of a record, stored as JSON in `records.info`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordInfo {
    /// The record id.
    pub id: String,
    /// `aliases`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `upstream`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
    /// `summary`, else the first line of `details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Record-level severity entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<OsvSeverity>,
    /// `database_specific.severity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_word: Option<String>,
    /// Reference URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// `modified`.
    #[serde(default)]
    pub modified: String,
}

impl RecordInfo {
    fn from_record(r: &OsvRecord) -> RecordInfo {
        let summary = r
            .summary
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                r.details
                    .as_deref()
                    .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
            })
            .map(str::to_owned);
        RecordInfo {
            id: r.id.clone(),
            aliases: r.aliases.clone(),
            upstream: r.upstream.clone(),
            summary,
            severity: r.severity.clone(),
            severity_word: r.database_severity().map(str::to_owned),
            references: r.references.iter().map(|x| x.url.clone()).collect(),
            modified: r.modified.clone(),
        }
    }
}

/// One `affected` entry loaded for matching.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Unique among the candidates one handle has loaded: the matcher keys its cache of merged
    /// advisories by the set of candidates that matched.
    pub uid: u32,
    /// The record it belongs to.
    pub record_id: String,
    /// The release part of its ecosystem.
    pub release: String,
    /// Its ranges, sorted and ready.
    pub prepared: PreparedAffected<crowsnest_version::Version>,
    /// Per-package severity vectors and word.
    pub stored: StoredAffected,
    /// `stored.severity`'s CVSS v3/v4 vectors, scored once when loaded.
    pub cvss: Arc<[CvssScore]>,
    /// `stored.severity_word`, parsed.
    pub severity_word: Option<Severity>,
}

/// A record's display data with its CVSS vectors scored and severity word parsed, cached per
/// handle so a record that affects many packages is scored once.
#[derive(Clone, Debug)]
pub struct RecordEntry {
    /// The record.
    pub info: Arc<RecordInfo>,
    /// `info.severity`'s CVSS v3/v4 vectors with their base scores.
    pub cvss: Arc<[CvssScore]>,
    /// `info.severity_word`, parsed.
    pub severity_word: Option<Severity>,
}

/// The CVSS v3 and v4 entries of a severity list, scored.
pub(crate) fn cvss_of(severity: &[OsvSeverity]) -> Arc<[CvssScore]> {
    severity
        .iter()
        .filter(|s| s.kind.starts_with("CVSS_V3") || s.kind.starts_with("CVSS_V4"))
        .filter_map(|s| crate::cvss::score(&s.score))
        .collect()
}

/// Per-source bookkeeping, as `db status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// The path or URL.
    pub source: String,
    /// When it was imported, RFC 3339.
    pub imported_at: String,
    /// Records kept.
    pub records: u64,
    /// Withdrawn records dropped.
    pub withdrawn: u64,
    /// Records that failed to parse.
    pub errors: u64,
    /// The server's ETag, for conditional updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The server's Last-Modified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// SHA-256 of the archive imported, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What `crowsnest db status` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbStatus {
    /// The database file.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Schema version.
    pub schema_version: u32,
    /// When the database was last written, RFC 3339.
    pub updated_at: String,
    /// Records, all ecosystems together.
    pub records: u64,
    /// Records per OSV base ecosystem (`Alpine`, `PyPI`, ...). A record naming two ecosystems
    /// counts in both.
    pub ecosystems: BTreeMap<String, u64>,
    /// Records per full OSV ecosystem including the release (`Alpine:v3.10`).
    pub releases: BTreeMap<String, u64>,
    /// Where the records came from.
    pub sources: Vec<SourceStatus>,
}

impl DbStatus {
    /// The summary a scan report carries.
    pub fn db_info(&self) -> crowsnest_model::DbInfo {
        crowsnest_model::DbInfo {
            updated_at: self.updated_at.clone(),
            records: self.records,
        }
    }
}

/// Current time, RFC 3339 in UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

type CandidateList = Arc<Vec<Candidate>>;

/// A read-only handle on the database. Not shared between threads: each worker opens its own,
/// which is cheap. Lookups and records are cached per handle, so repeated packages across many
/// inventories cost one SQLite query each.
pub struct VulnDb {
    path: PathBuf,
    conn: Connection,
    /// Base ecosystem, then name: looked up with borrowed strings, no key is built per lookup.
    candidates: std::cell::RefCell<HashMap<String, HashMap<String, CandidateList>>>,
    /// How many candidates this handle has loaded: the next [`Candidate::uid`].
    loaded: std::cell::Cell<u32>,
    records: std::cell::RefCell<HashMap<String, Arc<RecordEntry>>>,
    /// The matcher's grouped and merged hits, keyed by the candidates that matched (see
    /// `matcher::grouped`).
    pub(crate) groupings: std::cell::RefCell<HashMap<Vec<u32>, crate::matcher::Grouping>>,
}

impl std::fmt::Debug for VulnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulnDb").field("path", &self.path).finish()
    }
}

fn check_schema(conn: &Connection, path: &Path) -> Result<(), VulnDbError> {
    let found: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .unwrap_or(None);
    if found.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
        return Err(VulnDbError::Schema {
            path: path.to_owned(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(())
}

impl VulnDb {
    /// Opens the database read-only.
    pub fn open(path: &Path) -> Result<VulnDb, VulnDbError> {
        if !path.is_file() {
            return Err(VulnDbError::Missing(path.to_owned()));
        }
        // `immutable=1`: the live file is only ever replaced by rename, never written in place,
        // so SQLite may skip locking and journal checks.
        let uri = format!("file:{}?immutable=1", uri_path(path));
        let conn = Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(VulnDbError::sqlite(path))?;
        check_schema(&conn, path)?;
        Ok(VulnDb {
            path: path.to_owned(),
            conn,
            candidates: Default::default(),
            loaded: Default::default(),
            records: Default::default(),
            groupings: Default::default(),
        })
    }

    /// The file this handle reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `affected` entries for a package in a base ecosystem (`name` already normalised).
    pub fn candidates(&self, base: &str, name: &str) -> Result<CandidateList, VulnDbError> {
        if let Some(hit) = self.candidates.borrow().get(base).and_then(|m| m.get(name)) {
            return Ok(hit.clone());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                // Ordered, so findings (their aliases, fixed versions and references) come
                // out the same from any two files holding the same records.
                "SELECT record_id, release, data FROM affected WHERE eco = ?1 AND name = ?2
                 ORDER BY record_id, release, rowid",
            )
            .map_err(VulnDbError::sqlite(&self.path))?;
        let rows = stmt
            .query_map(params![base, name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(VulnDbError::sqlite(&self.path))?;
        let scheme = scheme_for_base(base);
        let mut out = Vec::new();
        for row in rows {
            let (record_id, release, data) = row.map_err(VulnDbError::sqlite(&self.path))?;
            // Rows are written by this crate; one that does not decode is skipped rather than
            // failing every scan.
            let Ok(stored) = serde_json::from_str::<StoredAffected>(&data) else {
                tracing::warn!(record_id, "undecodable affected row skipped");
                continue;
            };
            let prepared = PreparedAffected::prepare(&stored, scheme, &SchemeOrder);
            let uid = self.loaded.get();
            self.loaded.set(uid.wrapping_add(1));
            out.push(Candidate {
                uid,
                record_id,
                release,
                prepared,
                cvss: cvss_of(&stored.severity),
                severity_word: stored
                    .severity_word
                    .as_deref()
                    .and_then(Severity::parse_word),
                stored,
            });
        }
        let out = Arc::new(out);
        self.candidates
            .borrow_mut()
            .entry(base.to_owned())
            .or_default()
            .insert(name.to_owned(), out.clone());
        Ok(out)
    }

    /// A record's display data.
    pub fn record(&self, id: &str) -> Result<Option<Arc<RecordInfo>>, VulnDbError> {
        Ok(self.record_entry(id)?.map(|e| e.info.clone()))
    }

    /// A record's display data with its scores, cached.
    pub fn record_entry(&self, id: &str) -> Result<Option<Arc<RecordEntry>>, VulnDbError> {
        if let Some(hit) = self.records.borrow().get(id) {
            return Ok(Some(hit.clone()));
        }
        let info: Option<String> = self
            .conn
            .prepare_cached("SELECT info FROM records WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(VulnDbError::sqlite(&self.path))?;
        let Some(info) = info.and_then(|i| serde_json::from_str::<RecordInfo>(&i).ok()) else {
            return Ok(None);
        };
        let entry = Arc::new(RecordEntry {
            cvss: cvss_of(&info.severity),
            severity_word: info.severity_word.as_deref().and_then(Severity::parse_word),
            info: Arc::new(info),
        });
        self.records
            .borrow_mut()
            .insert(id.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// Every distinct (base ecosystem, name) in the index; benchmarks draw inventories from it.
    pub fn package_names(&self) -> Result<Vec<(String, String)>, VulnDbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT eco, name FROM affected ORDER BY eco, name")
            .map_err(VulnDbError::sqlite(&self.path))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(VulnDbError::sqlite(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(VulnDbError::sqlite(&self.path))
    }

    /// The build of this file: a new value for every committed update, so a stored inventory
    /// knows whether it was matched against what is loaded now. Files written before builds
    /// were recorded answer their update time.
    pub fn build(&self) -> Result<String, VulnDbError> {
        let read = |key: &str| -> Result<Option<String>, VulnDbError> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(VulnDbError::sqlite(&self.path))
        };
        Ok(match read("build")? {
            Some(b) => b,
            None => read("updated_at")?.unwrap_or_default(),
        })
    }

    /// What is loaded, from when, how many records per ecosystem.
    pub fn status(&self) -> Result<DbStatus, VulnDbError> {
        read_status(&self.conn, &self.path)
    }
}

/// Reads the status of the database at `path`.
pub fn status(path: &Path) -> Result<DbStatus, VulnDbError> {
    VulnDb::open(path)?.status()
}

fn read_status(conn: &Connection, path: &Path) -> Result<DbStatus, VulnDbError> {
    let e = VulnDbError::sqlite(path);
    let q = || -> rusqlite::Result<DbStatus> {
        let updated_at: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'updated_at'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or_default();
        let records: i64 = conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
        let mut ecosystems = BTreeMap::new();
        let mut stmt =
            conn.prepare("SELECT eco, COUNT(DISTINCT record_id) FROM affected GROUP BY eco")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, v) = row?;
            ecosystems.insert(k, v.max(0) as u64);
        }
        let mut releases = BTreeMap::new();
        let mut stmt = conn.prepare(
            "SELECT eco, release, COUNT(DISTINCT record_id) FROM affected GROUP BY eco, release",
        )?;
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })? {
            let (eco, release, v) = row?;
            let key = if release.is_empty() {
                eco
            } else {
                format!("{eco}:{release}")
            };
            releases.insert(key, v.max(0) as u64);
        }
        let mut sources = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT source, imported_at, records, withdrawn, errors, etag, last_modified, sha256
             FROM sources ORDER BY source",
        )?;
        for row in stmt.query_map([], |r| {
            Ok(SourceStatus {
                source: r.get(0)?,
                imported_at: r.get(1)?,
                records: r.get::<_, i64>(2)?.max(0) as u64,
                withdrawn: r.get::<_, i64>(3)?.max(0) as u64,
                errors: r.get::<_, i64>(4)?.max(0) as u64,
                etag: r.get(5)?,
                last_modified: r.get(6)?,
                sha256: r.get(7)?,
            })
        })? {
            sources.push(row?);
        }
        Ok(DbStatus {
            path: path.to_owned(),
            file_size: 0,
            schema_version: SCHEMA_VERSION,
            updated_at,
            records: records.max(0) as u64,
            ecosystems,
            releases,
            sources,
        })
    };
    let mut status = q().map_err(e)?;
    status.file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(status)
}

/// Percent-encodes the characters SQLite URIs treat specially.
fn uri_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// Counts of one source's import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounts {
    /// Records stored.
    pub records: u64,
    /// Withdrawn records dropped.
    pub withdrawn: u64,
    /// Records that failed to parse.
    pub errors: u64,
    /// Records stored, per base ecosystem.
    pub ecosystems: BTreeMap<String, u64>,
}

/// HTTP validators and checksum of a downloaded source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMeta {
    /// ETag.
    pub etag: Option<String>,
    /// Last-Modified.
    pub last_modified: Option<String>,
    /// SHA-256, hex.
    pub sha256: Option<String>,
}

/// A writer on a private copy of the database; [`Staging::commit`] renames it over the live file.
/// Dropping it without committing deletes the copy, leaving the live file as it was.
pub struct Staging {
    live: PathBuf,
    tmp: PathBuf,
    conn: Option<Connection>,
}

impl Staging {
    /// Starts a staged change of the database at `live` (which need not exist yet).
    pub fn begin(live: &Path) -> Result<Staging, VulnDbError> {
        let dir = match live.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(VulnDbError::io(&dir))?;
        let file_name = live
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "vulndb.sqlite".to_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(".{file_name}.{}.{nanos}.tmp", std::process::id()));
        if live.is_file() {
            std::fs::copy(live, &tmp).map_err(VulnDbError::io(&tmp))?;
        }
        let mut staging = Staging {
            live: live.to_owned(),
            tmp: tmp.clone(),
            conn: None,
        };
        let conn = Connection::open(&tmp).map_err(VulnDbError::sqlite(&tmp))?;
        // The copy is private until the rename: no journal is needed, a crash just leaves a
        // temporary file behind.
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            .map_err(VulnDbError::sqlite(&tmp))?;
        conn.execute_batch(SCHEMA)
            .map_err(VulnDbError::sqlite(&tmp))?;
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION.to_string()],
        )
        .map_err(VulnDbError::sqlite(&tmp))?;
        conn.execute_batch("BEGIN")
            .map_err(VulnDbError::sqlite(&tmp))?;
        staging.conn = Some(conn);
        Ok(staging)
    }

    fn conn(&self) -> Result<&Connection, VulnDbError> {
        self.conn.as_ref().ok_or_else(|| VulnDbError::Io {
            path: self.tmp.clone(),
            source: std::io::Error::other("staging connection already closed"),
        })
    }

    /// Removes every record that came from `source`, before it is imported again.
    pub fn clear_source(&self, source: &str) -> Result<(), VulnDbError> {
        let conn = self.conn()?;
        conn.execute(
            "DELETE FROM affected WHERE record_id IN (SELECT id FROM records WHERE source = ?1)",
            [source],
        )
        .and_then(|_| conn.execute("DELETE FROM records WHERE source = ?1", [source]))
        .and_then(|_| conn.execute("DELETE FROM sources WHERE source = ?1", [source]))
        .map_err(VulnDbError::sqlite(&self.tmp))?;
        Ok(())
    }

    /// Stores one record (or drops it, and any older copy, when withdrawn). Returns the base
    /// ecosystems it was stored under.
    pub fn put(&self, source: &str, record: &OsvRecord) -> Result<Vec<String>, VulnDbError> {
        let conn = self.conn()?;
        let err = VulnDbError::sqlite(&self.tmp);
        let run = || -> rusqlite::Result<Vec<String>> {
            conn.prepare_cached("DELETE FROM affected WHERE record_id = ?1")?
                .execute([&record.id])?;
            if record.withdrawn.is_some() {
                conn.prepare_cached("DELETE FROM records WHERE id = ?1")?
                    .execute([&record.id])?;
                return Ok(Vec::new());
            }
            let info = RecordInfo::from_record(record);
            let info = serde_json::to_string(&info)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO records(id, source, modified, info) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![record.id, source, record.modified, info])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO affected(eco, name, release, record_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut bases = Vec::new();
            for a in &record.affected {
                let eco = OsvEcosystem::parse(&a.package.ecosystem);
                let name = normalise_name(&eco.base, &a.package.name);
                let stored = StoredAffected::from_affected(a);
                let data = serde_json::to_string(&stored)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                insert.execute(params![eco.base, name, eco.release, record.id, data])?;
                if !bases.contains(&eco.base) {
                    bases.push(eco.base);
                }
            }
            Ok(bases)
        };
        run().map_err(err)
    }

    /// Marks a point [`Staging::rollback_to_savepoint`] can return to.
    pub fn savepoint(&self) -> Result<(), VulnDbError> {
        self.exec("SAVEPOINT source")
    }

    /// Keeps what was done since [`Staging::savepoint`].
    pub fn release(&self) -> Result<(), VulnDbError> {
        self.exec("RELEASE source")
    }

    /// Undoes what was done since [`Staging::savepoint`].
    pub fn rollback_to_savepoint(&self) -> Result<(), VulnDbError> {
        self.exec("ROLLBACK TO source; RELEASE source")
    }

    fn exec(&self, sql: &str) -> Result<(), VulnDbError> {
        self.conn()?
            .execute_batch(sql)
            .map_err(VulnDbError::sqlite(&self.tmp))
    }

    /// Records the bookkeeping of an imported source.
    pub fn record_source(
        &self,
        source: &str,
        counts: &SourceCounts,
        meta: &SourceMeta,
    ) -> Result<(), VulnDbError> {
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO sources(source, imported_at, records, withdrawn, errors, etag, last_modified, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    source,
                    now_rfc3339(),
                    counts.records as i64,
                    counts.withdrawn as i64,
                    counts.errors as i64,
                    meta.etag,
                    meta.last_modified,
                    meta.sha256
                ],
            )
            .map_err(VulnDbError::sqlite(&self.tmp))?;
        Ok(())
    }

    /// Commits, syncs and renames the copy over the live file.
    pub fn commit(mut self) -> Result<(), VulnDbError> {
        let tmp = self.tmp.clone();
        if let Some(conn) = self.conn.take() {
            let now = now_rfc3339();
            // The update time alone could repeat (two imports within a clock tick); the
            // temporary file's name holds the process id and nanoseconds.
            use sha2::Digest as _;
            let salt = sha2::Sha256::digest(tmp.to_string_lossy().as_bytes());
            let build = format!("{now}/{}", hex::encode(&salt[..6]));
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('updated_at', ?1), ('build', ?2)",
                [now, build],
            )
            .and_then(|_| conn.execute_batch("COMMIT; ANALYZE;"))
            .map_err(VulnDbError::sqlite(&tmp))?;
            conn.close().map_err(|(_, e)| VulnDbError::Sqlite {
                path: tmp.clone(),
                source: e,
            })?;
        }
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(VulnDbError::io(&tmp))?;
        std::fs::rename(&tmp, &self.live).map_err(VulnDbError::io(&self.live))?;
        // Make the rename itself durable.
        if let Some(dir) = self.live.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// The source bookkeeping currently in the copy (ETags for conditional requests).
    pub fn source_meta(&self, source: &str) -> Result<Option<SourceMeta>, VulnDbError> {
        source_meta(self.conn()?, &self.tmp, source)
    }
}

fn source_meta(
    conn: &Connection,
    path: &Path,
    source: &str,
) -> Result<Option<SourceMeta>, VulnDbError> {
    conn.query_row(
        "SELECT etag, last_modified, sha256 FROM sources WHERE source = ?1",
        [source],
        |r| {
            Ok(SourceMeta {
                etag: r.get(0)?,
                last_modified: r.get(1)?,
                sha256: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(VulnDbError::sqlite(path))
}

impl VulnDb {
    /// The bookkeeping of one source (ETag, checksum), if it was imported.
    pub fn source_meta(&self, source: &str) -> Result<Option<SourceMeta>, VulnDbError> {
        source_meta(&self.conn, &self.path, source)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.conn.is_some() || self.tmp.exists() {
            drop(self.conn.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
