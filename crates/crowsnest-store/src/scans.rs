//! Stored inventories: what each scanned image digest contains, kept so that a vulnerability
//! database update re-matches every image without reading it again (Clair's split of indexing
//! from matching).
//!
//! One row per digest (`stored_inventories`, migration 6), however many tenants and places use
//! the image. [`Store::save_inventory`] writes it after a scan; [`Store::inventories_to_match`]
//! hands out, in digest order and in batches, those not yet matched against a given database
//! build; [`Store::record_match`] stores the per-severity counts of a match and copies the total
//! onto the digest's latest scan (`image_scans.vul_count` and `severity`, and the placements'
//! risk copy), which is what ListRegistryImages and DescribeImageInstances serve.
//!
//! Beside the inventory, [`Store::save_risks`] keeps what the risk analyzers (baseline, secrets,
//! malware) found, with their counts and the level they imply (migration 7). A re-match knows
//! only vulnerabilities; the image's `severity_level` is the worse of the new vulnerability
//! level and that stored risk level, so it is exact whichever of the two changed last.
//!
//! The inventory is stored as zstd-compressed JSON in base64: the thin query layer binds only
//! integers and text, and an image's inventory compresses about tenfold.

use std::io::Read;

use base64::Engine as _;
use crowsnest_model::{Finding, Inventory, RiskFinding, RiskKind, RiskSummary, Severity};

use crate::inventory::{ScanRecord, ScanState};
use crate::sql::{Row, Tx};
use crate::{now_ms, Store, StoreError};

/// The zstd level: inventories are written once per scan and read once per database update,
/// so a cheap level is enough.
const ZSTD_LEVEL: i32 = 3;

/// Largest decompressed inventory accepted back from the store (a corrupt or hostile row must
/// not exhaust memory).
const MAX_INVENTORY_BYTES: u64 = 256 << 20;

/// Vulnerabilities of one image, by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VulnCounts {
    /// CVSS 9.0 and above.
    pub critical: i64,
    /// CVSS 7.0-8.9.
    pub high: i64,
    /// CVSS 4.0-6.9.
    pub medium: i64,
    /// CVSS 0.1-3.9.
    pub low: i64,
    /// No score and no database severity.
    pub unknown: i64,
}

impl VulnCounts {
    /// Counts findings (one per vulnerability per package) by severity.
    pub fn of(findings: &[Finding]) -> VulnCounts {
        let mut c = VulnCounts::default();
        for f in findings {
            match f.severity {
                Severity::Critical => c.critical += 1,
                Severity::High => c.high += 1,
                Severity::Medium => c.medium += 1,
                Severity::Low => c.low += 1,
                Severity::Unknown => c.unknown += 1,
            }
        }
        c
    }

    /// Every vulnerability: the `vul_count` the APIs serve.
    pub fn total(&self) -> i64 {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    /// Huawei's image risk level (`severity_level`: Security, Low, Medium, High) implied by the
    /// vulnerabilities alone: critical counts as High, the level Huawei's range tops out at,
    /// and unrated vulnerabilities as Low (something is known to be wrong, not how badly).
    pub fn level(&self) -> &'static str {
        if self.critical + self.high > 0 {
            "High"
        } else if self.medium > 0 {
            "Medium"
        } else if self.low + self.unknown > 0 {
            "Low"
        } else {
            "Security"
        }
    }
}

/// What the risk analyzers found in one stored inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRisks {
    /// The analyzers that ran (none: the scan looked for packages only).
    pub scanners: Vec<RiskKind>,
    /// Their findings, as the scan reported them.
    pub findings: Vec<RiskFinding>,
    /// Counts and level of `findings` alone (no vulnerabilities).
    pub summary: RiskSummary,
}

/// One stored inventory with what its last match found.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredInventory {
    /// The image digest (`sha256:…`) it belongs to.
    pub digest: String,
    /// What the scan found.
    pub inventory: Inventory,
    /// When it was scanned, ms.
    pub indexed_ms: i64,
    /// The scan engine and catalogers that produced it.
    pub engine_version: String,
    /// The vulnerability database build of `counts`; empty until first matched.
    pub vulndb_build: String,
    /// When it was last matched, ms.
    pub matched_ms: Option<i64>,
    /// What the last match found.
    pub counts: VulnCounts,
}

