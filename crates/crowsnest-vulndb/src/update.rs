//! `crowsnest db update`: download each ecosystem's `all.zip` and swap in the new database.
//!
//! For each ecosystem the file `<base>/<ECOSYSTEM>/all.zip` is fetched into a download directory
//! beside the database (`.<db file name>.downloads/`):
//!
//! - **Conditional**: the ETag (and Last-Modified) of the last import is sent as
//!   `If-None-Match` / `If-Modified-Since`; a `304` leaves that ecosystem as it is.
//! - **Resume**: bytes arrive in `all.zip.part`; the validators of the response that started it
//!   are kept in `all.zip.part.json`. A later attempt (the next retry, or the next run) asks for
//!   `Range: bytes=<len>-` with `If-Range`, appends on `206`, and starts over on `200`.
//! - **Integrity**: the complete file is checked against the MD5 the server announces
//!   (`x-goog-hash: md5=…` as Google Cloud Storage sends it, which covers the whole object even on
//!   a `206`; or `Content-MD5` of a full `200` response), and against a `<url>.sha256` sidecar
//!   when the server has one (first hex word of the file, `sha256sum` style). Every zip entry's
//!   CRC-32 is checked while importing. A file that fails any check is deleted and its ecosystem
//!   reported failed; the live database keeps its old records.
//! - **Atomic**: all downloaded ecosystems are imported into one staged copy that replaces the
//!   live file by rename (see [`crate::store`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

use crate::error::VulnDbError;
use crate::import::{import_zip, ImportSummary, RecordFailure};
use crate::store::{SourceMeta, Staging, VulnDb};

/// Where osv.dev publishes its per-ecosystem archives.
pub const DEFAULT_BASE_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// How many times one ecosystem's download is attempted (resuming each time) in one run.
const ATTEMPTS: u32 = 3;

/// Download progress of one ecosystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The ecosystem being downloaded.
    pub ecosystem: &'a str,
    /// Bytes of the file present so far (including a resumed part).
    pub done: u64,
    /// The file's full size, when the server says.
    pub total: Option<u64>,
}

/// What happened to one ecosystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EcosystemUpdate {
    /// The server said the archive has not changed since the last import.
    Unchanged,
    /// A new archive was downloaded and imported.
    Updated {
        /// Archive size in bytes.
        bytes: u64,
        /// Bytes that a previous partial download already had.
        resumed_from: u64,
        /// Records stored.
        records: u64,
        /// Withdrawn records dropped.
        withdrawn: u64,
        /// Records that failed to parse.
        errors: u64,
    },
    /// The download or its verification failed; the previous records are kept.
    Failed {
        /// Why.
        reason: String,
    },
}

/// What `update` did, per ecosystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSummary {
    /// Outcome per ecosystem, in the order given.
    pub ecosystems: BTreeMap<String, EcosystemUpdate>,
    /// Records that failed to parse (the first few).
    pub failures: Vec<RecordFailure>,
    /// True when the database file was replaced.
    pub replaced: bool,
}

