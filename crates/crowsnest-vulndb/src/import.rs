//! Importing OSV records from a directory, a record file or an osv.dev-style `all.zip`.
//!
//! Zip archives are read entry by entry (each entry is decompressed on its own, with a size cap),
//! never loaded whole. A record that does not parse is counted and reported, not fatal; a corrupt
//! archive (bad structure or CRC) is fatal for the whole import, and the live database is left
//! untouched because nothing is renamed until every source has been read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::VulnDbError;
use crate::osv::{parse_record, RecordFormat};
use crate::store::{SourceCounts, SourceMeta, Staging};

/// Largest record accepted, decompressed. Real records are a few KiB; this guards against
/// zip bombs.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

/// How many individual record failures an [`ImportSummary`] lists (all are counted).
const MAX_LISTED_FAILURES: usize = 50;

/// One record that could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    /// The file or zip entry.
    pub entry: String,
    /// Why.
    pub message: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Records stored.
    pub records: u64,
    /// Withdrawn records dropped.
    pub withdrawn: u64,
    /// Records that failed to parse.
    pub errors: u64,
    /// Records stored per base ecosystem.
    pub ecosystems: BTreeMap<String, u64>,
    /// The first failures, for the user to look at.
    pub failures: Vec<RecordFailure>,
    /// The sources imported (paths of zips and directories).
    pub sources: Vec<String>,
}

impl ImportSummary {
    fn add(&mut self, source: String, counts: &SourceCounts, failures: Vec<RecordFailure>) {
        self.records += counts.records;
        self.withdrawn += counts.withdrawn;
        self.errors += counts.errors;
        for (k, v) in &counts.ecosystems {
            *self.ecosystems.entry(k.clone()).or_default() += v;
        }
        let room = MAX_LISTED_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(failures.into_iter().take(room));
        self.sources.push(source);
    }
}

/// Imports `source` (a directory, a zip, or one record file) into the database at `db_path`,
/// replacing whatever an earlier import of the same source stored, then swaps the database in
/// atomically. A directory is walked recursively: its `*.json`, `*.yaml` and `*.yml` files form
/// one source, and each `*.zip` inside it is a source of its own.
pub fn import_path(db_path: &Path, source: &Path) -> Result<ImportSummary, VulnDbError> {
    let _span = tracing::info_span!("vulndb_import", source = %source.display()).entered();
    let source = source.canonicalize().map_err(VulnDbError::io(source))?;
    let staging = Staging::begin(db_path)?;
    let mut summary = ImportSummary::default();
    if source.is_dir() {
        let mut records = Vec::new();
        let mut zips = Vec::new();
        walk(&source, &mut records, &mut zips)?;
        records.sort();
        zips.sort();
        if !records.is_empty() {
            let key = source.to_string_lossy().into_owned();
            let (counts, failures) = import_files(&staging, &key, &source, &records)?;
            staging.record_source(&key, &counts, &SourceMeta::default())?;
            summary.add(key, &counts, failures);
        }
        for zip in zips {
            let key = zip.to_string_lossy().into_owned();
            let (counts, failures) = import_zip(&staging, &key, &zip)?;
            staging.record_source(&key, &counts, &SourceMeta::default())?;
            summary.add(key, &counts, failures);
        }
    } else if is_zip(&source) {
        let key = source.to_string_lossy().into_owned();
        let (counts, failures) = import_zip(&staging, &key, &source)?;
        staging.record_source(&key, &counts, &SourceMeta::default())?;
        summary.add(key, &counts, failures);
    } else if source
        .file_name()
        .and_then(|n| RecordFormat::from_file_name(&n.to_string_lossy()))
        .is_some()
    {
        let key = source.to_string_lossy().into_owned();
        let dir = source.parent().unwrap_or(Path::new("/")).to_owned();
        let (counts, failures) = import_files(&staging, &key, &dir, std::slice::from_ref(&source))?;
        if let Some(failure) = failures.into_iter().next() {
            // One file asked for by name: its failure is the import's.
            return Err(VulnDbError::InvalidRecord {
                path: source,
                reason: failure.message,
            });
        }
        let failures = Vec::new();
        staging.record_source(&key, &counts, &SourceMeta::default())?;
        summary.add(key, &counts, failures);
    } else {
        return Err(VulnDbError::UnsupportedSource(source));
    }
    staging.commit()?;
    Ok(summary)
}

fn is_zip(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("zip"))
}