/// What [`Store::record_match`] changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchRecorded {
    /// The counts before (zero when never matched).
    pub before: VulnCounts,
    /// Whether any count differs from before.
    pub changed: bool,
    /// Whether the digest is a known image whose latest scan now carries the new total.
    pub image_updated: bool,
}

const COLUMNS: &str = "digest, inventory, indexed_ms, engine_version, vulndb_build, matched_ms, \
    critical_count, high_count, medium_count, low_count, unknown_count";

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::Bind(e.to_string()))?;
    let packed = zstd::encode_all(json.as_slice(), ZSTD_LEVEL)
        .map_err(|e| StoreError::Bind(format!("compressing an inventory: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(packed))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("stored inventory: {what}: {e}"))
    };
    let packed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| corrupt("base64", &e))?;
    let mut json = Vec::new();
    zstd::stream::read::Decoder::new(packed.as_slice())
        .map_err(|e| corrupt("zstd", &e))?
        .take(MAX_INVENTORY_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| corrupt("zstd", &e))?;
    if json.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(corrupt("size", &"larger than the limit"));
    }
    serde_json::from_slice(&json).map_err(|e| corrupt("json", &e))
}

fn counts_from(row: &Row, at: usize) -> Result<VulnCounts, StoreError> {
    Ok(VulnCounts {
        critical: row.int(at)?,
        high: row.int(at + 1)?,
        medium: row.int(at + 2)?,
        low: row.int(at + 3)?,
        unknown: row.int(at + 4)?,
    })
}

fn stored_from(row: &Row) -> Result<StoredInventory, StoreError> {
    Ok(StoredInventory {
        digest: row.text(0)?,
        inventory: decode(&row.text(1)?)?,
        indexed_ms: row.int(2)?,
        engine_version: row.text(3)?,
        vulndb_build: row.text(4)?,
        matched_ms: row.opt_int(5)?,
        counts: counts_from(row, 6)?,
    })
}

impl Store {
    /// Stores (or replaces) the inventory of image `digest`, scanned by `engine_version`. The
    /// row's match is reset: the new inventory has not been matched by any build yet, so the
    /// next [`Store::inventories_to_match`] includes it; its counts stay until then. Its risks
    /// are cleared: they belonged to the old scan ([`Store::save_risks`] stores the new ones).
    pub fn save_inventory(
        &self,
        digest: &str,
        inventory: &Inventory,
        engine_version: &str,
    ) -> Result<(), StoreError> {
        let encoded = EncodedInventory::of(inventory)?;
        self.write(|tx| save_inventory_in(tx, digest, &encoded, engine_version))
    }