impl UpdateSummary {
    /// Ecosystems whose update failed.
    pub fn failed(&self) -> Vec<&str> {
        self.ecosystems
            .iter()
            .filter(|(_, u)| matches!(u, EcosystemUpdate::Failed { .. }))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// The validators of the response a partial download started from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PartMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Base64 MD5 of the whole object, as announced.
    md5: Option<String>,
    total: Option<u64>,
}

/// A finished, verified download.
struct Downloaded {
    zip: PathBuf,
    meta: SourceMeta,
    bytes: u64,
    resumed_from: u64,
}

enum Fetch {
    Unchanged,
    Done(Downloaded),
}

/// The URL of an ecosystem's archive under `base`.
pub fn archive_url(base: &str, ecosystem: &str) -> String {
    let enc: String = ecosystem
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!("{}/{enc}/all.zip", base.trim_end_matches('/'))
}

fn download_dir(db_path: &Path) -> PathBuf {
    let name = db_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vulndb".to_owned());
    db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.downloads"))
}

/// Downloads the archives of `ecosystems` from `base_url` and imports the changed ones into the
/// database at `db_path`, atomically. `progress` is called as bytes arrive.
pub fn update(
    db_path: &Path,
    base_url: &str,
    ecosystems: &[String],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<UpdateSummary, VulnDbError> {
    let _span = tracing::info_span!("vulndb_update", base_url).entered();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30 * 60))
        .user_agent(concat!("crowsnest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| VulnDbError::Download {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
    let live = if db_path.is_file() {
        Some(VulnDb::open(db_path)?)
    } else {
        None
    };
    let downloads = download_dir(db_path);
    let mut summary = UpdateSummary::default();
    let mut fetched: Vec<(String, String, Downloaded)> = Vec::new();
    for eco in ecosystems {
        let url = archive_url(base_url, eco);
        let known = match &live {
            Some(db) => db.source_meta(&url)?,
            None => None,
        };
        let dir = downloads.join(sanitise(eco));
        match fetch(&client, &url, &dir, known.as_ref(), eco, progress) {
            Ok(Fetch::Unchanged) => {
                summary
                    .ecosystems
                    .insert(eco.clone(), EcosystemUpdate::Unchanged);
            }
            Ok(Fetch::Done(d)) => fetched.push((eco.clone(), url, d)),
            Err(e) => {
                tracing::warn!(ecosystem = %eco, error = %e, "download failed");
                summary.ecosystems.insert(
                    eco.clone(),
                    EcosystemUpdate::Failed {
                        reason: e.to_string(),
                    },
                );
            }
        }
    }
    drop(live);
    if fetched.is_empty() {
        return Ok(summary);
    }
    let staging = Staging::begin(db_path)?;
    let mut imported = ImportSummary::default();
    let mut any = false;
    for (eco, url, d) in &fetched {
        // Each archive is checked whole (its CRCs) before its old records go: an archive that
        // turns out corrupt rolls back to the savepoint and keeps them.
        staging.savepoint()?;
        match import_zip(&staging, url, &d.zip) {
            Ok((counts, failures)) => {
                staging.record_source(url, &counts, &d.meta)?;
                staging.release()?;
                any = true;
                summary.ecosystems.insert(
                    eco.clone(),
                    EcosystemUpdate::Updated {
                        bytes: d.bytes,
                        resumed_from: d.resumed_from,
                        records: counts.records,
                        withdrawn: counts.withdrawn,
                        errors: counts.errors,
                    },
                );
                imported.failures.extend(failures);
            }
            Err(e) => {
                staging.rollback_to_savepoint()?;
                summary.ecosystems.insert(
                    eco.clone(),
                    EcosystemUpdate::Failed {
                        reason: e.to_string(),
                    },
                );
            }
        }
        let _ = std::fs::remove_file(&d.zip);
    }
    summary.failures = imported.failures;
    if any {
        staging.commit()?;
        summary.replaced = true;
    }
    Ok(summary)
}

fn sanitise(eco: &str) -> String {
    eco.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn header(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `md5=` value of `x-goog-hash` (which may be repeated or comma-separated).
fn goog_md5(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get_all("x-goog-hash")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("md5=").map(str::to_owned))
}

fn read_part_meta(path: &Path) -> Option<PartMeta> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_part_meta(path: &Path, meta: &PartMeta) -> Result<(), VulnDbError> {
    let bytes = serde_json::to_vec(meta).map_err(|e| VulnDbError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(path, bytes).map_err(VulnDbError::io(path))
}

fn fetch(
    client: &reqwest::blocking::Client,
    url: &str,
    dir: &Path,
    known: Option<&SourceMeta>,
    eco: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Fetch, VulnDbError> {
    std::fs::create_dir_all(dir).map_err(VulnDbError::io(dir))?;
    let part = dir.join("all.zip.part");
    let part_meta_path = dir.join("all.zip.part.json");
    let mut last_err = None;
    for attempt in 0..ATTEMPTS {
        match fetch_once(client, url, &part, &part_meta_path, known, eco, progress) {
            Ok(Attempt::Unchanged) => return Ok(Fetch::Unchanged),
            Ok(Attempt::Complete { offset, meta }) => {
                return finish(client, url, dir, &part, &part_meta_path, meta, offset);
            }
            Err(e) => {
                tracing::info!(url, attempt, error = %e, "download interrupted; will resume");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| VulnDbError::Download {
        url: url.to_owned(),
        reason: "no attempt made".to_owned(),
    }))
}

enum Attempt {
    Unchanged,
    Complete { offset: u64, meta: PartMeta },
}

fn fetch_once(
    client: &reqwest::blocking::Client,
    url: &str,
    part: &Path,
    part_meta_path: &Path,
    known: Option<&SourceMeta>,
    eco: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Attempt, VulnDbError> {
    let dl = |reason: String| VulnDbError::Download {
        url: url.to_owned(),
        reason,
    };
    // A part is only resumable when we know which version of the file it belongs to.
    let part_meta = read_part_meta(part_meta_path)
        .filter(|m| m.url == url && (m.etag.is_some() || m.last_modified.is_some()));
    let have = match (&part_meta, std::fs::metadata(part)) {
        (Some(_), Ok(m)) => m.len(),
        _ => 0,
    };
    let mut req = client.get(url);
    if let (Some(pm), true) = (&part_meta, have > 0) {
        req = req.header("Range", format!("bytes={have}-"));
        if let Some(v) = pm.etag.as_ref().or(pm.last_modified.as_ref()) {
            req = req.header("If-Range", v);
        }
    } else if let Some(k) = known {
        if let Some(etag) = &k.etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = &k.last_modified {
            req = req.header("If-Modified-Since", lm);
        }
    }
    let mut resp = req.send().map_err(|e| dl(e.to_string()))?;
    let status = resp.status().as_u16();
    let (mut file, offset, meta) = match status {
        304 if have == 0 => return Ok(Attempt::Unchanged),
        206 if have > 0 => {
            let start = header(&resp, "content-range").and_then(|cr| {
                cr.strip_prefix("bytes ")
                    .and_then(|r| r.split('-').next())
                    .and_then(|s| s.trim().parse::<u64>().ok())
            });
            if start != Some(have) {
                // The server answered a different range than asked: start over next attempt.
                let _ = std::fs::remove_file(part);
                return Err(dl(format!("unexpected Content-Range for offset {have}")));
            }
            let mut meta = part_meta.unwrap_or_default();
            if let Some(md5) = goog_md5(&resp) {
                meta.md5 = Some(md5);
            }
            let f = OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(VulnDbError::io(part))?;
            (f, have, meta)
        }
        200 => {
            let meta = PartMeta {
                url: url.to_owned(),
                etag: header(&resp, "etag"),
                last_modified: header(&resp, "last-modified"),
                md5: goog_md5(&resp).or_else(|| header(&resp, "content-md5")),
                total: resp.content_length(),
            };
            write_part_meta(part_meta_path, &meta)?;
            let f = File::create(part).map_err(VulnDbError::io(part))?;
            (f, 0, meta)
        }
        other => return Err(dl(format!("HTTP status {other}"))),
    };
    let total = meta
        .total
        .or_else(|| resp.content_length().map(|l| l + offset));
    let mut done = offset;
    progress(Progress {
        ecosystem: eco,
        done,
        total,
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp.read(&mut buf).map_err(|e| dl(e.to_string()))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        file.write_all(chunk).map_err(VulnDbError::io(part))?;
        done += n as u64;
        progress(Progress {
            ecosystem: eco,
            done,
            total,
        });
    }
    file.sync_all().map_err(VulnDbError::io(part))?;
    if let Some(t) = total {
        if done != t {
            return Err(dl(format!("connection closed after {done} of {t} bytes")));
        }
    }
    Ok(Attempt::Complete { offset, meta })
}

fn file_digests(path: &Path) -> Result<(String, String), VulnDbError> {
    let mut f = File::open(path).map_err(VulnDbError::io(path))?;
    let mut md5 = md5::Md5::new();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(VulnDbError::io(path))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        md5.update(chunk);
        sha.update(chunk);
    }
    Ok((
        base64::engine::general_purpose::STANDARD.encode(md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}

fn finish(
    client: &reqwest::blocking::Client,
    url: &str,
    dir: &Path,
    part: &Path,
    part_meta_path: &Path,
    meta: PartMeta,
    resumed_from: u64,
) -> Result<Fetch, VulnDbError> {
    let (md5, sha256) = file_digests(part)?;
    let reject = |expected: String, actual: String| {
        // A corrupt file must not be resumed from.
        let _ = std::fs::remove_file(part);
        let _ = std::fs::remove_file(part_meta_path);
        VulnDbError::Checksum {
            url: url.to_owned(),
            expected,
            actual,
        }
    };
    if let Some(expected) = &meta.md5 {
        if expected.trim() != md5 {
            return Err(reject(format!("md5 {expected}"), format!("md5 {md5}")));
        }
    }
    if let Some(expected) = sidecar_sha256(client, url) {
        if !expected.eq_ignore_ascii_case(&sha256) {
            return Err(reject(
                format!("sha256 {expected}"),
                format!("sha256 {sha256}"),
            ));
        }
    }
    let zip = dir.join("all.zip");
    std::fs::rename(part, &zip).map_err(VulnDbError::io(&zip))?;
    let _ = std::fs::remove_file(part_meta_path);
    let bytes = std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0);
    Ok(Fetch::Done(Downloaded {
        zip,
        meta: SourceMeta {
            etag: meta.etag,
            last_modified: meta.last_modified,
            sha256: Some(sha256),
        },
        bytes,
        resumed_from,
    }))
}

/// The `<url>.sha256` sidecar's digest, when the server has one.
fn sidecar_sha256(client: &reqwest::blocking::Client, url: &str) -> Option<String> {
    let resp = client.get(format!("{url}.sha256")).send().ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let text = resp.text().ok()?;
    let word = text.split_whitespace().next()?.to_owned();
    (word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit())).then_some(word)
}
