//! [`Finding`]: one vulnerability affecting one installed package, and the [`ScanReport`]
//! that carries an inventory with its findings and risks.

use serde::{Deserialize, Serialize};

use crate::{Digest, Ecosystem, Inventory, RiskFinding, RiskSummary, ScannerKind};

/// Severity, ordered from least to most severe. Serialised upper-case as scanners print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// No score and no database severity.
    Unknown,
    /// CVSS 0.1-3.9.
    Low,
    /// CVSS 4.0-6.9.
    Medium,
    /// CVSS 7.0-8.9.
    High,
    /// CVSS 9.0-10.0.
    Critical,
}

impl Severity {
    /// The qualitative rating of a CVSS base score (v3 and v4 use the same bands).
    pub fn from_cvss_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Unknown
        }
    }

    /// Parses a database severity word (`LOW`, `moderate`, `Important`, ...); unknown words
    /// give `None`.
    pub fn parse_word(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "low" | "negligible" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "high" | "important" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            "unknown" | "none" => Some(Severity::Unknown),
            _ => None,
        }
    }

    /// Upper-case name, e.g. `HIGH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// A CVSS vector with its base score, as parsed from an advisory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// The vector string, e.g. `CVSS:3.1/AV:N/AC:L/...`.
    pub vector: String,
    /// The base score computed from the vector.
    pub base_score: f64,
}

/// One vulnerability affecting one installed package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The primary id (the CVE where one exists, else the database id such as `GHSA-…`).
    pub id: String,
    /// Every other id of the same vulnerability (GHSA, PYSEC, GO, RUSTSEC, DSA, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Affected package name.
    pub package_name: String,
    /// Installed version.
    pub installed_version: String,
    /// Package ecosystem.
    pub ecosystem: Ecosystem,
    /// The package's purl.
    pub purl: String,
    /// Versions that fix it, lowest first; empty when no fix is known.
    #[serde(default)]
    pub fixed_versions: Vec<String>,
    /// The severity used for gating and counts.
    pub severity: Severity,
    /// Parsed CVSS scores, highest version first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<CvssScore>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Reference URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The file where the package was found.
    pub location: String,
    /// The layer (diff id) that introduced the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
}

/// What the vulnerability database was when findings were computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    /// When the database was last updated, RFC 3339.
    pub updated_at: String,
    /// Records loaded, all ecosystems together.
    pub records: u64,
}

/// An inventory with the vulnerabilities matched against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The SBOM.
    pub inventory: Inventory,
    /// Vulnerabilities, sorted by severity (highest first), then package, then id.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The database used, when matching ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<DbInfo>,
    /// The scanners that ran, so a zero count can be told from a scanner that was not asked.
    #[serde(default)]
    pub scanners: Vec<ScannerKind>,
    /// Baseline, secret and malware findings, sorted by kind, severity (highest first), id,
    /// path, line.
    #[serde(default)]
    pub risks: Vec<RiskFinding>,
    /// Counts and level derived from `findings` and `risks` ([`RiskSummary::derive`]).
    #[serde(default)]
    pub summary: RiskSummary,
}

impl ScanReport {
    /// A report whose `summary` is derived from its findings and risks, and whose risks are in
    /// the documented order.
    pub fn new(
        inventory: Inventory,
        findings: Vec<Finding>,
        db: Option<DbInfo>,
        scanners: Vec<ScannerKind>,
        mut risks: Vec<RiskFinding>,
    ) -> ScanReport {
        risks.sort_by(|a, b| {
            (
                a.kind,
                std::cmp::Reverse(a.severity),
                &a.id,
                &a.path,
                a.line,
            )
                .cmp(&(
                    b.kind,
                    std::cmp::Reverse(b.severity),
                    &b.id,
                    &b.path,
                    b.line,
                ))
        });
        let summary = RiskSummary::derive(findings.iter().map(|f| f.severity), &risks);
        ScanReport {
            inventory,
            findings,
            db,
            scanners,
            risks,
            summary,
        }
    }
}
