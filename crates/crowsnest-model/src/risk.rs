//! [`RiskFinding`]: a problem with an image that is not a vulnerable package (an unsafe setting,
//! a leaked secret, a malicious file), and [`RiskSummary`], the per-image counts and
//! [`SeverityLevel`] that the cloud APIs report.
//!
//! # How the summary is derived
//!
//! - `vulnerabilities`: vulnerability findings (one per vulnerability and package).
//! - `unsafe_settings`: baseline findings (Huawei's `unsafe_setting_num`; `HcStatus` is `YES`
//!   when it is not zero).
//! - `malicious_files`: distinct files (path and layer) with at least one malware finding
//!   (Huawei's `malicious_file_num`, `has_malicious_file`).
//! - `secrets`: secret findings.
//! - `alarms`: `malicious_files + secrets`, the alerts a runtime console would raise for the
//!   image (Alibaba's `AlarmCount`; `AlarmStatus` is `YES` when it is not zero).
//! - `severity_level` (Huawei's `severity_level`): `High` when any malicious file is found;
//!   otherwise the highest severity over every finding of every analyzer, with `CRITICAL`
//!   counted as `High` and `UNKNOWN` as `Low`; `Security` when there is no finding at all.

use serde::{Deserialize, Serialize};

use crate::{Digest, Severity};

/// Which analyzer a [`RiskFinding`] comes from; also the names `--scanners` accepts (with
/// `vuln` for vulnerability matching).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskKind {
    /// An unsafe setting of the image (CIS Docker Benchmark section 4, Dockle-style checks).
    Baseline,
    /// A credential or private key left in a file.
    Secret,
    /// A file matching a malware rule (YARA) or a blocklisted hash.
    Malware,
}

impl RiskKind {
    /// Every kind, in report order.
    pub const ALL: [RiskKind; 3] = [RiskKind::Baseline, RiskKind::Secret, RiskKind::Malware];

    /// The lower-case name, e.g. `secret`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::Baseline => "baseline",
            RiskKind::Secret => "secret",
            RiskKind::Malware => "malware",
        }
    }
}

/// The analyses `crowsnest scan --scanners` selects: vulnerability matching and the three risk
/// analyzers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// Packages matched against the vulnerability database.
    Vuln,
    /// Unsafe image settings.
    Baseline,
    /// Secrets in files.
    Secret,
    /// Malicious files.
    Malware,
}

impl ScannerKind {
    /// Every scanner, in the order `--scanners` lists them.
    pub const ALL: [ScannerKind; 4] = [
        ScannerKind::Vuln,
        ScannerKind::Baseline,
        ScannerKind::Secret,
        ScannerKind::Malware,
    ];

    /// The flag spelling, e.g. `vuln`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScannerKind::Vuln => "vuln",
            ScannerKind::Baseline => "baseline",
            ScannerKind::Secret => "secret",
            ScannerKind::Malware => "malware",
        }
    }

    /// Parses a flag spelling (case-insensitive); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<ScannerKind> {
        ScannerKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The risk analyzer this scanner is, if it is one.
    pub fn risk_kind(self) -> Option<RiskKind> {
        match self {
            ScannerKind::Vuln => None,
            ScannerKind::Baseline => Some(RiskKind::Baseline),
            ScannerKind::Secret => Some(RiskKind::Secret),
            ScannerKind::Malware => Some(RiskKind::Malware),
        }
    }
}

/// One risk found in an image.
///
/// A secret finding never holds the secret: `excerpt` is the matched line with the secret
/// replaced by its first few characters and `*`s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFinding {
    /// The analyzer family.
    pub kind: RiskKind,
    /// The stable check or rule id (`CN-BL-001`, `aws-access-key-id`, a YARA rule name).
    pub id: String,
    /// One-line title of the check or rule.
    pub title: String,
    /// How bad it is.
    pub severity: Severity,
    /// What to do about it.
    pub remediation: String,
    /// What was seen, specific to this finding (`USER is not set`, `account backdoor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The file concerned, absolute inside the image; absent for image settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The 1-based line in that file, where the finding has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The diff id of the layer holding that version of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// For secrets: the line with the secret redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

/// The per-image risk level Huawei reports as `severity_level`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum SeverityLevel {
    /// Nothing found.
    #[default]
    Security,
    /// Only low (or unrated) findings.
    Low,
    /// At least one medium finding, nothing worse.
    Medium,
    /// A high or critical finding, or any malicious file.
    High,
}