    /// The stored inventory of `digest`, if any.
    pub fn stored_inventory(&self, digest: &str) -> Result<Option<StoredInventory>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {COLUMNS} FROM stored_inventories WHERE digest = $1"),
                &[digest.into()],
            )?
            .as_ref()
            .map(stored_from)
            .transpose()
        })
    }

    /// Which of `digests` have a stored inventory (a page of a list asks about its rows at
    /// once, without reading the inventories themselves).
    pub fn stored_inventory_digests(
        &self,
        digests: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if digests.is_empty() {
            return Ok(Default::default());
        }
        let placeholders: Vec<String> = (1..=digests.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT digest FROM stored_inventories WHERE digest IN ({})",
            placeholders.join(", ")
        );
        let params: Vec<crate::sql::Value> = digests.iter().map(|d| (*d).into()).collect();
        self.read(|tx| tx.query(&sql, &params)?.iter().map(|r| r.text(0)).collect())
    }

    /// How many inventories are stored, and how many of them were last matched by `build`.
    pub fn stored_inventory_counts(&self, build: &str) -> Result<(i64, i64), StoreError> {
        self.read(|tx| {
            let row = tx.query_one(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN vulndb_build = $1 THEN 1 ELSE 0 END), 0) \
                 FROM stored_inventories",
                &[build.into()],
            )?;
            Ok((row.int(0)?, row.int(1)?))
        })
    }

    /// Up to `limit` stored inventories not last matched by `build`, in digest order, after
    /// digest `after` (the last of the previous batch; `None` for the first). Walking by digest
    /// rather than re-asking for "not matched yet" ends even when recording a match fails.
    pub fn inventories_to_match(
        &self,
        build: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredInventory>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM stored_inventories \
                     WHERE vulndb_build <> $1 AND digest > $2 ORDER BY digest LIMIT $3"
                ),
                &[
                    build.into(),
                    after.unwrap_or("").into(),
                    limit.max(0).into(),
                ],
            )?
            .iter()
            .map(stored_from)
            .collect()
        })
    }

    /// Stores what the risk analyzers `scanners` found in `digest`'s inventory (saved first with
    /// [`Store::save_inventory`]) and returns their counts. When the digest is a known image,
    /// its latest scan (and every placement's copy) gets the baseline, malicious-file and alarm
    /// counts, and the worse of the vulnerability level of the last match and the risks' level.
    pub fn save_risks(
        &self,
        digest: &str,
        scanners: &[RiskKind],
        findings: &[RiskFinding],
    ) -> Result<RiskSummary, StoreError> {
        let summary = RiskSummary::derive(std::iter::empty(), findings);
        let names: Vec<&str> = scanners.iter().map(|k| k.as_str()).collect();
        let encoded = encode(&findings)?;
        let level = summary.severity_level.as_str();
        let vulns = self.write(|tx| {
            let n = tx.execute(
                "UPDATE stored_inventories SET risks = $2, risk_scanners = $3, \
                 baseline_count = $4, malicious_count = $5, alarm_count = $6, risk_level = $7 \
                 WHERE digest = $1",
                &[
                    digest.into(),
                    encoded.into(),
                    names.join(",").into(),
                    (summary.unsafe_settings as i64).into(),
                    (summary.malicious_files as i64).into(),
                    (summary.alarms as i64).into(),
                    level.into(),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("stored inventory"));
            }
            let row = tx.query_one(
                "SELECT critical_count, high_count, medium_count, low_count, unknown_count \
                 FROM stored_inventories WHERE digest = $1",
                &[digest.into()],
            )?;
            counts_from(&row, 0)
        })?;
        if let Some((row, scan)) = self.read(|tx| image_scan(tx, digest))? {
            let mut record = scan.unwrap_or_else(|| ScanRecord {
                vul_count: vulns.total(),
                ..stored_only_scan()
            });
            record.baseline_count = summary.unsafe_settings as i64;
            record.malicious_count = summary.malicious_files as i64;
            record.alarm_count = summary.alarms as i64;
            record.severity = worse_level(vulns.level(), level).to_owned();
            self.record_scan(row, &record)?;
        }
        Ok(summary)
    }

    /// What the risk analyzers found in `digest`'s stored inventory; `None` when no inventory
    /// is stored, empty `scanners` when none ran.
    pub fn stored_risks(&self, digest: &str) -> Result<Option<StoredRisks>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT risks, risk_scanners FROM stored_inventories WHERE digest = $1",
                &[digest.into()],
            )?
            else {
                return Ok(None);
            };
            let (text, names) = (row.text(0)?, row.text(1)?);
            let findings: Vec<RiskFinding> = if text.is_empty() {
                Vec::new()
            } else {
                decode(&text)?
            };
            let scanners = names
                .split(',')
                .filter_map(|n| RiskKind::ALL.into_iter().find(|k| k.as_str() == n))
                .collect();
            let summary = RiskSummary::derive(std::iter::empty(), &findings);
            Ok(Some(StoredRisks {
                scanners,
                findings,
                summary,
            }))
        })
    }

    /// Records that `digest`'s inventory, matched against database `build`, has `counts`; when
    /// the digest is a known image its latest scan (and every placement's copy of it) gets the
    /// new total and risk level. An image never scanned gets a succeeded scan holding them.
    pub fn record_match(
        &self,
        digest: &str,
        build: &str,
        counts: &VulnCounts,
    ) -> Result<MatchRecorded, StoreError> {
        self.write(|tx| record_match_in(tx, digest, build, counts))
    }
}