fn walk(
    dir: &Path,
    records: &mut Vec<PathBuf>,
    zips: &mut Vec<PathBuf>,
) -> Result<(), VulnDbError> {
    for entry in std::fs::read_dir(dir).map_err(VulnDbError::io(dir))? {
        let entry = entry.map_err(VulnDbError::io(dir))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(VulnDbError::io(&path))?;
        // Symbolic links are not followed: a link cycle must not hang an import.
        if ty.is_dir() {
            walk(&path, records, zips)?;
        } else if ty.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if RecordFormat::from_file_name(&name).is_some() {
                records.push(path);
            } else if is_zip(&path) {
                zips.push(path);
            }
        }
    }
    Ok(())
}

/// The records a source stored so far, by id, with their base ecosystems. An archive may hold
/// the same record twice (AlmaLinux ships identical copies under each release's folder); it is
/// counted once, as the index holds it once.
type Stored = std::collections::HashMap<String, Vec<String>>;

fn tally(stored: &Stored, counts: &mut SourceCounts) {
    counts.records = stored.len() as u64;
    counts.ecosystems.clear();
    for bases in stored.values() {
        for b in bases {
            *counts.ecosystems.entry(b.clone()).or_default() += 1;
        }
    }
}

fn store_one(
    staging: &Staging,
    key: &str,
    entry: &str,
    bytes: &[u8],
    format: RecordFormat,
    (counts, stored): (&mut SourceCounts, &mut Stored),
    failures: &mut Vec<RecordFailure>,
) -> Result<(), VulnDbError> {
    match parse_record(bytes, format) {
        Ok(record) => {
            let bases = staging.put(key, &record)?;
            if record.withdrawn.is_some() {
                counts.withdrawn += 1;
                stored.remove(&record.id);
            } else {
                // A later copy of the same record replaces the earlier one, in the index and here.
                stored.insert(record.id, bases);
            }
        }
        Err(e) => {
            counts.errors += 1;
            if failures.len() < MAX_LISTED_FAILURES {
                failures.push(RecordFailure {
                    entry: entry.to_owned(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn import_files(
    staging: &Staging,
    key: &str,
    root: &Path,
    files: &[PathBuf],
) -> Result<(SourceCounts, Vec<RecordFailure>), VulnDbError> {
    staging.clear_source(key)?;
    let mut counts = SourceCounts::default();
    let mut stored = Stored::new();
    let mut failures = Vec::new();
    for path in files {
        let entry = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let format = RecordFormat::from_file_name(&entry).unwrap_or(RecordFormat::Json);
        let mut bytes = Vec::new();
        let read =
            File::open(path).and_then(|f| f.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes));
        match read {
            Ok(n) if n as u64 > MAX_RECORD_BYTES => {
                counts.errors += 1;
                failures.push(RecordFailure {
                    entry,
                    message: format!("larger than {MAX_RECORD_BYTES} bytes"),
                });
            }
            Ok(_) => store_one(
                staging,
                key,
                &entry,
                &bytes,
                format,
                (&mut counts, &mut stored),
                &mut failures,
            )?,
            Err(e) => {
                counts.errors += 1;
                failures.push(RecordFailure {
                    entry,
                    message: e.to_string(),
                });
            }
        }
    }
    tally(&stored, &mut counts);
    Ok((counts, failures))
}

/// Imports one zip as source `key` into `staging`. Corruption of the archive itself (including a
/// CRC mismatch on any entry) is an error; a record that does not parse is only counted.
pub(crate) fn import_zip(
    staging: &Staging,
    key: &str,
    path: &Path,
) -> Result<(SourceCounts, Vec<RecordFailure>), VulnDbError> {
    let corrupt = |reason: String| VulnDbError::CorruptArchive {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(VulnDbError::io(path))?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| corrupt(e.to_string()))?;
    staging.clear_source(key)?;
    let mut counts = SourceCounts::default();
    let mut stored = Stored::new();
    let mut failures = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| corrupt(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let Some(format) = RecordFormat::from_file_name(&name) else {
            continue;
        };
        if entry.size() > MAX_RECORD_BYTES {
            counts.errors += 1;
            failures.push(RecordFailure {
                entry: name,
                message: format!("larger than {MAX_RECORD_BYTES} bytes"),
            });
            continue;
        }
        bytes.clear();
        // Reading to the end makes the zip reader check the entry's CRC-32.
        (&mut entry)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(format!("{name}: {e}")))?;
        store_one(
            staging,
            key,
            &name,
            &bytes,
            format,
            (&mut counts, &mut stored),
            &mut failures,
        )?;
    }
    tally(&stored, &mut counts);
    Ok((counts, failures))
}