impl SeverityLevel {
    /// The level one finding of `severity` raises an image to.
    pub fn of(severity: Severity) -> SeverityLevel {
        match severity {
            Severity::Unknown | Severity::Low => SeverityLevel::Low,
            Severity::Medium => SeverityLevel::Medium,
            Severity::High | Severity::Critical => SeverityLevel::High,
        }
    }

    /// The name as the Huawei API spells it (`Security`, `Low`, `Medium`, `High`).
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLevel::Security => "Security",
            SeverityLevel::Low => "Low",
            SeverityLevel::Medium => "Medium",
            SeverityLevel::High => "High",
        }
    }
}

/// The per-image counts of every analyzer, combined as the module documentation says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskSummary {
    /// Vulnerability findings.
    pub vulnerabilities: u64,
    /// Baseline findings (unsafe settings).
    pub unsafe_settings: u64,
    /// Distinct files (path and layer) with a malware finding.
    pub malicious_files: u64,
    /// Secret findings.
    pub secrets: u64,
    /// `malicious_files + secrets`.
    pub alarms: u64,
    /// The image's risk level.
    pub severity_level: SeverityLevel,
}

impl RiskSummary {
    /// Combines vulnerability severities and risk findings into the counts and level.
    pub fn derive<'a>(
        vulnerabilities: impl IntoIterator<Item = Severity>,
        risks: impl IntoIterator<Item = &'a RiskFinding>,
    ) -> RiskSummary {
        let mut summary = RiskSummary::default();
        let mut level = SeverityLevel::Security;
        for severity in vulnerabilities {
            summary.vulnerabilities += 1;
            level = level.max(SeverityLevel::of(severity));
        }
        let mut malicious = std::collections::BTreeSet::new();
        for r in risks {
            level = level.max(SeverityLevel::of(r.severity));
            match r.kind {
                RiskKind::Baseline => summary.unsafe_settings += 1,
                RiskKind::Secret => summary.secrets += 1,
                RiskKind::Malware => {
                    malicious.insert((r.path.clone(), r.layer.clone()));
                }
            }
        }
        summary.malicious_files = malicious.len() as u64;
        if summary.malicious_files > 0 {
            level = SeverityLevel::High;
        }
        summary.alarms = summary.malicious_files + summary.secrets;
        summary.severity_level = level;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(kind: RiskKind, severity: Severity, path: &str) -> RiskFinding {
        RiskFinding {
            kind,
            id: "x".into(),
            title: "x".into(),
            severity,
            remediation: "x".into(),
            detail: None,
            path: Some(path.into()),
            line: None,
            layer: None,
            excerpt: None,
        }
    }

    #[test]
    fn nothing_found_is_security() {
        let s = RiskSummary::derive([], []);
        assert_eq!(s.severity_level, SeverityLevel::Security);
        assert_eq!(s.alarms, 0);
    }

    #[test]
    fn a_low_malicious_file_still_makes_the_image_high() {
        let risks = [
            risk(RiskKind::Malware, Severity::Low, "/a"),
            risk(RiskKind::Malware, Severity::Low, "/a"),
            risk(RiskKind::Secret, Severity::Medium, "/b"),
            risk(RiskKind::Baseline, Severity::Low, "/c"),
        ];
        let s = RiskSummary::derive([Severity::Unknown], &risks);
        assert_eq!(s.malicious_files, 1, "two rules on one file count one file");
        assert_eq!(s.secrets, 1);
        assert_eq!(s.unsafe_settings, 1);
        assert_eq!(s.vulnerabilities, 1);
        assert_eq!(s.alarms, 2);
        assert_eq!(s.severity_level, SeverityLevel::High);
    }

    #[test]
    fn level_is_the_highest_severity_with_critical_as_high() {
        let s = RiskSummary::derive([Severity::Low, Severity::Medium], []);
        assert_eq!(s.severity_level, SeverityLevel::Medium);
        let s = RiskSummary::derive([Severity::Critical], []);
        assert_eq!(s.severity_level, SeverityLevel::High);
        let s = RiskSummary::derive([Severity::Unknown], []);
        assert_eq!(s.severity_level, SeverityLevel::Low);
    }
}