/// The scan an image gets when its first counts come from a stored inventory (a re-match or
/// stored risks) rather than from a scan of its own: succeeded now, counts filled by the caller.
fn stored_only_scan() -> ScanRecord {
    let now = now_ms();
    ScanRecord::succeeded(now, now)
}

/// The worse of two of Huawei's levels (`Security` < `Low` < `Medium` < `High`); an empty or
/// unknown name counts as `Security`.
pub fn worse_level<'a>(a: &'a str, b: &'a str) -> &'a str {
    const ORDER: [&str; 4] = ["Security", "Low", "Medium", "High"];
    let rank = |l: &str| ORDER.iter().position(|o| *o == l).unwrap_or(0);
    if rank(b) > rank(a) {
        ORDER[rank(b)]
    } else {
        ORDER[rank(a)]
    }
}

/// The `images` row of `digest` and its latest scan, if the digest is a known image.
fn image_scan(
    tx: &mut Tx<'_>,
    digest: &str,
) -> Result<Option<(i64, Option<ScanRecord>)>, StoreError> {
    let Some(image) = tx.query_opt("SELECT id FROM images WHERE digest = $1", &[digest.into()])?
    else {
        return Ok(None);
    };
    let row = image.int(0)?;
    let scan = tx
        .query_opt(
            "SELECT state, stage, progress, failure_code, vul_count, baseline_count, \
             malicious_count, alarm_count, severity, started_ms, finished_ms \
             FROM image_scans WHERE image = $1",
            &[row.into()],
        )?
        .map(|s| {
            let state = match s.text(0)?.as_str() {
                "waiting" => ScanState::Waiting,
                "running" => ScanState::Running,
                "failed" => ScanState::Failed,
                _ => ScanState::Succeeded,
            };
            Ok::<_, StoreError>(ScanRecord {
                state,
                stage: s.text(1)?,
                progress: s.int(2)?,
                failure_code: s.text(3)?,
                vul_count: s.int(4)?,
                baseline_count: s.int(5)?,
                malicious_count: s.int(6)?,
                alarm_count: s.int(7)?,
                severity: s.text(8)?,
                started_ms: s.opt_int(9)?,
                finished_ms: s.opt_int(10)?,
            })
        })
        .transpose()?;
    Ok(Some((row, scan)))
}

/// New critical findings: what announcing them needs.
impl Store {
    /// Records that the latest match of `digest` has the CRITICAL findings `ids` (duplicates
    /// ignored) and returns those it did not have at the previous match, sorted. Findings no
    /// longer present are forgotten, so one that returns later is new again. Each new id is
    /// returned to exactly one caller even when several match the digest at once: the row's
    /// primary key decides, and only the insert that created it counts.
    pub fn record_critical_findings(
        &self,
        digest: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        self.write(|tx| {
            let known = tx.query(
                "SELECT finding_id FROM critical_findings WHERE digest = $1",
                &[digest.into()],
            )?;
            for row in &known {
                let id = row.text(0)?;
                if ids.binary_search(&id.as_str()).is_err() {
                    tx.execute(
                        "DELETE FROM critical_findings WHERE digest = $1 AND finding_id = $2",
                        &[digest.into(), id.into()],
                    )?;
                }
            }
            let now = now_ms();
            let mut new = Vec::new();
            for id in &ids {
                let inserted = tx.execute(
                    "INSERT INTO critical_findings (digest, finding_id, first_seen_ms) \
                     VALUES ($1, $2, $3) ON CONFLICT (digest, finding_id) DO NOTHING",
                    &[digest.into(), (*id).into(), now.into()],
                )?;
                if inserted == 1 {
                    new.push((*id).to_owned());
                }
            }
            Ok(new)
        })
    }

    /// Where `digest` is placed, as `HOST/REPOSITORY:TAG` (the host of the registry's
    /// connection URL, else the registry's uid), across tenants, sorted and distinct; also the
    /// places of a multi-arch index that lists `digest` as a child.
    pub fn image_names(&self, digest: &str) -> Result<Vec<String>, StoreError> {
        let rows = self.read(|tx| {
            tx.query(
                "SELECT g.uid, COALESCE(c.url, ''), r.namespace, r.name, t.tag \
                 FROM images i JOIN image_tags t ON t.image = i.id \
                 JOIN repositories r ON r.id = t.repository_id \
                 JOIN registries g ON g.id = r.registry_id \
                 LEFT JOIN registry_connections c ON c.registry_id = g.id \
                 WHERE i.digest = $1 OR i.id IN (SELECT a.index_image FROM image_children a \
                 JOIN images ci ON ci.id = a.child_image WHERE ci.digest = $1)",
                &[digest.into()],
            )
        })?;
        let mut names = Vec::with_capacity(rows.len());
        for row in &rows {
            let (uid, url) = (row.text(0)?, row.text(1)?);
            let host = url
                .split_once("://")
                .map_or(url.as_str(), |(_, h)| h)
                .trim_end_matches('/');
            let host = if host.is_empty() { uid.as_str() } else { host };
            let (namespace, name) = (row.text(2)?, row.text(3)?);
            let repository = if namespace.is_empty() {
                name
            } else {
                format!("{namespace}/{name}")
            };
            names.push(format!("{host}/{repository}:{}", row.text(4)?));
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// An inventory compressed for [`save_inventory_in`], made before a transaction starts so
/// that the compression does not hold the writer.
pub(crate) struct EncodedInventory(String);

impl EncodedInventory {
    /// Compresses `inventory`.
    pub(crate) fn of(inventory: &Inventory) -> Result<EncodedInventory, StoreError> {
        encode(inventory).map(EncodedInventory)
    }
}

/// The body of [`Store::save_inventory`], for a transaction a caller already holds.
pub(crate) fn save_inventory_in(
    tx: &mut Tx<'_>,
    digest: &str,
    encoded: &EncodedInventory,
    engine_version: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO stored_inventories (digest, inventory, indexed_ms, engine_version, \
         vulndb_build) VALUES ($1, $2, $3, $4, '') \
         ON CONFLICT (digest) DO UPDATE SET inventory = excluded.inventory, \
         indexed_ms = excluded.indexed_ms, engine_version = excluded.engine_version, \
         vulndb_build = '', risks = '', risk_scanners = '', baseline_count = 0, \
         malicious_count = 0, alarm_count = 0, risk_level = 'Security'",
        &[
            digest.into(),
            encoded.0.as_str().into(),
            now_ms().into(),
            engine_version.into(),
        ],
    )?;
    Ok(())
}

/// The body of [`Store::record_match`], for a transaction a caller already holds: the
/// image's scan and the inventory's build change together.
pub(crate) fn record_match_in(
    tx: &mut Tx<'_>,
    digest: &str,
    build: &str,
    counts: &VulnCounts,
) -> Result<MatchRecorded, StoreError> {
    let risk_level = tx
        .query_opt(
            "SELECT risk_level FROM stored_inventories WHERE digest = $1",
            &[digest.into()],
        )?
        .map(|r| r.text(0))
        .transpose()?
        .unwrap_or_default();
    let image_updated = match image_scan(tx, digest)? {
        Some((row, scan)) => {
            let mut record = scan.unwrap_or_else(stored_only_scan);
            record.vul_count = counts.total();
            record.severity = worse_level(counts.level(), &risk_level).to_owned();
            crate::inventory::record_scan_in(tx, row, &record)?;
            true
        }
        None => false,
    };
    let before = tx
        .query_opt(
            "SELECT vulndb_build, critical_count, high_count, medium_count, low_count, \
             unknown_count FROM stored_inventories WHERE digest = $1",
            &[digest.into()],
        )?
        .ok_or(StoreError::NotFound("stored inventory"))?;
    let before = counts_from(&before, 1)?;
    tx.execute(
        "UPDATE stored_inventories SET vulndb_build = $2, matched_ms = $3, \
         critical_count = $4, high_count = $5, medium_count = $6, low_count = $7, \
         unknown_count = $8 WHERE digest = $1",
        &[
            digest.into(),
            build.into(),
            now_ms().into(),
            counts.critical.into(),
            counts.high.into(),
            counts.medium.into(),
            counts.low.into(),
            counts.unknown.into(),
        ],
    )?;
    Ok(MatchRecorded {
        before,
        changed: before != *counts,
        image_updated,
    })
}
